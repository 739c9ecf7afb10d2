"""``dualrec run``: the appliance daemon (systemd Type=notify; logs to stderr → the journal)."""
from __future__ import annotations

import errno
import logging
import signal
import threading

from firmware.unit.appliance import Appliance
from firmware.unit.main_loop import run_forever
from firmware.config.model import Config
from firmware.unit.degraded import DegradedUnit, disk_shortfall
from firmware.errors import DiskFullError, DualrecError
from firmware.unit.logs import DaemonLogging, LogContext
from firmware.unit.notify import Notifier
from firmware.unit.remote_config import with_desired_config

log = logging.getLogger(__name__)


def run_daemon(config: Config) -> int:
    context = LogContext(config.device.id)
    logs = DaemonLogging(config.logging.level, context)
    try:
        try:  # the fleet's operational settings and the back office's signed bundle
            config = with_desired_config(config)
        except (DualrecError, OSError, ValueError) as exc:
            log.error("cannot start: the remote configuration cannot be applied: %s", exc)
            return 1
        logs.set_level(config.logging.level)
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
    appliance = None
    while appliance is None:
        try:
            short = disk_shortfall(config)
            if short:
                raise DiskFullError(errno.ENOSPC, short)
            appliance = Appliance(config, log_context=context)
            appliance.start_fleet(request_stop=request_stop, logs=logs.recent.tail)
        except DiskFullError as exc:
            if appliance is not None:
                appliance.close()
                appliance = None
            log.error("cannot open the evidence: %s; degraded until there is room", exc)
            with DegradedUnit(config, exc) as degraded:
                if not degraded.wait_for_space(stop, notifier):
                    notifier.stopping()
                    notifier.close()
                    return exit_code[0]
        except (DualrecError, OSError, ValueError) as exc:
            log.error("cannot start: %s", exc)
            notifier.status(f"cannot start: {exc}")
            if appliance is not None:
                appliance.close()
            return 1
    log.info("device %s running (spool %s)", appliance.view.device_id, config.spool.path)
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
