"""Rule packs: loading with located errors (file:line: field: what; fix), every error at once for
`rules validate`, the pack's own knowledge, merging built-in and custom packs (add, override by
id, disable), and the search path. The format of a rule is diagnose.expert.rule_format (and
diagnose.expert.rule_parse); its names are re-exported here.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from diagnose.core.errors import DiagnoseError
from diagnose.core.yamlfile import YamlDoc, load_yaml, load_yaml_text
from diagnose.expert.knowledge import Knowledge
from diagnose.expert.pack_knowledge import PackKnowledge, merge_knowledge, parse_pack_knowledge
from diagnose.expert.problems import Problems
from diagnose.expert.rule_format import (  # noqa: F401 (the public names of the rule format)
    COMPARISONS,
    ENGINE_VERSION,
    FORMATS,
    MAX_RULES_PER_PACK,
    MAX_RULES_TOTAL,
    MEASURES,
    RULE_KEYS,
    RULES_PATH_ENV,
    SCHEMA,
    SELECTOR_KEYS,
    SELECTOR_MEASURES,
    SEVERITIES,
    STATUSES,
    Condition,
    NotHelpful,
    Rule,
    Selector,
    parse_condition,
    parse_selector,
    parse_syscall_share,
)
from diagnose.expert.rule_parse import parse_rule  # noqa: F401


@dataclass
class Pack:
    name: str
    version: str
    engine: str
    path: str
    rules: list[Rule] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    tests: list[dict[str, Any]] = field(default_factory=list)
    doc: YamlDoc | None = None
    knowledge: PackKnowledge | None = None  # the pack's own knowledge: entries



def parse_pack(doc: YamlDoc, kb: Knowledge | None, problems: Problems | None = None) -> Pack:
    """A rule pack. `kb` is the knowledge loaded before it (built-in and earlier packs); the pack's
    own `knowledge:` is added to it for checking its rules (Pack.knowledge holds it). With
    `problems`, every error is kept there (rules validate); without, the first is raised."""
    own = problems is None
    p = Problems()
    pack = _parse_pack(doc, kb, p)
    if own:
        p.raise_first()
    else:
        for e in p.errors:
            problems.add(e)  # type: ignore[union-attr]
    return pack


def _parse_pack(doc: YamlDoc, kb: Knowledge | None, p: Problems) -> Pack:
    data = doc.data
    empty = Pack("?", "?", "?", doc.path, doc=doc)
    if not isinstance(data, dict):
        p.add(doc.error((), "a rule pack must be a mapping", f"start with schema: {SCHEMA}"))
        return empty
    allowed = {"schema", "pack", "rules", "override", "disable", "tests", "knowledge"}
    for k in data:
        if k not in allowed:
            p.add(doc.error((str(k),), "unknown top-level field (a typo?)", f"allowed: {', '.join(sorted(allowed))}"))
    if data.get("schema") != SCHEMA:
        p.add(doc.error(("schema",), f"schema must be {SCHEMA}", f"add schema: {SCHEMA}"))
        if "schema" in data:
            return empty  # another format or version: what else it lacks says nothing more
    meta = data.get("pack")
    if not isinstance(meta, dict):
        p.add(doc.error(("pack",), "missing the pack header", "add pack: {name: ..., version: 1.0.0, engine: '>=1.0'}"))
        return empty
    for k in meta:
        if k not in ("name", "version", "engine", "description"):
            p.add(doc.error(("pack", str(k)), "unknown field (a typo?)", "use name, version, engine, description"))
    for k in ("name", "version", "engine"):
        if k not in meta:
            p.add(doc.error(("pack",), f"missing {k!r}", f"add {k}: ..."))
    engine = str(meta.get("engine", ">=1.0"))
    if not engine_satisfies(engine):
        p.add(doc.error(("pack", "engine"), f"needs rule engine {engine}, this is {'.'.join(map(str, ENGINE_VERSION))}",
                        "upgrade diagnose or use a pack written for this version"))
    name = str(meta.get("name", "?"))
    if "name" in meta and (not name or ":" in name or any(c.isspace() for c in name)):
        p.add(doc.error(("pack", "name"), f"bad pack name {name!r}", "use letters, digits, - _ . (no colon, no spaces)"))
    pack = Pack(name, str(meta.get("version", "?")), engine, doc.path, doc=doc)
    if kb is not None:
        pack.knowledge = parse_pack_knowledge(doc, data.get("knowledge"), name, kb, p)
        kb = merge_knowledge(kb, [pack.knowledge])
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        p.add(doc.error(("rules",), "must be a list of rules"))
        rules = []
    if len(rules) > MAX_RULES_PER_PACK:
        p.add(doc.error(("rules",), f"{len(rules):,} rules, more than the {MAX_RULES_PER_PACK:,} a pack may hold",
                        "split them into several packs in a folder"))
        rules = []
    seen: set[str] = set()
    for i, item in enumerate(rules):
        rule = parse_rule(doc, ("rules", i), item, kb, pack.name, p)
        if rule is None:
            continue
        if rule.id in seen:
            p.add(doc.error(("rules", i, "id"), f"duplicate rule id {rule.id!r} in this pack", "rename one of them"))
        seen.add(rule.id)
        pack.rules.append(rule)
    overrides = data.get("override") or []
    if not isinstance(overrides, list):
        p.add(doc.error(("override",), "must be a list of {rule: <id>, params: {...}}"))
        overrides = []
    for i, ov in enumerate(overrides):
        got = p.attempt(_override, doc, ("override", i), ov)
        if got is not None:
            pack.overrides.append(got)
    dis = data.get("disable") or []
    if not isinstance(dis, list):
        p.add(doc.error(("disable",), "must be a list of rule ids, globs or tag:NAME"))
    else:
        pack.disable = [str(d) for d in dis]
    tests = data.get("tests") or []
    if not isinstance(tests, list):
        p.add(doc.error(("tests",), "must be a list of test cases"))
        tests = []
    for i, t in enumerate(tests):
        got = p.attempt(_test_case, doc, ("tests", i), t)
        if got is not None:
            pack.tests.append(got)
    return pack


def _override(doc: YamlDoc, w: tuple, ov: Any) -> dict[str, Any]:
    if not isinstance(ov, dict) or "rule" not in ov:
        raise doc.error(w, "must be {rule: <id>, params: {...}} or with severity:/enabled:")
    for k in ov:
        if k not in ("rule", "params", "severity", "enabled"):
            raise doc.error((*w, str(k)), "unknown key (a typo?)", "use rule, params, severity, enabled")
    if "severity" in ov and ov["severity"] not in SEVERITIES:
        raise doc.error((*w, "severity"), f"unknown severity {ov['severity']!r}", f"use one of {', '.join(SEVERITIES)}")
    if "enabled" in ov and not isinstance(ov["enabled"], bool):
        raise doc.error((*w, "enabled"), "must be true or false (without quotes)")
    ps = ov.get("params", {})
    if not isinstance(ps, dict) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in ps.values()):
        raise doc.error((*w, "params"), "must map parameter names to numbers", "e.g. params: {warn: 0.3}")
    return {**ov, "_where": f"{doc.path}:{doc.line(w)}", "_line": doc.line(w)}


def _test_case(doc: YamlDoc, w: tuple, t: Any) -> dict[str, Any]:
    if not isinstance(t, dict) or "capture" not in t:
        raise doc.error(w, "a test case needs capture: (a path relative to the pack) and expect:/expect_not:")
    for k in t:
        if k not in ("capture", "expect", "expect_not", "top", "name", "severity_at_most"):
            raise doc.error((*w, str(k)), "unknown key", "use capture, expect, expect_not, top, name, severity_at_most")
    for k in ("expect", "expect_not"):
        if k in t and (not isinstance(t[k], list) or not all(isinstance(x, str) for x in t[k])):
            raise doc.error((*w, k), "must be a list of rule ids (id or id:subject)", f"e.g. {k}: [codec-hot:vp8]")
    for k in ("capture", "top", "name"):
        if k in t and not isinstance(t[k], str):
            raise doc.error((*w, k), "must be text")
    if "severity_at_most" in t and t["severity_at_most"] not in SEVERITIES:
        raise doc.error((*w, "severity_at_most"), f"unknown severity {t['severity_at_most']!r}",
                        f"use one of {', '.join(SEVERITIES)}")
    return {**t, "_line": doc.line(w)}


def engine_satisfies(spec: str) -> bool:
    spec = spec.strip()
    for op in (">=", "<=", "==", ">", "<"):
        if spec.startswith(op):
            try:
                want = tuple(int(x) for x in spec[len(op):].strip().split("."))
            except ValueError:
                return False
            have = ENGINE_VERSION[: len(want)]
            return {">=": have >= want, "<=": have <= want, "==": have == want, ">": have > want, "<": have < want}[op]
    return False


# -- sets of packs ------------------------------------------------------------------------

@dataclass
class RuleSet:
    packs: list[Pack]
    rules: list[Rule]
    notes: list[str] = field(default_factory=list)
    # The knowledge base the rules run on: the built-in one plus the packs' own knowledge.
    knowledge: Knowledge | None = None

    def by_id(self, rid: str) -> Rule | None:
        """The rule with this id, else one that records it as a former id (related:)."""
        return next((r for r in self.rules if r.id == rid), None) or \
            next((r for r in self.rules if rid in r.related), None)


def builtin_pack_files() -> list[tuple[str, str]]:
    root = importlib.resources.files("diagnose.builtin_rules")
    out = []
    for res in sorted(root.iterdir(), key=lambda r: r.name):
        if res.name.endswith(".yaml") and res.is_file():
            out.append((f"rules/{res.name}", res.read_text(encoding="utf-8")))
    return out


# The built-in packs parsed against one knowledge base: (that knowledge base, its packs).
_builtin_parsed: tuple[Knowledge, list[Pack]] | None = None


def builtin_packs(kb: Knowledge) -> list[Pack]:
    """The built-in packs, parsed once for a knowledge base (the built-in one, every run):
    merging never changes a Pack, it builds new rules."""
    global _builtin_parsed
    cached = _builtin_parsed
    if cached is None or cached[0] is not kb:
        cached = (kb, [parse_pack(load_yaml_text(text, name, trusted=True), kb) for name, text in builtin_pack_files()])
        _builtin_parsed = cached
    return list(cached[1])


def pack_files(path: str) -> list[str]:
    p = Path(path)
    if p.is_dir():
        files = sorted(str(f) for f in p.glob("*.yaml")) + sorted(str(f) for f in p.glob("*.yml"))
        if not files:
            raise DiagnoseError(f"{path}: no rule packs (*.yaml) in this folder; point --rules at a pack file or folder")
        return files
    if p.is_file():
        return [str(p)]
    raise DiagnoseError(f"{path}: no such rule pack file or folder; check the --rules path or {RULES_PATH_ENV}")


def load_packs(user_paths: list[str] | None, kb: Knowledge, include_builtin: bool = True,
               use_env: bool = True, problems: Problems | None = None) -> RuleSet:
    """Built-in packs, then packs from $DIAGNOSE_RULES_PATH, then --rules paths, merged in that
    order; RuleSet.knowledge is `kb` with the packs' own knowledge added. With `problems`, every
    error of every pack is kept there (a pack that cannot be read is one error) and what could be
    read is merged; without, the first error is raised."""
    packs: list[Pack] = builtin_packs(kb) if include_builtin else []
    paths: list[str] = []
    if use_env and os.environ.get(RULES_PATH_ENV):
        paths += [p for p in os.environ[RULES_PATH_ENV].split(os.pathsep) if p]
    paths += list(user_paths or [])
    return merge_packs(packs + read_packs(paths, knowledge_of(packs, kb), problems), kb, problems)


def read_packs(paths: list[str], kb: Knowledge, problems: Problems | None = None) -> list[Pack]:
    """The packs of these files and folders, each checked against `kb` and the packs before it."""
    packs = []
    for path in paths:
        files = pack_files(path) if problems is None else problems.attempt(pack_files, path) or []
        for f in files:
            doc = load_yaml(f) if problems is None else problems.attempt(load_yaml, f)
            if doc is None:
                continue
            pack = parse_pack(doc, kb, problems)
            packs.append(pack)
            if pack.knowledge is not None:
                kb = merge_knowledge(kb, [pack.knowledge])
    return packs


def knowledge_of(packs: list[Pack], kb: Knowledge) -> Knowledge:
    """`kb` with the packs' own knowledge added, in their order."""
    return merge_knowledge(kb, [p.knowledge for p in packs if p.knowledge is not None])


