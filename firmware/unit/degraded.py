"""The unit when its evidence cannot even be opened for lack of disk: up, but not recording.

``dualrec run`` on a full disk does not fail (systemd would restart it in a loop, never
READY, with nobody told why): it reports ``STATUS=degraded: …`` to systemd, keeps feeding the
watchdog, answers ``dualrec status`` with ``"state": "degraded"`` and the reason, and looks
for free space every few seconds. Once there is room again it returns, the daemon opens the
evidence (recovery seals what the failed start left and says so in a signed GAP record) and
the unit records again.
"""
from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from firmware.config.model import Config
from firmware.unit.control import ControlError, ControlServer
from firmware.unit.notify import Notifier

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
MIN_RESERVE = 8 * 1024 * 1024   # what a start needs at least when [spool] min_free_mb is 0


def disk_shortfall(config: Config) -> str | None:
    """Why the spool's disk is too full to start on (less than the reserve free), or None."""
    reserve = max(config.spool.min_free_mb * 2**20, MIN_RESERVE)
    path = Path(config.spool.path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return None  # the start itself says what is wrong
    if free >= reserve:
        return None
    return (f"disk full: {free // 2**20} MiB free on the spool's disk, {reserve // 2**20} MiB "
            "needed to start")


class DegradedUnit:
    """Serves status while the disk is full; :meth:`wait_for_space` until there is room."""

    def __init__(self, config: Config, reason: BaseException) -> None:
        self.config = config
        self.reason = str(reason)
        self.reserve = max(config.spool.min_free_mb * 2**20, MIN_RESERVE)
        self.control = None
        if config.control.socket:
            try:
                self.control = ControlServer(config.control.socket, self._handle)
            except (OSError, ControlError) as exc:
                log.error("control socket unavailable while degraded: %s", exc)

    def _free(self) -> int:
        try:
            return shutil.disk_usage(self.config.spool.path).free
        except OSError:
            return 0

    def _handle(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("cmd") != "status":
            raise ControlError(f"the unit is degraded ({self.reason}); only status answers")
        return {"state": "degraded", "reason": self.reason, "disk_free_bytes": self._free(),
                "disk_needed_bytes": self.reserve}

    def wait_for_space(self, stop: threading.Event, notifier: Notifier) -> bool:
        """True once the spool's disk has the reserve free again; False if ``stop`` is set."""
        notifier.ready(f"degraded: {self.reason}")
        interval = min(CHECK_EVERY_S, notifier.watchdog_usec() / 2e6 or CHECK_EVERY_S)
        while not stop.wait(interval):
            notifier.watchdog()
            free = self._free()
            notifier.status(f"degraded: disk full ({free // 2**20} MiB free, "
                            f"{self.reserve // 2**20} MiB needed); not recording")
            if free >= self.reserve:
                log.warning("disk space is back (%d MiB free): opening the evidence again",
                            free // 2**20)
                return True
        return False

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None

    def __enter__(self) -> "DegradedUnit":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
