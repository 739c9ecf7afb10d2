"""The unit's side of a remote meeting (docs/meet.md): :class:`~.host.MeetingHost` opens a
meeting for a bound sale, checks codes and identities, and hands the media side one
:class:`~.signalling.Signalling` per admitted party; :mod:`.bus` is what it needs of MQTT."""
