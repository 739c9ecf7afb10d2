"""A hostile local account (issue 11, F): the control socket, key files and spool modes."""
from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest

from firmware.unit.control import MAX_CLIENTS, MAX_REQUEST, ControlError, ControlServer, request
from firmware.errors import KeyFileError
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey


@pytest.fixture
def server(tmp_path):
    srv = ControlServer(tmp_path / "control.sock", lambda req: {"echo": req["cmd"]})
    yield srv
    srv.close()


def _raw(path, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(path))
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished: what we want
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_an_oversized_request_is_refused_before_it_is_read_whole(server):
    answer = json.loads(_raw(server.path, b"x" * (4 * MAX_REQUEST)))
    assert answer == {"ok": False, "error": f"request too large (more than {MAX_REQUEST} "
                                            "bytes); nothing was done"}
    assert request(server.path, {"cmd": "status"}) == {"ok": True, "echo": "status"}


def test_connections_beyond_the_cap_are_told_busy(server):
    idle = []
    try:
        for _ in range(MAX_CLIENTS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(server.path))
            s.sendall(b'{"cmd": "hello"}\n')          # served: the slot is now held
            assert b"hello" in s.recv(1000)
            idle.append(s)
        answer = request(server.path, {"cmd": "status"})
        assert answer == {"ok": False, "error": "busy: too many control connections"}
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 30  # the slots come back as the handlers see EOF
    while not request(server.path, {"cmd": "status"}).get("ok") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request(server.path, {"cmd": "status"}) == {"ok": True, "echo": "status"}


def test_the_socket_path_never_removes_a_file_that_is_not_a_socket(tmp_path):
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    with pytest.raises(ControlError, match="a regular is in the way"):
        ControlServer(precious, lambda req: {})
    assert precious.read_text() == "keep me"


def test_a_key_is_never_created_through_a_symlink(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    (keys / "device.key").symlink_to(target)
    with pytest.raises(KeyFileError, match="regular file"):
        DeviceKey.load_or_create(keys / "device.key")
    assert not target.exists()


def test_keys_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        key = DeviceKey.load_or_create(tmp_path / "new" / "keys" / "device.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(key.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key.path.parent).st_mode) == 0o700


def test_a_key_directory_open_to_others_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(KeyFileError, match="chmod 700"):
        DeviceKey.load_or_create(shared / "device.key")


def test_spool_modes_are_set_not_left_to_the_umask(tmp_path, device_key, clock):
    old = os.umask(0)
    try:
        with Evidence.open(tmp_path / "spool", device_key, clock) as ev:
            sid = ev.start_session()
            ev.seal_bytes(sid, "photo-1.jpg", b"\xff\xd8")
            ev.end_session(sid)
    finally:
        os.umask(old)
    root = tmp_path / "spool"
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if path.is_dir():
            assert mode == 0o750, path
        elif path.parent.name != "state":
            assert mode == 0o640, path


def test_bind_takes_its_data_inline_never_a_path(tmp_path, device_key, clock):
    from firmware.unit.appliance import Appliance
    from firmware.config.loading import load_config, replace
    config = replace(load_config(), drivers={"backend": "sim"},
                     spool={"path": str(tmp_path / "spool"), "min_free_mb": 16},
                     device={"key_file": str(tmp_path / "k" / "device.key")},
                     speech={"cache_dir": str(tmp_path / "speech")},
                     camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                     control={"socket": str(tmp_path / "control.sock")})
    app = Appliance(config)
    try:
        fifo = tmp_path / "people.fifo"
        os.mkfifo(fifo)
        answer = request(tmp_path / "control.sock", {"cmd": "bind", "people_file": str(fifo)})
        assert not answer["ok"] and "inline" in answer["error"]
        answer = request(tmp_path / "control.sock", {"cmd": "bind",
                                                      "people": "/etc/shadow"})
        assert not answer["ok"] and "root:" not in answer["error"]
    finally:
        app.close()
