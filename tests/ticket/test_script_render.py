"""`dualrec script render` (issue 13): the prompts a ticket would produce, so an insurer approves
the wording before it ships — the template the unit would choose (product kind and returns,
elder), each node's prompt with the policy's facts in Chinese, exactly the text a session bound
to that ticket seals in script.json."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.cli.main import main
from firmware.ticket import ticket_from_spec
from firmware.unit.binder import Binder, TicketBinder
from firmware.unit.session.script import load_templates

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "firmware" / "samples" / "ticket-spec.json"
TEST_SCRIPTS = REPO / "tests" / "session" / "scripts"


def spec_file(tmp_path: Path, **product_changes) -> tuple[dict, Path]:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    spec["product"].update(product_changes)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return spec, path


def render(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["script", "render", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_what_a_session_bound_to_the_ticket_seals(tmp_path, capsys):
    spec, path = spec_file(tmp_path)
    code, out, _err = render(capsys, "--ticket-spec", str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"template", "nodes"} and doc["template"] == "bank-life"
    assert all(set(n) == {"id", "title", "prompt"} for n in doc["nodes"])
    binder = Binder(load_templates(), SimClock(realtime=True), template="bank-life", mode="av")
    ticket = ticket_from_spec(spec, dt.datetime.now(dt.timezone.utc))
    sealed = json.loads(TicketBinder(binder).bind(ticket, "f").script_json)
    assert doc["nodes"] == sealed["nodes"]
    spoken = "".join(n["prompt"] for n in doc["nodes"])
    assert "五万元" in spoken and spec["insurer"] in spoken and spec["product"]["name"] in spoken
    assert "{" not in spoken                      # every field filled


@pytest.mark.parametrize("born, kind, returns, template", [
    ("310115195003071230", "life", "fixed", "bank-life-elder"),           # 60 or over
    ("310115197503071236", "participating", "uncertain", "bank-participating"),
    ("310115195003071230", "participating", "uncertain", "bank-participating-elder"),
])
def test_the_template_is_the_one_the_unit_would_choose(tmp_path, capsys, born, kind, returns,
                                                       template):
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    spec["product"].update(kind=kind, returns=returns)
    for person in spec["people"]:
        if person["role"] == "policyholder":
            person["id_number"] = born
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    code, out, _err = render(capsys, "--ticket-spec", str(path), "--json")
    assert code == 0 and json.loads(out)["template"] == template


def test_text_output_names_the_template_and_numbers_the_nodes(tmp_path, capsys):
    _spec, path = spec_file(tmp_path)
    code, out, _err = render(capsys, "--ticket-spec", str(path))
    tpl = load_templates()["bank-life"]
    assert code == 0
    assert out.startswith(f"template bank-life version {tpl.version} (sha256 {tpl.sha256})")
    for n, node in enumerate(tpl.nodes, start=1):
        assert f"\n{n}. {node.title} [{node.id}]\n" in out


def test_a_template_chosen_by_hand_from_another_directory(tmp_path, capsys):
    _spec, path = spec_file(tmp_path, kind="annuity")
    code, out, _err = render(capsys, "--ticket-spec", str(path), "--template", "quick-facts",
                             "--scripts-dir", str(TEST_SCRIPTS), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["template"] == "quick-facts"
    assert [n["id"] for n in doc["nodes"]] == [n.id for n in load_templates(
        TEST_SCRIPTS)["quick-facts"].nodes]


def test_bad_input_exits_2_naming_the_problem(tmp_path, capsys):
    _spec, path = spec_file(tmp_path)
    code, _out, err = render(capsys, "--ticket-spec", str(path), "--template", "no-such")
    assert code == 2 and "no-such" in err and "bank-life" in err
    code, _out, err = render(capsys, "--ticket-spec", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in err
    broken = tmp_path / "broken.json"
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    del spec["insurer"]
    broken.write_text(json.dumps(spec), encoding="utf-8")
    code, _out, err = render(capsys, "--ticket-spec", str(broken))
    assert code == 2 and "insurer" in err
    not_json = tmp_path / "not.json"
    not_json.write_text("{", encoding="utf-8")
    assert render(capsys, "--ticket-spec", str(not_json))[0] == 2
