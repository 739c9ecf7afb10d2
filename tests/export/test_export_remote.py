"""Export of a session with a remote party (issue 17): the counter and the party side by side on
one timeline, each picture at its own time on the unit's clock, a labelled placeholder while
the party was not there, everyone's sound mixed, and the party's joins, leaves and drops in the
report.

The session is real: the counter's recorder on simulated hardware (encrypted to the insurer, as
the unit seals it), and two parties, aiortc peers on loopback (the remote-media tests' browser,
tests/remote/remote_rig.py). p1, the policyholder, sends a magenta picture and a 1 kHz tone:
it joins after the counter started, its network goes silent (a drop: GAPs network_drop), it
comes back on a new connection, and the unit closes the call at the end. p2, the insured, sends
green and 1.6 kHz, joins after p1 and hangs up before the end. Every wait is on an event.
"""
from __future__ import annotations

import fractions
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from drivers.audio import open_microphone
from drivers.camera import open_camera
from drivers.clock import SimClock
from firmware.evidence.crypto import generate_insurer_key, load_insurer_public_key
from firmware.evidence.keys import DeviceKey
from firmware.evidence.store import Evidence
from firmware.office.export.export import export_session
from firmware.office.export.media import media_opener
from firmware.office.export.panels import PLACEHOLDER_GREY
from firmware.unit.recorder import Recorder
from firmware.unit.remote import CounterFeed, RemoteOptions, RemoteParty, signalling_pair
from tests.remote.remote_rig import (TONE_HZ, WAIT, BrowserPeer, RecordWatch, WavTrack,
                                     _Pausable, write_tone_wav)

NS = 1_000_000_000
COUNTER = (320, 240, 15)          # the counter camera's width, height, fps
PARTY = (320, 240)                # the party's picture (kept: it fits 640x480)
MAGENTA = (255, 0, 255)
GREEN = (0, 255, 0)
COUNTER_HZ = 440
P2_HZ = 1600


class ColourTrack(_Pausable):
    """A plain picture of one colour at 30 frames a second: unmistakable in the export."""

    kind = "video"

    def __init__(self, colour: tuple[int, int, int]) -> None:
        super().__init__(1 / 30)
        self._rgb = np.zeros((PARTY[1], PARTY[0], 3), np.uint8)
        self._rgb[:] = colour

    async def recv(self) -> av.VideoFrame:
        n = await self._next()
        frame = av.VideoFrame.from_ndarray(self._rgb, format="rgb24")
        frame.pts = n * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class ColourBrowser(BrowserPeer):
    """The remote-media tests' browser, with a plain colour as its camera."""

    def __init__(self, signalling, wav: Path, colour: tuple[int, int, int]) -> None:
        super().__init__(signalling, wav)
        self.colour = colour

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.tracks = [ColourTrack(self.colour), WavTrack(self._wav)]
        for track in self.tracks:
            pc.addTrack(track)
        pc.on("track", lambda track: self._loop.spawn(self._eat(track), "eat"))
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp


