"""The recorder on simulated hardware: every frame and sample accounted for, segment boundaries
lose nothing, drops and unplugged devices become GAP records with their exact ranges."""
from __future__ import annotations

import os
import subprocess
import time
import wave

import av
import pytest

from drivers.audio import open_microphone
from drivers.camera import open_camera
from drivers.clock import SimClock
from drivers.sigpad import ReplaySignaturePad, load_events
from firmware.evidence.store import Evidence
from firmware.unit.hardware import SAMPLE_SIGNATURE
from firmware.evidence.ledger_files import ledger_files, read_lines
from firmware.unit.recorder import Recorder
from firmware.evidence.recovery import recover
from firmware.evidence.verify import verify_path

FPS = 30
RATE = 4.0  # the simulated clock runs 4x


@pytest.fixture
def rig(tmp_path, device_key):
    clock = SimClock(realtime=True, rate=RATE)
    ev = Evidence.open(tmp_path / "spool", device_key, clock)
    camera = open_camera("sim", clock=clock, width=320, height=240, fps=FPS, bitrate=300_000,
                         scene="face")
    mic = open_microphone("sim", clock=clock)
    mic.set_source("tone", freq=440)
    info, _ = load_events(SAMPLE_SIGNATURE)
    pad = ReplaySignaturePad(info, [], clock)
    faults = []
    rec = Recorder(ev, clock, camera, mic, pad, segment_seconds=1.0, on_fault=faults.append)
    yield ev, rec, clock, faults
    for d in (camera, mic, pad):
        d.close()
    ev.close()


def records(ev, session=None, type=None):
    out = []
    for p in ledger_files(ev.spool.ledger_dir):
        for ln in read_lines(p):
            r = ln.record
            if (session is None or r.session == session) and (type is None or r.type == type):
                out.append(r)
    return out


def session_seconds(clock, seconds):
    """Let ``seconds`` of session time pass (the clock runs RATE times as fast)."""
    time.sleep(seconds / RATE)


def test_every_frame_and_sample_is_sealed_and_a_drop_is_a_gap(rig):
    ev, rec, clock, faults = rig
    sid = ev.start_session()
    rec.start(sid)
    session_seconds(clock, 3)
    rec.camera.drop_frames(3)
    session_seconds(clock, 4)
    stats = rec.stop()
    ev.end_session(sid)
    assert not faults
    cam = rec.camera
    segs = sorted(records(ev, sid, "SEGMENT"), key=lambda r: r.seq)
    video = [r for r in segs if r.data["stream"] == "video"]
    frames = []
    for r in video:
        pts = ev.spool.root / r.files[1].path
        lines = [tuple(map(int, line.split())) for line in pts.read_text().splitlines()]
        assert lines[0][1] == 1, "each segment starts at a keyframe"
        assert r.data["frames"] == len(lines)
        # a segment is sealed at the first keyframe past 1 s (one per second from the encoder)
        assert (lines[-1][0] - lines[0][0]) < 1_000_000_000 + 4 * 1_000_000_000 // FPS
        frames += lines
    assert len(frames) == stats.frames == cam.frames_delivered == cam.frames_made - 3
    ts = [f[0] for f in frames]
    assert all(b > a for a, b in zip(ts, ts[1:])), "timestamps strictly increasing"
    period = 1_000_000_000 / FPS
    jumps = [(a, b) for a, b in zip(ts, ts[1:]) if b - a > 1.5 * period]
    assert len(jumps) == 1 and round((jumps[0][1] - jumps[0][0]) / period) == 4
    gaps = records(ev, sid, "GAP")
    assert [(g.data["kind"], g.data["start_ns"], g.data["end_ns"], g.data["count"])
            for g in gaps] == [("dropped_frames", jumps[0][0], jumps[0][1], 3)]
    # the segments played back to back decode to every frame
    data = b"".join((ev.spool.root / r.files[0].path).read_bytes() for r in video)
    codec = av.CodecContext.create("h264", "r")
    packets = codec.parse(data) + codec.parse(None)
    decoded = sum(len(codec.decode(p)) for p in packets) + len(codec.decode(None))
    assert decoded == len(frames)
    # audio: every sample sealed, segment times continuous
    audio = [r for r in segs if r.data["stream"] == "audio"]
    total = 0
    for a, b in zip(audio, audio[1:]):  # each file starts where the one before ended
        expected = a.data["first_sample_ns"] + a.data["frames"] * 1e9 / a.data["rate"]
        assert abs(b.data["first_sample_ns"] - expected) < 1000
    for r in audio:
        with wave.open(str(ev.spool.root / r.files[0].path)) as w:
            assert w.getnframes() == r.data["frames"] and w.getframerate() == 48000
            total += w.getnframes()
    assert total == stats.audio_samples and stats.lost_audio_samples == 0
    assert abs(stats.audio_ms - stats.duration_ms) < 150
    assert verify_path(ev.spool.session_dir(sid)).ok


def test_unplugged_devices_come_back_without_ending_the_session(rig):
    ev, rec, clock, faults = rig
    sid = ev.start_session()
    rec.start(sid)
    session_seconds(clock, 1.5)
    assert rec.fresh(clock.monotonic_ns())
    rec.camera.unplug()
    rec.microphone.unplug()
    rec.pad.unplug()
    session_seconds(clock, 2)
    assert not rec.fresh(clock.monotonic_ns(), stale_ns=1_000_000_000)  # the watchdog starves
    rec.camera.replug()
    rec.microphone.replug()
    rec.pad.replug()
    session_seconds(clock, 1.5)
    assert rec.fresh(clock.monotonic_ns())
    _info, events = load_events(SAMPLE_SIGNATURE)
    rec.pad.play(events[:400], wait=True)
    assert rec.seal_signature("sig") is not None
    stats = rec.stop()
    ev.end_session(sid)
    gaps = {(g.data["kind"], g.data.get("device")): g.data for g in records(ev, sid, "GAP")}
    for device in ("camera", "microphone", "sigpad"):
        g = gaps[("device_lost", device)]
        assert 1.8e9 < g["end_ns"] - g["start_ns"] < 3e9, (device, g)
    lost = [e.data["device"] for e in records(ev, sid, "EVENT") if e.data["kind"] == "device_lost"]
    assert sorted(lost) == ["camera", "microphone", "sigpad"]
    assert stats.frames > FPS * 2.5  # frames before and after the outage
    assert verify_path(ev.spool.session_dir(sid)).ok


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_while_recording_is_reported_and_recovered(tmp_path, device_key):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        clock = SimClock(realtime=True, rate=RATE)
        ev = Evidence.open(mnt / "spool", device_key, clock)
        camera = open_camera("sim", clock=clock, width=320, height=240, fps=FPS,
                             bitrate=2_000_000)
        mic = open_microphone("sim", clock=clock)
        faults = []
        rec = Recorder(ev, clock, camera, mic, on_fault=faults.append)
        sid = ev.start_session()
        rec.start(sid)
        deadline = time.monotonic() + 30
        while not faults and time.monotonic() < deadline:
            time.sleep(0.05)
        assert faults and "disk full" in str(faults[0])
        rec.stop()
        camera.close()
        mic.close()
        ev.ledger.close()
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        report = recover(mnt / "spool", device_key, clock, device_id=ev.device_id)
        assert report.closed_sessions == [sid]
        result = verify_path(mnt / "spool")
        assert result.ok, result.to_text()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
