"""Rule packs: the YAML format, loading with located errors (file:line: field: what; fix),
merging built-in and custom packs (add, override by id, disable), and the search path.

A pack is data, never code: conditions are a closed vocabulary of measurements and comparisons
(see MEASURES), messages are templates with named values, patterns run on RE2.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from diagnose.errors import DiagnoseError
from diagnose.knowledge import Knowledge
from diagnose.patterns import PatternError, compile_pattern
from diagnose.texts import zh_tidy
from diagnose.yamlfile import YamlDoc, load_yaml, load_yaml_text

SCHEMA = "diagnose.rules/v1"
ENGINE_VERSION = (1, 0)
SEVERITIES = ("info", "low", "medium", "high", "critical")
STATUSES = ("stable", "experimental", "deprecated")
RULES_PATH_ENV = "DIAGNOSE_RULES_PATH"
# A pack is read, checked and evaluated rule by rule: these bound the time and memory that
# takes (a pack file is also at most yamlfile.MAX_YAML_BYTES).
MAX_RULES_PER_PACK = 2_000
MAX_RULES_TOTAL = 5_000

# Measurements a condition may take. Selector-valued ones take a frame selector (SELECTOR_KEYS).
SELECTOR_MEASURES = ("inclusive_share", "self_share", "owned_share", "cores", "samples")
MEASURES = SELECTOR_MEASURES + ("below_share", "attributed_share", "part_share", "syscall_share", "top_syscall", "top_category",
                                "top_owned_category",
                                "passes_through", "dominator",
                                "stack_samples", "total_samples", "cores_used", "env", "fact", "fired")
COMPARISONS = ("gte", "gt", "lte", "lt", "eq", "ne")
SELECTOR_KEYS = ("category", "component", "symbol", "module", "kind", "thread", "process")
RULE_KEYS = {"id", "title", "severity", "tags", "status", "related", "params", "when", "any", "none", "measure",
             "score", "subject", "summary", "explanation", "evidence", "recommend", "not_helpful", "explains",
             "derive", "min_samples"}
FORMATS = ("pct", "cores", "int", "num", "text")


@dataclass(frozen=True)
class Selector:
    """Which frames (and optionally which threads) a measurement counts."""

    category: tuple[str, ...] = ()
    component: tuple[str, ...] = ()
    symbol: str | None = None
    module: str | None = None
    kind: str | None = None
    thread: str | None = None
    process: str | None = None
    # A list of selectors in the YAML: frames matching any of them.
    alternatives: tuple["Selector", ...] = ()

    def key(self) -> tuple[Any, ...]:
        return (self.category, self.component, self.symbol, self.module, self.kind, self.thread, self.process,
                self.alternatives)

    def describe(self) -> str:
        if self.alternatives:
            return " | ".join(f"({a.describe()})" for a in self.alternatives)
        parts = []
        for name in SELECTOR_KEYS:
            v = getattr(self, name)
            if v:
                parts.append(f"{name}={'|'.join(v) if isinstance(v, tuple) else v}")
        return ", ".join(parts) or "all frames"


@dataclass(frozen=True)
class Condition:
    measure: str
    arg: Any  # Selector, dict of Selectors, str, or None
    op: str | None
    threshold: Any  # a number, a string, or "$param" (resolved at evaluation)
    name: str | None
    line: int | None = None


@dataclass(frozen=True)
class NotHelpful:
    id: str
    why: dict[str, str]


@dataclass(frozen=True)
class Rule:
    id: str
    title: dict[str, str]
    severity: str
    tags: tuple[str, ...]
    status: str
    params: dict[str, float]
    when: tuple[Condition, ...]
    any: tuple[Condition, ...]
    none: tuple[Condition, ...]
    measure: tuple[Condition, ...]
    score: dict[str, Any]
    subject: str | None
    summary: dict[str, str]
    explanation: dict[str, str]
    evidence: dict[str, Any]
    recommend: tuple[str, ...]
    not_helpful: tuple[NotHelpful, ...]
    explains: tuple[str, ...]
    derive: tuple[str, ...]
    related: tuple[str, ...]
    min_samples: int
    pack: str
    source: str  # file:line where the rule is defined
    enabled: bool = True


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


# -- parsing ------------------------------------------------------------------------------

def _localized(doc: YamlDoc, where: tuple, value: Any, required: bool = True) -> dict[str, str]:
    if value is None and not required:
        return {}
    if isinstance(value, str):
        return {"en": value}
    if not isinstance(value, dict) or not isinstance(value.get("en"), str):
        raise doc.error(where, "must be a text or a mapping {en: ..., zh: ...}", "write en: (and zh:) texts")
    for k, v in value.items():
        if k not in ("en", "zh"):
            raise doc.error((*where, str(k)), "unknown language", "use en and zh")
        if not isinstance(v, str):
            raise doc.error((*where, str(k)), "must be text")
    return {str(k): zh_tidy(str(v)) if k == "zh" else str(v) for k, v in value.items()}


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _check_pattern(doc: YamlDoc, where: tuple, value: Any) -> str:
    """A pattern of a pack as text, refused with file and line if it does not compile."""
    try:
        compile_pattern(str(value))
    except PatternError as exc:
        raise doc.error(where, str(exc)) from None
    return str(value)


def parse_selector(doc: YamlDoc, where: tuple, value: Any, kb: Knowledge | None) -> Selector:
    if value is None or value == {}:
        return Selector()
    if isinstance(value, list):
        alts = tuple(parse_selector(doc, (*where, i), v, kb) for i, v in enumerate(value))
        if not alts:
            raise doc.error(where, "an empty list of selectors matches nothing", "list at least one selector")
        for i, a in enumerate(alts):
            if a.thread or a.process or a.alternatives:
                raise doc.error((*where, i), "alternatives in a selector list cannot filter threads or nest lists",
                                "put thread:/process: in a single selector")
        return Selector(alternatives=alts)
    if not isinstance(value, dict):
        raise doc.error(where, "must be a frame selector such as {category: udp-receive} or {symbol: 'vp8_.*'}",
                        f"use the keys {', '.join(SELECTOR_KEYS)}")
    for k in value:
        if k not in SELECTOR_KEYS:
            raise doc.error((*where, str(k)), "unknown selector key (a typo?)", f"use {', '.join(SELECTOR_KEYS)}")
    cats, comps = _as_tuple(value.get("category")), _as_tuple(value.get("component"))
    if kb is not None:
        for i, c in enumerate(cats):
            if c not in kb.category_by_id:
                near = [x for x in kb.category_by_id if x.startswith(c[:3])][:5]
                raise doc.error((*where, "category"), f"unknown category {c!r}",
                                f"use a category of knowledge/taxonomy.yaml{' such as ' + ', '.join(near) if near else ''}")
        for c in comps:
            if kb.components and c not in kb.components:
                raise doc.error((*where, "component"), f"unknown component {c!r}",
                                f"use one of {', '.join(kb.components)}")
    for key in ("symbol", "module", "thread", "process"):
        if key in value:
            _check_pattern(doc, (*where, key), value[key])
    kind = value.get("kind")
    if kind is not None and kind not in ("kernel", "user"):
        raise doc.error((*where, "kind"), "must be kernel or user")
    return Selector(cats, comps, _opt(value, "symbol"), _opt(value, "module"), _opt(value, "kind"),
                    _opt(value, "thread"), _opt(value, "process"))


def _opt(value: dict[str, Any], key: str) -> str | None:
    v = value.get(key)
    return None if v is None else str(v)


def parse_condition(doc: YamlDoc, where: tuple, item: Any, kb: Knowledge | None, params: dict[str, float]) -> Condition:
    if not isinstance(item, dict):
        raise doc.error(where, "a condition must be a mapping such as {inclusive_share: {category: x}, gte: 0.1}")
    measures = [k for k in item if k in MEASURES]
    unknown = [k for k in item if k not in MEASURES and k not in COMPARISONS and k != "as"]
    if unknown:
        raise doc.error((*where, str(unknown[0])), "unknown key in a condition (a typo?)",
                        f"measures: {', '.join(MEASURES)}; comparisons: {', '.join(COMPARISONS)}; and as")
    if len(measures) != 1:
        raise doc.error(where, "a condition takes exactly one measurement",
                        f"one of {', '.join(MEASURES)}")
    m = measures[0]
    ops = [k for k in item if k in COMPARISONS]
    if len(ops) > 1:
        raise doc.error(where, "a condition takes at most one comparison", "split it into two conditions")
    op = ops[0] if ops else None
    threshold = item[op] if op else None
    if isinstance(threshold, str) and threshold.startswith("$"):
        if threshold[1:] not in params:
            raise doc.error((*where, op), f"unknown parameter {threshold}",  # type: ignore[arg-type]
                            f"declare it under params: or use one of {', '.join('$' + p for p in params) or 'none'}")
    elif op and m not in ("env", "fact", "fired") and not isinstance(threshold, (int, float)):
        raise doc.error((*where, op), "the threshold must be a number or a $parameter")  # type: ignore[arg-type]
    raw = item[m]
    w = (*where, m)
    arg: Any
    if m in SELECTOR_MEASURES:
        arg = parse_selector(doc, w, raw, kb)
    elif m == "below_share":
        _need(doc, w, raw, ("above", "below"))
        arg = {k: parse_selector(doc, (*w, k), raw[k], kb) for k in ("above", "below")}
    elif m == "part_share":
        _need(doc, w, raw, ("of", "part"))
        arg = {k: parse_selector(doc, (*w, k), raw[k], kb) for k in ("of", "part")}
    elif m == "attributed_share":
        _need(doc, w, raw, ("via", "to", "among"))
        arg = {k: parse_selector(doc, (*w, k), raw[k], kb) for k in ("via", "to", "among")}
    elif m == "syscall_share":
        arg = parse_syscall_share(doc, w, raw, kb)
    elif m == "top_syscall":
        if raw in (None, {}, True):
            arg = {}
        elif isinstance(raw, dict) and set(raw) == {"calls"}:
            arg = {"calls": _check_pattern(doc, (*w, "calls"), raw["calls"])}
        else:
            raise doc.error(w, "takes {} or {calls: PATTERN}", "e.g. top_syscall: {calls: 'send.*'}")
    elif m == "passes_through":
        _need(doc, w, raw, ("from", "to", "via"))
        arg = {k: parse_selector(doc, (*w, k), raw[k], kb) for k in ("from", "to", "via")}
    elif m == "dominator":
        arg = parse_selector(doc, w, raw, kb)
        if arg == Selector():
            raise doc.error(w, "dominator needs a selection (the hot subtree)", "e.g. dominator: {category: [unix-socket-ipc]}")
    elif m in ("top_category", "top_owned_category"):
        arg = parse_selector(doc, w, raw, kb)
        if not arg.category and not arg.component:
            raise doc.error(w, f"{m} needs category: or component:", "e.g. {component: codecs}")
    elif m in ("stack_samples", "total_samples", "cores_used"):
        if raw not in (None, {}, True):
            raise doc.error(w, "takes no argument", f"write {m}: {{}}")
        arg = None
    else:  # env, fact, fired
        if not isinstance(raw, str) or not raw:
            raise doc.error(w, "must name what it reads",
                            {"env": "e.g. env: sysctl.net.core.rmem_max", "fact": "e.g. fact: ipc-bound",
                             "fired": "e.g. fired: syscall-heavy"}[m])
        arg = raw
    name = item.get("as")
    if name is not None and (not isinstance(name, str) or not name.replace("_", "").isalnum()):
        raise doc.error((*where, "as"), "must be a simple name (letters, digits, _)")
    return Condition(m, arg, op, threshold, name, doc.line(where))


def parse_syscall_share(doc: YamlDoc, where: tuple, raw: Any, kb: Knowledge | None) -> dict[str, Any]:
    """{calls: PATTERN, to: selector, among: selector, assume: PATTERN}; only calls is required."""
    keys = ("calls", "to", "among", "assume")
    if not isinstance(raw, dict) or "calls" not in raw:
        raise doc.error(where, "must be a mapping with calls: (a pattern of system-call names) and optionally "
                               "to:, among: (selectors) and assume: (a pattern)", "e.g. {calls: 'sendto|sendmsg'}")
    for k in raw:
        if k not in keys:
            raise doc.error((*where, str(k)), "unknown key (a typo?)", f"use {', '.join(keys)}")
    out: dict[str, Any] = {}
    for k in ("calls", "assume"):
        if k in raw:
            out[k] = _check_pattern(doc, (*where, k), raw[k])
    for k in ("to", "among"):
        if k in raw:
            out[k] = parse_selector(doc, (*where, k), raw[k], kb)
    if "among" in out and "to" not in out:
        raise doc.error(where, "among: needs to: (what the calls are attributed to)", "add to: {...selector...}")
    if "assume" in out and "to" not in out:
        raise doc.error(where, "assume: needs to: (what the assumed calls count as)", "add to: {...selector...}")
    return out


def _need(doc: YamlDoc, where: tuple, raw: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(raw, dict):
        raise doc.error(where, f"must be a mapping with {', '.join(keys)}")
    for k in keys:
        if k not in raw:
            raise doc.error(where, f"missing {k!r}", f"add {k}: {{...selector...}}")
    for k in raw:
        if k not in keys:
            raise doc.error((*where, str(k)), "unknown key (a typo?)", f"use {', '.join(keys)}")


def parse_rule(doc: YamlDoc, where: tuple, item: Any, kb: Knowledge | None, pack: str) -> Rule:
    if not isinstance(item, dict):
        raise doc.error(where, "a rule must be a mapping")
    for k in item:
        if k not in RULE_KEYS:
            raise doc.error((*where, str(k)), "unknown rule field (a typo?)", f"allowed: {', '.join(sorted(RULE_KEYS))}")
    for k in ("id", "title", "severity", "when", "summary"):
        if k not in item:
            raise doc.error(where, f"missing required field {k!r}", f"add {k}: ...")
    rid = str(item["id"])
    if not rid or not all(c.isalnum() or c in "-_." for c in rid):
        raise doc.error((*where, "id"), f"bad rule id {rid!r}", "use letters, digits, - _ .")
    sev = str(item["severity"])
    if sev not in SEVERITIES:
        raise doc.error((*where, "severity"), f"unknown severity {sev!r}", f"use one of {', '.join(SEVERITIES)}")
    status = str(item.get("status", "stable"))
    if status not in STATUSES:
        raise doc.error((*where, "status"), f"unknown status {status!r}", f"use one of {', '.join(STATUSES)}")
    params_raw = item.get("params") or {}
    if not isinstance(params_raw, dict) or not all(isinstance(v, (int, float)) for v in params_raw.values()):
        raise doc.error((*where, "params"), "must map names to numbers", "e.g. params: {info: 0.05, warn: 0.2}")
    params = {str(k): float(v) for k, v in params_raw.items()}

    def conds(key: str) -> tuple[Condition, ...]:
        raw = item.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise doc.error((*where, key), "must be a list of conditions")
        return tuple(parse_condition(doc, (*where, key, i), c, kb, params) for i, c in enumerate(raw))

    when, any_, none, measure = conds("when"), conds("any"), conds("none"), conds("measure")
    names = {c.name for c in (*when, *any_, *none, *measure) if c.name}
    score = item.get("score") or {}
    if score:
        if not isinstance(score, dict) or "value" not in score:
            raise doc.error((*where, "score"), "must say which value it scores", "e.g. score: {value: share, info: $info, warn: $warn}")
        for k in score:
            if k not in ("value", "info", "warn"):
                raise doc.error((*where, "score", str(k)), "unknown key", "use value, info, warn")
        if not isinstance(score["value"], str) or score["value"] not in names:
            raise doc.error((*where, "score", "value"), f"{score['value']!r} is not a measured value of this rule",
                            f"name a condition with as: (known: {', '.join(sorted(names)) or 'none'})")
        if "info" not in score:
            raise doc.error((*where, "score"), "needs info: (the value that scores 25, where the rule starts to report)",
                            "e.g. score: {value: share, info: $info, warn: $warn}")
        for k in ("info", "warn"):
            v = score.get(k)
            if v is None and k == "warn":
                continue
            if isinstance(v, str) and v.startswith("$"):
                if v[1:] not in params:
                    raise doc.error((*where, "score", k), f"unknown parameter {v}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise doc.error((*where, "score", k), "must be a number (0 or more) or a $parameter")
    subject = item.get("subject")
    if subject is not None and str(subject) not in names and not str(subject).startswith("="):
        raise doc.error((*where, "subject"), f"{subject!r} is not a measured value of this rule",
                        "name a top_category or top_syscall condition with as:, or write =text for a fixed subject")
    summary = _localized(doc, (*where, "summary"), item["summary"])
    _check_template(doc, (*where, "summary"), summary, names)
    explanation = _localized(doc, (*where, "explanation"), item.get("explanation"), required=False)
    _check_template(doc, (*where, "explanation"), explanation, names)
    recommend = _as_tuple(item.get("recommend"))
    not_helpful = []
    if not isinstance(item.get("not_helpful") or [], list):
        raise doc.error((*where, "not_helpful"), "must be a list of {id: ..., why: ...}")
    for i, nh in enumerate(item.get("not_helpful") or []):
        w = (*where, "not_helpful", i)
        if not isinstance(nh, dict) or "id" not in nh or "why" not in nh:
            raise doc.error(w, "must be {id: <recommendation id>, why: {en: ..., zh: ...}}")
        not_helpful.append(NotHelpful(str(nh["id"]), _localized(doc, (*w, "why"), nh["why"])))
    if kb is not None:
        for i, rec in enumerate(recommend):
            if rec not in kb.recommendations:
                raise doc.error((*where, "recommend", i), f"unknown knowledge id {rec!r}",
                                "use an id from knowledge/recommendations.yaml (diagnose rules list --knowledge)")
        for i, nh in enumerate(not_helpful):
            if nh.id not in kb.recommendations:
                raise doc.error((*where, "not_helpful", i, "id"), f"unknown knowledge id {nh.id!r}",
                                "use an id from knowledge/recommendations.yaml")
    evidence = item.get("evidence") or {}
    if not isinstance(evidence, dict):
        raise doc.error((*where, "evidence"), "must be a mapping such as {stacks: 3}")
    for k in evidence:
        if k not in ("stacks", "selector", "functions"):
            raise doc.error((*where, "evidence", str(k)), "unknown key", "use stacks, functions, selector")
    ev = dict(evidence)
    for k in ("stacks", "functions"):
        if k in ev and (isinstance(ev[k], bool) or not isinstance(ev[k], int) or ev[k] < 0):
            raise doc.error((*where, "evidence", k), "must be a whole number (0 or more)")
    if "selector" in ev:
        ev["selector"] = parse_selector(doc, (*where, "evidence", "selector"), ev["selector"], kb)
    min_samples = item.get("min_samples", 0)
    if not isinstance(min_samples, int) or min_samples < 0:
        raise doc.error((*where, "min_samples"), "must be a whole number of samples")
    return Rule(
        id=rid, title=_localized(doc, (*where, "title"), item["title"]), severity=sev,
        tags=_as_tuple(item.get("tags")), status=status, params=params, when=when, any=any_, none=none,
        measure=measure, score=dict(score), subject=str(subject) if subject is not None else None, summary=summary,
        explanation=explanation, evidence=ev, recommend=recommend, not_helpful=tuple(not_helpful),
        explains=_as_tuple(item.get("explains")), derive=_as_tuple(item.get("derive")),
        related=_as_tuple(item.get("related")), min_samples=min_samples, pack=pack,
        source=f"{doc.path}:{doc.line(where) or '?'}")


def _check_template(doc: YamlDoc, where: tuple, texts: dict[str, str], names: set[str]) -> None:
    import string

    for lang, text in texts.items():
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise doc.error((*where, lang), f"bad template ({exc})", "use {name} or {name:pct}; write {{ for a brace")
        for _lit, fname, spec, conv in parts:
            if fname is None:
                continue
            if fname not in names and fname not in ("subject", "samples", "cores"):
                raise doc.error((*where, lang), f"the template names {{{fname}}}, which this rule does not measure",
                                f"name a condition with as: {fname}, or use one of {', '.join(sorted(names)) or 'none'}")
            if conv or (spec and spec not in FORMATS):
                raise doc.error((*where, lang), f"unknown format {{{fname}:{spec}}}", f"use one of {', '.join(FORMATS)}")


def parse_pack(doc: YamlDoc, kb: Knowledge | None) -> Pack:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a rule pack must be a mapping", f"start with schema: {SCHEMA}")
    allowed = {"schema", "pack", "rules", "override", "disable", "tests"}
    for k in data:
        if k not in allowed:
            raise doc.error((str(k),), "unknown top-level field (a typo?)", f"allowed: {', '.join(sorted(allowed))}")
    if data.get("schema") != SCHEMA:
        raise doc.error(("schema",), f"schema must be {SCHEMA}", f"add schema: {SCHEMA}")
    meta = data.get("pack")
    if not isinstance(meta, dict):
        raise doc.error(("pack",), "missing the pack header", "add pack: {name: ..., version: 1.0.0, engine: '>=1.0'}")
    for k in meta:
        if k not in ("name", "version", "engine", "description"):
            raise doc.error(("pack", str(k)), "unknown field (a typo?)", "use name, version, engine, description")
    for k in ("name", "version", "engine"):
        if k not in meta:
            raise doc.error(("pack",), f"missing {k!r}", f"add {k}: ...")
    engine = str(meta["engine"])
    if not engine_satisfies(engine):
        raise doc.error(("pack", "engine"), f"needs rule engine {engine}, this is {'.'.join(map(str, ENGINE_VERSION))}",
                        "upgrade diagnose or use a pack written for this version")
    pack = Pack(str(meta["name"]), str(meta["version"]), engine, doc.path, doc=doc)
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise doc.error(("rules",), "must be a list of rules")
    if len(rules) > MAX_RULES_PER_PACK:
        raise doc.error(("rules",), f"{len(rules):,} rules, more than the {MAX_RULES_PER_PACK:,} a pack may hold",
                        "split them into several packs in a folder")
    seen: set[str] = set()
    for i, item in enumerate(rules):
        rule = parse_rule(doc, ("rules", i), item, kb, pack.name)
        if rule.id in seen:
            raise doc.error(("rules", i, "id"), f"duplicate rule id {rule.id!r} in this pack", "rename one of them")
        seen.add(rule.id)
        pack.rules.append(rule)
    for i, ov in enumerate(data.get("override") or []):
        w = ("override", i)
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
        pack.overrides.append({**ov, "_where": f"{doc.path}:{doc.line(w)}"})
    dis = data.get("disable") or []
    if not isinstance(dis, list):
        raise doc.error(("disable",), "must be a list of rule ids, globs or tag:NAME")
    pack.disable = [str(d) for d in dis]
    tests = data.get("tests") or []
    if not isinstance(tests, list):
        raise doc.error(("tests",), "must be a list of test cases")
    for i, t in enumerate(tests):
        w = ("tests", i)
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
        pack.tests.append({**t, "_line": doc.line(w)})
    return pack


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
               use_env: bool = True) -> RuleSet:
    """Built-in packs, then packs from $DIAGNOSE_RULES_PATH, then --rules paths, merged in that order."""
    packs: list[Pack] = []
    if include_builtin:
        for name, text in builtin_pack_files():
            packs.append(parse_pack(load_yaml_text(text, name), kb))
    paths: list[str] = []
    if use_env and os.environ.get(RULES_PATH_ENV):
        paths += [p for p in os.environ[RULES_PATH_ENV].split(os.pathsep) if p]
    paths += list(user_paths or [])
    for p in paths:
        for f in pack_files(p):
            packs.append(parse_pack(load_yaml(f), kb))
    return merge_packs(packs)


def merge_packs(packs: list[Pack]) -> RuleSet:
    """Later packs win: a rule with an existing id replaces it; overrides change params,
    severity or enabled; disable lists (ids, globs or tag:NAME) switch rules off."""
    rules: dict[str, Rule] = {}
    notes = []
    total = sum(len(p.rules) for p in packs)
    if total > MAX_RULES_TOTAL:
        raise DiagnoseError(f"the rule packs hold {total:,} rules together, more than the {MAX_RULES_TOTAL:,} the "
                            f"engine takes ({', '.join(p.path for p in packs[-3:])}, ...); load fewer packs")
    for pack in packs:
        for rule in pack.rules:
            if rule.id in rules:
                notes.append(f"{rule.source}: rule {rule.id} replaces the one from pack {rules[rule.id].pack}")
            rules[rule.id] = rule
        for ov in pack.overrides:
            rid = str(ov["rule"])
            targets = [r for r in rules if fnmatch.fnmatchcase(r, rid)]
            if not targets:
                raise DiagnoseError(f"{ov['_where']}: override names rule {rid!r}, which no loaded pack defines; "
                                    f"check the id (diagnose rules list)")
            for t in targets:
                r = rules[t]
                params = dict(r.params)
                for k, v in (ov.get("params") or {}).items():
                    if k not in params:
                        raise DiagnoseError(f"{ov['_where']}: rule {t} has no parameter {k!r}; "
                                            f"it has {', '.join(params) or 'none'}")
                    params[k] = float(v)
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
    return RuleSet(packs, ordered, notes)


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
