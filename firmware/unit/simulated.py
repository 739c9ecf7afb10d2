"""A unit on simulated hardware without writing a configuration: ``dualrec run --simulated``.

Everything (spool, keys, control socket) lives under one directory, by default
``$XDG_STATE_HOME/dualrec-sim`` (``~/.local/state/dualrec-sim``), created 0700 so no other
local account can reach the control socket or plant files in the spool. ``dualrec press``,
``status``, ``sim`` and ``bind`` take the same ``--simulated [--sim-dir DIR]`` to find it.
"""
from __future__ import annotations

import os
from pathlib import Path

from firmware.config.loading import load_config, replace
from firmware.config.model import Config
from firmware.errors import ConfigError
from firmware.unit.hardware import shared_speech_cache


def default_sim_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dualrec-sim"


def prepare_sim_dir(root: Path) -> Path:
    """Create ``root`` (mode 0700) or check an existing one is a directory of ours."""
    root = Path(root).absolute()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(root)
    if not os.path.isdir(root) or os.path.islink(root):
        raise ConfigError(f"{root}: the simulated unit's directory must be a real directory")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ConfigError(f"{root}: must belong to you with mode 0700 (it holds the simulated "
                          f"unit's key and control socket); run: chmod 700 {root}")
    return root


def simulated_config(root: Path, base: Config | None = None) -> Config:
    """The shipped defaults (or ``base``) on simulated hardware, everything under ``root``:
    small 640x360 frames, the bank-life script, the control socket at ``root/control.sock``."""
    root = Path(root).absolute()
    return replace(base or load_config(), drivers={"backend": "sim"},
                   device={"key_file": str(root / "keys" / "device.key")},
                   spool={"path": str(root / "spool"), "min_free_mb": 64},
                   speech={"cache_dir": str(shared_speech_cache())},
                   camera={"width": 640, "height": 360, "fps": 30, "bitrate": 1_000_000},
                   control={"socket": str(root / "control.sock")})
