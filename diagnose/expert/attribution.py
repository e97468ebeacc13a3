"""Who owns each sample: the one attribution model that findings, the component table, the
Markdown report and the flame graph all read.

A sample belongs to the deepest frame of its stack that the knowledge base recognises, and so
to that frame's category and component. A caller that only wraps others (Pion's
SessionSRTP.writeRTP around a sendto, an interceptor around the read chain) therefore does not
own its callees' time. Two refinements, both data in knowledge/taxonomy.yaml:

- `within:` a contextual category applies to a frame only below a caller matching one of its
  patterns: net_rx_action inside a sendto is the loopback receiver's delivery paid by the
  sender, not receive work of this process;
- `owns_callees: true`: a frame of such a category owns every sample below it, whatever deeper
  frames are recognised (a file read owns its copies from the page cache, udp_recvmsg owns the
  copy to user space). The innermost such frame wins, and a user-space frame's claim ends where
  the stack enters the kernel: what the kernel does for a call is attributed on its own terms.
- `fallback: true`: a catch-all category (the rest of the Go runtime) owns a sample only when no
  other category recognises any frame of its stack: a map lookup inside the SRTP code is SRTP's
  time.

A sample with no recognised frame belongs to "kernel" or "application" by its leaf.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnose.expert.knowledge import Category, Knowledge
from diagnose.model.profile import Frame, Origin, Profile

KERNEL, APPLICATION = "kernel", "application"


@dataclass(frozen=True, slots=True)
class Owner:
    """The frame that owns a sample (its position in the stack, root first; -1 when no frame
    is recognised), the category it has there, and the component the sample is counted in."""

    position: int
    category: Category | None
    component: str


class _FrameFacts:
    """What the attribution needs to know of each frame, computed once per profile."""

    def __init__(self, profile: Profile, kb: Knowledge, parent: Attribution | None = None) -> None:
        """parent: the attribution of the profile `profile` was selected from (profile.origin)."""
        self.kb = kb
        self.base = kb.classify(profile)
        self.kernel = [f.kind == "kernel" for f in profile.frames]
        self.bit = {c.id: 1 << i for i, c in enumerate(kb.contextual)}
        # frame -> contextual categories it may take; frame -> context bits it provides as a caller
        self.candidates: dict[int, list[Category]] = {}
        self.provides: dict[int, int] = {}
        if parent is not None and profile.origin is not None:
            # A selection: its frames are some of the parent's, which were looked at already.
            candidates, provides = parent.facts.candidates, parent.facts.provides
            for i, old in enumerate(profile.origin.frames):
                cands = candidates.get(old)
                if cands:
                    self.candidates[i] = cands
                bits = provides.get(old)
                if bits:
                    self.provides[i] = bits
        elif kb.contextual:
            for i, f in enumerate(profile.frames):
                cands = kb.contextual_of(f)
                if cands:
                    self.candidates[i] = cands
                bits = 0
                for c in kb.context_of(f):
                    bits |= self.bit[c.id]
                if bits:
                    self.provides[i] = bits
        # Frames whose presence makes a stack need the full walk (claims or context).
        self.special = frozenset(self.candidates) | frozenset(self.provides) | frozenset(
            i for i, c in enumerate(self.base) if c is not None and c.owns_callees)


class Walk:
    """The attribution of a call path grown one frame at a time, from the root down (a stack,
    or a branch of the flame graph)."""

    __slots__ = ("facts", "context", "deepest", "fallback", "claim", "kernel")

    def __init__(self, facts: _FrameFacts) -> None:
        self.facts = facts
        self.context = 0
        self.deepest: tuple[int, Category] | None = None
        self.fallback: tuple[int, Category] | None = None  # a catch-all, used when nothing else is
        self.claim: tuple[int, Category, int] | None = None  # position, category, frame
        self.kernel = False  # the path has entered the kernel

    def copy(self) -> Walk:
        w = Walk(self.facts)
        w.context, w.deepest, w.fallback, w.claim, w.kernel = \
            self.context, self.deepest, self.fallback, self.claim, self.kernel
        return w

    def step(self, frame: int, position: int) -> Category | None:
        """Add the next (deeper) frame; returns the category it takes on this path."""
        facts = self.facts
        cat = facts.base[frame]
        for c in facts.candidates.get(frame, ()):
            if self.context & facts.bit[c.id]:
                cat = c
                break
        self.context |= facts.provides.get(frame, 0)
        if facts.kernel[frame] and not self.kernel:
            self.kernel = True
            if self.claim is not None and not facts.kernel[self.claim[2]]:
                self.claim = None  # a user-space claim does not reach into the kernel
        if cat is not None:
            if cat.fallback:
                self.fallback = (position, cat)
            else:
                self.deepest = (position, cat)
                if cat.owns_callees:
                    self.claim = (position, cat, frame)
        return cat

    def component(self, leaf: Frame) -> str:
        """owner(leaf).component, without making the Owner (the call graph asks per frame)."""
        if self.claim is not None:
            return self.claim[1].component
        best = self.deepest or self.fallback
        if best is not None:
            return best[1].component
        return KERNEL if leaf.kind == "kernel" else APPLICATION

    def owner(self, leaf: Frame | None) -> Owner:
        if self.claim is not None:
            return Owner(self.claim[0], self.claim[1], self.claim[1].component)
        best = self.deepest or self.fallback
        if best is not None:
            return Owner(best[0], best[1], best[1].component)
        return Owner(-1, None, KERNEL if leaf is not None and leaf.kind == "kernel" else APPLICATION)


_NO_FRAME = Owner(-1, None, APPLICATION)
_IN_KERNEL = Owner(-1, None, KERNEL)


class Attribution:
    """The owner of every stack of a profile, and each frame's category on each path."""

    def __init__(self, profile: Profile, kb: Knowledge) -> None:
        self.profile = profile
        self.kb = kb
        parent = _parent_attribution(profile, kb)
        self.facts = _FrameFacts(profile, kb, parent)
        # One Owner per (position, category): a million stacks share a few hundred of them.
        self._owners: dict[tuple[int, int], Owner] = {}
        if parent is not None and profile.origin is not None:
            self._select(parent, profile.origin)
            return
        special = self.facts.special
        frames = profile.frames
        owners: list[Owner] = []
        # A frame in a contextual category is a "virtual frame" (its id counts on from the real
        # ones): stack index -> its frames with those ids in place, so that per-frame tables
        # (selector bits) extended by the virtual frames answer for the stack as it is.
        self.virtual: list[tuple[int, Category]] = []
        self.effective: dict[int, tuple[int, ...]] = {}
        virtual_id: dict[tuple[int, str], int] = {}
        for si, s in enumerate(profile.stacks):
            fr = s.frames
            if not fr:
                owners.append(_NO_FRAME)
                continue
            if special.isdisjoint(fr):
                owners.append(self._plain(fr))
                continue
            owner, changed = self._special(fr)
            if changed:
                eff = list(fr)
                for pos, cat in changed.items():
                    key = (fr[pos], cat.id)
                    vid = virtual_id.get(key)
                    if vid is None:
                        vid = virtual_id[key] = len(frames) + len(self.virtual)
                        self.virtual.append(key[:1] + (cat,))  # type: ignore[arg-type]
                    eff[pos] = vid
                self.effective[si] = tuple(eff)
            owners.append(owner)
        self.owners = owners

    def _select(self, parent: Attribution, origin: Origin) -> None:
        """The attribution of a selection, from its parent's: a stack's owner and the categories
        its frames take depend on its frames alone, so each stack keeps its parent stack's, with
        frame ids (and virtual frame ids, numbered as __init__ numbers them: by first use, stack
        by stack, root first) translated to the selection's."""
        self.owners = [parent.owners[i] for i in origin.stacks]
        self.virtual = []
        self.effective = {}
        if not parent.effective:
            return
        n_parent, n = len(parent.profile.frames), len(self.profile.frames)
        new_of = {old: new for new, old in enumerate(origin.frames)}
        virtual_id: dict[int, int] = {}
        for si, old in enumerate(origin.stacks):
            eff = parent.effective.get(old)
            if eff is None:
                continue
            ids = []
            for k in eff:
                if k < n_parent:
                    ids.append(new_of[k])
                    continue
                vid = virtual_id.get(k)
                if vid is None:
                    real, cat = parent.virtual[k - n_parent]
                    vid = virtual_id[k] = n + len(self.virtual)
                    self.virtual.append((new_of[real], cat))
                ids.append(vid)
            self.effective[si] = tuple(ids)

    def _special(self, fr: tuple[int, ...]) -> tuple[Owner, dict[int, Category]]:
        """The owner of a stack holding claiming or contextual frames, and the categories its
        frames take where they differ from their usual one. The same result as a Walk down the
        stack, looking only at the frames that can change it (most stacks have a few)."""
        facts = self.facts
        base, kernel, special = facts.base, facts.kernel, facts.special
        kstart = len(fr)  # user frames come first, kernel frames last
        while kstart > 0 and kernel[fr[kstart - 1]]:
            kstart -= 1
        context = 0
        changed: dict[int, Category] = {}
        claim: tuple[int, Category] | None = None
        for pos in [i for i, f in enumerate(fr) if f in special]:
            f = fr[pos]
            cat = base[f]
            for c in facts.candidates.get(f, ()):
                if context & facts.bit[c.id]:
                    cat = changed[pos] = c
                    break
            context |= facts.provides.get(f, 0)
            # A user-space claim owns a sample only if the stack never enters the kernel.
            if cat is not None and cat.owns_callees and (pos >= kstart or kstart == len(fr)):
                claim = (pos, cat)
        if claim is not None:
            return self._owner(claim[0], claim[1]), changed
        owner = self._plain(fr)
        deepest = max((pos for pos, c in changed.items() if not c.fallback), default=-1)
        if deepest >= 0 and (owner.category is None or owner.category.fallback or deepest >= owner.position):
            cat = changed[deepest]
            owner = self._owner(deepest, cat)
        return owner, changed

    def _plain(self, fr: tuple[int, ...]) -> Owner:
        """The owner of a stack without claims or contextual frames: its deepest recognised
        frame, a catch-all only if nothing else is recognised."""
        base = self.facts.base
        fallback: Owner | None = None
        for pos in range(len(fr) - 1, -1, -1):
            cat = base[fr[pos]]
            if cat is None:
                continue
            if not cat.fallback:
                return self._owner(pos, cat)
            if fallback is None:
                fallback = self._owner(pos, cat)
        if fallback is not None:
            return fallback
        return _IN_KERNEL if self.profile.frames[fr[-1]].kind == "kernel" else _NO_FRAME

    def _owner(self, pos: int, cat: Category) -> Owner:
        key = (pos, id(cat))
        owner = self._owners.get(key)
        if owner is None:
            owner = self._owners[key] = Owner(pos, cat, cat.component)
        return owner

    def walk(self) -> Walk:
        return Walk(self.facts)

    def keys(self, stack: int) -> tuple[int, ...]:
        """The stack's frames, virtual frames in place of those in a contextual category."""
        return self.effective.get(stack) or self.profile.stacks[stack].frames

    def real(self, key: int) -> int:
        """The frame a key of keys() stands for (a virtual frame's real one)."""
        n = len(self.profile.frames)
        return key if key < n else self.virtual[key - n][0]


def _parent_attribution(profile: Profile, kb: Knowledge) -> Attribution | None:
    """The attribution already made of the profile a selection was taken from, if any."""
    origin = profile.origin
    cached = getattr(origin.parent, "_attribution", None) if origin is not None else None
    return cached if cached is not None and cached.kb is kb else None


def attribution(profile: Profile, kb: Knowledge) -> Attribution:
    """The attribution of a profile (computed once per profile and knowledge base)."""
    cached = getattr(profile, "_attribution", None)
    if cached is None or cached.kb is not kb:
        cached = Attribution(profile, kb)
        profile._attribution = cached  # type: ignore[attr-defined]
    return cached
