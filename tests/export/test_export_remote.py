"""Export of a session with a remote party (issue 17): the counter and the party side by side on
one timeline, each picture at its own time on the unit's clock, a labelled placeholder while
the party was not there, everyone's sound mixed, and the party's joins, leaves and drops in the
report.

The session is real: the counter's recorder on simulated hardware (encrypted to the insurer, as
the unit seals it), and the party an aiortc peer on loopback (the remote-media tests' browser,
tests/remote/remote_rig.py) sending a magenta picture and a 1 kHz tone. The party joins after
the counter started, its network goes silent (a drop: GAPs network_drop), it comes back on a new
connection, and the unit closes the call at the end. Every wait is on an event.
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
COUNTER_HZ = 440


class MagentaTrack(_Pausable):
    """A plain magenta picture at 30 frames a second: unmistakable in the export."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__(1 / 30)
        self._rgb = np.zeros((PARTY[1], PARTY[0], 3), np.uint8)
        self._rgb[:] = MAGENTA

    async def recv(self) -> av.VideoFrame:
        n = await self._next()
        frame = av.VideoFrame.from_ndarray(self._rgb, format="rgb24")
        frame.pts = n * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class MagentaBrowser(BrowserPeer):
    """The remote-media tests' browser, with the magenta picture as its camera."""

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.tracks = [MagentaTrack(), WavTrack(self._wav)]
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
    unit_end, remote_end = signalling_pair()
    party = RemoteParty(evidence, clock, sid, "p1", unit_end, feed,
                        options=RemoteOptions(stall_seconds=0.5, stats_seconds=1.0),
                        on_fault=faults.append)
    browser = MagentaBrowser(remote_end, write_tone_wav(root / "tone.wav"))
    try:
        party.start()
        # the counter alone first: the party is not there yet
        watch.wait_count(2, "SEGMENT", stream="video")
        evidence.event("remote_meeting", {"event": "admitted", "meeting": "m1", "party": "p1",
                                          "seats": [0], "roles": ["policyholder"]},
                       session_id=sid)
        browser.join()
        assert party.wait_connected(WAIT)
        watch.wait_count(3, "SEGMENT", stream="remote_video")
        watch.wait_count(3, "SEGMENT", stream="remote_audio")
        browser.pause()                               # the party's network goes silent
        watch.wait_count(2, "EVENT", kind="remote_media_lost")
        browser.drop_connection()
        browser.join()                                # back on a new connection
        watch.wait_count(2, "GAP", kind="network_drop")
        assert party.wait_connected(WAIT)
        watch.wait(lambda w: len([s for s in w.of("SEGMENT", stream="remote_video")
                                  if s.data["connection"] == 2]) >= 2)
        party.close()
        stats = recorder.stop()
        evidence.end_session(sid, {"stats": stats.as_dict()})
    finally:
        party.close()
        browser.close()
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