def _record(root: Path) -> dict:
    """The session; returns what the test knows of it (from the chain as it was written)."""
    clock = SimClock(realtime=True, synced=True)
    watch = RecordWatch()
    insurer = generate_insurer_key(root / "insurer")
    evidence = Evidence.open(root / "spool", DeviceKey.generate(), clock, on_record=watch,
                             insurer_key=load_insurer_public_key(insurer.public_path))
    camera = open_camera("sim", clock=clock, width=COUNTER[0], height=COUNTER[1],
                         fps=COUNTER[2], bitrate=300_000, scene="face")
    mic = open_microphone("sim", clock=clock)
    mic.set_source("tone", freq=COUNTER_HZ)
    faults: list[BaseException] = []
    recorder = Recorder(evidence, clock, camera, mic, on_fault=faults.append)
    sid = evidence.start_session({"template": "remote-export-test"})
    feed = CounterFeed(camera.analysis_frame)
    recorder.start(sid, audio_tap=feed.audio_block)
    parties, browsers = [], []

    def call(party: str, colour, hz: int, roles: list[str]):
        unit_end, remote_end = signalling_pair()
        remote = RemoteParty(evidence, clock, sid, party, unit_end, feed,
                             options=RemoteOptions(stall_seconds=0.5, stats_seconds=1.0),
                             on_fault=faults.append)
        parties.append(remote)
        browsers.append(ColourBrowser(remote_end, write_tone_wav(root / f"{party}.wav", hz=hz),
                                      colour))
        remote.start()
        evidence.event("remote_meeting", {"event": "admitted", "meeting": "m1", "party": party,
                                          "seats": [len(parties) - 1], "roles": roles},
                       session_id=sid)
        browsers[-1].join()
        assert remote.wait_connected(WAIT)
        return remote, browsers[-1]

    def p1_video(w: RecordWatch, connection: int) -> int:
        return len([s for s in w.of("SEGMENT", stream="remote_video", party="p1")
                    if s.data["connection"] == connection])
    try:
        # the counter alone first: nobody is there yet
        watch.wait_count(2, "SEGMENT", stream="video")
        p1, browser = call("p1", MAGENTA, TONE_HZ, ["policyholder"])
        watch.wait_count(2, "SEGMENT", stream="remote_video", party="p1")
        p2, insured = call("p2", GREEN, P2_HZ, ["insured"])
        watch.wait_count(2, "SEGMENT", stream="remote_video", party="p2")
        watch.wait_count(2, "SEGMENT", stream="remote_audio", party="p2")
        insured.hang_up()                             # p2 leaves for good
        watch.wait_count(1, "EVENT", kind="remote_left", party="p2")
        seen = p1_video(watch, 1)
        watch.wait(lambda w: p1_video(w, 1) >= seen + 2)     # p1 alone for a while
        browser.pause()                               # p1's network goes silent
        watch.wait_count(2, "EVENT", kind="remote_media_lost", party="p1")
        browser.drop_connection()
        browser.join()                                # back on a new connection
        watch.wait_count(2, "GAP", kind="network_drop", party="p1")
        assert p1.wait_connected(WAIT)
        watch.wait(lambda w: p1_video(w, 2) >= 2)
        for remote in parties:
            remote.close()
        stats = recorder.stop()
        evidence.end_session(sid, {"stats": stats.as_dict()})
    finally:
        for remote in parties:
            remote.close()
        for b in browsers:
            b.close()
        if recorder.recording:
            recorder.stop()
        camera.close()
        mic.close()
        evidence.close()
    assert not faults, faults
    return {"spool": root / "spool", "dir": root / "spool" / "sessions" / sid, "sid": sid,
            "insurer": insurer, "records": [r for r in watch.records if r.session == sid]}