def merge_packs(packs: list[Pack], kb: Knowledge | None = None, problems: Problems | None = None) -> RuleSet:
    """Later packs win: a rule with an existing id replaces it; overrides change params,
    severity or enabled; disable lists (ids, globs or tag:NAME) switch rules off. With `kb`, the
    rule set's knowledge is it with the packs' own knowledge added. With `problems`, an override
    that names no rule (or no parameter) is kept there instead of raised."""
    rules: dict[str, Rule] = {}
    notes = []
    total = sum(len(p.rules) for p in packs)
    if total > MAX_RULES_TOTAL:
        raise DiagnoseError(f"the rule packs hold {total:,} rules together, more than the {MAX_RULES_TOTAL:,} the "
                            f"engine takes ({', '.join(p.path for p in packs[-3:])}, ...); load fewer packs")

    def fail(ov: dict[str, Any], text: str) -> None:
        err = DiagnoseError(text)
        err.where = (str(ov["_where"]).rsplit(":", 1)[0], int(ov.get("_line") or 0), "override")  # type: ignore[attr-defined]
        if problems is None:
            raise err
        problems.add(err)

    for pack in packs:
        for rule in pack.rules:
            if rule.id in rules:
                notes.append(f"{rule.source}: rule {rule.id} replaces the one from pack {rules[rule.id].pack}")
            rules[rule.id] = rule
        for ov in pack.overrides:
            rid = str(ov["rule"])
            targets = [r for r in rules if fnmatch.fnmatchcase(r, rid)]
            if not targets:
                fail(ov, f"{ov['_where']}: override names rule {rid!r}, which no loaded pack defines; "
                         f"check the id (diagnose rules list)")
                continue
            for t in targets:
                r = rules[t]
                params = dict(r.params)
                unknown = [k for k in (ov.get("params") or {}) if k not in params]
                if unknown:
                    fail(ov, f"{ov['_where']}: rule {t} has no parameter {unknown[0]!r}; "
                             f"it has {', '.join(params) or 'none'}")
                    continue
                params.update({k: float(v) for k, v in (ov.get("params") or {}).items()})
                note = _score_only(r, ov)
                if note:
                    notes.append(f"{ov['_where']}: {note}")
                rules[t] = replace(r, params=params, severity=str(ov.get("severity", r.severity)),
                                   enabled=bool(ov.get("enabled", r.enabled)))
        for d in pack.disable:
            hit = False
            for rid, r in list(rules.items()):
                if (d.startswith("tag:") and d[4:] in r.tags) or fnmatch.fnmatchcase(rid, d):
                    rules[rid] = replace(r, enabled=False)
                    hit = True
            if not hit:
                notes.append(f"{pack.path}: disable {d!r} matches no rule")
    ordered = _order(list(rules.values()))
    knowledge = knowledge_of(packs, kb) if kb is not None else None
    return RuleSet(packs, ordered, notes, knowledge)


