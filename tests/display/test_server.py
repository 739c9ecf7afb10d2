"""The display server over real HTTP: where it listens, what it refuses, its headers, its stream."""
from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest

from drivers.clock import SimClock
from drivers.sigpad.base import PadInfo, PenSample
from firmware.unit.display.errors import DisplayClosedError, ListenAddressError
from firmware.unit.display.listen import ListenAddress
from firmware.unit.display.server import DisplayServer
from firmware.unit.display.view import DisplayView, NodeView, Person

PAD = PadInfo("sim pad", 0, 10000, 0, 5000, 1023, 40, 40)


def port(screen) -> int:
    return urlsplit(screen.server.url).port


def request(screen, method, path, body=None, headers=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port(screen), timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host or urlsplit(screen.server.url).netloc)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body else b"")
        if method == "POST":
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data if method == "POST" else None)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class EventStream:
    """A raw SSE reader over http.client: yields (id, event, data) as they arrive."""

    def __init__(self, screen) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port(screen), timeout=10)
        self.conn.request("GET", "/api/events")
        self.response = self.conn.getresponse()

    def next(self):
        fields = {}
        while True:
            line = self.response.fp.readline().decode().rstrip("\n")
            if not line:
                if "event" in fields:
                    return int(fields["id"]), fields["event"], json.loads(fields["data"])
                fields = {}
                continue
            key, _, value = line.partition(": ")
            fields[key] = value

    def close(self):
        self.conn.close()


def recording_view(title="风险提示", number=2):
    return DisplayView(state="recording", node=NodeView(number, 9, title),
                       people=(Person.of("policyholder", "王小明"),))


# -- where it listens --------------------------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("0.0.0.0:8470", "not a loopback"), ("192.168.1.20:8470", "not a loopback"),
    ("localhost:8470", "not an IP"), ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:99999", "port"), ("127.0.0.1:http", "port"),
])
def test_listen_addresses_other_than_loopback_ip_literals_are_refused(text, match):
    with pytest.raises(ListenAddressError, match=match):
        ListenAddress.parse(text)


def test_a_non_loopback_address_needs_explicit_permission():
    assert ListenAddress.parse("192.168.1.20:8470", allow_non_loopback=True).host == "192.168.1.20"
    assert ListenAddress.parse("[::1]:8470").netloc() == "[::1]:8470"


def _other_local_addresses() -> list[str]:
    """127.0.0.2 (loopback, but not the configured address) and the machine's own address on
    its default route, if it has one (found without sending anything)."""
    found = ["127.0.0.2"]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))          # TEST-NET-1: routing lookup only, no packet
        address = probe.getsockname()[0]
        if address not in ("0.0.0.0", "127.0.0.1"):
            found.append(address)
    except OSError:
        pass
    finally:
        probe.close()
    return found


def test_the_server_is_reachable_only_on_its_configured_address(screen_server):
    screen = screen_server()
    with socket.create_connection(("127.0.0.1", port(screen)), timeout=5):
        pass
    others = _other_local_addresses()
    for address in others:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port(screen)), timeout=5).close()
    assert len(others) >= 1


def test_a_request_for_another_host_name_is_refused(screen_server):
    screen = screen_server()
    status, _, _ = request(screen, "GET", "/", host="evil.example:80")
    assert status == 421
    status, _, _ = request(screen, "GET", "/", host=f"localhost:{port(screen)}")
    assert status == 200


def test_a_taken_port_is_an_error_naming_the_address(screen_server):
    screen = screen_server()
    taken = urlsplit(screen.server.url).netloc
    other = DisplayServer(taken, screen.server.documents, lambda e: None)
    with pytest.raises(OSError, match=f"cannot listen on {taken}"):
        other.start()
    other.close()


# -- headers and refusals ----------------------------------------------------------------------
def test_every_response_has_strict_security_headers(screen_server):
    screen = screen_server()
    for path in ("/", "/static/screen.js", "/api/documents/" + "a" * 64 + "/1.png"):
        status, headers, _ = request(screen, "GET", path)
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
    assert request(screen, "GET", "/")[1]["Cache-Control"] == "no-store"


def test_the_unit_font_is_served_when_present(screen_server, tmp_path):
    font = tmp_path / "cjk.ttc"
    font.write_bytes(b"ttcf" + bytes(60))
    status, headers, body = request(screen_server(font_file=font), "GET", "/fonts/cjk")
    assert (status, headers["Content-Type"], body[:4]) == (200, "font/collection", b"ttcf")
    assert request(screen_server(font_file=tmp_path / "none.ttc"), "GET", "/fonts/cjk")[0] == 404


