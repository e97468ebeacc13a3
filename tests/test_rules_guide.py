"""rules/README.md is the pack author's guide (issue 15): it names every measure, selector key,
comparison and rule field the engine takes, and nothing else; every measure and selector key it
names is used by a pack whose test cases the suite runs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from conftest import ROOT
from diagnose.findings import Finding
from diagnose.rules import COMPARISONS, MEASURES, RULE_KEYS, SELECTOR_KEYS

GUIDE = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
# Packs whose test cases run in the suite: the built-in packs (rules/tests) and tests/packs.
TESTED_PACKS = sorted([*ROOT.glob("rules/*.yaml"), *ROOT.glob("tests/packs/*.yaml")])


def table(heading: str) -> list[str]:
    """The first column (`name`) of the table under a heading of the guide."""
    m = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#)", GUIDE, re.MULTILINE | re.DOTALL)
    assert m, f"no section {heading!r} in rules/README.md"
    names = re.findall(r"^\| `([a-z_]+)` \|", m.group(1), re.MULTILINE)
    assert names, f"no table in {heading!r}"
    return names


@pytest.mark.parametrize("heading,engine", [("Measures", MEASURES), ("Selectors", SELECTOR_KEYS),
                                            ("Comparisons", COMPARISONS), ("Rule fields", tuple(RULE_KEYS))])
def test_the_guide_names_exactly_what_the_engine_takes(heading: str, engine: tuple[str, ...]) -> None:
    named = table(heading)
    assert len(named) == len(set(named)), f"{heading}: named twice"
    assert not set(named) - set(engine), f"{heading}: the guide names what the engine does not take"
    assert not set(engine) - set(named), f"{heading}: the engine takes what the guide does not name"


def test_the_guide_names_every_json_field_of_a_finding() -> None:
    finding = Finding(id="x", title={"en": "x"}, severity="info", score=0, confidence=1, summary={"en": "x"},
                      explanation={})
    assert set(table("The JSON of a finding")) == set(finding.to_dict())


def _used() -> tuple[set[str], set[str]]:
    measures: set[str] = set()
    selectors: set[str] = set()

    def selector(x: Any) -> None:
        if isinstance(x, list):
            for v in x:
                selector(v)
        elif isinstance(x, dict):
            selectors.update(k for k in x if k in SELECTOR_KEYS)
            for v in x.values():
                if isinstance(v, (dict, list)):
                    selector(v)

    for path in TESTED_PACKS:
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or []:
            for key in ("when", "any", "none", "measure"):
                for cond in rule.get(key) or []:
                    for m in MEASURES:
                        if m in cond:
                            measures.add(m)
                            selector(cond[m])
            selector((rule.get("evidence") or {}).get("selector"))
    return measures, selectors


def test_every_measure_and_selector_of_the_guide_is_used_by_a_tested_pack() -> None:
    measures, selectors = _used()
    assert not set(table("Measures")) - measures, "measures of the guide that no tested pack uses"
    assert not set(table("Selectors")) - selectors, "selector keys of the guide that no tested pack uses"
    # Each of those packs has its test cases run: the built-in ones by rules/tests, the others by
    # their own tests: (run below for the guide's examples).
    for path in TESTED_PACKS:
        if path.parent.name == "packs":
            assert yaml.safe_load(path.read_text(encoding="utf-8")).get("tests"), f"{path.name} has no test cases"


@pytest.mark.parametrize("pack", ["guide-examples.yaml", "team-knowledge.yaml"])
def test_the_test_packs_pass_their_tests(pack: str) -> None:
    """(graph-paths.yaml runs in tests/test_graph.py.)"""
    from diagnose.knowledge import builtin_knowledge
    from diagnose.ruletest import run_tests

    results = run_tests([str(ROOT / "tests" / "packs" / pack)], builtin_knowledge())
    assert len(results) == 2 and all(r.passed for r in results), [(r.name, r.problems) for r in results]
