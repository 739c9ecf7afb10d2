"""Fixtures of the remote-media tests (the rig is in remote_rig.py)."""
from __future__ import annotations

from typing import Iterator

import pytest

from .remote_rig import UnitRig


@pytest.fixture
def unit(tmp_path, device_key) -> Iterator[UnitRig]:
    rig = UnitRig(tmp_path, device_key)
    try:
        yield rig
    finally:
        rig.close()
