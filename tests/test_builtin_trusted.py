"""The built-in knowledge base and rule packs are read as trusted files (YamlDoc.trusted): their
patterns are not compiled one by one, nor their YAML walked for alias bombs, on every run. This
suite is where those checks happen instead: read untrusted, as a user's file is, they must pass,
and give the same knowledge and rules."""

from __future__ import annotations

import importlib.resources

import pytest

from diagnose.core.errors import DiagnoseError
from diagnose.core.yamlfile import load_yaml_text
from diagnose.expert import rules
from diagnose.expert.knowledge import FILES, builtin_knowledge, parse_knowledge


def _knowledge_texts() -> dict[str, tuple[str, str]]:
    root = importlib.resources.files("diagnose.builtin_knowledge")
    return {name: (f"knowledge/{name}", (root / name).read_text(encoding="utf-8"))
            for name in FILES if (root / name).is_file()}


def test_the_builtin_knowledge_passes_every_check_of_a_users_file() -> None:
    checked = parse_knowledge(_knowledge_texts())  # raises on a pattern RE2 refuses, nested repetition, ...
    trusted = builtin_knowledge()
    assert [(c.id, c.symbols, c.modules) for c in checked.categories] == \
        [(c.id, c.symbols, c.modules) for c in trusted.categories]
    assert sum(len(c.symbols) + len(c.modules) for c in checked.categories) > 500


def test_the_builtin_packs_pass_every_check_of_a_users_file() -> None:
    kb = builtin_knowledge()
    checked = [rules.parse_pack(load_yaml_text(text, name), kb) for name, text in rules.builtin_pack_files()]
    trusted = rules.builtin_packs(kb)
    assert [[r.id for r in p.rules] for p in checked] == [[r.id for r in p.rules] for p in trusted]
    assert [repr(r) for p in checked for r in p.rules] == [repr(r) for p in trusted for r in p.rules]


def test_a_bad_pattern_in_a_users_knowledge_is_still_refused_with_its_line() -> None:
    texts = _knowledge_texts()
    path, text = texts["taxonomy.yaml"]
    bad = text.replace("    symbols:\n", "    symbols:\n      - '(a+)+'\n", 1)
    assert bad != text
    with pytest.raises(DiagnoseError, match=r"knowledge/taxonomy\.yaml:\d+: .*nested repetition"):
        parse_knowledge({**texts, "taxonomy.yaml": (path, bad)})
