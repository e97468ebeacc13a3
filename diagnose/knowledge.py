"""The knowledge base (knowledge/*.yaml): components, the symbol taxonomy, thread roles,
recommendations and their sources. Loads and validates it, and tells what each frame is."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from diagnose.errors import DiagnoseError
from diagnose.patterns import OwnedPatterns, PatternError, PatternSet, compile_pattern
from diagnose.profile import Frame, Profile
from diagnose.texts import zh_tidy
from diagnose.yamlfile import YamlDoc, load_yaml_text

SCHEMA = "diagnose.knowledge/v1"
LANGS = ("en", "zh")
RECOMMENDATION_KINDS = ("sysctl", "webrtc", "code", "system", "investigate")
SYSCTL_MODES = ("raise-only", "set", "lower-only")
FILES = ("sources.yaml", "components.yaml", "taxonomy.yaml", "threads.yaml", "stacks.yaml", "recommendations.yaml")

Localized = dict[str, str]


@dataclass(frozen=True)
class Component:
    id: str
    title: Localized
    color: str


@dataclass(frozen=True)
class Category:
    id: str
    component: str
    title: Localized
    description: Localized
    kind: str
    symbols: tuple[str, ...]
    modules: tuple[str, ...]
    subject: str | None
    sources: tuple[str, ...]
    # A frame of this category owns the samples of everything it calls (the innermost such frame
    # in a stack wins): a file read owns its copies, loopback delivery owns the receiver's work.
    owns_callees: bool = False
    # Patterns of caller frames: the category applies to a frame only below such a caller
    # (net_rx_action inside a sendto is loopback delivery); empty for an ordinary category.
    within: tuple[str, ...] = ()
    # A catch-all (the rest of the Go runtime): it owns a sample only when no other category
    # recognises any frame of the sample's stack.
    fallback: bool = False


@dataclass(frozen=True)
class ThreadRole:
    pattern: str
    role: Localized
    stack: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Marker:
    """Something a capture can show: a WebRTC stack (Pion, Janus, ...) or a signal of what is
    already in effect (AES-GCM running, datagrams dropped). Seen when enough samples hold a
    frame matching its symbol/module patterns, a thread or process matches, one of its system
    calls is made, or a recorded environment value passes its test."""

    id: str
    title: Localized
    symbols: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    threads: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    env: tuple[tuple[str, str, float], ...] = ()  # (key, op, number)
    min_samples: int = 1
    min_share: float = 0.0


@dataclass(frozen=True)
class Variant:
    """How a recommendation reads for one stack (each text optional)."""

    title: Localized | None = None
    why: Localized | None = None
    where: Localized | None = None
    caveats: Localized | None = None


@dataclass(frozen=True)
class Recommendation:
    id: str
    kind: str
    title: Localized
    why: Localized
    caveats: Localized | None
    sources: tuple[str, ...]
    key: str | None = None
    default: str | None = None
    value: str | None = None
    mode: str | None = None
    ranges: dict[str, str] | None = None
    where: Localized | None = None
    commands: tuple[str, ...] = ()
    # Stacks it applies to (empty: any); signals that must be seen (any of them) for it to be
    # offered; signals that mean it is already in effect; per-stack wording.
    applies_to: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    variants: dict[str, Variant] = field(default_factory=dict)
    # Signals that mean it does not apply here (the program does not set SO_RCVBUF: rmem_max
    # caps nothing it asks for).
    not_if: tuple[str, ...] = ()
    # Advice to batch system calls: which calls, into which one, how many per call; with counted
    # calls (diagnose run) it states the saving (diagnose.syscall_costs.batching_estimate).
    batches: Batching | None = None


@dataclass(frozen=True)
class Batching:
    calls: tuple[str, ...]
    into: str
    per_call: int


@dataclass
class Knowledge:
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    components: dict[str, Component] = field(default_factory=dict)
    categories: list[Category] = field(default_factory=list)
    threads: list[ThreadRole] = field(default_factory=list)
    recommendations: dict[str, Recommendation] = field(default_factory=dict)
    stacks: list[Marker] = field(default_factory=list)
    signals: list[Marker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        self.category_by_id = {c.id: c for c in self.categories}
        self._symbols = OwnedPatterns((i, c.symbols) for i, c in enumerate(self.categories))
        self._modules = OwnedPatterns((i, c.modules) for i, c in enumerate(self.categories))
        self._threads = PatternSet(t.pattern for t in self.threads)
        # Contextual categories: which caller patterns belong to which of them.
        self.contextual = [c for c in self.categories if c.within]
        self._within = OwnedPatterns((i, c.within) for i, c in enumerate(self.contextual))

    # -- what a frame is -------------------------------------------------------------------

    def _matching(self, frame: Frame) -> list[Category]:
        """Every category whose symbol or module patterns match the frame, in file order."""
        owners = set(self._symbols.owners(frame.name))
        if frame.module:
            owners.update(self._modules.owners(frame.module_base))
        return [self.categories[o] for o in sorted(owners) if self.categories[o].kind in ("any", frame.kind)]

    def category_of(self, frame: Frame) -> Category | None:
        """The frame's category wherever it is called from: the first ordinary category, in file
        order, whose symbol or module patterns match it (so a specific category's module beats a
        later catch-all's symbol pattern); a catch-all (fallback) only when nothing else matches.
        Contextual categories (within:) are not considered."""
        found = [c for c in self._matching(frame) if not c.within]
        return next((c for c in found if not c.fallback), found[0] if found else None)

    def contextual_of(self, frame: Frame) -> list[Category]:
        """The contextual categories the frame can take, in file order, each only below a
        caller that matches its `within` patterns."""
        return [c for c in self._matching(frame) if c.within]

    def context_of(self, frame: Frame) -> list[Category]:
        """The contextual categories whose `within` patterns this frame matches (as a caller)."""
        return [self.contextual[i] for i in self._within.owners(frame.name)]

    def classify(self, profile: Profile) -> list[Category | None]:
        """The category of every frame of a profile (computed once per profile and knowledge base)."""
        cached = getattr(profile, "_categories", None)
        if cached is None or cached[0] is not self:
            cached = (self, [self.category_of(f) for f in profile.frames])
            profile._categories = cached  # type: ignore[attr-defined]
        return cached[1]

    def component_of(self, frame: Frame, category: Category | None) -> str:
        if category is not None:
            return category.component
        return "kernel" if frame.kind == "kernel" else "application"

    def thread_role(self, comm: str) -> ThreadRole | None:
        found = self._threads.match(comm)
        return self.threads[found[0]] if found else None

    def role_text(self, comm: str, lang: str) -> str | None:
        """What a thread of this name does, in the user's language (knowledge/threads.yaml)."""
        role = self.thread_role(comm)
        return (role.role.get(lang) or role.role["en"]) if role else None


# -- loading and validation ---------------------------------------------------------------

def _text(doc: YamlDoc, where: tuple, value: Any, required: bool = True) -> Localized | None:
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


def _keys(doc: YamlDoc, where: tuple, item: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise doc.error(where, "must be a mapping")
    for k in item:
        if k not in allowed:
            raise doc.error((*where, str(k)), "unknown field (a typo?)", f"allowed: {', '.join(sorted(allowed))}")
    for k in sorted(required):
        if k not in item:
            raise doc.error(where, f"missing required field {k!r}", f"add {k}: ...")
    return item


def _list(doc: YamlDoc, where: tuple, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(where, "must be a list", "write [a, b] or one item per line starting with -")
    return value


def _flag(doc: YamlDoc, where: tuple, value: Any) -> bool:
    if not isinstance(value, bool):
        raise doc.error(where, "must be true or false (without quotes)")
    return value


def _patterns(doc: YamlDoc, where: tuple, value: Any) -> tuple[str, ...]:
    out = []
    for i, p in enumerate(_list(doc, where, value)):
        try:
            compile_pattern(p if isinstance(p, str) else str(p))
        except PatternError as exc:
            raise doc.error((*where, i), str(exc)) from None
        out.append(str(p))
    return tuple(out)


def _doc(doc: YamlDoc, top: str) -> list[Any] | dict[str, Any]:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), f"must be a mapping with schema: {SCHEMA} and {top}:")
    if data.get("schema") != SCHEMA:
        raise doc.error(("schema",), f"schema must be {SCHEMA}", f"add schema: {SCHEMA}")
    for k in data:
        if k not in ("schema", top):
            raise doc.error((str(k),), "unknown top-level field (a typo?)", f"allowed: schema, {top}")
    return data.get(top) or ([] if top != "sources" else {})


def parse_knowledge(texts: dict[str, tuple[str, str]]) -> Knowledge:
    """Build the knowledge base from file name -> (path for messages, YAML text)."""
    kb = Knowledge.__new__(Knowledge)
    kb.sources, kb.components, kb.categories, kb.threads, kb.recommendations = {}, {}, [], [], {}
    kb.stacks, kb.signals = [], []
    docs = {name: load_yaml_text(text, path) for name, (path, text) in texts.items()}

    if "sources.yaml" in docs:
        doc = docs["sources.yaml"]
        srcs = _doc(doc, "sources")
        if not isinstance(srcs, dict):
            raise doc.error(("sources",), "must be a mapping of id -> {title, url}")
        for sid, item in srcs.items():
            _keys(doc, ("sources", sid), item, {"title", "url", "note"}, {"title"})
            kb.sources[str(sid)] = {k: str(v) for k, v in item.items()}

    def sources(doc: YamlDoc, where: tuple, value: Any) -> tuple[str, ...]:
        out = []
        for i, s in enumerate(_list(doc, where, value)):
            if str(s) not in kb.sources:
                raise doc.error((*where, i), f"unknown source {s!r}", "add it to sources.yaml or fix the id")
            out.append(str(s))
        return tuple(out)

    if "components.yaml" in docs:
        doc = docs["components.yaml"]
        for i, item in enumerate(_list(doc, ("components",), _doc(doc, "components"))):
            w = ("components", i)
            _keys(doc, w, item, {"id", "title", "color", "description"}, {"id", "title", "color"})
            cid = str(item["id"])
            if cid in kb.components:
                raise doc.error((*w, "id"), f"duplicate component id {cid!r}")
            kb.components[cid] = Component(cid, _text(doc, (*w, "title"), item["title"]), str(item["color"]))  # type: ignore[arg-type]

    if "taxonomy.yaml" in docs:
        doc = docs["taxonomy.yaml"]
        seen: set[str] = set()
        for i, item in enumerate(_list(doc, ("categories",), _doc(doc, "categories"))):
            w = ("categories", i)
            _keys(doc, w, item, {"id", "component", "title", "description", "kind", "symbols", "modules", "subject",
                                 "sources", "owns_callees", "within", "fallback"}, {"id", "component", "title"})
            cid = str(item["id"])
            if cid in seen:
                raise doc.error((*w, "id"), f"duplicate category id {cid!r}")
            seen.add(cid)
            if kb.components and str(item["component"]) not in kb.components:
                raise doc.error((*w, "component"), f"unknown component {item['component']!r}",
                                f"use one of {', '.join(kb.components)}")
            kind = str(item.get("kind", "any"))
            if kind not in ("any", "kernel", "user"):
                raise doc.error((*w, "kind"), "must be kernel, user or any")
            kb.categories.append(Category(
                cid, str(item["component"]), _text(doc, (*w, "title"), item["title"]),  # type: ignore[arg-type]
                _text(doc, (*w, "description"), item.get("description"), required=False) or {},
                kind, _patterns(doc, (*w, "symbols"), item.get("symbols")),
                _patterns(doc, (*w, "modules"), item.get("modules")),
                str(item["subject"]) if item.get("subject") else None,
                sources(doc, (*w, "sources"), item.get("sources")),
                owns_callees=_flag(doc, (*w, "owns_callees"), item.get("owns_callees", False)),
                within=_patterns(doc, (*w, "within"), item.get("within")),
                fallback=_flag(doc, (*w, "fallback"), item.get("fallback", False))))

    if "threads.yaml" in docs:
        doc = docs["threads.yaml"]
        for i, item in enumerate(_list(doc, ("threads",), _doc(doc, "threads"))):
            w = ("threads", i)
            _keys(doc, w, item, {"pattern", "role", "stack", "sources"}, {"pattern", "role"})
            pattern = _patterns(doc, (*w, "pattern"), [item["pattern"]])[0]
            kb.threads.append(ThreadRole(pattern, _text(doc, (*w, "role"), item["role"]),  # type: ignore[arg-type]
                                         str(item.get("stack", "")), sources(doc, (*w, "sources"), item.get("sources"))))

    if "stacks.yaml" in docs:
        doc = docs["stacks.yaml"]
        data = doc.data
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise doc.error(("schema",), f"schema must be {SCHEMA}", f"add schema: {SCHEMA}")
        for k in data:
            if k not in ("schema", "stacks", "signals"):
                raise doc.error((str(k),), "unknown top-level field (a typo?)", "allowed: schema, stacks, signals")
        seen_markers: set[str] = set()
        for top, out in (("stacks", kb.stacks), ("signals", kb.signals)):
            for i, item in enumerate(_list(doc, (top,), data.get(top))):
                marker = _marker(doc, (top, i), item)
                if marker.id in seen_markers:
                    raise doc.error((top, i, "id"), f"duplicate id {marker.id!r} (stacks and signals share ids)")
                seen_markers.add(marker.id)
                out.append(marker)
    stack_ids = {m.id for m in kb.stacks}
    signal_ids = {m.id for m in kb.signals}

    if "recommendations.yaml" in docs:
        doc = docs["recommendations.yaml"]
        allowed = {"id", "kind", "title", "why", "caveats", "sources", "key", "default", "value", "mode", "ranges",
                   "where", "commands", "applies_to", "requires", "unless", "variants", "batches", "not_if"}
        for i, item in enumerate(_list(doc, ("recommendations",), _doc(doc, "recommendations"))):
            w = ("recommendations", i)
            _keys(doc, w, item, allowed, {"id", "kind", "title", "why"})
            rid, kind = str(item["id"]), str(item["kind"])
            if rid in kb.recommendations:
                raise doc.error((*w, "id"), f"duplicate recommendation id {rid!r}")
            if kind not in RECOMMENDATION_KINDS:
                raise doc.error((*w, "kind"), f"unknown kind {kind!r}", f"use one of {', '.join(RECOMMENDATION_KINDS)}")
            if kind == "sysctl":
                for k in ("key", "value", "mode"):
                    if k not in item:
                        raise doc.error(w, f"a sysctl recommendation needs {k!r}", f"add {k}: ...")
                if item["mode"] not in SYSCTL_MODES:
                    raise doc.error((*w, "mode"), f"unknown mode {item['mode']!r}", f"use one of {', '.join(SYSCTL_MODES)}")
            ranges = item.get("ranges")
            if ranges is not None and not isinstance(ranges, dict):
                raise doc.error((*w, "ranges"), "must be a mapping such as {client: ..., sfu: ...}")
            kb.recommendations[rid] = Recommendation(
                rid, kind, _text(doc, (*w, "title"), item["title"]), _text(doc, (*w, "why"), item["why"]),  # type: ignore[arg-type]
                _text(doc, (*w, "caveats"), item.get("caveats"), required=False),
                sources(doc, (*w, "sources"), item.get("sources")),
                key=str(item["key"]) if "key" in item else None,
                default=str(item["default"]) if item.get("default") is not None else None,
                value=str(item["value"]) if item.get("value") is not None else None,
                mode=str(item["mode"]) if "mode" in item else None,
                ranges={str(k): str(v) for k, v in ranges.items()} if ranges else None,
                where=_text(doc, (*w, "where"), item.get("where"), required=False),
                commands=tuple(str(c) for c in _list(doc, (*w, "commands"), item.get("commands"))),
                applies_to=_ids(doc, (*w, "applies_to"), item.get("applies_to"), stack_ids, "stack", "stacks.yaml stacks"),
                requires=_ids(doc, (*w, "requires"), item.get("requires"), signal_ids, "signal", "stacks.yaml signals"),
                unless=_ids(doc, (*w, "unless"), item.get("unless"), signal_ids, "signal", "stacks.yaml signals"),
                variants=_variants(doc, (*w, "variants"), item.get("variants"), stack_ids),
                batches=_batches(doc, (*w, "batches"), item.get("batches")),
                not_if=_ids(doc, (*w, "not_if"), item.get("not_if"), signal_ids, "signal", "stacks.yaml signals"))
    kb._index()
    return kb


MARKER_KEYS = {"id", "title", "symbols", "modules", "threads", "processes", "calls", "env", "min_samples", "min_share"}
ENV_OPS = ("gt", "gte", "lt", "lte", "eq", "ne")


def _marker(doc: YamlDoc, where: tuple, item: Any) -> Marker:
    _keys(doc, where, item, MARKER_KEYS, {"id", "title"})
    env = []
    for j, e in enumerate(_list(doc, (*where, "env"), item.get("env"))):
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
    calls = tuple(str(c) for c in _list(doc, (*where, "calls"), item.get("calls")))
    return Marker(str(item["id"]), _text(doc, (*where, "title"), item["title"]),  # type: ignore[arg-type]
                  _patterns(doc, (*where, "symbols"), item.get("symbols")),
                  _patterns(doc, (*where, "modules"), item.get("modules")),
                  _patterns(doc, (*where, "threads"), item.get("threads")),
                  _patterns(doc, (*where, "processes"), item.get("processes")),
                  calls, tuple(env), min_samples, float(min_share))


def _ids(doc: YamlDoc, where: tuple, value: Any, known: set[str], what: str, home: str) -> tuple[str, ...]:
    out = []
    for i, v in enumerate(_list(doc, where, value)):
        if str(v) not in known:
            raise doc.error((*where, i), f"unknown {what} {v!r}", f"use an id from {home}")
        out.append(str(v))
    return tuple(out)


def _batches(doc: YamlDoc, where: tuple, value: Any) -> Batching | None:
    """{calls: [recvfrom, recvmsg], into: recvmmsg, per_call: 16}"""
    if value is None:
        return None
    _keys(doc, where, value, {"calls", "into", "per_call"}, {"calls", "into", "per_call"})
    calls = _list(doc, (*where, "calls"), value["calls"])
    if not calls or not all(isinstance(c, str) and c.isidentifier() for c in calls):
        raise doc.error((*where, "calls"), "must list system-call names", "e.g. calls: [recvfrom, recvmsg]")
    if not isinstance(value["into"], str) or not value["into"].isidentifier():
        raise doc.error((*where, "into"), "must name the batching system call", "e.g. into: recvmmsg")
    per_call = value["per_call"]
    if isinstance(per_call, bool) or not isinstance(per_call, int) or per_call < 2:
        raise doc.error((*where, "per_call"), "must be a whole number of messages per call, 2 or more")
    return Batching(tuple(calls), value["into"], per_call)


def _variants(doc: YamlDoc, where: tuple, value: Any, stack_ids: set[str]) -> dict[str, Variant]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(where, "must map stack ids to {title, why, where, caveats} texts")
    out = {}
    for sid, v in value.items():
        w = (*where, str(sid))
        if str(sid) not in stack_ids:
            raise doc.error(w, f"unknown stack {sid!r}", "use an id from stacks.yaml stacks")
        _keys(doc, w, v, {"title", "why", "where", "caveats"}, set())
        out[str(sid)] = Variant(*(_text(doc, (*w, k), v.get(k), required=False) for k in ("title", "why", "where", "caveats")))
    return out


@lru_cache(maxsize=1)
def builtin_knowledge() -> Knowledge:
    """The knowledge base installed with the package."""
    root = importlib.resources.files("diagnose.builtin_knowledge")
    texts = {}
    for name in FILES:
        res = root / name
        if res.is_file():
            texts[name] = (f"knowledge/{name}", res.read_text(encoding="utf-8"))
    try:
        return parse_knowledge(texts)
    except DiagnoseError as exc:
        raise DiagnoseError(f"the installed knowledge base is broken: {exc.message}") from None
