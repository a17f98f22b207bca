"""docs/rules.md is the map from each rule of RULES.md to its code, tests and audit verdict
(issue 14): every rule id is there, and every file and function it names exists."""

from __future__ import annotations

import ast
import os
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rules.md"
# R1-R12 (§6), A1-A12 (§11), I1-I6 (§12): the ids the code and the tests cite.
RULE_IDS = [f"R{i}" for i in range(1, 13)] + [f"A{i}" for i in range(1, 13)] + [f"I{i}" for i in range(1, 7)]
# RULES.md lives in shared/ beside the repository (CI lays a copy there); read it when present.
RULES_MD_CANDIDATES = [ROOT.parent / "shared" / "domain" / "RULES.md", Path("/work/shared/domain/RULES.md")]
REFERENCE = re.compile(r"`((?:vangnet|workflows|activities|workers|starter|tests|bench)/[\w/.]+\.py)(?:::([\w.]+))?`")


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _rules_md() -> str | None:
    env = os.environ.get("VANGNET_RULES_MD")
    for path in ([Path(env)] if env else []) + RULES_MD_CANDIDATES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


@cache
def _names(path: Path) -> frozenset[str]:
    """`name` and `Class.name` for every function and class defined in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            out.add(node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    out.add(f"{node.name}.{item.name}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.add(node.name)
    return frozenset(out)


def test_every_rule_id_has_its_section() -> None:
    headings = set(re.findall(r"^### ([RAI]\d{1,2}) ", _doc(), flags=re.MULTILINE))
    missing = [r for r in RULE_IDS if r not in headings]
    assert not missing, f"docs/rules.md has no section for {missing}"


def test_every_rule_id_of_rules_md_is_mapped() -> None:
    text = _rules_md()
    if text is None:
        pytest.skip("RULES.md (shared/domain/RULES.md beside the repository) is not on this machine")
    ids = set(re.findall(r"\*\*([RAI]\d{1,2})[ .]", text))
    assert ids, "no rule ids found in RULES.md: has its format changed?"
    headings = set(re.findall(r"^### ([RAI]\d{1,2}) ", _doc(), flags=re.MULTILINE))
    assert sorted(ids - headings) == [], "rule ids of RULES.md without a section in docs/rules.md"


def test_each_rule_names_code_and_tests() -> None:
    sections = re.split(r"^### ", _doc(), flags=re.MULTILINE)[1:]
    for section in sections:
        rule = section.split()[0]
        assert re.search(r"^- Code: .*`", section, re.MULTILINE), f"{rule}: no code named"
        assert re.search(r"^- Tests: .*`tests/", section, re.MULTILINE), f"{rule}: no test named"
        assert re.search(r"^- Audit: ", section, re.MULTILINE), f"{rule}: no audit line"


def test_every_named_file_and_function_exists() -> None:
    refs = REFERENCE.findall(_doc())
    assert len(refs) > 100, "docs/rules.md names fewer references than expected: did the format change?"
    broken = []
    for rel, name in refs:
        path = ROOT / rel
        if not path.is_file():
            broken.append(rel)
        elif name and name not in _names(path):
            broken.append(f"{rel}::{name}")
    assert not broken, ("docs/rules.md names code that is gone (rename it there too): "
                        + ", ".join(sorted(set(broken))))
