"""The insurer's office in ``dualrec demo --remote``: the relay ``dualrec-meet`` in this process
(on an event loop thread of its own, with the operator certificate ``meet.relay``) and the back
office's SMS sender, an MQTT client with the certificate ``sms.office`` that reads the unit's
meeting notices as the real sender does before it texts the code and the link.

The relay names no ICE server (the unit's ``[meet] ice_servers`` is empty too): on loopback the
host candidates are enough.
"""
from __future__ import annotations

import logging
import threading
import urllib.request
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware.cli.demo_broker import RELAY_CN, ClientFiles, DemoSetupError
from firmware.office.meet.relay import Relay
from firmware.office.meet.settings import parse_settings
from firmware.protocol.mqtt.broker import parse_broker_url
from firmware.protocol.mqtt.meet import MeetPayloadError, decode
from firmware.protocol.mqtt.meet_messages import MeetingNotice
from firmware.unit.remote.loop_thread import EventLoopThread

log = logging.getLogger(__name__)

WAIT_S = 30.0
NOTICES = "dualrec/v1/meet/+/+/notice"
MAX_NOTICES = 100               # what the inbox keeps (a demo's meeting sends a handful)


class DemoRelay:
    """``dualrec-meet`` on 127.0.0.1 (a free port), connected to the broker's operators'
    listener at ``broker_url``. :meth:`stop` is safe twice."""

    def __init__(self, broker_url: str, files: ClientFiles) -> None:
        self.errors: list[BaseException] = []
        settings = parse_settings({
            "relay": {"name": RELAY_CN.split(".", 1)[1]},
            "broker": {"ca_file": str(files.ca_file), "client_cert": str(files.cert),
                       "client_key": str(files.key)}}, "the demo's relay")
        self._relay = Relay(settings, parse_broker_url(broker_url))
        self._loop = EventLoopThread("demo-relay", self.errors.append)
        self._running = False
        self.url = ""

    def start(self) -> "DemoRelay":
        self._loop.start()
        self._running = True
        try:
            self._loop.run(self._relay.start("127.0.0.1", 0), WAIT_S)
        except Exception as exc:
            raise DemoSetupError(f"the relay dualrec-meet would not start: {exc}") from exc
        self.url = f"http://127.0.0.1:{self._relay.port}"
        return self

    @property
    def port(self) -> int:
        return self._relay.port

    def link(self, meeting: str) -> str:
        """The join link of ``meeting`` (the SMS's)."""
        return f"{self.url}/j/{meeting}"

    def serves(self, script: str) -> bool:
        """Whether the join page has ``script`` (``call.js`` holds the call,
        ``party_screen.js`` the party's screen and signing box)."""
        try:
            with urllib.request.urlopen(f"{self.url}/static/{script}", timeout=WAIT_S) as r:
                return r.status == 200
        except OSError:          # 404 (urllib's HTTPError is an OSError) or no answer
            return False

    def stop(self) -> None:
        if not self._running:
            self._loop.close()
            return
        self._running = False
        try:
            self._loop.run(self._relay.stop(), WAIT_S)
        finally:
            self._loop.close()


class SmsInbox:
    """The back office's SMS sender: every meeting notice of the broker, read (bounded and
    checked as the protocol says) on paho's thread; :meth:`opened` waits for a meeting's
    ``opened`` notice. :meth:`close` is safe twice."""

    def __init__(self, broker_url: str, files: ClientFiles) -> None:
        address = parse_broker_url(broker_url)
        self.notices: list[MeetingNotice] = []
        self.refused: list[str] = []
        self._cond = threading.Condition()
        subscribed = threading.Event()
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                             protocol=MQTTProtocolVersion.MQTTv5)
        client.tls_set(ca_certs=str(files.ca_file), certfile=str(files.cert),
                       keyfile=str(files.key))
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(NOTICES, qos=1)
        client.on_subscribe = lambda *args: subscribed.set()
        client.on_message = self._message
        self._client = client
        self._closed = False
        try:
            client.connect(address.host, address.port, keepalive=30)
        except OSError as exc:
            raise DemoSetupError(f"the SMS sender cannot reach the broker: {exc}") from exc
        client.loop_start()
        if not subscribed.wait(WAIT_S):
            self.close()
            raise DemoSetupError("the SMS sender (sms.office) could not subscribe to the "
                                 "meeting notices: is the broker's ACL the project's?")

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            notice = MeetingNotice.read(decode(bytes(message.payload)))
        except MeetPayloadError as exc:
            with self._cond:
                self.refused.append(f"{message.topic}: {exc}")
            return
        with self._cond:
            if len(self.notices) < MAX_NOTICES:
                self.notices.append(notice)
                self._cond.notify_all()

    def opened(self, device: str, timeout: float = WAIT_S) -> MeetingNotice:
        """The ``opened`` notice of ``device``'s meeting (DemoSetupError after ``timeout``)."""
        def found() -> MeetingNotice | None:
            return next((n for n in self.notices if n.device == device
                         and n.kind == "opened"), None)
        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout):
                raise DemoSetupError(f"no meeting notice from {device} in {timeout:g} s "
                                     f"(refused: {self.refused or 'none'})")
            return found()    # type: ignore[return-value]

    def kinds(self, meeting: str) -> list[str]:
        """The notices the back office had about ``meeting``, in order."""
        with self._cond:
            return [n.kind for n in self.notices if n.meeting == meeting]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.disconnect()
        self._client.loop_stop()
