"""The export's parts on small, exact inputs: wall-clock reconstruction across boots, audio
placement with holes, where black frames go, the ASCII fallback, and an audio + photo session
(no video at all) sealed through the real evidence chain and left open."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from drivers.clock import SimClock
from firmware.evidence.store import Evidence
from firmware.office.export.export import export_session
from firmware.office.export.audio_source import RecordedAudio
from firmware.office.export.captions import Captioner
from firmware.office.export.fonts import FontChoice
from firmware.office.export.mp4 import SLATE_SIZE, _slots
from firmware.office.export.session_data import AudioSegment, NodeSpan
from firmware.office.export.video_source import VideoFrame
from firmware.office.export.wallclock import ClockMap, ClockPoint, format_wall
from firmware.evidence.keys import DeviceKey
from firmware.unit.recorder.audio import wav_header

NS = 1_000_000_000
RATE = 8_000


def point(mono_s: float, wall_s: float, synced: bool = True) -> ClockPoint:
    return ClockPoint(int(mono_s * NS), int(wall_s * NS), synced, 1000 if synced else 16_000_000,
                      "sim")


def test_wall_time_comes_from_the_nearest_record_of_the_boot():
    clock = ClockMap("A", [("A", point(100, 1_700_000_000)),
                           ("A", point(200, 1_700_000_100.5, synced=False))])
    assert clock.wall_ns(110 * NS) == 1_700_000_010 * NS
    assert clock.wall_ns(190 * NS) == int(1_700_000_090.5 * NS)  # the stepped clock, nearer
    assert clock.synced_at(110 * NS) and not clock.synced_at(190 * NS)
    assert not clock.all_synced()
    assert clock.format(100 * NS, 1) == "2023-11-15 06:13:20.0"  # UTC+8
    assert format_wall(1_700_000_000 * NS + 123_456_789, 3, date=False) == "06:13:20.123"


def test_another_boot_moves_onto_the_main_time_base_through_wall_time():
    # boot A ran to mono 150 s (wall 1000..1050); after a power cut boot B starts at mono 5 s,
    # wall 1080: B's mono 5 s is A's mono 180 s.
    clock = ClockMap("A", [("A", point(100, 1000)), ("A", point(150, 1050)),
                           ("B", point(5, 1080)), ("B", point(20, 1095))])
    assert clock.to_main("B", 5 * NS) == 180 * NS
    assert clock.to_main("B", 10 * NS) == 185 * NS
    assert clock.to_main("A", 7 * NS) == 7 * NS
    assert clock.wall_ns(195 * NS) == 1095 * NS


def _segment(n: int, first_ns: int, index: int, frames: int) -> AudioSegment:
    return AudioSegment(n, Path(f"/x/audio-{n:06d}.wav"), first_ns, index, RATE, 1, frames)


def test_audio_segments_are_laid_end_to_end_or_where_their_time_says(tmp_path):
    pcm = {n: np.full(RATE, 0.25 * n, np.float32) for n in (1, 2, 3)}
    files = {}
    for n, samples in pcm.items():
        data = (samples * 32767).astype("<i2").tobytes()
        files[f"audio-{n:06d}.wav"] = wav_header(RATE, 1, len(data)) + data

    def opener(path: Path) -> bytes:
        return files[path.name]

    t0 = 50 * NS
    segments = [_segment(1, t0 + 1_000_000, 0, RATE),
                _segment(2, t0 + NS + 1_000_100, RATE, RATE),    # continues: laid end to end
                _segment(3, t0 + 3 * NS + 1_000_000, 3 * RATE, RATE)]  # after a 1-s hole
    audio = RecordedAudio(segments, opener)
    placed = list(audio.placed(t0))
    assert [p.index for p in placed] == [8, 8 + RATE, 3 * RATE + 8]
    assert audio.end_ns == t0 + 4 * NS + 1_000_000
    assert placed[2].samples[0, 0] == pytest.approx(0.75, abs=1e-3)
    levels = audio.levels()
    assert len(levels) == 30 and levels[0][0] == t0 + 1_000_000


def test_black_frames_stand_in_where_there_is_no_video():
    fps, period = 10, NS // 10
    picture = np.zeros((2, 2, 3), np.uint8)
    times = [NS + k * period for k in range(5)] + [NS + k * period for k in range(30, 32)]
    frames = [VideoFrame(t, picture) for t in times]
    slots = [(t, rgb is None) for t, rgb in _slots(iter(frames), 0, 5 * NS, fps)]
    fillers = [t for t, black in slots if black]
    # before the first frame, in the hole once a second, and after the last one
    assert fillers == [0, 1_500_000_000, 2_500_000_000, 3_500_000_000, 4_200_000_000]
    assert [t for t, black in slots if not black] == times


def test_without_chinese_glyphs_the_node_id_is_drawn():
    node = NodeSpan("consent", "录音录像告知", "statement", 0, 0, NS)
    clock = ClockMap("A", [("A", point(0, 1_700_000_000))])
    ascii_lines = Captioner(clock, [node], FontChoice(None, False)).lines(NS // 2)
    cjk_lines = Captioner(clock, [node], FontChoice(Path("x.ttc"), True)).lines(NS // 2)
    assert ascii_lines[1].text == "[1/1] consent"
    assert cjk_lines[1].text == "[1/1] 录音录像告知"
    assert ascii_lines[0].text.endswith("UTC+8 NTP ok")


def _wav(seconds: float, freq: float) -> tuple[bytes, int]:
    n = int(seconds * RATE)
    tone = 0.3 * np.sin(2 * np.pi * freq * np.arange(n) / RATE)
    data = (tone * 32767).astype("<i2").tobytes()
    return wav_header(RATE, 1, len(data)) + data, n


def test_audio_and_photo_session_without_video(tmp_path):
    """Audio segments with a 1-s hole (and its GAP), a photo, no video, no SESSION_END."""
    clock = SimClock(realtime=False, synced=True)
    evidence = Evidence.open(tmp_path / "spool", DeviceKey.generate(), clock)
    sid = evidence.start_session({"template": {"id": "t", "version": "1"},
                                  "mode": "audio_photo"})
    start = clock.monotonic_ns() + NS
    evidence.event("node_start", {"node": "id_docs", "index": 0, "title": "出示证件",
                                  "at_ns": start}, session_id=sid)
    wav, n = _wav(2.0, 440)
    evidence.seal_bytes(sid, "audio-000001.wav", wav, {
        "stream": "audio", "segment": 1, "rate": RATE, "channels": 1, "frames": n,
        "first_sample_ns": start, "sample_index": 0})
    evidence.gap("audio_overflow", start + 2 * NS, start + 3 * NS, {"stream": "audio"},
                 session_id=sid)
    evidence.seal_bytes(sid, "audio-000002.wav", wav, {
        "stream": "audio", "segment": 2, "rate": RATE, "channels": 1, "frames": n,
        "first_sample_ns": start + 3 * NS, "sample_index": 3 * RATE})
    photo = np.full((90, 160, 3), (40, 160, 220), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", photo)
    assert ok
    evidence.seal_bytes(sid, "id_docs-photo-1.jpg", jpeg.tobytes(),
                        {"stream": "photo", "node": "id_docs", "taken_ns": start + NS})
    clock.advance(6)
    evidence.close()

    result = export_session(tmp_path / "spool" / "sessions" / sid, tmp_path / "out")
    assert not result.verified  # one session without its SESSION_END: its end may be cut off
    video = result.video
    assert (video.width, video.height) == SLATE_SIZE
    assert video.frames == 0 and video.filler_frames == 5  # one a second over 5 s
    with av.open(str(video.path)) as c:
        pictures = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    with av.open(str(video.path)) as c:
        stream = c.streams.audio[0]
        audio_s = float(stream.duration * stream.time_base)
        audio = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    assert [t for t, _ in pictures] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert pictures[0][1][SLATE_SIZE[1] // 2:].mean() < 8              # before the photo
    r, g, b = pictures[2][1][SLATE_SIZE[1] // 2, SLATE_SIZE[0] // 2]
    assert r > 180 and b < 90  # the photo (BGR 40,160,220 on disk), in RGB
    assert audio_s == pytest.approx(5.0, abs=0.01)  # the decoder adds the last frame's padding
    rms = [float(np.sqrt(np.mean(audio[k * RATE // 4:(k + 1) * RATE // 4] ** 2)))
           for k in range(20)]
    assert min(rms[:7]) > 0.1 and max(rms[9:11]) < 0.01 and min(rms[13:19]) > 0.1
    html = result.report.read_text(encoding="utf-8")
    assert "not closed" in html and "audio_overflow" in html and "photos/id_docs-photo-1.jpg" \
        in html
    assert (tmp_path / "out" / "photos" / "id_docs-photo-1.jpg").is_file()
