"""Making a paho-mqtt 2.x client (MQTT v5, callback API version 2) with TLS client certificates.

Shared by the unit's agent and the operators' ``dualrec-fleet``. With TLS the broker takes the
username from the certificate's CN (``use_identity_as_username``); on a plain development
listener the username is sent as such (the unit sends its device id).
"""
from __future__ import annotations

import socket
import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware.protocol.mqtt.errors import FleetSettingsError
from firmware.protocol.mqtt.broker import BrokerAddress


def tls_context(ca_file: str = "", cert: str = "", key: str = "") -> ssl.SSLContext:
    """A client TLS context: the broker checked against ``ca_file`` (the system CAs when
    empty), TLS 1.2 or newer, and our certificate and key when given."""
    for what, path in (("CA file", ca_file), ("client certificate", cert), ("client key", key)):
        if path and not Path(path).is_file():
            raise FleetSettingsError(f"{what} {path}: no such file")
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            ctx.load_cert_chain(cert, key or None)
    except (ssl.SSLError, OSError) as exc:
        raise FleetSettingsError(f"cannot use the TLS files (CA {ca_file or 'system'}, "
                                 f"certificate {cert or 'none'}, key {key or 'none'}): {exc}") \
            from None
    return ctx


def certificate_cn(path: str) -> str:
    """The common name of a PEM certificate: the MQTT username the broker will see."""
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise FleetSettingsError(f"client certificate {path}: cannot read it ({exc})") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise FleetSettingsError(f"client certificate {path} has no common name (CN)")
    return str(names[0].value)


def _no_delay(client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
    """Commands and answers are small and interactive: send each packet at once (no Nagle)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (a proxy): only latency is lost


def make_client(address: BrokerAddress, *, client_id: str, cert: str = "", key: str = "",
                ca_file: str = "", username: str | None = None) -> mqtt.Client:
    """A configured, unconnected MQTT v5 client."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.on_socket_open = _no_delay
    if address.tls:
        client.tls_set_context(tls_context(ca_file, cert, key))
    elif username:
        client.username_pw_set(username)
    return client
