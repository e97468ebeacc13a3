"""The rule format: its vocabulary (measures, comparisons, selector keys, formats), the parsed
rule (Rule, Condition, Selector) and the parsing of selectors, conditions and message templates,
with errors that name file, line and field. A pack is data, never code: conditions are a closed
vocabulary of measurements and comparisons (see MEASURES), messages are templates with named
values, patterns run on RE2."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from diagnose.core.patterns import PatternError, compile_pattern
from diagnose.core.texts import zh_tidy
from diagnose.core.yamlfile import YamlDoc
from diagnose.expert.knowledge import Knowledge

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
    if doc.trusted:
        return str(value)
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
                near = ([x for x in kb.category_by_id if x.endswith(":" + c)]
                        + [x for x in kb.category_by_id if x.startswith(c[:3])])[:5]
                raise doc.error((*where, "category"), f"unknown category {c!r}",
                                f"use a category of knowledge/taxonomy.yaml{' such as ' + ', '.join(near) if near else ''} "
                                f"or one of a pack's knowledge.categories (as PACK:ID)")
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


def _check_template(doc: YamlDoc, where: tuple, texts: dict[str, str], names: set[str]) -> None:
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