def test_input_is_checked_before_it_reaches_the_flow(screen_server, library):
    screen = screen_server()
    sha = next(iter(library.entries))
    json_type = {"Content-Type": "application/json"}
    # no reading node on screen: no document is accepted
    assert request(screen, "POST", "/api/page", {"document": sha, "page": 1}, json_type)[0] == 404
    assert request(screen, "POST", "/api/page", {"document": sha, "page": 1},
                   {"Content-Type": "text/plain"})[0] == 415
    assert request(screen, "POST", "/api/page", {"document": sha, "page": 1},
                   {**json_type, "Origin": "http://evil.example"})[0] == 403
    assert request(screen, "POST", "/api/page", {"document": sha, "page": 1},
                   {**json_type, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert request(screen, "POST", "/api/page", b"x" * 5000, json_type)[0] == 413
    assert request(screen, "POST", "/api/page", b"{not json", json_type)[0] == 400
    assert request(screen, "POST", "/api/page", {"document": sha}, json_type)[0] == 400
    assert request(screen, "POST", "/api/page", {"document": sha, "page": True},
                   json_type)[0] == 400
    assert request(screen, "PUT", "/api/page")[0] == 405
    assert screen.inputs.empty()


def test_documents_not_on_screen_are_not_served(screen_server, library):
    screen = screen_server()
    sha = next(iter(library.entries))
    assert request(screen, "GET", f"/api/documents/{sha}/1.png")[0] == 404
    assert request(screen, "GET", "/static/../documents.py")[0] == 404


def test_input_floods_are_cut_off(screen_server):
    screen = screen_server()
    statuses = [request(screen, "POST", "/api/read", {"document": "a" * 64},
                        {"Content-Type": "application/json"})[0] for _ in range(60)]
    assert statuses.count(429) >= 10 and set(statuses) == {404, 429}


# -- the stream --------------------------------------------------------------------------------
def test_a_new_stream_gets_the_current_view_and_signature_at_once(screen_server):
    screen = screen_server()
    screen.server.publish(recording_view())
    stream = EventStream(screen)
    try:
        first, event, data = stream.next()
        assert event == "view" and data["view"]["node"]["title"] == "风险提示"
        assert data["view"]["people"][0]["name"] == "王*"
        assert stream.next()[1:] == ("signature", {"full": True, "aspect": None, "strokes": []})
        screen.server.publish(recording_view("犹豫期", 3))
        later, event, data = stream.next()
        assert later > first and data["view"]["node"]["title"] == "犹豫期"
    finally:
        stream.close()


def test_signature_points_stream_once_in_order(screen_server):
    screen = screen_server()
    stream = EventStream(screen)
    try:
        stream.next()                                  # the empty signature
        screen.server.signature_begin(PAD)
        assert stream.next()[2] == {"full": True, "aspect": [25000, 12500], "strokes": []}
        for i in range(5):
            screen.server.signature_sample(PenSample(1000 * i, 2500, 512, i, True))
        screen.server.signature_sample(PenSample(0, 0, 0, 6, False))
        screen.server.signature_stroke_end()
        points = []
        while len(points) < 5:
            _, event, data = stream.next()
            assert event == "signature" and not data["full"]
            points += data["points"]
        assert points == [[0, 1000 * i, 5000, 500] for i in range(5)]
    finally:
        stream.close()
    kinds = [c.kind for c in screen.changes]
    assert kinds.count("signature") == 2


def test_the_number_of_streams_is_capped(screen_server):
    screen = screen_server(max_clients=2)
    streams = [EventStream(screen), EventStream(screen)]
    try:
        for s in streams:
            s.next()
        assert request(screen, "GET", "/api/events")[0] == 503
    finally:
        for s in streams:
            s.close()


# -- changes for the chain and the lifecycle ---------------------------------------------------
def test_each_changed_part_is_one_screen_change_on_the_units_clock(screen_server):
    clock = SimClock(realtime=False)
    screen = screen_server(clock=clock)
    screen.server.publish(recording_view())
    first = {c.kind for c in screen.changes}
    assert first == {"state", "node", "caption", "needs", "refusal", "people", "page", "reading"}
    screen.changes.clear()
    clock.advance(3)
    screen.server.publish(recording_view())                 # the same: nothing changed
    assert screen.changes == []
    screen.server.publish(recording_view("犹豫期", 3))
    [change] = screen.changes
    assert change.kind == "node" and change.at_ns == clock.monotonic_ns()
    assert len(change.sha256) == 64 and change.viewers == 0


def test_close_is_safe_twice_and_a_closed_server_shows_nothing(library):
    server = DisplayServer("127.0.0.1:0", library, lambda e: None)
    server.start()
    server.close()
    server.close()
    with pytest.raises(DisplayClosedError):
        server.publish(DisplayView())
    with pytest.raises(DisplayClosedError):
        server.start()
