"""The adapter between the meeting's signalling ({"kind"}) and the media's ({"type"}): one
PartyLine per party over its successive connections, with meet's in-process pair (checked as
on the wire)."""
from __future__ import annotations

from firmware.unit.meet.signalling import PartyInfo, signalling_pair
from firmware.unit.session.party_line import PartyLine, to_media, to_meeting

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"


def connection(resumed: bool = False):
    info = PartyInfo("m" * 32, "p1", (0,), ("policyholder",), "赵*", resumed)
    unit, phone = signalling_pair(info)
    heard: list[dict] = []
    phone.on_message(heard.append)
    return unit, phone, heard


def test_messages_are_translated_both_ways_and_a_bye_ends_the_call_as_closed():
    line, got = PartyLine("p1"), []
    line.on_message(got.append)
    unit, phone, heard = connection()
    line.attach(unit)
    phone.send({"kind": "offer", "sdp": SDP})
    phone.send({"kind": "candidate", "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
    line.send({"type": "answer", "sdp": SDP})
    line.send({"type": "bye", "reason": "the call has ended"})      # the media side's words
    assert got == [{"type": "offer", "sdp": SDP},
                   {"type": "candidate", "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}]
    assert heard == [{"kind": "answer", "sdp": SDP}, {"kind": "bye", "reason": "closed"}]
    assert not line.attached
    line.send({"type": "answer", "sdp": SDP})                       # nobody there: dropped
    line.close()
    line.close()


def test_a_newer_connection_replaces_the_old_behind_the_same_line():
    line, got = PartyLine("p1"), []
    line.on_message(got.append)
    old, old_phone, _ = connection()
    line.attach(old)
    old.hang_up("replaced", tell_party=False)       # the host, when the party resumes
    new, new_phone, heard = connection(resumed=True)
    line.attach(new)
    new_phone.send({"kind": "offer", "sdp": SDP})
    assert got == [{"type": "offer", "sdp": SDP}]   # no bye: the party did not leave
    new_phone.send({"kind": "bye", "reason": "hangup"})
    assert got[-1] == {"type": "bye", "reason": "hangup"}
    assert line.connections == 2 and not line.attached
    line.close()
    late, _, late_heard = connection(resumed=True)
    line.attach(late)                               # after the call ended: closed at once
    assert late.closed and late_heard == [{"kind": "bye", "reason": "closed"}]


def test_the_shapes():
    assert to_media({"kind": "bye", "reason": "replaced"}) is None
    assert to_media({"kind": "bye", "reason": "timeout"}) == {"type": "bye", "reason": "timeout"}
    assert to_meeting({"type": "candidate", "candidate": "", "sdpMid": None,
                       "sdpMLineIndex": 0}) == {"kind": "candidate", "candidate": "",
                                                "sdpMLineIndex": 0}
