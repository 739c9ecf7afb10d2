"""docs/evidence-format.md and the verifier stay in step (issue 11, G): a third party writes
its own verifier from the document alone, so every finding code the code can report is in the
document's list, the list names no code the verifier lacks, and the document names the
verifier's real files."""
from __future__ import annotations

import re
from pathlib import Path

from firmware.evidence.verify.report import FINDING_KINDS

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "docs" / "evidence-format.md"


def spec_text() -> str:
    return SPEC.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The lines under ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    for end in range(start, len(lines)):
        m = re.match(r"^(#+) ", lines[end])
        if m and len(m.group(1)) <= level:
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def finding_table(text: str) -> dict[str, str]:
    """The rows ``| `code` | meaning |`` of the section "Finding codes"."""
    rows = {}
    for line in section(text, "### Finding codes").splitlines():
        m = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} is listed twice"
            rows[m.group(1)] = m.group(2)
    return rows


def test_the_spec_lists_every_finding_code_and_no_other():
    listed = finding_table(spec_text())
    assert sorted(set(FINDING_KINDS) - set(listed)) == [], "codes missing from the spec"
    assert sorted(set(listed) - set(FINDING_KINDS)) == [], "codes the verifier lacks"


def test_each_code_means_in_the_spec_what_it_means_in_the_report():
    listed = finding_table(spec_text())
    differ = {k: (listed[k], FINDING_KINDS[k]) for k in FINDING_KINDS
              if listed.get(k) != FINDING_KINDS[k]}
    assert differ == {}


def test_every_code_is_placed_among_the_checks_of_section_6():
    checks = section(spec_text(), "## 6. What a verifier checks, and its verdict")
    checks = checks.split("### Finding codes")[0]
    named = set(re.findall(r"`([a-z]+(?:_[a-z]+)+|[a-z]+)`", checks))
    assert sorted(set(FINDING_KINDS) - named) == []


def test_damage_items_name_only_finding_codes():
    damage = section(spec_text(), "### DAMAGE items")
    found = damage.split("what was\nfound (a finding kind of section 6:")[1].split(")")[0]
    kinds = re.findall(r"`([a-z_]+)`", found)
    assert kinds and sorted(set(kinds) - set(FINDING_KINDS)) == []


def test_the_spec_names_the_verifiers_real_files():
    text = spec_text()
    opening = text.split("## 1.")[0]
    package = REPO / "firmware" / "evidence" / "verify"
    assert "`firmware/evidence/verify/`" in opening
    modules = re.findall(r"`([a-z_]+\.py)`", opening)
    assert sorted(modules) == sorted(p.name for p in package.glob("*.py"))
    for path in re.findall(r"`(firmware/[\w./-]+)`", text):
        assert (REPO / path).exists(), f"the spec names {path}, which does not exist"
