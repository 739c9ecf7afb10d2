"""Signature: strokes from samples, JSON round trip, PNG rendering."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.errors import BadDriverArgument
from drivers.sigpad import PadInfo, PenSample, Signature

INFO = PadInfo("sig pad", 0, 10000, 0, 6000, 1023, 40, 40)
MS = 1_000_000


def signed() -> Signature:
    sig = Signature(INFO)
    t = 1_000_000 * MS
    for stroke in range(2):
        for i in range(20):
            sig.pen_sample(PenSample(1000 + 100 * i, 1000 + 800 * stroke + 20 * i,
                                     200 + 40 * i, t, True))
            t += 5 * MS
        sig.pen_sample(PenSample(2900, 1400, 0, t, False))
        sig.stroke_ended(t)
        t += 200 * MS
    return sig


def test_samples_group_into_strokes() -> None:
    sig = signed()
    assert sig.stroke_count == 2
    assert not sig.is_empty
    assert all(s.pen_down for st in sig.strokes for s in st)
    assert sig.duration_ns == (20 * 5 + 200 + 19 * 5) * MS
    assert Signature(INFO).is_empty and Signature(INFO).duration_ns == 0


def test_pad_lost_ends_the_stroke_in_progress() -> None:
    sig = Signature(INFO)
    sig.pen_sample(PenSample(1, 1, 10, 0, True))
    sig.pad_lost(5, "unplugged")
    sig.pen_sample(PenSample(2, 2, 10, 10, True))
    assert sig.stroke_count == 2
    assert sig.lost == [(5, "unplugged")]


def test_json_round_trip_is_exact_and_stable() -> None:
    sig = signed()
    text = sig.to_json()
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert doc["clock"] == "CLOCK_MONOTONIC"
    assert doc["pad"]["x_resolution"] == 40
    assert doc["start_ns"] == 1_000_000 * MS
    assert doc["strokes"][0]["t"][:3] == [0, 5 * MS, 10 * MS]
    assert set(doc["strokes"][0]) == {"t", "x", "y", "pressure"}
    back = Signature.from_json(text)
    assert back.strokes == sig.strokes
    assert back.info == sig.info
    assert back.to_json() == text


def test_bad_json_is_refused() -> None:
    with pytest.raises(BadDriverArgument):
        Signature.from_json('{"format": "other"}')
    with pytest.raises(BadDriverArgument):
        Signature.from_json("not json")
    doc = json.loads(signed().to_json())
    doc["strokes"][0]["x"].pop()
    with pytest.raises(BadDriverArgument, match="length"):
        Signature.from_json(json.dumps(doc))


def test_png_is_written_white_with_ink(tmp_path: Path) -> None:
    path = signed().render_png(tmp_path / "sig.png", width=600)
    image = cv2.imread(str(path))
    assert image.shape[1] == 600 and image.shape[2] == 3
    assert np.median(image) == 255            # white background
    dark = (image < 128).all(axis=2)
    assert 0.005 < dark.mean() < 0.3          # some ink, not a black page


def test_png_bytes_are_the_file_contents(tmp_path: Path) -> None:
    sig = signed()
    data = sig.png_bytes(width=300)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert sig.render_png(tmp_path / "s.png", width=300).read_bytes() == data


def test_harder_pressure_draws_thicker_lines(tmp_path: Path) -> None:
    def ink(pressure: int) -> int:
        sig = Signature(INFO)
        for i in range(30):
            sig.pen_sample(PenSample(1000 + 100 * i, 3000 + (i % 2), pressure, i * 5 * MS, True))
        sig.stroke_ended(30 * 5 * MS)
        image = cv2.imread(str(sig.render_png(tmp_path / f"p{pressure}.png")))
        return int((image < 128).all(axis=2).sum())

    assert ink(1000) > 1.5 * ink(100)


def test_empty_signature_renders_a_blank_page(tmp_path: Path) -> None:
    image = cv2.imread(str(Signature(INFO).render_png(tmp_path / "empty.png", width=200)))
    assert image.shape[1] == 200 and (image == 255).all()
    with pytest.raises(BadDriverArgument):
        Signature(INFO).render_png(tmp_path / "x.png", width=10)
