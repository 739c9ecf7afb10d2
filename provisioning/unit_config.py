"""The unit's configuration file as provisioning touches it: read a few keys, set a few keys.

Setting keys rewrites only their lines (or adds them to their section, or adds the section),
so an operator's comments and other keys stay as they were. Values are strings, booleans or
integers. The result is parsed back with ``tomllib`` and compared before it replaces the file;
a file this cannot edit safely (a key set as a dotted key or an inline table, say) is refused.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from firmware.config.loading import DEFAULTS
from provisioning.errors import ProvisioningError
from provisioning.files import write_file

Value = str | bool | int
HEADER = ("# dualrec unit configuration (written by dualrec-provision; the shipped defaults in\n"
          "# config/default.toml apply to every key not set here)\n")


def toml_value(value: Value) -> str:
    """A TOML literal: a basic string (JSON escapes are valid TOML), a boolean, an integer."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a configuration value")


def _section_re(name: str) -> re.Pattern:
    return re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]\s*(#.*)?$")


def _set_in_lines(lines: list[str], section: str, key: str, value: Value) -> None:
    line = f"{key} = {toml_value(value)}"
    header = _section_re(section)
    start = next((i for i, text in enumerate(lines) if header.match(text)), None)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend([f"[{section}]", line])
        return
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].lstrip().startswith("[")), len(lines))
    key_re = re.compile(rf"^(\s*){re.escape(key)}\s*=")
    for i in range(start + 1, end):
        found = key_re.match(lines[i])
        if found:
            lines[i] = found.group(1) + line
            return
    last = start
    for i in range(start + 1, end):
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            last = i
    lines.insert(last + 1, line)


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """The TOML file at ``path`` ({} when it does not exist)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProvisioningError(f"{path}: cannot read the configuration ({exc})") from None


def set_values(path: str | os.PathLike, values: Mapping[str, Mapping[str, Value]]) -> Path:
    """Set ``values`` (``{section: {key: value}}``) in the TOML file at ``path``, creating it
    (mode 0644) when missing. Other lines are kept as they are."""
    path = Path(path)
    read_toml(path)  # refuse to edit a file that is not TOML already
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    lines = text.splitlines()
    for section, pairs in values.items():
        for key, value in pairs.items():
            _set_in_lines(lines, section, key, value)
    new_text = "\n".join(lines) + "\n"
    try:
        parsed = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ProvisioningError(f"{path}: cannot set the keys without breaking the file "
                                f"({exc}); set them by hand") from None
    for section, pairs in values.items():
        for key, value in pairs.items():
            if parsed.get(section, {}).get(key) != value:
                raise ProvisioningError(f"{path}: [{section}] {key} is set in a form this tool "
                                        "does not edit (a dotted key or inline table); set it "
                                        "by hand")
    write_file(path, new_text.encode("utf-8"), mode=0o644)
    return path


def setting(config: Mapping[str, Any], section: str, key: str) -> Any:
    """``[section] key`` from a unit's configuration, else the shipped default, else ""."""
    if key in config.get(section, {}):
        return config[section][key]
    defaults = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    return defaults.get(section, {}).get(key, "")
