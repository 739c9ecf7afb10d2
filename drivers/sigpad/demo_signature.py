"""Generates the shipped demo recording: a quick, half-cursive signature of 王小明.

Run ``python -m drivers.sigpad.demo_signature [OUT.jsonl]`` to write it again (by default to
``drivers/sigpad/samples/signature-demo.jsonl``). The output is deterministic (seeded jitter).

Each stroke is a few control points in a unit box per character (y grows downwards, as on the
pad); the pen follows a Catmull-Rom curve through them, slow at the ends and fast in the middle,
sampled at 200 Hz, pressing harder mid-stroke, with a little hand tremor.
"""
from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from drivers.sigpad.base import PadInfo
from drivers.sigpad.replay import save_events, strokes_to_events

#: A 96 x 60 mm pad, 100 units per mm, 1024 pressure levels.
DEMO_PAD = PadInfo(name="dualrec demo pen tablet", x_min=0, x_max=9600, y_min=0, y_max=6000,
                   pressure_max=1023, x_resolution=100, y_resolution=100)

Point = tuple[float, float]

#: 王 小 明: strokes as control points in each character's unit box.
CHARACTERS: list[list[list[Point]]] = [
    [  # 王: the top bar, then bar-stem-bar-bar in one cursive run
        [(0.10, 0.20), (0.50, 0.16), (0.90, 0.13)],
        [(0.48, 0.15), (0.50, 0.50), (0.22, 0.53), (0.80, 0.48), (0.53, 0.56), (0.50, 0.84),
         (0.12, 0.90), (0.95, 0.84)],
    ],
    [  # 小: the hooked stem, the left dot, the right dot
        [(0.50, 0.05), (0.52, 0.50), (0.50, 0.92), (0.38, 0.82)],
        [(0.26, 0.35), (0.12, 0.66)],
        [(0.72, 0.34), (0.90, 0.62)],
    ],
    [  # 明: 日 as three strokes, 月 as three
        [(0.05, 0.26), (0.06, 0.76)],
        [(0.06, 0.25), (0.37, 0.23), (0.36, 0.72), (0.07, 0.74)],
        [(0.09, 0.49), (0.34, 0.47)],
        [(0.56, 0.10), (0.55, 0.60), (0.45, 0.96)],
        [(0.56, 0.09), (0.90, 0.07), (0.90, 0.90), (0.80, 0.84)],
        [(0.59, 0.38), (0.87, 0.36), (0.60, 0.62), (0.87, 0.60)],
    ],
]

#: Where each character's box sits on the pad: (left, top, width, height) in pad units.
BOXES = [(1300, 1700, 2100, 2500), (3700, 1500, 1900, 2700), (5900, 1600, 2500, 2600)]


def _catmull_rom(points: list[Point], per_segment: int = 24) -> list[Point]:
    if len(points) < 2:
        return list(points)
    ext = [points[0]] + points + [points[-1]]
    out: list[Point] = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for k in range(per_segment):
            t = k / per_segment
            t2, t3 = t * t, t * t * t
            out.append(tuple(0.5 * (2 * p1[d] + (-p0[d] + p2[d]) * t
                                    + (2 * p0[d] - 5 * p1[d] + 4 * p2[d] - p3[d]) * t2
                                    + (-p0[d] + 3 * p1[d] - 3 * p2[d] + p3[d]) * t3)
                             for d in (0, 1)))  # type: ignore[misc]
    out.append(points[-1])
    return out


def _resample(curve: list[Point], rng: random.Random, speed_units_s: float = 9000.0,
              rate_hz: float = 200.0) -> list[tuple[int, int, int]]:
    """Walk the curve at a bell-shaped speed, one point per report, with tremor and pressure."""
    lengths = [0.0]
    for a, b in zip(curve, curve[1:]):
        lengths.append(lengths[-1] + math.dist(a, b))
    total = lengths[-1]
    n = max(6, int(total / (speed_units_s / rate_hz) * 1.5))
    samples = []
    seg = 0
    for k in range(n):
        u = k / (n - 1)
        s = total * (1 - math.cos(math.pi * u)) / 2  # slow start and end
        while seg < len(lengths) - 2 and lengths[seg + 1] < s:
            seg += 1
        span = lengths[seg + 1] - lengths[seg] or 1.0
        f = (s - lengths[seg]) / span
        (ax, ay), (bx, by) = curve[seg], curve[seg + 1]
        x = ax + (bx - ax) * f + rng.gauss(0, 3)
        y = ay + (by - ay) * f + rng.gauss(0, 3)
        pressure = DEMO_PAD.pressure_max * (0.22 + 0.55 * math.sin(math.pi * u) ** 0.6)
        pressure *= 1 + rng.gauss(0, 0.03)
        samples.append((int(round(x)), int(round(y)),
                        int(min(max(pressure, 1), DEMO_PAD.pressure_max))))
    return samples


def demo_strokes(seed: int = 20170601) -> list[list[tuple[int, int, int]]]:
    """The strokes of the demo signature, as (x, y, pressure) points at 200 Hz."""
    rng = random.Random(seed)
    strokes = []
    for char, (left, top, width, height) in zip(CHARACTERS, BOXES):
        slant = 0.12  # a right-leaning hand
        for stroke in char:
            pts = [(left + (x + slant * (1 - y)) * width * 0.9, top + y * height)
                   for x, y in stroke]
            strokes.append(_resample(_catmull_rom(pts), rng))
    return strokes


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    default = Path(__file__).resolve().parent / "samples" / "signature-demo.jsonl"
    out = Path(args[0]) if args else default
    out.parent.mkdir(parents=True, exist_ok=True)
    save_events(out, DEMO_PAD, strokes_to_events(demo_strokes(), gap_s=0.18))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