def _right_panel(rgb: np.ndarray) -> np.ndarray:
    """The party's panel, clear of the caption band at the top and the label at the foot."""
    h = rgb.shape[0]
    return rgb[h // 3: h * 2 // 3, COUNTER[0] + 8:-8].reshape(-1, 3).astype(float)


def is_magenta(rgb: np.ndarray) -> bool:
    r, g, b = _right_panel(rgb).mean(axis=0)
    return r > 190 and b > 190 and g < 70


def is_placeholder(rgb: np.ndarray) -> bool:
    panel = _right_panel(rgb)
    grey = (np.abs(panel - PLACEHOLDER_GREY).max(axis=1) < 16).mean()
    return grey > 0.8


def _segments(sealed, stream: str, connection: int | None = None) -> list:
    out = [r for r in sealed["records"] if r.type == "SEGMENT" and r.data["stream"] == stream]
    return [r for r in out if connection is None or r.data["connection"] == connection]


def test_the_parties_are_side_by_side_at_the_common_height(remote_export):
    result = remote_export["result"]
    assert result.verified, result.verify and result.verify.findings
    width, height = COUNTER[0] + PARTY[0] * COUNTER[1] // PARTY[1], COUNTER[1]
    assert (result.video.width, result.video.height) == (width, height)
    rgb = remote_export["frames"][0][1]
    assert rgb.shape == (height, width, 3)
    print(f"export of a {result.video.duration_s:.1f} s session with one remote party: "
          f"{remote_export['export_s']:.2f} s, {len(remote_export['frames'])} pictures")


def test_the_party_shows_on_its_side_while_connected(remote_export):
    for connection in (1, 2):
        seg = _segments(remote_export, "remote_video", connection)[1]
        middle = (seg.data["first_ns"] + seg.data["last_ns"]) // 2
        rgb = _frame_at(remote_export, middle)
        assert is_magenta(rgb), _right_panel(rgb).mean(axis=0)
        left = rgb[rgb.shape[0] // 3: rgb.shape[0] * 2 // 3, 8:COUNTER[0] - 8]
        assert abs(left.reshape(-1, 3).astype(float).mean(axis=0) - MAGENTA).max() > 60, \
            "the counter is on the left, not the party"


def test_a_placeholder_stands_in_while_the_party_was_dropped_or_not_there(remote_export):
    gap = next(r.data for r in remote_export["records"] if r.type == "GAP"
               and r.data["stream"] == "remote_video")
    assert gap["end_ns"] - gap["start_ns"] > NS // 2
    for t in (gap["start_ns"] + NS // 5, (gap["start_ns"] + gap["end_ns"]) // 2,
              gap["end_ns"] - NS // 20):
        assert is_placeholder(_frame_at(remote_export, t))
    # the party's first and last frames are shown from their own arrival times
    first = _segments(remote_export, "remote_video", 1)[0].data["first_ns"]
    before = _frame_at(remote_export, first - NS // 10)
    assert is_placeholder(before), "not joined yet"
    assert is_magenta(_frame_at(remote_export, first + NS // 100))
    assert is_magenta(_frame_at(remote_export, gap["end_ns"] + NS // 100))


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


def test_the_sound_is_the_counter_and_the_party_mixed(remote_export):
    result = remote_export["result"]
    with av.open(str(result.video.path)) as c:
        frames = list(c.decode(audio=0))
    rate = frames[0].sample_rate
    pcm = np.concatenate([f.to_ndarray()[0] for f in frames])
    t0 = result.video.t0_ns

    def heard(t_ns: int) -> set[int]:
        i = round((t_ns - t0) * rate / NS)
        return _dominant(pcm[i:i + rate // 5].astype(np.float64), rate)

    seg = _segments(remote_export, "remote_audio", 1)[1].data
    both = heard(seg["first_sample_ns"])
    assert {COUNTER_HZ, TONE_HZ} <= both, both
    alone = heard(_segments(remote_export, "remote_audio", 1)[0].data["first_sample_ns"]
                  - NS // 2)
    assert COUNTER_HZ in alone and TONE_HZ not in alone, alone


def test_the_report_lists_the_partys_joins_leaves_and_drops(remote_export):
    html = remote_export["result"].report.read_text(encoding="utf-8")
    section = html[html.index("<h2>Remote parties</h2>"):]
    section = section[:section.index("<h2>", 5)]
    assert "Remote party p1" in section and "policyholder" in section
    assert section.count("<td>joined</td>") == 2
    assert section.count("<td>left</td>") == 1 and "reason=unit_closed" in section
    gaps = [r for r in remote_export["records"] if r.type == "GAP"]
    assert len(gaps) == 2
    for gap in gaps:
        assert f"<td>{gap.seq}</td>" in section
        assert f"<td>{gap.data['stream']}</td>" in section
    assert "Side by side" in html


def test_the_timeline_picture_has_the_partys_rows_with_its_drop(remote_export):
    from PIL import Image
    result = remote_export["result"]
    layout = result.timeline_layout
    image = Image.open(result.timeline).convert("RGB")
    gap = next(r.data for r in remote_export["records"] if r.type == "GAP"
               and r.data["stream"] == "remote_video")
    seg = _segments(remote_export, "remote_video", 1)[1].data
    top, bottom = layout.rows["p1 video"]
    y = (top + bottom) // 2

    def colour(t_ns: int) -> tuple[int, int, int]:
        return image.getpixel((round(layout.x_of(t_ns)), y))

    assert colour((gap["start_ns"] + gap["end_ns"]) // 2) == (239, 59, 44)      # the drop
    assert colour((seg["first_ns"] + seg["last_ns"]) // 2) == (116, 196, 118)   # its video
    counter_top, counter_bottom = layout.rows["video"]
    mid = round(layout.x_of((gap["start_ns"] + gap["end_ns"]) // 2))
    assert image.getpixel((mid, (counter_top + counter_bottom) // 2)) == (116, 196, 118), \
        "the party's drop is not the counter's"


def test_without_the_insurers_key_the_panels_say_the_media_cannot_be_read(remote_export,
                                                                          tmp_path):
    result = export_session(remote_export["dir"], tmp_path / "nokey")
    assert result.verified
    assert result.video is not None
    with av.open(str(result.video.path)) as c:
        pictures = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert pictures and not any(is_magenta(rgb) for rgb in pictures)
    assert all(is_placeholder(rgb) for rgb in pictures[::10])
    assert any("unreadable" in p for p in result.problems)
