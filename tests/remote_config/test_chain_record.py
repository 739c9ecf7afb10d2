"""Every configuration that takes effect is on the chain: an EVENT ``config`` at the start when
the effective configuration differs from the last one recorded (and at the first start)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from remote_config_unit import make_bundle

from firmware.evidence import canonical
from firmware.config.loading import replace
from firmware.unit.config_record import (config_change_record, config_summary, config_values,
                                    record_effective_config)
from firmware.evidence.store import Evidence
from firmware.unit.remote_config import RemoteConfig, with_desired_config
from firmware.evidence.verify import verify_path


def config_events(spool: Path) -> list[dict]:
    out = []
    for path in sorted((spool / "ledger").glob("*.ledger")):
        for line in path.read_text().splitlines():
            record = json.loads(line.split("\t")[0])
            if record["type"] == "EVENT" and record["data"].get("kind") == "config":
                out.append(record)
    return out


def test_summary_is_canonical_and_has_no_floats(unit):
    sha, values = config_summary(unit)
    assert values["sync.keep_local_days"] == "30.0" and values["sync.enabled"] == "false"
    assert values["session.template"] == '"quick"'
    assert sha == hashlib.sha256(canonical.encode(values)).hexdigest()
    assert config_summary(replace(unit, sync={"keep_local_days": 30}))[0] == sha
    assert config_summary(replace(unit, sync={"keep_local_days": 7}))[0] != sha
    assert all(isinstance(v, str) for v in values.values())


def test_change_record_names_what_changed_from_what_to_what(unit):
    after = replace(unit, sync={"bucket": "b2", "keep_local_days": 7.5})
    data = config_change_record(unit, after, "file x; bundle serial 3")
    assert data["changed"] == {"sync.bucket": {"from": '""', "to": '"b2"'},
                               "sync.keep_local_days": {"from": "30.0", "to": "7.5"}}
    assert data["sha256"] == config_summary(after)[0]
    assert data["previous_sha256"] == config_summary(unit)[0]
    assert data["source"] == "file x; bundle serial 3"
    canonical.encode({"kind": "config", **data})          # no floats: fits a record
    assert config_change_record(config_values(unit), after, "s") == {**data, "source": "s"}
    first = config_change_record(None, unit, "file y")
    assert first["previous_sha256"] is None and len(first["changed"]) == len(config_values(unit))
    assert all(c["from"] is None for c in first["changed"].values())


def test_each_start_records_the_configuration_when_it_changed(unit, device_key, clock,
                                                               backoffice):
    spool = Path(unit.spool.path)

    def start(config):
        evidence = Evidence.open(spool, device_key, clock, device_id="dr-unit-a")
        try:
            return record_effective_config(evidence, config)
        finally:
            evidence.close()

    first = start(with_desired_config(unit))
    assert first is not None and first.data["previous_sha256"] is None
    assert start(with_desired_config(unit)) is None                  # unchanged: nothing
    RemoteConfig.for_unit(unit).accept_bundle(
        make_bundle(backoffice, {"sync": {"endpoint": "https://s3.b.example",
                                          "keep_local_days": 3}}, 8),
        now=dt.datetime.now(dt.timezone.utc), running=unit)
    RemoteConfig.for_unit(unit).accept_operational({"sync": {"workers": 2}}, 2)
    changed = start(with_desired_config(unit))
    assert changed.data["changed"] == {
        "sync.endpoint": {"from": '""', "to": '"https://s3.b.example"'},
        "sync.keep_local_days": {"from": "30.0", "to": "3.0"},
        "sync.workers": {"from": "4", "to": "2"}}
    assert changed.data["source"].endswith("bundle serial 8; set-config version 2")
    assert changed.data["previous_sha256"] == first.data["sha256"]
    # a tampered set-config file: refused at the start, and that is on the chain too
    (spool / "state" / "desired-config.json").write_text(json.dumps(
        {"version": 3, "desired": {"encryption": {"insurer_public_key": ""}}}))
    refused = start(with_desired_config(unit))
    assert "insurer_public_key: signed" in refused.data["refused"][0]
    assert refused.data["changed"] == {"sync.workers": {"from": "2", "to": "4"}}
    assert [e["seq"] for e in config_events(spool)] == [first.seq, changed.seq, refused.seq]
    report = verify_path(spool)
    assert report.ok, report.findings
