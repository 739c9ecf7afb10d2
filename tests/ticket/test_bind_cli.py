"""`dualrec bind --ticket` (issue 13): a technician hands the running daemon the sale's ticket,
as its text or a picture of its QR, over the control socket; the daemon checks it as at the
counter (TicketGate.bind_text): valid binds the next session, forged/expired/used/foreign is
refused (exit 1) with the reason, and nothing is bound while a session records."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from notify_socket import NotifySocket
from sim_config import write_sim_config

from firmware.evidence.chain import chain_records
from firmware.evidence.keys import DeviceKey
from firmware.ticket import Ticket, encode_ticket, ticket_from_spec
from firmware.ticket.qr import write_ticket_png

SPEC = Path(__file__).resolve().parents[2] / "firmware" / "samples" / "ticket-spec.json"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sales_key() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, sales_key):
    """`dualrec run` on simulated hardware at branch BANK3101/SH0012, trusting ``sales_key``."""
    root = tmp_path_factory.mktemp("unit")
    config = write_sim_config(root)
    with config.open("a", encoding="utf-8") as f:
        f.write(f'[ticket]\nsales_public_keys = "{sales_key.public.b64}"\n'
                f'used_dir = "{root}/used"\n[branch]\norg = "BANK3101"\noutlet = "SH0012"\n')
    notify = NotifySocket(root / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path))
    env.pop("WATCHDOG_USEC", None)
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config",
                             str(config)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert "READY=1" in notify.wait_for("READY=1", 120), "the daemon did not start"
        yield config, root
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        notify.close()


def issue(key: DeviceKey, tmp_path: Path, name: str, *, hours_ago: float = 0,
          **changes) -> tuple[Ticket, str]:
    """A ticket of the sample spec written as ``name`` (.png: its QR; else its text)."""
    spec = {**json.loads(SPEC.read_text(encoding="utf-8")), **changes}
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours_ago)
    ticket = ticket_from_spec(spec, now)
    text = encode_ticket(ticket, key.sign, key.public)
    path = tmp_path / name
    if path.suffix == ".png":
        write_ticket_png(text, path)
    else:
        path.write_text(text + "\n", encoding="ascii")
    return ticket, str(path)


def ticket_events(root: Path) -> list[dict]:
    return [r.data for r in chain_records(root / "spool")
            if r.type == "EVENT" and r.data.get("kind") == "ticket"]


def test_a_ticket_binds_the_next_session_once(daemon, sales_key, tmp_path):
    config, root = daemon
    ticket, qr = issue(sales_key, tmp_path, "ticket.png")
    out = cli("bind", "--ticket", qr, "--config", str(config))
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["ticket"]["ticket_id"] == ticket.ticket_id
    assert answer["ticket"]["application_hash"] == ticket.application_hash
    assert answer["mode"] == "av" and answer["template"]
    assert ticket_events(root)[-1]["status"] == "ok"

    again = cli("bind", "--ticket", qr, "--config", str(config))
    assert again.returncode == 1 and "ticket refused (reused)" in again.stderr
    assert ticket_events(root)[-1]["status"] == "reused"

    assert cli("sim", "camera", "scene", "scene=face", "--config", str(config)).returncode == 0
    pressed = cli("press", "RECORD", "--config", str(config))
    assert pressed.returncode == 0, pressed.stderr
    status = json.loads(cli("status", "--config", str(config)).stdout)
    assert status["state"] == "recording", status
    _other, text = issue(sales_key, tmp_path, "another.txt")
    during = cli("bind", "--ticket", text, "--config", str(config))
    assert during.returncode == 1 and "recording" in during.stderr
    starts = [r.data for r in chain_records(root / "spool") if r.type == "SESSION_START"]
    assert starts[-1]["ticket"]["ticket_id"] == ticket.ticket_id
    assert cli("press", "RECORD", "--hold", "2.5", "--config", str(config)).returncode == 0
    assert json.loads(cli("status", "--config", str(config)).stdout)["state"] == "idle"


@pytest.mark.parametrize("case, reason", [("forged", "forged"), ("expired", "expired"),
                                          ("wrong_unit", "wrong_unit")])
def test_a_bad_ticket_is_refused_with_its_reason(daemon, sales_key, tmp_path, case, reason):
    config, root = daemon
    key = DeviceKey.generate() if case == "forged" else sales_key
    changes = {"scope": {"org": "BANK9999"}} if case == "wrong_unit" else {}
    _ticket, path = issue(key, tmp_path, "bad.txt", hours_ago=30 if case == "expired" else 0,
                          **changes)
    out = cli("bind", "--ticket", path, "--config", str(config))
    assert out.returncode == 1, out.stdout
    assert f"ticket refused ({reason})" in out.stderr
    assert ticket_events(root)[-1]["status"] == reason


def test_a_picture_without_a_ticket_is_unusable_input(daemon, tmp_path):
    config, _root = daemon
    import numpy as np
    from PIL import Image
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(blank)
    out = cli("bind", "--ticket", str(blank), "--config", str(config))
    assert out.returncode == 2 and "no ticket QR code" in out.stderr
