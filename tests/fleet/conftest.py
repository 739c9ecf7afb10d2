"""Fixtures for the fleet tests: certificates, a real mosquitto, agents with fake hooks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # tests.fleet.harness, also when run as `pytest` (not -m)
    sys.path.insert(0, str(REPO))

from tests.fleet.contract_watch import ContractWatch  # noqa: E402
from tests.fleet.harness import Broker, FakeHooks, Pki  # noqa: E402

from firmware.unit.fleet.agent import FleetAgent  # noqa: E402
from firmware.office.fleet.operator import OperatorClient  # noqa: E402
from firmware.unit.fleet.settings import AgentSettings  # noqa: E402


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker(tmp_path, pki):
    b = Broker(tmp_path / "broker", pki).start()
    yield b
    b.stop()


@pytest.fixture
def contract_watch(broker, pki):
    """A validating subscriber on the broker: every message a unit publishes during the test
    must keep the contract (checked at the end of the test)."""
    cert, key = pki.operator()
    watch = ContractWatch(broker.operator_port, cert, key, pki.ca_file)
    yield watch
    watch.close()
    watch.assert_clean()


@pytest.fixture(autouse=True)
def _every_publication_keeps_the_contract(request):
    """Any test of this directory that runs a broker gets the validating subscriber."""
    if "broker" in request.fixturenames:
        request.getfixturevalue("contract_watch")
    yield


@pytest.fixture
def hooks() -> FakeHooks:
    return FakeHooks()


class AgentFactory:
    """Makes started agents for a broker; stops them all at the end of the test."""

    def __init__(self, broker: Broker, pki: Pki, root: Path) -> None:
        self.broker, self.pki, self.root = broker, pki, root
        self.agents: list[FleetAgent] = []
        self.errors: list[Exception] = []

    def settings(self, device_id: str = "dr-unit-a", **over) -> AgentSettings:
        cert, key = self.pki.unit(device_id)
        values = dict(device_id=device_id, state_dir=self.root / device_id / "state",
                      url=self.broker.unit_url, client_cert=cert, client_key=key,
                      ca_file=self.pki.ca_file, branch="0451", keepalive_s=5,
                      telemetry_interval_s=0.3, reconnect_min_s=0.1, reconnect_max_s=0.5)
        values.update(over)
        return AgentSettings(**values)

    def __call__(self, hooks: FakeHooks, device_id: str = "dr-unit-a", *, wait: bool = True,
                 **over) -> FleetAgent:
        agent = FleetAgent(self.settings(device_id, **over), hooks,
                           on_error=self.errors.append, environ={})
        self.agents.append(agent)
        agent.start()
        if wait:
            assert agent.ready.wait(5), "the agent did not connect and subscribe"
        return agent

    def stop_all(self) -> None:
        for agent in self.agents:
            agent.stop()


@pytest.fixture
def make_agent(broker, pki, tmp_path):
    factory = AgentFactory(broker, pki, tmp_path / "units")
    yield factory
    factory.stop_all()


@pytest.fixture
def operator(broker, pki):
    cert, key = pki.operator()
    with OperatorClient(broker.operator_url, cert=cert, key=key, ca_file=pki.ca_file,
                        timeout=5) as client:
        yield client
