"""``dualrec run``: the appliance daemon (systemd Type=notify; logs to stderr → the journal)."""
from __future__ import annotations

import logging
import signal
import threading

from firmware.appliance import Appliance, run_forever
from firmware.config_model import Config
from firmware.errors import DualrecError
from firmware.notify import Notifier

log = logging.getLogger(__name__)


def run_daemon(config: Config) -> int:
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    notifier = Notifier()
    try:
        appliance = Appliance(config)
    except (DualrecError, OSError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        notifier.status(f"cannot start: {exc}")
        return 1
    log.info("device %s running (spool %s)", appliance.evidence.device_id, config.spool.path)
    try:
        run_forever(appliance, stop, notifier,
                    selftest_every_s=config.session.selftest_every_s)
    finally:
        appliance.close()
        notifier.close()
    log.info("stopped cleanly")
    return 0
