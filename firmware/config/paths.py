"""Paths a configuration may name without putting the unit or its evidence at risk.

Checked when a configuration file is loaded (:func:`firmware.config.loading.load_config`, so also by
``dualrec run --validate-config``), together with the per-key checks of the model (the spool
must be absolute and not a system directory, :mod:`firmware.config.model`):

- the control socket must be an absolute path, and nothing but a socket may already be
  there: the daemon replaces what it finds at that path when it starts;
- private keys and trust anchors must not be inside the spool: whatever is in the spool may
  be sealed, uploaded, pruned or recovered, and a key must never be any of those.
"""
from __future__ import annotations

import os
import stat

from firmware.config.model import Config

KEY_FILES = (("device", "key_file"), ("device", "fleet_ca"), ("mqtt", "client_key"),
             ("mqtt", "ca_file"), ("sync", "ca_bundle"), ("people", "backoffice_public_key"))
"""Private keys and trust anchors named by path (``backoffice_public_key`` may instead be the
key itself, 44 characters of base64)."""


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _what_is(path: str) -> str | None:
    """None if nothing is at ``path`` (symlinks not followed) or it is a socket; else a word
    for what is there."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"something that cannot be examined ({exc.strerror or exc})"
    if stat.S_ISSOCK(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "regular file"
    return "special file"


def path_problems(config: Config) -> list[tuple[str, str, str]]:
    """``(section, key, why)`` for each path of ``config`` that is unsafe; empty when none."""
    problems = []
    socket_path = config.control.socket
    if socket_path:
        if not os.path.isabs(socket_path):
            problems.append(("control", "socket", "must be an absolute path"))
        else:
            there = _what_is(socket_path)
            if there is not None:
                problems.append(("control", "socket", f"{socket_path} exists and is a {there}, "
                                 "not a socket; the daemon would replace it: remove it or "
                                 "choose another path"))
    spool = config.spool.path
    if os.path.isabs(spool):
        for section, key in KEY_FILES:
            value = getattr(getattr(config, section), key)
            if ((section, key) == ("people", "backoffice_public_key") and len(value) == 44
                    and not os.path.lexists(value)):
                continue  # the base64 key itself, not a path (as read_public_key reads it)
            if value and _inside(os.path.abspath(value), spool):
                problems.append((section, key, f"{value} is inside the spool ({spool}); keys and "
                                 "trust anchors are never kept with the evidence (what is in "
                                 "the spool may be sealed, uploaded or pruned): keep them in "
                                 "/var/lib/dualrec/keys or /etc/dualrec"))
    return problems
