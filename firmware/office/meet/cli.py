"""``dualrec-meet --broker URL --listen HOST:PORT --config FILE``: run the meeting relay.

Exit 0 after SIGTERM/SIGINT, 2 on an unusable configuration, broker URL or listen address,
1 when the broker cannot be reached at start.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from firmware.errors import ConfigError
from firmware.office.meet.relay import Relay
from firmware.office.meet.settings import load_settings
from firmware.protocol.mqtt.broker import broker_url, parse_broker_url
from firmware.protocol.mqtt.errors import BrokerUnreachableError

log = logging.getLogger("dualrec-meet")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen {value!r}: must be HOST:PORT, e.g. 0.0.0.0:8443")
    return host.strip("[]"), int(port)


async def _run(relay: Relay, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await relay.serve(host, port, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dualrec-meet", description="the remote meeting's "
                                     "relay: join page, code check, WebSocket to the broker")
    parser.add_argument("--broker", default="", help="mqtts://host:8884 (the operators' "
                        "listener); default: $DUALREC_MQTT_URL")
    parser.add_argument("--listen", default="127.0.0.1:8090", help="HOST:PORT to serve on "
                        "(behind the TLS-terminating load balancer)")
    parser.add_argument("--config", default=None, help="the relay's TOML file (docs/meet.md)")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        url = broker_url(args.broker)
        if not url:
            raise ConfigError("no broker: give --broker mqtts://host:8884 or set "
                              "DUALREC_MQTT_URL")
        address = parse_broker_url(url)
        host, port = _listen(args.listen)
        relay = Relay(settings, address)
    except ConfigError as exc:
        print(f"dualrec-meet: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(relay, host, port))
    except BrokerUnreachableError as exc:
        print(f"dualrec-meet: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"dualrec-meet: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
