"""Parsing and validating one entry of the knowledge base (a component, a category, a thread role,
a recommendation, a stack or signal marker), with errors that name file, line and field. The
built-in knowledge base (diagnose.expert.knowledge) and the `knowledge:` of a rule pack
(diagnose.expert.pack_knowledge) read their entries through the same functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnose.core.patterns import PatternError, compile_pattern
from diagnose.core.texts import zh_tidy
from diagnose.core.yamlfile import YamlDoc
from diagnose.expert.knowledge_types import Batching, Category, Component, Marker, Recommendation, ThreadRole, Variant

LANGS = ("en", "zh")
RECOMMENDATION_KINDS = ("sysctl", "webrtc", "code", "system", "investigate")
SYSCTL_MODES = ("raise-only", "set", "lower-only")
CATEGORY_KEYS = {"id", "component", "title", "description", "kind", "symbols", "modules", "subject", "sources",
                 "owns_callees", "within", "fallback"}
THREAD_KEYS = {"pattern", "role", "stack", "sources"}
COMPONENT_KEYS = {"id", "title", "color", "description"}
RECOMMENDATION_KEYS = {"id", "kind", "title", "why", "caveats", "sources", "key", "default", "value", "mode", "ranges",
                       "where", "commands", "applies_to", "requires", "unless", "variants", "batches", "not_if"}
MARKER_KEYS = {"id", "title", "symbols", "modules", "threads", "processes", "calls", "env", "min_samples", "min_share",
               "overview", "per_process"}
ENV_OPS = ("gt", "gte", "lt", "lte", "eq", "ne")


@dataclass
class Known:
    """The ids an entry may refer to, and where to tell the user to look them up."""

    sources: set[str] = field(default_factory=set)
    components: set[str] = field(default_factory=set)
    stacks: set[str] = field(default_factory=set)
    signals: set[str] = field(default_factory=set)
    sources_home: str = "sources.yaml"
    components_home: str = "components.yaml"


def text(doc: YamlDoc, where: tuple, value: Any, required: bool = True) -> dict[str, str] | None:
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise doc.error(where, "must be a mapping with en and zh texts", "write {en: ..., zh: ...}")
    for lang in LANGS:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise doc.error((*where, lang), f"missing the {'Chinese' if lang == 'zh' else 'English'} text",
                            f"add {lang}: ...")
    extra = set(value) - set(LANGS)
    if extra:
        raise doc.error((*where, sorted(extra)[0]), "unknown language", f"use only {', '.join(LANGS)}")
    return {k: zh_tidy(str(value[k])) if k == "zh" else str(value[k]) for k in LANGS}


def keys(doc: YamlDoc, where: tuple, item: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise doc.error(where, "must be a mapping")
    for k in item:
        if k not in allowed:
            raise doc.error((*where, str(k)), "unknown field (a typo?)", f"allowed: {', '.join(sorted(allowed))}")
    for k in sorted(required):
        if k not in item:
            raise doc.error(where, f"missing required field {k!r}", f"add {k}: ...")
    return item


def as_list(doc: YamlDoc, where: tuple, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(where, "must be a list", "write [a, b] or one item per line starting with -")
    return value


def flag(doc: YamlDoc, where: tuple, value: Any) -> bool:
    if not isinstance(value, bool):
        raise doc.error(where, "must be true or false (without quotes)")
    return value


def patterns(doc: YamlDoc, where: tuple, value: Any) -> tuple[str, ...]:
    out = []
    for i, p in enumerate(as_list(doc, where, value)):
        if doc.trusted:
            out.append(str(p))
            continue
        try:
            compile_pattern(p if isinstance(p, str) else str(p))
        except PatternError as exc:
            raise doc.error((*where, i), str(exc)) from None
        out.append(str(p))
    return tuple(out)


def sources(doc: YamlDoc, where: tuple, value: Any, known: Known) -> tuple[str, ...]:
    out = []
    for i, s in enumerate(as_list(doc, where, value)):
        if str(s) not in known.sources:
            raise doc.error((*where, i), f"unknown source {s!r}", f"add it to {known.sources_home} or fix the id")
        out.append(str(s))
    return tuple(out)


def component(doc: YamlDoc, where: tuple, item: Any, cid: str) -> Component:

    keys(doc, where, item, COMPONENT_KEYS, {"id", "title", "color"})
    return Component(cid, text(doc, (*where, "title"), item["title"]), str(item["color"]))  # type: ignore[arg-type]


def category(doc: YamlDoc, where: tuple, item: Any, cid: str, known: Known) -> Category:

    keys(doc, where, item, CATEGORY_KEYS, {"id", "component", "title"})
    if known.components and str(item["component"]) not in known.components:
        raise doc.error((*where, "component"), f"unknown component {item['component']!r}",
                        f"use one of {', '.join(sorted(known.components))}")
    kind = str(item.get("kind", "any"))
    if kind not in ("any", "kernel", "user"):
        raise doc.error((*where, "kind"), "must be kernel, user or any")
    return Category(
        cid, str(item["component"]), text(doc, (*where, "title"), item["title"]),  # type: ignore[arg-type]
        text(doc, (*where, "description"), item.get("description"), required=False) or {},
        kind, patterns(doc, (*where, "symbols"), item.get("symbols")),
        patterns(doc, (*where, "modules"), item.get("modules")),
        str(item["subject"]) if item.get("subject") else None,
        sources(doc, (*where, "sources"), item.get("sources"), known),
        owns_callees=flag(doc, (*where, "owns_callees"), item.get("owns_callees", False)),
        within=patterns(doc, (*where, "within"), item.get("within")),
        fallback=flag(doc, (*where, "fallback"), item.get("fallback", False)))


def thread_role(doc: YamlDoc, where: tuple, item: Any, known: Known, allowed: set[str] = THREAD_KEYS) -> ThreadRole:

    keys(doc, where, item, allowed, {"pattern", "role"})
    pattern = patterns(doc, (*where, "pattern"), [item["pattern"]])[0]
    return ThreadRole(pattern, text(doc, (*where, "role"), item["role"]),  # type: ignore[arg-type]
                      str(item.get("stack", "")), sources(doc, (*where, "sources"), item.get("sources"), known))


def recommendation(doc: YamlDoc, where: tuple, item: Any, rid: str, known: Known) -> Recommendation:

    keys(doc, where, item, RECOMMENDATION_KEYS, {"id", "kind", "title", "why"})
    kind = str(item["kind"])
    if kind not in RECOMMENDATION_KINDS:
        raise doc.error((*where, "kind"), f"unknown kind {kind!r}", f"use one of {', '.join(RECOMMENDATION_KINDS)}")
    if kind == "sysctl":
        for k in ("key", "value", "mode"):
            if k not in item:
                raise doc.error(where, f"a sysctl recommendation needs {k!r}", f"add {k}: ...")
        if item["mode"] not in SYSCTL_MODES:
            raise doc.error((*where, "mode"), f"unknown mode {item['mode']!r}", f"use one of {', '.join(SYSCTL_MODES)}")
    ranges = item.get("ranges")
    if ranges is not None and not isinstance(ranges, dict):
        raise doc.error((*where, "ranges"), "must be a mapping such as {client: ..., sfu: ...}")
    return Recommendation(
        rid, kind, text(doc, (*where, "title"), item["title"]), text(doc, (*where, "why"), item["why"]),  # type: ignore[arg-type]
        text(doc, (*where, "caveats"), item.get("caveats"), required=False),
        sources(doc, (*where, "sources"), item.get("sources"), known),
        key=str(item["key"]) if "key" in item else None,
        default=str(item["default"]) if item.get("default") is not None else None,
        value=str(item["value"]) if item.get("value") is not None else None,
        mode=str(item["mode"]) if "mode" in item else None,
        ranges={str(k): str(v) for k, v in ranges.items()} if ranges else None,
        where=text(doc, (*where, "where"), item.get("where"), required=False),
        commands=tuple(str(c) for c in as_list(doc, (*where, "commands"), item.get("commands"))),
        applies_to=ids(doc, (*where, "applies_to"), item.get("applies_to"), known.stacks, "stack", "stacks.yaml stacks"),
        requires=ids(doc, (*where, "requires"), item.get("requires"), known.signals, "signal", "stacks.yaml signals"),
        unless=ids(doc, (*where, "unless"), item.get("unless"), known.signals, "signal", "stacks.yaml signals"),
        variants=variants(doc, (*where, "variants"), item.get("variants"), known.stacks),
        batches=batches(doc, (*where, "batches"), item.get("batches")),
        not_if=ids(doc, (*where, "not_if"), item.get("not_if"), known.signals, "signal", "stacks.yaml signals"))


def marker(doc: YamlDoc, where: tuple, item: Any) -> Marker:

    keys(doc, where, item, MARKER_KEYS, {"id", "title"})
    env = []
    for j, e in enumerate(as_list(doc, (*where, "env"), item.get("env"))):
        if not isinstance(e, dict) or "key" not in e or len(e) != 2:
            raise doc.error((*where, "env", j), "must be {key: environment.path, gt: number} (one comparison)")
        op = next(k for k in e if k != "key")
        if op not in ENV_OPS or isinstance(e[op], bool) or not isinstance(e[op], (int, float)):
            raise doc.error((*where, "env", j), f"the comparison must be one of {', '.join(ENV_OPS)} with a number")
        env.append((str(e["key"]), op, float(e[op])))
    min_samples = item.get("min_samples", 1)
    min_share = item.get("min_share", 0.0)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise doc.error((*where, "min_samples"), "must be a whole number of samples (1 or more)")
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0 <= min_share < 1:
        raise doc.error((*where, "min_share"), "must be a share between 0 and 1")
    overview = item.get("overview", True)
    if not isinstance(overview, bool):
        raise doc.error((*where, "overview"), "must be true or false")
    per_process = item.get("per_process", False)
    if not isinstance(per_process, bool):
        raise doc.error((*where, "per_process"), "must be true or false")
    if per_process and any(item.get(k) for k in ("symbols", "modules", "threads", "processes", "calls")):
        raise doc.error((*where, "per_process"), "applies to env conditions only (a process's frames and calls "
                                                 "are judged when it is evaluated alone)")
    calls = tuple(str(c) for c in as_list(doc, (*where, "calls"), item.get("calls")))
    return Marker(str(item["id"]), text(doc, (*where, "title"), item["title"]),  # type: ignore[arg-type]
                  patterns(doc, (*where, "symbols"), item.get("symbols")),
                  patterns(doc, (*where, "modules"), item.get("modules")),
                  patterns(doc, (*where, "threads"), item.get("threads")),
                  patterns(doc, (*where, "processes"), item.get("processes")),
                  calls, tuple(env), min_samples, float(min_share), overview, per_process)


def ids(doc: YamlDoc, where: tuple, value: Any, known: set[str], what: str, home: str) -> tuple[str, ...]:
    out = []
    for i, v in enumerate(as_list(doc, where, value)):
        if str(v) not in known:
            raise doc.error((*where, i), f"unknown {what} {v!r}", f"use an id from {home}")
        out.append(str(v))
    return tuple(out)


def batches(doc: YamlDoc, where: tuple, value: Any) -> Batching | None:
    """{calls: [recvfrom, recvmsg], into: recvmmsg, per_call: 16}"""

    if value is None:
        return None
    keys(doc, where, value, {"calls", "into", "per_call"}, {"calls", "into", "per_call"})
    calls = as_list(doc, (*where, "calls"), value["calls"])
    if not calls or not all(isinstance(c, str) and c.isidentifier() for c in calls):
        raise doc.error((*where, "calls"), "must list system-call names", "e.g. calls: [recvfrom, recvmsg]")
    if not isinstance(value["into"], str) or not value["into"].isidentifier():
        raise doc.error((*where, "into"), "must name the batching system call", "e.g. into: recvmmsg")
    per_call = value["per_call"]
    if isinstance(per_call, bool) or not isinstance(per_call, int) or per_call < 2:
        raise doc.error((*where, "per_call"), "must be a whole number of messages per call, 2 or more")
    return Batching(tuple(calls), value["into"], per_call)


def variants(doc: YamlDoc, where: tuple, value: Any, stack_ids: set[str]) -> dict[str, Variant]:

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(where, "must map stack ids to {title, why, where, caveats} texts")
    out = {}
    for sid, v in value.items():
        w = (*where, str(sid))
        if str(sid) not in stack_ids:
            raise doc.error(w, f"unknown stack {sid!r}", "use an id from stacks.yaml stacks")
        keys(doc, w, v, {"title", "why", "where", "caveats"}, set())
        out[str(sid)] = Variant(*(text(doc, (*w, k), v.get(k), required=False) for k in ("title", "why", "where", "caveats")))
    return out
