"""Fixtures of the meeting tests: the real mosquitto with the project's config (TLS, ACL), the
unit's MeetingHost on its own MQTT connection, relays on loopback, and the back office's
SMS sender and a validating watcher as MQTT clients."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fleet.harness import Broker, Pki  # noqa: E402
from tests.meet.parts import (RELAY_B, WATCH, MeetWatch, RelayThread, UnitSide,  # noqa: E402
                              relay_settings)

from firmware.office.meet.acl import RELAY_LINES, acl_block  # noqa: E402
from firmware.ticket.model import Ticket, ticket_from_spec  # noqa: E402

ZHAO_ID = "110105198503150027"
LI_ID = "310115197804122244"
WANG_ID = "110101199007070035"


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker(tmp_path, pki):
    extra = acl_block(RELAY_B, RELAY_LINES) + acl_block(WATCH, ("topic read dualrec/v1/meet/#",))
    b = Broker(tmp_path / "broker", pki, extra_acl=extra).start()
    yield b
    b.stop()


@pytest.fixture
def watch(broker, pki):
    """Every meeting message on the broker, each checked against the closed meeting contract
    at the end of the test."""
    w = MeetWatch(broker, pki)
    yield w
    w.close()
    w.assert_clean()


def make_ticket(**over) -> Ticket:
    """Seats 0 and 1: 赵敏, remote, policyholder and insured; seat 2: 王强 at the counter;
    seat 3: 李秀英, remote, insured."""
    spec = {"application_number": "TB31012025061500017", "insurer": "示例人寿",
            "product": {"name": "示例终身寿险", "kind": "life", "returns": "fixed",
                        "premium_yuan": "10000.00", "frequency": "annual", "payment_years": 5,
                        "insurance_period": {"lifetime": True}, "cooling_off_days": 15},
            "people": [
                {"role": "policyholder", "name": "赵敏", "id_type": "resident_id",
                 "id_number": ZHAO_ID, "remote": True},
                {"role": "insured", "name": "赵敏", "id_type": "resident_id",
                 "id_number": ZHAO_ID, "remote": True},
                {"role": "insured", "name": "王强", "id_type": "resident_id",
                 "id_number": WANG_ID},
                {"role": "insured", "name": "李秀英", "id_type": "resident_id",
                 "id_number": LI_ID, "remote": True}],
            "staff_id": "S0001", "mode": "av", "scope": {"org": "BANK3101"}, "valid_hours": 8}
    spec.update(over)
    return ticket_from_spec(spec, dt.datetime.now(dt.timezone.utc))


@pytest.fixture(scope="session")
def ticket() -> Ticket:
    return make_ticket()


@pytest.fixture
def unit(broker, pki):
    side = UnitSide(broker, pki, "dr-unit-a")
    yield side
    side.close()


@pytest.fixture
def relays(broker, pki, tmp_path):
    """A factory of started relays (``relays()`` the first, ``relays(cn=RELAY_B)`` another);
    all stopped at the end."""
    started: list[RelayThread] = []

    def start(cn: str = "meet.relay", **limits) -> RelayThread:
        cert, key = pki.operator(cn)
        settings = relay_settings(tmp_path / f"{cn}-secret", cert, key, pki.ca_file,
                                  name=cn.split(".", 1)[1], **limits)
        relay = RelayThread(settings, broker.operator_url)
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()