def _span(records) -> tuple[int, int]:
    """(first, end) of all media of the session, from the records alone: the counter's and
    the party's video (first frame, last frame + a period) and audio (first sample, end)."""
    starts, ends = [], []
    for r in records:
        d = r.data
        if r.type != "SEGMENT":
            continue
        if d.get("stream") in ("audio", "remote_audio"):
            starts.append(d["first_sample_ns"])
            ends.append(d["first_sample_ns"] + d["frames"] * NS // d["rate"])
        elif d.get("stream") == "remote_video":
            starts.append(d["first_ns"])
            ends.append(d["last_ns"] + NS // d["fps"])
        elif d.get("stream") == "video":
            starts.append(d["first_ns"])
            ends.append(d["last_ns"] + NS // COUNTER[2])
    return min(starts), max(ends)


@pytest.fixture(scope="module")
def remote_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote")
    sealed = _record(root)
    started = time.perf_counter()
    result = export_session(sealed["dir"], root / "out",
                            opener=media_opener(sealed["insurer"].private_path))
    sealed["export_s"] = time.perf_counter() - started
    sealed["result"] = result
    with av.open(str(result.video.path)) as c:
        sealed["frames"] = [(float(f.time), f.to_ndarray(format="rgb24"))
                            for f in c.decode(video=0)]
    return sealed


def _frame_at(sealed, t_ns: int) -> np.ndarray:
    """The picture the file shows at ``t_ns`` (main time base = the unit's clock here)."""
    t = (t_ns - sealed["result"].video.t0_ns) / NS
    shown = [rgb for at, rgb in sealed["frames"] if at <= t + 1e-6]
    assert shown, f"no picture at {t:.3f} s"
    return shown[-1]


PANEL_W = PARTY[0] * COUNTER[1] // PARTY[1]      # a party's panel at the counter's height


def _panel(rgb: np.ndarray, n: int) -> np.ndarray:
    """Panel ``n`` (0 the counter, 1 p1, 2 p2) as pixels, clear of the caption band at the
    top, the label at the foot and the edges."""
    h = rgb.shape[0]
    x0 = 0 if n == 0 else COUNTER[0] + (n - 1) * PANEL_W
    x1 = COUNTER[0] if n == 0 else x0 + PANEL_W
    return rgb[h // 3: h * 2 // 3, x0 + 8:x1 - 8].reshape(-1, 3).astype(float)


def shows(rgb: np.ndarray, n: int, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(_panel(rgb, n).mean(axis=0) - colour).max() < 60)


def is_placeholder(rgb: np.ndarray, n: int) -> bool:
    grey = (np.abs(_panel(rgb, n) - PLACEHOLDER_GREY).max(axis=1) < 16).mean()
    return grey > 0.8


def _records(sealed, type_: str, party: str | None = None, **data) -> list:
    return [r for r in sealed["records"] if r.type == type_
            and (party is None or r.data.get("party") == party)
            and all(r.data.get(k) == v for k, v in data.items())]


def _segments(sealed, stream: str, party: str = "p1", connection: int | None = None) -> list:
    out = _records(sealed, "SEGMENT", party, stream=stream)
    return [r for r in out if connection is None or r.data["connection"] == connection]


def _p1_gap(sealed) -> dict:
    return _records(sealed, "GAP", "p1", stream="remote_video")[0].data


def test_the_parties_are_side_by_side_at_the_common_height(remote_export):
    result = remote_export["result"]
    assert result.verified, result.verify and result.verify.findings
    width, height = COUNTER[0] + 2 * PANEL_W, COUNTER[1]
    assert (result.video.width, result.video.height) == (width, height)
    rgb = remote_export["frames"][0][1]
    assert rgb.shape == (height, width, 3)
    print(f"export of a {result.video.duration_s:.1f} s session with two remote parties: "
          f"{remote_export['export_s']:.2f} s, {len(remote_export['frames'])} pictures")


def test_each_party_shows_on_its_side_while_connected(remote_export):
    for connection in (1, 2):
        seg = _segments(remote_export, "remote_video", "p1", connection)[1]
        rgb = _frame_at(remote_export, (seg.data["first_ns"] + seg.data["last_ns"]) // 2)
        assert shows(rgb, 1, MAGENTA), _panel(rgb, 1).mean(axis=0)
        assert not shows(rgb, 0, MAGENTA), "the counter is on the left, not the party"
    seg = _segments(remote_export, "remote_video", "p2")[1]
    rgb = _frame_at(remote_export, (seg.data["first_ns"] + seg.data["last_ns"]) // 2)
    assert shows(rgb, 1, MAGENTA) and shows(rgb, 2, GREEN), \
        (_panel(rgb, 1).mean(axis=0), _panel(rgb, 2).mean(axis=0))


def test_a_placeholder_stands_in_while_a_party_was_dropped_or_not_there(remote_export):
    gap = _p1_gap(remote_export)
    assert gap["end_ns"] - gap["start_ns"] > NS // 2
    for t in (gap["start_ns"] + NS // 5, (gap["start_ns"] + gap["end_ns"]) // 2,
              gap["end_ns"] - NS // 20):
        assert is_placeholder(_frame_at(remote_export, t), 1)
    # a party's pictures start and end at their own arrival times
    first = _segments(remote_export, "remote_video", "p1", 1)[0].data["first_ns"]
    before = _frame_at(remote_export, first - NS // 10)
    assert is_placeholder(before, 1) and is_placeholder(before, 2), "nobody joined yet"
    assert shows(_frame_at(remote_export, first + NS // 100), 1, MAGENTA)
    assert shows(_frame_at(remote_export, gap["end_ns"] + NS // 100), 1, MAGENTA)
    # p2 hung up: a placeholder from its leaving on (the next picture after it), p1 still there
    left = _records(remote_export, "EVENT", "p2", kind="remote_left")[0].data["at_ns"]
    assert left > _segments(remote_export, "remote_video", "p2")[-1].data["last_ns"]
    after = _frame_at(remote_export, left + NS // 10)
    assert is_placeholder(after, 2) and not is_placeholder(after, 1)


def test_the_timeline_is_the_sessions_length(remote_export):
    result = remote_export["result"]
    first, end = _span(remote_export["records"])
    assert result.video.t0_ns == first and result.video.end_ns == end
    with av.open(str(result.video.path)) as c:
        duration = c.duration / 1_000_000
        audio = c.streams.audio[0]
        audio_s = float(audio.duration * audio.time_base)
    assert abs(duration - (end - first) / NS) < 0.1
    assert abs(audio_s - (end - first) / NS) < 0.1
    last_picture = remote_export["frames"][-1][0]
    assert (end - first) / NS - last_picture < 1.0


def _dominant(samples: np.ndarray, rate: int) -> set[int]:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    strong = freqs[spectrum > spectrum.max() / 10]
    return {int(round(f / 10) * 10) for f in strong}


def test_the_sound_is_the_counter_and_the_parties_mixed(remote_export):
    result = remote_export["result"]
    with av.open(str(result.video.path)) as c:
        frames = list(c.decode(audio=0))
    rate = frames[0].sample_rate
    pcm = np.concatenate([f.to_ndarray()[0] for f in frames])
    t0 = result.video.t0_ns

    def heard(t_ns: int) -> set[int]:
        i = round((t_ns - t0) * rate / NS)
        return _dominant(pcm[i:i + rate // 5].astype(np.float64), rate)

    p1_first = _segments(remote_export, "remote_audio", "p1", 1)[0].data["first_sample_ns"]
    alone = heard(p1_first - NS // 2)
    assert COUNTER_HZ in alone and TONE_HZ not in alone and P2_HZ not in alone, alone
    seg = _segments(remote_export, "remote_audio", "p1", 1)[1].data
    assert {COUNTER_HZ, TONE_HZ} <= heard(seg["first_sample_ns"])
    seg = _segments(remote_export, "remote_audio", "p2")[1].data
    everyone = heard(seg["first_sample_ns"])
    assert {COUNTER_HZ, TONE_HZ, P2_HZ} <= everyone, everyone


def test_the_report_lists_the_parties_joins_leaves_and_drops(remote_export):
    html = remote_export["result"].report.read_text(encoding="utf-8")
    section = html[html.index("<h2>Remote parties</h2>"):]
    section = section[:section.index("<h2>", 5)]
    p1 = section[section.index("Remote party p1"):section.index("Remote party p2")]
    p2 = section[section.index("Remote party p2"):]
    assert "roles: policyholder" in p1 and "roles: insured" in p2
    assert p1.count("<td>joined</td>") == 2 and p2.count("<td>joined</td>") == 1
    assert p1.count("<td>left</td>") == 1 and "reason=unit_closed" in p1
    assert p2.count("<td>left</td>") == 1 and "reason=bye" in p2
    gaps = [r for r in remote_export["records"] if r.type == "GAP"]
    assert len(gaps) == 2 and all(g.data["party"] == "p1" for g in gaps)
    for gap in gaps:
        assert f"<td>{gap.seq}</td>" in p1
        assert f"<td>{gap.data['stream']}</td>" in p1
    assert "No drops" in p2
    assert "Side by side" in html


def test_the_timeline_picture_has_the_parties_rows_with_the_drop(remote_export):
    from PIL import Image
    result = remote_export["result"]
    layout = result.timeline_layout
    image = Image.open(result.timeline).convert("RGB")
    gap = _p1_gap(remote_export)
    seg = _segments(remote_export, "remote_video", "p1", 1)[1].data
    p2 = _segments(remote_export, "remote_video", "p2")[1].data

    def colour(row: str, t_ns: int) -> tuple[int, int, int]:
        top, bottom = layout.rows[row]
        return image.getpixel((round(layout.x_of(t_ns)), (top + bottom) // 2))

    mid_gap = (gap["start_ns"] + gap["end_ns"]) // 2
    assert colour("p1 video", mid_gap) == (239, 59, 44)                          # the drop
    assert colour("p1 video", (seg["first_ns"] + seg["last_ns"]) // 2) == (116, 196, 118)
    assert colour("p2 video", (p2["first_ns"] + p2["last_ns"]) // 2) == (116, 196, 118)
    assert colour("video", mid_gap) == (116, 196, 118), "the party's drop is not the counter's"


def test_without_the_insurers_key_the_panels_say_the_media_cannot_be_read(remote_export,
                                                                          tmp_path):
    result = export_session(remote_export["dir"], tmp_path / "nokey")
    assert result.verified
    assert result.video is not None
    with av.open(str(result.video.path)) as c:
        pictures = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert pictures and not any(shows(rgb, 1, MAGENTA) for rgb in pictures)
    assert all(is_placeholder(rgb, 1) and is_placeholder(rgb, 2) for rgb in pictures[::10])
    assert any("unreadable" in p for p in result.problems)
