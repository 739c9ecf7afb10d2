"""``dualrec export`` on sessions recorded by the real recorder on simulated hardware: the MP4
(streams, duration, frames, A/V placement, captions, gaps kept), the signatures, the timeline
picture and the HTML report, and the exit codes."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from firmware.cli.export import run_export
from firmware.office.export.export import export_session
from firmware.cli.export import add_export_parser
from firmware.office.export.fonts import CJK_FONT_PACKAGE, choose_font
from firmware.office.export.timeline import COVERAGE, GAP

NS = 1_000_000_000
WIDTH, HEIGHT = 320, 240   # what tests/export/conftest.py records


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams",
                          "-show_format", "-count_frames", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def decode_video(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def decode_audio(path: Path) -> tuple[np.ndarray, int, float]:
    """(mono samples, rate, time of the first sample) of the MP4's audio track."""
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
    samples = np.concatenate([f.to_ndarray()[0] for f in frames])  # planar: channel 0
    return samples, frames[0].sample_rate, float(frames[0].time)


def is_black(rgb: np.ndarray) -> bool:
    """Below the caption band, nothing but black."""
    return float(rgb[HEIGHT // 3:].mean()) < 8


@pytest.fixture(scope="session")
def plain_export(plain_session, tmp_path_factory):
    return export_session(plain_session.session_dir, tmp_path_factory.mktemp("plain-out"))


@pytest.fixture(scope="session")
def late_export(late_gappy_session, tmp_path_factory):
    return export_session(late_gappy_session.session_dir, tmp_path_factory.mktemp("late-out"))


# -- the MP4 -------------------------------------------------------------------------------------
def test_mp4_has_h264_and_aac_and_the_recording_duration(plain_session, plain_export):
    probe = ffprobe(plain_export.video.path)
    codecs = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (int(video["width"]), int(video["height"])) == (WIDTH, HEIGHT)
    recorded_s = (plain_session.end_ns - plain_session.t0_ns) / NS
    assert recorded_s > 5.5
    assert abs(float(probe["format"]["duration"]) - recorded_s) < 0.2
    for stream in probe["streams"]:
        assert abs(float(stream["duration"]) - recorded_s) < 0.2, stream["codec_type"]


def test_every_recorded_frame_once_at_its_capture_time(plain_session, plain_export):
    frames = decode_video(plain_export.video.path)
    assert len(frames) == plain_session.stats.frames == len(plain_session.frame_times)
    assert int(ffprobe(plain_export.video.path)["streams"][0]["nb_read_frames"]) == len(frames)
    expected = [(t - plain_session.t0_ns) / NS for t in plain_session.frame_times]
    assert np.allclose([t for t, _ in frames], expected, atol=1 / 90_000 + 1e-6)
    assert plain_export.video.filler_frames == 0


def test_audio_sits_at_its_capture_time(plain_session, plain_export):
    samples, rate, start = decode_audio(plain_export.video.path)
    assert rate == 48_000 and start == pytest.approx(0.0, abs=1e-3)
    k = plain_session.first_loud(samples)
    assert k is not None, "the click is missing from the review audio"
    expected = (plain_session.click_ns - plain_session.t0_ns) / NS
    assert k / rate == pytest.approx(expected, abs=0.003)


def test_known_av_offset_is_kept(late_gappy_session, late_export):
    s = late_gappy_session
    offset = (s.frame_times[0] - s.audio_first_ns) / NS
    assert 0.45 < offset < 0.7, "the late camera did not start late"
    frames = decode_video(late_export.video.path)
    first_picture = next(t for t, rgb in frames if not is_black(rgb))
    assert first_picture == pytest.approx(offset, abs=0.002)
    assert late_export.video.first_frame_s == pytest.approx(offset, abs=0.002)
    assert is_black(frames[0][1]) and frames[0][0] == 0.0  # "no video yet", not closed up
    samples, rate, _ = decode_audio(late_export.video.path)
    assert float(np.sqrt(np.mean(samples[:rate // 10] ** 2))) > 0.1  # the tone from t = 0
    k = s.first_loud(samples)
    assert k / rate == pytest.approx((s.click_ns - s.t0_ns) / NS, abs=0.003)


def test_dropped_frames_stay_a_gap_and_duration_is_kept(late_gappy_session, late_export):
    s = late_gappy_session
    assert s.gaps, "the dropped frames made no GAP record"
    frames = decode_video(late_export.video.path)
    real = [(t, rgb) for t, rgb in frames if not is_black(rgb)]
    assert len(real) == s.stats.frames == len(s.frame_times)
    expected = [(t - s.t0_ns) / NS for t in s.frame_times]
    assert np.allclose([t for t, _ in real], expected, atol=2e-5)
    gap_start, gap_end = s.gaps[0]
    in_gap = [t for t, rgb in frames
              if is_black(rgb) and gap_start < s.t0_ns + t * NS < gap_end]
    assert len(in_gap) == 1  # one black frame marks the hole
    recorded_s = (s.end_ns - s.t0_ns) / NS
    assert abs(float(ffprobe(late_export.video.path)["format"]["duration"]) - recorded_s) < 0.2


def test_captions_are_burned_in(plain_session, plain_export):
    with av.open(str(plain_session.session_dir / "video-000001.h264"), format="h264") as c:
        raw = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    first = next(rgb for t, rgb in decode_video(plain_export.video.path))
    band = slice(0, 30)
    body = slice(HEIGHT // 2, HEIGHT - 40)  # below the captions, above the camera's own text
    diff = np.abs(first.astype(int) - raw.astype(int))
    assert diff[band].mean() > 20, "no caption in the text area"
    assert diff[body].mean() < 6, "the picture itself changed beyond re-encoding"


# -- signatures, timeline, report ----------------------------------------------------------------
def test_signature_pngs_are_the_sealed_ones(plain_session, plain_export):
    sealed = sorted(plain_session.session_dir.glob("*-signature.png"))
    assert sealed and len(plain_export.signatures) == len(sealed)
    for path in plain_export.signatures:
        assert path.read_bytes() == (plain_session.session_dir / path.name).read_bytes()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 100


def test_report_has_nodes_findings_and_timeline(plain_session, plain_export):
    html = plain_export.report.read_text(encoding="utf-8")
    for node in plain_session.nodes:
        assert node["id"] in html and node["title"] in html
    assert "face_in_frame" in html
    assert "no face for 1 s &lt;script&gt;" in html and "<script>" not in html.replace(
        "<script>function seek", "")
    assert "银行代理寿险 &lt;双录&gt;" in html and "A-0001&amp;2" in html
    assert "min_duration" in html and "Verified: INTACT" in html
    assert 'src="timeline.png"' in html and 'src="review.mp4"' in html
    assert 'src="signatures/sign-signature.png"' in html
    assert plain_session.session_id in html
    with Image.open(plain_export.timeline) as image:
        assert image.format == "PNG" and image.width >= 1000


def test_timeline_shows_the_gap(late_gappy_session, late_export):
    layout = late_export.timeline_layout
    gap_start, gap_end = late_gappy_session.gaps[0]
    top, bottom = layout.rows["video"]
    y = (top + bottom) // 2
    with Image.open(late_export.timeline) as image:
        rgb = image.convert("RGB")
        assert rgb.getpixel((round(layout.x_of((gap_start + gap_end) // 2)), y)) == GAP
        assert rgb.getpixel((round(layout.x_of(late_gappy_session.frame_times[10])), y)) \
            == COVERAGE
        gtop, gbottom = layout.rows["gaps"]
        x = round(layout.x_of((gap_start + gap_end) // 2))
        assert rgb.getpixel((x, (gtop + gbottom) // 2)) == GAP
    html = late_export.report.read_text(encoding="utf-8")
    assert "dropped_frames" in html and "NOT SYNCED" in html


def test_without_a_cjk_font_titles_fall_back_to_node_ids(plain_session, tmp_path):
    result = export_session(plain_session.session_dir, tmp_path / "out",
                            font=choose_font(allow_cjk=False))
    assert not result.font.cjk
    assert any(CJK_FONT_PACKAGE in p for p in result.problems)
    assert result.video.frames == plain_session.stats.frames
    html = result.report.read_text(encoding="utf-8")
    # the browser draws the title; only the burned-in text falls back
    assert plain_session.nodes[0]["title"] in html


# -- the command ---------------------------------------------------------------------------------
def test_cli_exports_and_exits_0(plain_session, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="dualrec")
    add_export_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", str(plain_session.session_dir), "--out",
                              str(tmp_path / "review")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "review.mp4" in out and "report.html" in out
    assert (tmp_path / "review" / "report.html").is_file()


@pytest.mark.parametrize("kind", ["missing", "spool", "bad-name", "no-start", "file"])
def test_not_a_session_exits_2(plain_session, tmp_path, capsys, kind):
    if kind == "missing":
        path = tmp_path / "nothing-here"
    elif kind == "spool":
        path = plain_session.spool
    elif kind == "bad-name":
        path = plain_session.spool / "ledger"
    elif kind == "file":
        path = plain_session.session_dir / "analysis.json"
    else:
        path = tmp_path / "spool" / "sessions" / "20240101T000000Z-abcdef"
        path.mkdir(parents=True)
        shutil.copytree(plain_session.spool / "ledger", tmp_path / "spool" / "ledger")
    assert run_export(path, tmp_path / "out", None) == 2
    assert "dualrec export:" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.html").exists()


def test_out_inside_the_spool_is_refused(plain_session, capsys):
    out = plain_session.spool / "state" / "review"
    assert run_export(plain_session.session_dir, out, None) == 2
    assert "inside the spool" in capsys.readouterr().err
    assert not out.exists()


def test_key_is_refused_until_media_are_encrypted(plain_session, tmp_path, capsys):
    assert run_export(plain_session.session_dir, tmp_path / "out", tmp_path / "k.pem") == 2
    assert "--key" in capsys.readouterr().err


def test_session_that_does_not_verify_is_exported_with_a_warning(plain_session, tmp_path,
                                                                   capsys):
    spool = tmp_path / "spool"
    shutil.copytree(plain_session.spool, spool)
    session_dir = spool / "sessions" / plain_session.session_id
    signature = next(session_dir.glob("*-signature.png"))
    signature.write_bytes(signature.read_bytes()[:-10] + b"0123456789")
    assert run_export(session_dir, tmp_path / "out", None) == 1
    err = capsys.readouterr().err
    assert "does NOT verify" in err and "changed_file" in err
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "NOT INTACT" in html and "changed_file" in html
    assert (tmp_path / "out" / "review.mp4").is_file()


def test_a_missing_video_segment_leaves_a_hole_not_a_splice(plain_session, tmp_path, capsys):
    spool = tmp_path / "spool"
    shutil.copytree(plain_session.spool, spool)
    session_dir = spool / "sessions" / plain_session.session_id
    (session_dir / "video-000003.h264").unlink()
    lost = len((session_dir / "video-000003.pts").read_text().splitlines())
    assert run_export(session_dir, tmp_path / "out", None) == 1
    assert "missing_file" in capsys.readouterr().err
    frames = decode_video(tmp_path / "out" / "review.mp4")
    real = [t for t, rgb in frames if not is_black(rgb)]
    assert len(real) == plain_session.stats.frames - lost
    expected = [(t - plain_session.t0_ns) / NS for t in plain_session.frame_times]
    assert all(min(abs(t - e) for e in expected) < 2e-5 for t in real)  # nothing moved
    assert len(frames) - len(real) == 1  # one black frame stands for the lost second
    recorded_s = (plain_session.end_ns - plain_session.t0_ns) / NS
    duration = float(ffprobe(tmp_path / "out" / "review.mp4")["format"]["duration"])
    assert abs(duration - recorded_s) < 0.2
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "video-000003.h264" in html and "NOT INTACT" in html
