"""The house's rules, as tests: who may import whom (import-linter contracts), no import cycles,
and files that stay small. docs/architecture.md draws the picture these rules keep true."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = Path(__file__).with_name("importlinter.ini")
MAX_LINES = 500


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    """import-linter's own command line on ``config``, over this checkout."""
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config",
                           str(config), "--no-cache"], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def test_the_import_contracts_hold():
    out = lint_imports(CONTRACTS)
    assert out.returncode == 0, out.stdout + out.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
    assert re.search(r"Contracts: (\d+) kept, 0 broken", plain) and \
        int(re.search(r"Contracts: (\d+) kept", plain).group(1)) >= 5, plain


def test_a_broken_contract_is_reported(tmp_path):
    """The linter really reads the code: a rule the code breaks fails."""
    broken = tmp_path / "broken.ini"
    broken.write_text("[importlinter]\nroot_packages =\n    firmware\n\n"
                      "[importlinter:contract:x]\nname = the unit imports no evidence\n"
                      "type = forbidden\nsource_modules =\n    firmware.unit\n"
                      "forbidden_modules =\n    firmware.evidence\n")
    out = lint_imports(broken)
    assert out.returncode == 1 and "BROKEN" in re.sub(r"\x1b\[[0-9;]*m", "", out.stdout), \
        out.stdout + out.stderr


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(
                        child)))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_there_are_no_import_cycles():
    sys.path.insert(0, str(REPO))
    try:
        graph = grimp.build_graph("firmware", "drivers", "provisioning",
                                  exclude_type_checking_imports=True)
    finally:
        sys.path.remove(str(REPO))
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.y", imported="a.z")
    assert _cycles(graph) == [["a.x", "a.y"]]


def test_no_source_file_is_over_500_lines():
    long = [f"{p.relative_to(REPO)}: {n}" for p in sorted(REPO.glob("*/**/*.py"))
            if not {".venv", ".git", "node_modules"} & set(p.parts)
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, long
