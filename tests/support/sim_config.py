"""A `dualrec run` configuration on simulated hardware, everything under one directory."""
from __future__ import annotations

import os
from pathlib import Path


def write_sim_config(root: Path, *, small: bool = True) -> Path:
    """Write ``root/dualrec.toml``: simulated devices (320x240 frames when ``small``), the
    spool, keys, speech cache and control socket under ``root``."""
    camera = "[camera]\nwidth = 320\nheight = 240\nfps = 15\nbitrate = 300000\n" if small else ""
    config = root / "dualrec.toml"
    speech = os.environ.get("DUALREC_SPEECH_CACHE") or f"{root}/speech"
    config.write_text(f"""
[device]
key_file = "{root}/keys/device.key"
[spool]
path = "{root}/spool"
min_free_mb = 16
[drivers]
backend = "sim"
{camera}[speech]
cache_dir = "{speech}"
[session]
template = "bank-life"
[control]
socket = "{root}/control.sock"
""")
    return config
