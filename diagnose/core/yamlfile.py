"""YAML that remembers where each value came from, so that errors name file, line and field.

Every YAML the tool reads goes through a loader with a budget: anchors and aliases may not
expand into more than MAX_ALIAS_NODES values (a "billion laughs" of nine nested aliases, under
1 kB, would otherwise expand to hundreds of millions), nor nest deeper than MAX_DEPTH, and an
alias may not refer to the value it sits in. The budget is checked on the parse events, before
the document is composed, so a hostile file is refused in milliseconds.

Parsing and composing use libyaml when PyYAML has it (every wheel and Debian's package do):
the pure-Python parser took a second of every command's start-up reading the built-in packs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from diagnose.core.errors import DiagnoseError

Path_ = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Limits of a YAML file a user gives (rule packs): size, alias uses, values aliases bring in
# (counted as if each alias were written out), and nesting depth (with aliases expanded).
MAX_YAML_BYTES = 2 * 1024 * 1024
MAX_ALIASES = 10_000
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 100


@dataclass
class YamlDoc:
    """Parsed data plus the line of every value, by its path (("rules", 3, "id"), ...)."""

    path: str
    data: Any
    lines: dict[Path_, int]
    # Shipped with the package (the built-in knowledge base and packs), checked by the test suite
    # (tests/test_builtin_trusted.py): its patterns are not compiled one by one to be checked again.
    trusted: bool = False

    def line(self, where: Path_) -> int | None:
        while where:
            if where in self.lines:
                return self.lines[where]
            where = where[:-1]
        return self.lines.get((), None)

    def error(self, where: Path_, what: str, fix: str | None = None) -> DiagnoseError:
        field = ".".join(_shown_key(p) if isinstance(p, str) else f"[{p}]" for p in where).replace(".[", "[")
        line = self.line(where)
        loc = f"{self.path}:{line}" if line else self.path
        text = f"{loc}: {field + ': ' if field else ''}{what}"
        if fix:
            text += f"; {fix}"
        err = DiagnoseError(text)
        err.where = (self.path, line or 0, field)  # type: ignore[attr-defined]  # to sort many errors
        return err


def _shown_key(key: str, limit: int = 60) -> str:
    return key if len(key) <= limit else key[:limit] + "..."


def _lines(node: yaml.Node, where: Path_, lines: dict[Path_, int], doc_path: str) -> None:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
            if key in seen:
                raise DiagnoseError(f"{doc_path}:{key_node.start_mark.line + 1}: duplicate key {key!r}; "
                                    f"keep one of them")
            seen.add(key)
            _lines(value_node, (*where, key), lines, doc_path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*where, i), lines, doc_path)


def _refuse(path: str, mark: yaml.Mark | None, what: str, fix: str) -> DiagnoseError:
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    return DiagnoseError(f"{where}: {what}; {fix}")


def _check_budget(text: str, path: str) -> None:
    """Walk the document's parse events (libyaml, no tree built) and refuse it if its anchors
    and aliases would expand over the budget, or it nests too deep (see the module's docstring).
    Only a document that passes is composed, so composing cannot blow up."""
    parser = _Loader(text)
    # One frame per open collection: [values in it with aliases expanded, nesting height, anchor].
    stack: list[list[Any]] = []
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, height), once its value is complete
    aliases = alias_nodes = 0

    def add(count: int, height: int) -> None:
        if stack:
            stack[-1][0] += count
            stack[-1][1] = max(stack[-1][1], height)

    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.AliasEvent):
                size = sizes.get(event.anchor)
                if any(frame[2] == event.anchor for frame in stack):
                    raise _refuse(path, event.start_mark, f"the alias *{event.anchor} refers to a value that "
                                  f"contains it", "replace the recursive &anchor/*alias with plain values")
                if size is None:
                    continue  # an undefined alias: the composer names it
                aliases += 1
                alias_nodes += size[0]
                if aliases > MAX_ALIASES or alias_nodes > MAX_ALIAS_NODES:
                    raise _refuse(path, event.start_mark,
                                  f"anchors and aliases expand to more than {MAX_ALIAS_NODES:,} values or use "
                                  f"more than {MAX_ALIASES:,} aliases (an alias bomb?)",
                                  "write the values out, or use fewer &anchor/*alias references")
                if len(stack) + size[1] > MAX_DEPTH:
                    raise _refuse(path, event.start_mark, f"with its aliases expanded, the document nests deeper "
                                  f"than {MAX_DEPTH} levels", "flatten it, or use fewer nested aliases")
                add(*size)
            elif isinstance(event, yaml.ScalarEvent):
                if len(stack) + 1 > MAX_DEPTH:
                    raise _refuse(path, event.start_mark, f"nests deeper than {MAX_DEPTH} levels",
                                  "flatten the structure")
                if event.anchor is not None:
                    sizes[event.anchor] = (1, 1)
                add(1, 1)
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) + 1 > MAX_DEPTH:
                    raise _refuse(path, event.start_mark, f"nests deeper than {MAX_DEPTH} levels",
                                  "flatten the structure")
                stack.append([0, 0, event.anchor])
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                count, height, anchor = stack.pop()
                if anchor is not None:
                    sizes[anchor] = (count + 1, height + 1)
                add(count + 1, height + 1)
    finally:
        parser.dispose()


def _reader_error(exc: yaml.reader.ReaderError, text: str, path: str) -> DiagnoseError:
    line = text.count("\n", 0, exc.position) + 1
    char = exc.character
    what = "a NUL byte" if char == 0 else f"the control character #x{char:04x}" if isinstance(char, int) \
        else "bytes that are not text"
    return DiagnoseError(f"{path}:{line}: {what}, which YAML does not allow (is it a binary file?); "
                         f"save the file as plain UTF-8 text")


def load_yaml_text(text: str, path: str, trusted: bool = False) -> YamlDoc:
    """`trusted`: a file shipped with the package (YamlDoc.trusted), read without the budget walk."""
    loader = None
    try:
        if not trusted:
            _check_budget(text, path)
        loader = _Loader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's own limit, met before ours when it scans ahead
            raise DiagnoseError(f"{where}: nests deeper than {MAX_DEPTH} levels; flatten the structure") from None
        raise DiagnoseError(f"{where}: not valid YAML ({problem}); fix the syntax (indentation, quotes, colons)") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        try:
            _lines(node, (), lines, path)
        except RecursionError:
            raise DiagnoseError(f"{path}: an alias refers to itself (or nests too deep); "
                                f"replace the recursive &anchor/*alias with plain values") from None
    return YamlDoc(path, data, lines, trusted)


def load_yaml(path: str | Path, max_bytes: int = MAX_YAML_BYTES) -> YamlDoc:
    p = str(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise DiagnoseError(f"{p}: no such file; check the path") from None
    except OSError as exc:
        raise DiagnoseError(f"{p}: cannot read it ({exc}); check the file") from None
    if len(raw) > max_bytes:
        raise DiagnoseError(f"{p}: larger than {max_bytes // (1024 * 1024)} MB, the limit for a YAML file; "
                            f"split it into several files in a folder")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DiagnoseError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                            f"save the file as UTF-8") from None
    return load_yaml_text(text, p)
