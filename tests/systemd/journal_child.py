"""Run inside a private mount namespace with a fresh /run: play journald (bind its socket,
collect every datagram), start ``dualrec run`` with its stderr as the journal stream, record a
short session through the control socket, stop, and write what journald received as JSON.

Usage: journal_child.py CONFIG OUT.json
"""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

JOURNAL = Path("/run/systemd/journal/socket")


def parse_entry(data: bytes) -> dict[str, str]:
    """journald's native protocol: KEY=value lines, or KEY\\n<u64 le length><bytes>\\n."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[key.decode()] = value.decode("utf-8", "replace")
    return fields


def main(config: str, out: str) -> int:
    JOURNAL.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(JOURNAL))
    sock.settimeout(0.2)
    entries: list[dict[str, str]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                entries.append(parse_entry(sock.recv(1 << 20)))
            except socket.timeout:
                continue

    reader = threading.Thread(target=read)
    reader.start()
    stream = Path(out).with_suffix(".stderr")
    with open(stream, "w") as stderr:
        st = os.fstat(stderr.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        env.pop("NOTIFY_SOCKET", None)
        proc = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config", config],
                                env=env, stderr=stderr)

    def cli(*args: str) -> dict:
        got = subprocess.run([sys.executable, "-m", "firmware.cli.main", *args, "--config", config],
                             capture_output=True, text=True, timeout=60)
        return json.loads(got.stdout) if got.returncode == 0 else {"error": got.stderr}

    try:
        deadline = time.monotonic() + 120
        while cli("status").get("state") != "idle":
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"daemon not idle: {stream.read_text()}")
            time.sleep(0.2)
        cli("press", "RECORD")
        session = cli("status")["session"]
        cli("press", "RECORD", "--hold", "2.5")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        done.set()
        reader.join()
    Path(out).write_text(json.dumps({"exit": code, "session": session, "entries": entries,
                                     "stderr": stream.read_text()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
