"""``dualrec hwcheck`` on simulated hardware: a simulated technician presses the buttons, signs
the pad and watches the LEDs; without one, what needs a person fails or stays unconfirmed."""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.cli.hwcheck import add_hwcheck_parser, cmd_hwcheck
from firmware.unit.hwcheck import CHECKS

REPO = Path(__file__).resolve().parents[2]


def hwcheck(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware.cli.hwcheck", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          stdin=subprocess.DEVNULL)


def result_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """{check: (STATUS, detail)} from the RESULT list."""
    found = re.findall(r"^  (PASS|FAIL|SKIP)  (.+?)\s{2,}(.*)$", stdout, re.M)
    return {check: (status, detail) for status, check, detail in found}


def test_every_check_passes_on_simulated_hardware(sim_config, tmp_path):
    snapshot = tmp_path / "counter.jpg"
    out = hwcheck(sim_config, "--simulate-input", "--skip", "clock", "--snapshot",
                  str(snapshot))
    results = result_lines(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    passed = {"camera", "microphone", "speaker", "button RECORD", "button NEXT",
              "button REPLAY", "RECORD LED", "STATUS LED", "buzzer", "signature pad", "disk",
              "spool"}
    assert {c for c, (status, _d) in results.items() if status == "PASS"} == passed, out.stdout
    assert results["clock"] == ("SKIP", "left out (--skip)")
    # The technician is told where each wire goes.
    assert "Press and release NEXT (GPIO27, header pin 13) now." in out.stdout
    assert "GPIO23, header pin 16" in results["RECORD LED"][1]
    assert re.search(r"microphone \+\d+ dB while it played", results["speaker"][1])
    assert out.stdout.rstrip().endswith("12 passed, 0 failed, 1 skipped")
    assert snapshot.read_bytes()[:2] == b"\xff\xd8"   # a JPEG of the counter, for aiming


def test_without_a_person_the_buttons_fail_and_the_leds_stay_unconfirmed(sim_config):
    others = [a for c in CHECKS if c not in ("buttons", "leds") for a in ("--skip", c)]
    out = hwcheck(sim_config, "--no-ask", "--timeout", "0.5", "--json", *others)
    assert out.returncode == 1, out.stdout + out.stderr
    results = {r["check"]: r for r in json.loads(out.stdout)}
    for button, pin in (("RECORD", 17), ("NEXT", 27), ("REPLAY", 22)):
        r = results[f"button {button}"]
        assert r["status"] == "fail" and f"GPIO{pin}" in r["detail"] and "ground" in r["detail"]
    for led in ("RECORD LED", "STATUS LED", "buzzer"):
        assert results[led]["status"] == "skip" and "nobody looked" in results[led]["detail"]
    assert ">>> Press and release RECORD" in out.stderr   # instructions stay off stdout


def test_a_spool_that_cannot_be_written_fails(sim_config, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = tmp_path / "blocked.toml"
    config.write_text(sim_config.read_text().replace(f'"{tmp_path}/spool"',
                                                     f'"{blocker}/spool"'))
    others = [a for c in CHECKS if c != "spool" for a in ("--skip", c)]
    out = hwcheck(config, *others)
    assert out.returncode == 1
    status, detail = result_lines(out.stdout)["spool"]
    assert status == "FAIL" and "not writable" in detail


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None,
                    reason="picamera2 is here: this is a Raspberry Pi (see tests/hardware)")
def test_real_devices_that_are_missing_are_named_and_the_rest_still_run(sim_config, tmp_path):
    config = tmp_path / "real.toml"
    config.write_text(sim_config.read_text().replace('backend = "sim"', 'backend = "real"'))
    out = hwcheck(config, "--no-ask", "--timeout", "0.5", "--skip", "clock")
    results = result_lines(out.stdout)
    assert out.returncode == 1
    assert results["camera"][0] == "FAIL" and "picamera2" in results["camera"][1]
    assert results["buttons"][0] == "FAIL" and "gpiochip" in results["buttons"][1]
    assert results["signature pad"] == ("SKIP", "not configured ([sigpad] device is empty)")
    assert results["disk"][0] == "PASS" and results["spool"][0] == "PASS"


def test_simulated_input_is_refused_on_real_hardware(sim_config, tmp_path):
    config = tmp_path / "real.toml"
    config.write_text(sim_config.read_text().replace('backend = "sim"', 'backend = "real"'))
    out = hwcheck(config, "--simulate-input")
    assert out.returncode == 2 and "needs simulated hardware" in out.stderr


def test_the_cli_hook():
    parser = argparse.ArgumentParser(prog="dualrec")
    add_hwcheck_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["hwcheck", "--config", "/etc/dualrec/dualrec.toml", "--skip",
                              "clock", "--skip", "sigpad", "--timeout", "10"])
    assert args.func is cmd_hwcheck
    assert args.skip == ["clock", "sigpad"] and args.timeout == 10 and not args.simulate_input
    with pytest.raises(SystemExit):
        parser.parse_args(["hwcheck", "--skip", "toaster"])
