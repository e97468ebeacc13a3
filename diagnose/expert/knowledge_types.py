"""What the knowledge base holds, as types: a component, a category of the symbol taxonomy, a
thread role, a stack or signal marker and its variants, a recommendation, batching, and the
Knowledge that gathers them and tells what each frame is. diagnose.expert.knowledge loads them
(through diagnose.expert.knowledge_entries) and re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, field

from diagnose.core.patterns import OwnedPatterns, PatternSet
from diagnose.model.profile import Frame, Profile

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
    overview: bool = True  # named in the report's overview when seen (false: a measurement the report shows elsewhere)
    # Judged, for a finding of a capture of several processes, on the process with most of the
    # finding's samples (an environment signal of its threads), not on the whole machine.
    per_process: bool = False


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
    # calls (diagnose run) it states the saving (diagnose.expert.syscall_costs.batching_estimate).
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
            origin = profile.origin
            parent = getattr(origin.parent, "_categories", None) if origin is not None else None
            if parent is not None and parent[0] is self:  # a selection: its frames are the parent's
                of_parent = parent[1]
                cached = (self, [of_parent[f] for f in origin.frames])  # type: ignore[union-attr]
            else:
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
