"""Arbitrary desired configurations never crash the unit and never change a setting that is
not operational: through the fleet's ConfigShadow, the daemon's hooks, the state files and
the next start (hypothesis)."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remote_config_unit import DEVICE, unit_config

from drivers.clock import SimClock
from firmware.config.model import OPERATIONAL, Config, section_names, tier_of
from firmware.unit.config_record import config_values
from firmware.unit.fleet.desired_config import ConfigShadow
from firmware.protocol.mqtt.errors import CommandError
from firmware.unit.fleet.appliance_hooks import ApplianceHooks
from firmware.evidence.keys import DeviceKey
from firmware.unit.remote_config import with_desired_config

SECTIONS = list(section_names())
KEYS = sorted({f.name for s in SECTIONS for f in fields(type(getattr(Config(), s)))})

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=30)
    | st.sampled_from(["", "/", "/etc/passwd", "sim", "audio_photo", "-----BEGIN PUBLIC KEY-----"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=8)
sections = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=5)
random_configs = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=10),
                                 sections | values, max_size=4)
operational = st.fixed_dictionaries({}, optional={
    "sync": st.fixed_dictionaries({}, optional={"workers": st.integers(1, 32),
                                                "interval_s": st.floats(1, 86_400),
                                                "media_window": st.just("18:00-08:00")}),
    "mqtt": st.fixed_dictionaries({}, optional={"keepalive_s": st.integers(5, 300)}),
    "logging": st.fixed_dictionaries({}, optional={"level": st.just("debug")})})
attacks = st.sampled_from([{"encryption": {"insurer_public_key": ""}},
                           {"sync": {"endpoint": "https://evil.example", "keep_local_days": 0}},
                           {"spool": {"min_free_mb": 0}}, {"control": {"socket": "/etc/x"}},
                           {"session": {"mode": "audio_photo"}}, {"drivers": {"backend": "sim"}}])
desired_configs = (random_configs | operational
                   | st.tuples(operational, attacks).map(lambda t: {**t[0], **t[1]}))


def non_operational(config: Config) -> dict[str, str]:
    return {k: v for k, v in config_values(config).items()
            if tier_of(*k.split(".", 1)) != OPERATIONAL}


@pytest.fixture(scope="module")
def unit_dir(tmp_path_factory) -> tuple[Config, ApplianceHooks, ConfigShadow]:
    root = tmp_path_factory.mktemp("fuzz")
    backoffice = DeviceKey.load_or_create(root / "backoffice.key")
    config = unit_config(root / "unit", backoffice)
    view = SimpleNamespace(device_id=DEVICE)     # config commands need only the unit's id
    hooks = ApplianceHooks(view, None, config=config, clock=SimClock(realtime=True),
                           locate=lambda seconds: None, request_stop=lambda code: None,
                           logs=lambda n: "")
    shadow = ConfigShadow(Path(config.spool.path) / "state" / "fleet" / "config.json",
                          on_error=pytest.fail)
    return config, hooks, shadow


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(desired=desired_configs, version=st.integers(1, 2**31 - 1))
def test_any_desired_configuration_changes_only_operational_settings(unit_dir, desired,
                                                                     version):
    config, hooks, shadow = unit_dir
    try:
        shadow.apply(desired, version, hooks)
    except CommandError as exc:
        assert exc.code == "rejected" and exc.message
    hooks.apply_config(desired, version)        # the daemon's own checks, even when asked directly
    effective = with_desired_config(config)
    assert non_operational(effective) == non_operational(config)
    assert effective.origin.refused == ()       # what the unit stored, it takes again
    document = shadow.document(hooks)
    assert document["accepted"]["set_config_version"] >= 0


def test_the_fuzzed_unit_still_starts_with_what_it_accepted(unit_dir):
    config, hooks, shadow = unit_dir
    ok, note = hooks.apply_config({"sync": {"workers": 3}}, 2**31 - 1)
    assert ok, note
    assert with_desired_config(config).sync.workers == 3
    ok, note = hooks.apply_config_bundle(b"{}")
    assert not ok and "not a configuration bundle" in note
