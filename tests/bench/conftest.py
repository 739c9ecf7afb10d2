"""Benchmarks: each prints its figure as a ratio against a baseline measured in the same run.

Run with ``./dev bench``; they are not part of the default test run. Results also go to
``bench-results.json`` in the working directory, for the README.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

RESULTS = Path("bench-results.json")


@pytest.fixture
def record_result():
    def record(name: str, **figures) -> None:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[name] = figures
        RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True))
        print(f"\nBENCH {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return record
