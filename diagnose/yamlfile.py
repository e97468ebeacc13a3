"""YAML that remembers where each value came from, so that errors name file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from diagnose.errors import DiagnoseError

Path_ = tuple[str | int, ...]


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
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in where).replace(".[", "[")
        line = self.line(where)
        loc = f"{self.path}:{line}" if line else self.path
        text = f"{loc}: {field + ': ' if field else ''}{what}"
        if fix:
            text += f"; {fix}"
        return DiagnoseError(text)


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


def load_yaml_text(text: str, path: str) -> YamlDoc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
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


def load_yaml(path: str | Path) -> YamlDoc:
    p = str(path)
    try:
        text = Path(p).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagnoseError(f"{p}: no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DiagnoseError(f"{p}: cannot read it ({exc}); check the file") from None
    return load_yaml_text(text, p)
