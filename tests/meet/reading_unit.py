"""The unit of the remote reading tests (not collected): the appliance as the daemon builds it,
with the customer's screen on, the meeting on its fleet agent's connection to the test's
broker, a script with a reading node and a signature node, and a copy of the sample document
library whose pages need only a moment each; and what the tests do at the counter."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from drivers.clock import SimClock
from firmware.cli.demo import demo_config
from firmware.config.loading import replace
from firmware.evidence.keys import DeviceKey
from firmware.ticket import encode_ticket, ticket_from_spec
from firmware.unit.appliance import Appliance
from firmware.unit.display.documents import MANIFEST
from session_helpers import wait_for
from tests.meet.conftest import WANG_ID, ZHAO_ID
from tests.remote.remote_rig import RecordWatch

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "reading_scripts"
DOCUMENTS = REPO / "config" / "documents"
NOTICE = "bf8574ab804b9e90c4a6b51dabf421d2f6111b586bf102dd4dc2c720727858f3"   # 责任免除条款
PAGES = 3
MIN_PAGE_SECONDS = 0.3
WAIT = 60.0
DEVICE = "dr-reading-unit"


def reading_library(root: Path) -> Path:
    """The sample documents, each page to be shown MIN_PAGE_SECONDS."""
    root.mkdir(parents=True)
    for path in DOCUMENTS.glob("*.pdf"):
        shutil.copy(path, root / path.name)
    text = (DOCUMENTS / MANIFEST).read_text(encoding="utf-8")
    (root / MANIFEST).write_text(text.replace("min_page_seconds = 5",
                                              f"min_page_seconds = {MIN_PAGE_SECONDS}"),
                                 encoding="utf-8")
    return root


def unit_config(root: Path, broker, pki, sales: DeviceKey, *, screen: bool = True):
    """With the customer's screen at the counter, or (``screen`` False) without: then the
    remote parties' part loads the library of ``[display] documents`` itself."""
    cert, key = pki.unit(DEVICE)
    return replace(demo_config(root, "remote-reading"),
                   device={"id": DEVICE, "key_file": str(root / "keys" / "device.key")},
                   camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                   session={"template": "remote-reading", "scripts_dir": str(SCRIPTS)},
                   understanding={"enabled": False},
                   display={"enabled": screen, "listen": "127.0.0.1:0",
                            "documents": str(reading_library(root / "documents"))},
                   ticket={"sales_public_keys": sales.public.b64,
                           "used_dir": str(root.parent / "used")},
                   meet={"enabled": True, "ice_servers": ""},
                   mqtt={"url": broker.unit_url, "client_cert": cert, "client_key": key,
                         "ca_file": pki.ca_file, "branch": "0451",
                         "telemetry_interval_s": 30.0, "reconnect_min_s": 0.1,
                         "reconnect_max_s": 0.5})


def sale_spec(device_id: str) -> dict:
    """赵敏, the policyholder, at home; 王强, the insured, at the counter."""
    return {"application_number": "TB31012025061500017", "insurer": "示例人寿",
            "product": {"name": "示例终身寿险", "kind": "life", "returns": "fixed",
                        "premium_yuan": "10000.00", "frequency": "annual", "payment_years": 5,
                        "insurance_period": {"lifetime": True}, "cooling_off_days": 15},
            "people": [{"role": "policyholder", "name": "赵敏", "id_type": "resident_id",
                        "id_number": ZHAO_ID, "remote": True},
                       {"role": "insured", "name": "王强", "id_type": "resident_id",
                        "id_number": WANG_ID}],
            "staff_id": "S0001", "mode": "av", "scope": {"devices": [device_id]},
            "valid_hours": 8}


@contextmanager
def bound_unit(tmp_path: Path, broker, pki, *, screen: bool) -> Iterator[tuple]:
    """The unit as the daemon builds it, connected to the fleet broker by its agent, bound to
    the sale; torn down in order."""
    sales = DeviceKey.load_or_create(tmp_path / "sales" / "sales.key")
    watch = RecordWatch()
    app = Appliance(unit_config(tmp_path / "unit", broker, pki, sales, screen=screen),
                    clock=SimClock(realtime=True, synced=True), on_record=watch)
    try:
        app.hardware.camera.set_scene("face")
        app.hardware.microphone.set_source("speech")
        app.start_fleet(request_stop=lambda code: None, logs=lambda lines: "",
                        supervised=True)
        assert app.agent.ready.wait(WAIT), "the unit did not connect to the fleet broker"
        now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
        ticket = ticket_from_spec(sale_spec(app.evidence.device_id), now)
        app.flow.bind(app.tickets.bind_text(encode_ticket(ticket, sales.sign, sales.public)))
        app.flow.request_selftest()
        assert app.flow.wait_idle(60)
        assert app.flow.prompter.wait_prepared(900), "the prompts were not rendered"
        yield app, watch
        assert app.uplinks.failures() == {}
    finally:
        app.close()


@pytest.fixture
def counter(tmp_path, broker, pki):
    """The unit with its customer's screen at the counter."""
    with bound_unit(tmp_path, broker, pki, screen=True) as made:
        yield made


@pytest.fixture
def counter_without_screen(tmp_path, broker, pki):
    """The unit without a customer's screen at the counter."""
    with bound_unit(tmp_path, broker, pki, screen=False) as made:
        yield made


def events(watch: RecordWatch, kind: str, **data) -> list[dict]:
    return [r.data for r in watch.of("EVENT", kind=kind, **data)]


def press_next(app, watch: RecordWatch, expect_node: str | None = None,
               refused: str | None = None) -> None:
    """NEXT, and what the flow made of it: refused with ``refused``, or on to ``expect_node``
    (or the script's end)."""
    before_refused = len(events(watch, "next_refused"))
    before_end = len(events(watch, "node_end"))
    app.hardware.panel.press("NEXT", 0.05)
    watch.wait(lambda w: len(events(w, "next_refused")) > before_refused
               or len(events(w, "node_end")) > before_end, WAIT)
    got = events(watch, "next_refused")[before_refused:]
    if refused is not None:
        assert [g["reason"] for g in got] == [refused]
        return
    assert not got, got
    if expect_node is not None:
        watch.wait(lambda w: events(w, "node_start", node=expect_node), WAIT)


def prompt_done(watch: RecordWatch, node: str) -> None:
    watch.wait(lambda w: any(p["node"] == node and p["completed"]
                             for p in events(w, "prompt")), WAIT)


def counter_reads(app, document: str, pages: int) -> None:
    """The customer at the counter reads ``document`` on the counter's screen (its page's
    input, as the page posts it), each page until the screen says it is read."""
    base = app.screen.url

    def post(path: str, body: dict) -> None:
        request = urllib.request.Request(
            base + path, json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Origin": base.rstrip("/")})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def read_pages() -> tuple[int, ...]:
        view = app.screen.server.view
        return view.reading.document(document).read_pages if view and view.reading else ()

    for page in range(1, pages + 1):
        if page > 1:
            post("api/page", {"document": document, "page": page})
        post("api/shown", {"document": document, "page": page})
        wait_for(lambda: page in read_pages(), timeout=WAIT, what=f"counter page {page} read")
    post("api/read", {"document": document})


def strings(value) -> list[str]:
    """Every string in a record's data."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []
