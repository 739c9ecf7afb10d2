"""Configuration: TOML files checked against one model per section; unknown keys refused.

``load_config(path)`` reads the shipped defaults (config/default.toml inside the package) and
lays the given file over them. Every problem is reported with the file, the line, the key path
and the reason, all at once (``dualrec run --validate-config``). Secrets never come from here:
they come from the environment or systemd credentials.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from firmware.config.model import Config, related_problems, section_names
from firmware.config.paths import path_problems
from firmware.errors import ConfigError

DEFAULTS = Path(__file__).with_name("default.toml")


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """The line where ``[section]`` (or ``key`` inside it) is set, for error messages."""
    in_section = False
    for no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_section = stripped.strip("[] ").split("#")[0].strip() == section
            if in_section and key is None:
                return no
            continue
        if in_section and key and re.match(rf"{re.escape(key)}\s*=", stripped):
            return no
    return None


def _coerce(value: Any, kind: type, where: str) -> tuple[Any, str | None]:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            return value, "must be a float, got an integer too large for one"
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        return value, f"must be {kind.__name__}, got {type(value).__name__} {repr(value)[:80]}"
    return value, None


def _build(cls: type, raw: dict, section: str, problems: list[tuple[str, str | None, str]]):
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in raw.items():
        f = known.get(key)
        if f is None:
            problems.append((section, key, f"unknown key (known: {', '.join(known)})"))
            continue
        kind = {"str": str, "int": int, "float": float, "bool": bool}[f.type]
        value, error = _coerce(value, kind, f"{section}.{key}")
        if error is None and "check" in f.metadata:
            error = f.metadata["check"](value)
        if error:
            problems.append((section, key, error))
        else:
            values[key] = value
    return cls(**values)


def _refuse(problems: list[tuple[str, str | None, str]], text: str, source: str) -> ConfigError:
    lines = []
    for section, key, why in problems:
        line = _line_of(text, section, key)
        at = f"{source}:{line}" if line else source
        lines.append(f"{at}: [{section}]{' ' + key if key else ''}: {why}")
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def parse_config(data: dict, *, text: str = "", source: str = "<config>") -> Config:
    problems: list[tuple[str, str | None, str]] = []
    sections = section_names()
    built = {}
    for name, raw in data.items():
        if name not in sections:
            problems.append((str(name), None,
                             f"unknown section (known: {', '.join(sections)})"))
            continue
        if not isinstance(raw, dict):
            problems.append((name, None, "must be a [section] table"))
            continue
        built[name] = _build(type(getattr(Config(), name)), raw, name, problems)
    if problems:
        raise _refuse(problems, text, source)
    config = Config(**built, source=source)
    problems = related_problems(config)
    if problems:
        raise _refuse(problems, text, source)
    return config


def check_paths(config: Config, *, text: str = "") -> Config:
    """``config`` if the paths it names are safe to use (:func:`path_problems`: the spool, the
    control socket, key files); ConfigError naming file, line, key and reason otherwise."""
    problems = path_problems(config)
    if problems:
        raise _refuse(list(problems), text, config.source)
    return config


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = (_merge(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The shipped defaults with ``path`` laid over them; ConfigError names every problem."""
    defaults = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    if path is None:
        return parse_config(defaults, source=str(DEFAULTS))
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    parse_config(data, text=text, source=str(path))  # errors point at this file's lines
    return check_paths(parse_config(_merge(defaults, data), text=text, source=str(path)),
                       text=text)


def replace(config: Config, **sections: dict) -> Config:
    """A copy of ``config`` with some keys changed, e.g. ``replace(c, spool={"path": p})``."""
    changes = {name: dataclasses.replace(getattr(config, name), **kv)
               for name, kv in sections.items()}
    return dataclasses.replace(config, **changes)
