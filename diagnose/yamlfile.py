"""YAML that remembers where each value came from, so that errors name file, line and field.

Every YAML the tool reads goes through a loader with a budget: anchors and aliases may not
expand into more than MAX_ALIAS_NODES values (a "billion laughs" of nine nested aliases, under
1 kB, would otherwise expand to hundreds of millions), nor nest deeper than MAX_DEPTH, and an
alias may not refer to the value it sits in. The budget is checked while the document is
composed, before anything walks it, so a hostile file is refused in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from diagnose.errors import DiagnoseError

Path_ = tuple[str | int, ...]

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
        return DiagnoseError(text)


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


class _BudgetLoader(yaml.SafeLoader):
    """SafeLoader that counts what anchors and aliases would expand to while composing, and
    refuses a document over the budget (see the module's docstring)."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.doc_path = path
        self.depth = 0
        self.aliases = 0
        self.alias_nodes = 0
        # id(node) -> (values in it with aliases expanded, nesting height), once composed.
        self.sizes: dict[int, tuple[int, int]] = {}

    def refuse(self, mark: yaml.Mark | None, what: str, fix: str) -> DiagnoseError:
        where = f"{self.doc_path}:{mark.line + 1}" if mark is not None else self.doc_path
        return DiagnoseError(f"{where}: {what}; {fix}")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:  # (an undefined alias is the composer's error)
                size = self.sizes.get(id(node))
                if size is None:
                    raise self.refuse(event.start_mark, f"the alias *{event.anchor} refers to a value that contains it",
                                      "replace the recursive &anchor/*alias with plain values")
                self.aliases += 1
                self.alias_nodes += size[0]
                if self.aliases > MAX_ALIASES or self.alias_nodes > MAX_ALIAS_NODES:
                    raise self.refuse(event.start_mark,
                                      f"anchors and aliases expand to more than {MAX_ALIAS_NODES:,} values or use "
                                      f"more than {MAX_ALIASES:,} aliases (an alias bomb?)",
                                      "write the values out, or use fewer &anchor/*alias references")
                if self.depth + size[1] > MAX_DEPTH:
                    raise self.refuse(event.start_mark, f"with its aliases expanded, the document nests deeper "
                                      f"than {MAX_DEPTH} levels", "flatten it, or use fewer nested aliases")
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.refuse(self.peek_event().start_mark, f"nests deeper than {MAX_DEPTH} levels",
                              "flatten the structure")
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.ScalarNode):
            self.sizes[id(node)] = (1, 1)
            return node
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        count = height = 0
        for child in children:
            c, h = self.sizes[id(child)]
            count += c
            height = max(height, h)
        self.sizes[id(node)] = (count + 1, height + 1)
        return node


def _reader_error(exc: yaml.reader.ReaderError, text: str, path: str) -> DiagnoseError:
    line = text.count("\n", 0, exc.position) + 1
    char = exc.character
    what = "a NUL byte" if char == 0 else f"the control character #x{char:04x}" if isinstance(char, int) \
        else "bytes that are not text"
    return DiagnoseError(f"{path}:{line}: {what}, which YAML does not allow (is it a binary file?); "
                         f"save the file as plain UTF-8 text")


def load_yaml_text(text: str, path: str) -> YamlDoc:
    try:
        loader = _BudgetLoader(text, path)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, path) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DiagnoseError(f"{where}: not valid YAML ({problem}); fix the syntax (indentation, quotes, colons)") from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        try:
            _lines(node, (), lines, path)
        except RecursionError:
            raise DiagnoseError(f"{path}: an alias refers to itself (or nests too deep); "
                                f"replace the recursive &anchor/*alias with plain values") from None
    return YamlDoc(path, data, lines)


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
