"""``dualrec run``: the appliance daemon (systemd Type=notify; logs to stderr → the journal)."""
from __future__ import annotations

import logging
import signal
import threading

from firmware.appliance import Appliance, run_forever
from firmware.config_model import Config
from firmware.errors import DualrecError
from firmware.logs import DaemonLogging, LogContext
from firmware.notify import Notifier
from firmware.remote_config import with_desired_config

log = logging.getLogger(__name__)


def run_daemon(config: Config) -> int:
    context = LogContext(config.device.id)
    logs = DaemonLogging(config.logging.level, context)
    try:
        return _run(config, context, logs)
    finally:
        logs.close()


def _run(config: Config, context: LogContext, logs: DaemonLogging) -> int:
    stop = threading.Event()
    exit_code = [0]

    def request_stop(code: int) -> None:
        exit_code[0] = code
        stop.set()

    def on_signal(signum, _frame) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    notifier = Notifier()
    config = with_desired_config(config)
    try:
        appliance = Appliance(config, log_context=context)
        appliance.start_fleet(request_stop=request_stop, logs=logs.recent.tail)
    except (DualrecError, OSError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        notifier.status(f"cannot start: {exc}")
        if "appliance" in locals():
            appliance.close()
        return 1
    log.info("device %s running (spool %s)", appliance.evidence.device_id, config.spool.path)
    try:
        run_forever(appliance, stop, notifier,
                    selftest_every_s=config.session.selftest_every_s)
    finally:
        appliance.close()
        notifier.close()
    if notifier.dropped:
        log.warning("%d notifications to the service manager were dropped", notifier.dropped)
    log.info("stopped cleanly" + (f" (exit {exit_code[0]}: restart)" if exit_code[0] else ""))
    return exit_code[0]