def _score_only(rule: Rule, ov: dict[str, Any]) -> str | None:
    """A note when an override changes parameters that only the score reads (warn, usually):
    the finding's score and severity move, whether the rule fires does not."""
    changed = set(ov.get("params") or {})
    in_conditions = {str(c.threshold)[1:] for c in (*rule.when, *rule.any, *rule.none, *rule.measure)
                     if isinstance(c.threshold, str) and c.threshold.startswith("$")}
    score_only = sorted(k for k in changed if k not in in_conditions)
    if not score_only:
        return None
    fires = sorted(in_conditions) or ["none"]
    return (f"override of rule {rule.id} changes {', '.join(score_only)}, which only the score reads: the finding's "
            f"score and severity change, not whether it fires (that is {', '.join(fires)})")


def _order(rules: list[Rule]) -> list[Rule]:
    """Rules that derive a fact (or are asked about with fired:) run before the rules using it."""
    by_id = {r.id: r for r in rules}
    derives: dict[str, list[str]] = {}
    for r in rules:
        for f in r.derive:
            derives.setdefault(f, []).append(r.id)
    deps: dict[str, set[str]] = {}
    for r in rules:
        d: set[str] = set()
        for c in (*r.when, *r.any, *r.none, *r.measure):
            if c.measure == "fact":
                d.update(derives.get(str(c.arg), []))
            elif c.measure == "fired" and str(c.arg) in by_id:
                d.add(str(c.arg))
        deps[r.id] = d - {r.id}
    out: list[Rule] = []
    state: dict[str, int] = {}  # 1: being visited (on the path), 2: placed
    # Depth-first, dependencies in sorted order, with an explicit stack: a chain of thousands
    # of fired: conditions is as deep as it is long.
    for r in rules:
        if state.get(r.id):
            continue
        state[r.id] = 1
        path: list[tuple[str, Iterator[str]]] = [(r.id, iter(sorted(deps[r.id])))]
        while path:
            rid, pending = path[-1]
            d = next(pending, None)
            if d is None:
                path.pop()
                state[rid] = 2
                out.append(by_id[rid])
            elif state.get(d) == 1:
                chain = [p for p, _ in path]
                cycle = " -> ".join([*chain[chain.index(d):], d])
                raise DiagnoseError(f"{by_id[d].source}: rules depend on each other in a cycle ({cycle}); "
                                    f"break the cycle of fact:/fired: conditions")
            elif state.get(d) is None:
                state[d] = 1
                path.append((d, iter(sorted(deps[d]))))
    return out

