"""Collecting every problem of a ticket at once, as ``firmware/config.py`` does for files.

Each field check raises :class:`~firmware.people.errors.FieldError`; :meth:`Problems.field`
runs one check and keeps its error instead of stopping at the first, so whoever wrote the
spec sees all that is wrong in one go.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

from firmware.people.errors import FieldError, PeopleError
from firmware.ticket.errors import TicketSpecError

T = TypeVar("T")


class Problems:
    """A list of ``"<path>: <rule>"`` lines; :meth:`raise_if_any` turns it into one
    :class:`TicketSpecError`."""

    def __init__(self, source: str = "ticket") -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, path: str, rule: str) -> None:
        self.lines.append(f"{path}: {rule}" if path else rule)

    def field(self, path: str, check: Callable[[], T]) -> T | None:
        """``check()``'s value, or None after noting its FieldError (under ``path`` when the
        error names no field of its own) or TicketSpecError."""
        try:
            return check()
        except FieldError as exc:
            self.lines.append(str(exc) if exc.field else f"{path}: {exc.rule}")
        except TicketSpecError as exc:
            self.lines.extend(exc.problems)
        except PeopleError as exc:
            self.add(path, str(exc))
        return None

    def keys(self, data: Any, path: str, required: tuple[str, ...],
             optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
        """``data`` as a mapping, noting a missing required key or an unknown key; an empty
        mapping (and a note) when ``data`` is not an object at all."""
        where = path or "ticket"
        if not isinstance(data, Mapping):
            self.add(where, f"must be an object, not {type(data).__name__}")
            return {}
        for key in required:
            if key not in data:
                self.add(f"{path}.{key}" if path else key, "is required")
        known = set(required) | set(optional)
        for key in sorted(str(k) for k in data if k not in known):
            self.add(f"{path}.{key}" if path else key,
                     f"is not a known field here; the fields are: {', '.join(sorted(known))}")
        return data

    def raise_if_any(self) -> None:
        if self.lines:
            raise TicketSpecError(self.lines, self.source)
