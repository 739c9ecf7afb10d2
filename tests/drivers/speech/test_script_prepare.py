"""``dualrec script prepare``: every template's fixed prompts (and the notice after an unclear
answer) rendered into the unit's prompt cache at install, the ones a ticket fills in left for
the binding — so a session bound to any template finds its fixed wording ready."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from drivers.speech import KokoroSpeech, Synthesizer
from firmware.cli.speech import fixed_prompts
from firmware.unit.session.answers import NOTICE
from firmware.unit.session.script import load_templates
from kokoro_models import installed_kokoro

SCRIPTS = Path(__file__).resolve().parents[2] / "session" / "scripts"


def test_prepare_renders_each_fixed_prompt_once_at_its_templates_pace(tmp_path):
    models = installed_kokoro()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("quick.toml", "quick-facts.toml"):
        shutil.copy(SCRIPTS / name, scripts / name)
    cache = tmp_path / "cache"
    config = tmp_path / "dualrec.toml"
    config.write_text(f'[speech]\ncache_dir = "{cache}"\nmodel_dir = "{models}"\n'
                      f'[session]\nscripts_dir = "{scripts}"\ntemplate = "quick"\n',
                      encoding="utf-8")
    templates = load_templates(scripts)
    by_pace = fixed_prompts(templates)
    assert set(by_pace) == {400}
    texts = by_pace[400]
    assert NOTICE in texts and len(texts) == len(set(texts))
    assert not any("{" in t for t in texts)
    facts = templates["quick-facts"].nodes[1].prompt
    assert "{insurer}" in facts and facts not in texts          # filled in at binding

    done = subprocess.run([sys.executable, "-m", "firmware.cli.main", "script", "prepare",
                           "--config", str(config)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(texts)} fixed prompts ready" in done.stdout
    from firmware.config.loading import load_config
    with Synthesizer(models, load_config(config).speech.voice) as synthesizer:
        voice = KokoroSpeech(cache, synthesizer, 400)
        assert all(voice.path_for(t).is_file() for t in texts)   # found by the daemon's key
    again = subprocess.run([sys.executable, "-m", "firmware.cli.main", "script", "prepare",
                            "--config", str(config)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0


def test_prepare_with_a_bad_configuration_names_it(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[speech]\nvoice = 5\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "firmware.cli.main", "script", "prepare",
                           "--config", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "speech" in done.stderr
