"""The counter unit of the remote-party session tests (not collected): the appliance as the
daemon builds it, with ``[meet]`` on and its fleet agent connected to the test's broker, bound
by a signed ticket to a sale whose policyholder is remote; and what the tests do at the counter
(NEXT and what became of it, a prompt played to its end).

Every wait is on a record of the chain, bounded by :data:`WAIT`.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from drivers.clock import SimClock
from firmware.cli.demo import demo_config
from firmware.config.loading import replace
from firmware.evidence.keys import DeviceKey
from firmware.ticket import encode_ticket, ticket_from_spec
from firmware.unit.appliance import Appliance
from tests.meet.conftest import WANG_ID, ZHAO_ID
from tests.remote.remote_rig import RecordWatch

WAIT = 60.0


def sale_spec(device_id: str, *, remote_name: str = "赵敏",
              counter_name: str = "王强") -> dict:
    """The policyholder (赵敏, seat 0) at home; the insured (王强, seat 1) at the counter."""
    return {"application_number": "TB31012025061500017", "insurer": "示例人寿",
            "product": {"name": "示例终身寿险", "kind": "life", "returns": "fixed",
                        "premium_yuan": "10000.00", "frequency": "annual", "payment_years": 5,
                        "insurance_period": {"lifetime": True}, "cooling_off_days": 15},
            "people": [{"role": "policyholder", "name": remote_name, "id_type": "resident_id",
                        "id_number": ZHAO_ID, "remote": True},
                       {"role": "insured", "name": counter_name, "id_type": "resident_id",
                        "id_number": WANG_ID}],
            "staff_id": "S0001", "mode": "av", "scope": {"devices": [device_id]},
            "valid_hours": 8}


def unit_config(root: Path, broker, pki, sales: DeviceKey, *, device: str, template: str,
                scripts: Path, **sections: Any):
    """A small simulated unit running ``template`` from ``scripts``, with ``[meet]`` on (no
    ICE server: host candidates only), understanding off unless ``sections`` say otherwise,
    and its fleet connection to ``broker`` (its certificate's CN is ``device``, as the
    broker's ACL wants)."""
    cert, key = pki.unit(device)
    config = replace(demo_config(root, template),
                     device={"id": device, "key_file": str(root / "keys" / "device.key")},
                     camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                     session={"template": template, "scripts_dir": str(scripts)},
                     understanding={"enabled": False},
                     ticket={"sales_public_keys": sales.public.b64,
                             "used_dir": str(root.parent / "used")},
                     meet={"enabled": True, "ice_servers": ""},
                     mqtt={"url": broker.unit_url, "client_cert": cert, "client_key": key,
                           "ca_file": pki.ca_file, "branch": "0451",
                           "telemetry_interval_s": 30.0, "reconnect_min_s": 0.1,
                           "reconnect_max_s": 0.5})
    return replace(config, **sections) if sections else config


@contextmanager
def bound_unit(root: Path, broker, pki, *, device: str, template: str, scripts: Path,
               spec: Callable[[str], dict] = sale_spec,
               microphone: tuple[str, dict] = ("speech", {}),
               **sections: Any) -> Iterator[tuple[Appliance, RecordWatch, DeviceKey]]:
    """The unit as the daemon builds it (its own session parts), connected to the fleet broker
    by its agent, self-tested, its prompts rendered, bound to the sale ``spec(device)``;
    yields ``(app, watch, sales key)`` and is torn down in order."""
    sales = DeviceKey.load_or_create(root / "sales" / "sales.key")
    watch = RecordWatch()
    app = Appliance(unit_config(root / "unit", broker, pki, sales, device=device,
                                template=template, scripts=scripts, **sections),
                    clock=SimClock(realtime=True, synced=True), on_record=watch)
    try:
        app.hardware.camera.set_scene("face")
        source, options = microphone
        app.hardware.microphone.set_source(source, **options)
        app.start_fleet(request_stop=lambda code: None, logs=lambda lines: "",
                        supervised=True)
        assert app.agent.ready.wait(WAIT), "the unit did not connect to the fleet broker"
        bind(app, sales, spec(app.evidence.device_id))
        app.flow.request_selftest()
        assert app.flow.wait_idle(60)
        assert app.flow.prompter.wait_prepared(900), "the prompts were not rendered"
        yield app, watch, sales
        assert app.uplinks.failures() == {}
    finally:
        app.close()


def bind(app: Appliance, sales: DeviceKey, spec: dict) -> None:
    """Bind the next session to a ticket for ``spec``, signed by ``sales``, issued now."""
    now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
    ticket = ticket_from_spec(spec, now)
    app.flow.bind(app.tickets.bind_text(encode_ticket(ticket, sales.sign, sales.public)))
    assert app.flow.wait_idle(60)


def strings(value) -> list[str]:
    """Every string in a record's data."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


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


def hold_record(app, watch: RecordWatch) -> None:
    """RECORD held to stop, and the session's end on the chain."""
    app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    watch.wait(lambda w: w.of("SESSION_END"), WAIT)


def finish(app, watch: RecordWatch) -> None:
    """The script complete, then RECORD held to stop it (:func:`hold_record`)."""
    watch.wait(lambda w: events(w, "script_complete"), WAIT)
    hold_record(app, watch)


def prompt_done(watch: RecordWatch, node: str) -> None:
    """Wait until ``node``'s prompt has played to its end (once)."""
    watch.wait(lambda w: any(p["node"] == node and p["completed"]
                             for p in events(w, "prompt")), WAIT)
