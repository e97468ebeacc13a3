"""Regular expressions written in rule packs and the knowledge base.

They run on RE2 (google-re2), which matches in time linear in the text: no pattern, however
written, can make the engine backtrack forever. RE2 has no look-around and no back-references;
a pattern that uses them is refused with a message that says so. Patterns match whole strings.
"""

from __future__ import annotations

from collections.abc import Iterable

import re2

MAX_PATTERN_CHARS = 2000
# Memory RE2 may use for one compiled pattern: a pattern that needs more is refused, not run.
MAX_PROGRAM_BYTES = 8 << 20


class PatternError(ValueError):
    """A pattern that cannot be used; the message says why and what to do."""


def _options() -> re2.Options:
    opts = re2.Options()
    opts.max_mem = MAX_PROGRAM_BYTES
    opts.log_errors = False
    return opts


def _explain(pattern: str, detail: str) -> str:
    if "(?=" in pattern or "(?!" in pattern or "(?<" in pattern:
        return "look-around ((?=, (?!, (?<=, (?<!) is not supported: patterns run on RE2 in linear time; " \
               "rewrite it without look-around"
    if any(f"\\{d}" in pattern for d in "123456789"):
        return "back-references (\\1 ...) are not supported: patterns run on RE2 in linear time; rewrite without"
    if "pattern too large" in detail or "DFA out of memory" in detail:
        return "the pattern is too large to compile within the memory limit; simplify it"
    return f"not a valid regular expression ({detail}); check its brackets and escapes"


def nested_repetition(pattern: str) -> bool:
    """True for a repeated group that itself repeats something, as in (a+)+ or (x*y)*: the
    shape that makes backtracking engines run forever. RE2 would run it in linear time, but a
    pack that holds one hangs any other tool that reads it, so it is refused."""
    stack: list[bool] = [False]  # per open group: does it contain a repetition?
    i, n = 0, len(pattern)
    just_closed: bool | None = None
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            just_closed = None
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            just_closed = None
            continue
        if c == "(":
            stack.append(False)
            just_closed = None
        elif c == ")":
            inner = stack.pop() if len(stack) > 1 else False
            just_closed = inner
        elif c in "*+?{":
            unbounded = c in "*+" or (c == "{" and "," in pattern[i:pattern.find("}", i) + 1 or n])
            if just_closed and unbounded:
                return True
            if unbounded:
                stack[-1] = True
            if just_closed:
                stack[-1] = True
            just_closed = None
        else:
            just_closed = None
        i += 1
    return False


def compile_pattern(pattern: str) -> re2._Regexp:
    """Compile one whole-string pattern, or raise PatternError."""
    if not isinstance(pattern, str):
        raise PatternError(f"a pattern must be a string, not {type(pattern).__name__}")
    if not pattern:
        raise PatternError("an empty pattern matches nothing useful; remove it or write one")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is {len(pattern)} characters long (limit {MAX_PATTERN_CHARS}); shorten it")
    if nested_repetition(pattern):
        raise PatternError("nested repetition such as (a+)+ makes backtracking regex engines run forever; "
                           "write it with a single repetition, e.g. (a|b)+ or a+")
    try:
        return re2.compile(pattern, options=_options())
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(_explain(pattern, detail)) from None


def check_pattern(pattern: str) -> str | None:
    """None if the pattern is usable, else the reason it is not."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


class PatternSet:
    """Many whole-string patterns matched at once (RE2::Set): which of them match a string."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = list(patterns)
        self._set: re2.Set | None = None
        if self.patterns:
            s = re2.Set.FullMatchSet(options=_options())
            for p in self.patterns:
                try:
                    s.Add(p)
                except re2.error:
                    raise PatternError(check_pattern(p) or f"cannot use pattern {p!r}") from None
            s.Compile()
            self._set = s

    def match(self, text: str) -> list[int]:
        """Indexes of the patterns that match all of `text`, in increasing order."""
        if self._set is None:
            return []
        found = self._set.Match(text)
        return sorted(found) if found else []

    def first(self, text: str) -> int | None:
        found = self.match(text)
        return found[0] if found else None


# How many matched texts an OwnedPatterns remembers: a few MB, far more than the distinct function
# names of a usual capture; a capture of a million unique names is matched anew past it.
OWNERS_REMEMBERED = 50_000


class OwnedPatterns:
    """Patterns that each belong to an owner (a category, a stack): which owners a text matches.
    One RE2 set for all of them, however many patterns each owner has."""

    def __init__(self, owned: Iterable[tuple[int, Iterable[str]]]) -> None:
        patterns: list[str] = []
        self._owner: list[int] = []
        for owner, pats in owned:
            for p in pats:
                patterns.append(p)
                self._owner.append(owner)
        self._set = PatternSet(patterns)
        # Texts already matched (the same function names come back in every process evaluated
        # alone), up to OWNERS_REMEMBERED of them.
        self._seen: dict[str, list[int]] = {}

    def owners(self, text: str) -> list[int]:
        """The owners with a pattern that matches all of `text`, in increasing order, once each."""
        found = self._seen.get(text)
        if found is None:
            found = sorted({self._owner[i] for i in self._set.match(text)})
            if len(self._seen) < OWNERS_REMEMBERED:
                self._seen[text] = found
        return list(found)


def matches(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).fullmatch(text) is not None
