"""`dualrec demo --scenario NAME --json`: each thing that can happen at the counter, run as a
person runs it (real Kokoro voices for the customer and the salesperson, Whisper hearing the
answers, OCR reading the card, the face detector counting people, the post-session speech
check), and what the evidence says about it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from firmware.cli.demo_scenarios import SCENARIOS, asked_for


def run_scenario(name: str, out) -> dict:
    done = subprocess.run([sys.executable, "-m", "firmware.cli.main", "demo", "--scenario", name,
                           "--json", "--out", str(out)], capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["scenario"] == name and outcome["verified"] is True
    return outcome


def checks(outcome: dict) -> set[tuple[str, str | None]]:
    return {(f["check"], f["node"]) for f in outcome["findings"]}


def meanings(outcome: dict, node: str) -> list[str]:
    return [a["meaning"] for a in sorted(outcome["answers"], key=lambda a: a["attempt"])
            if a["node"] == node]


def answer_refusals(outcome: dict) -> list[tuple[str, str]]:
    return [(r["node"], r["reason"]) for r in outcome["refusals"]
            if r["reason"].startswith("answer_") or r["reason"] == "missing_answer"]


def test_the_answer_asked_for_is_read_from_the_prompt():
    assert asked_for("请问您是否同意录音录像？同意请回答：同意。") == "同意"
    assert asked_for("……并自愿投保？确认请回答：我愿意。") == "我愿意"
    assert asked_for("请投保人签名。") == "同意"
    assert set(SCENARIOS) == {"happy", "refuses-consent", "unclear-answer", "misleading",
                              "wrong-id", "walks-away"}


def test_happy(tmp_path):
    outcome = run_scenario("happy", tmp_path)
    assert outcome["verdict"] == "pass", outcome
    assert outcome["findings"] == []
    assert meanings(outcome, "consent") == ["affirmative"]
    assert meanings(outcome, "confirm") == ["affirmative"]
    heard = {a["node"]: a["heard"] for a in outcome["answers"]}
    assert "同意" in heard["consent"]                    # read with the insurer's key
    assert answer_refusals(outcome) == []
    assert outcome["referred"] is False


def test_refuses_consent(tmp_path):
    outcome = run_scenario("refuses-consent", tmp_path)
    assert meanings(outcome, "consent") == ["negative", "affirmative"]
    assert ("consent", "answer_negative") in answer_refusals(outcome)
    assert outcome["verdict"] == "pass", outcome          # explained, asked again, agreed


def test_unclear_answer(tmp_path):
    outcome = run_scenario("unclear-answer", tmp_path)
    assert meanings(outcome, "confirm") == ["unclear", "affirmative"]
    assert ("confirm", "answer_unclear") in answer_refusals(outcome)


def test_misleading(tmp_path):
    outcome = run_scenario("misleading", tmp_path)
    assert ("misleading_statement", "product-facts") in checks(outcome), outcome
    assert outcome["verdict"] == "review" and outcome["referred"] is True
    details = " ".join(f["detail"] or "" for f in outcome["findings"])
    assert "保本" in details


def test_wrong_id(tmp_path):
    outcome = run_scenario("wrong-id", tmp_path)
    assert ("id_mismatch", "customer-id") in checks(outcome), outcome
    assert outcome["verdict"] == "review"


def test_walks_away(tmp_path):
    outcome = run_scenario("walks-away", tmp_path)
    assert ("person_missing", "product-facts") in checks(outcome), outcome
    assert outcome["verdict"] == "review"
