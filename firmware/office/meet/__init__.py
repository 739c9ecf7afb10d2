"""``dualrec-meet``, the remote meeting's relay (docs/meet.md): the join page, the code check
forwarded to the unit over MQTT, one WebSocket per browser bridged to the broker, and TURN
credentials for the insurer's coturn. It keeps no meeting state of its own."""
