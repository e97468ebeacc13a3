"""The messages a user can get, found in the source (ast over diagnose/), each as a representative
English text: the errors (`DiagnoseError(...)`, and the helpers that build one: `input_error`, a
YAML document's `error`, `_refuse`) and the warnings (`warn`, `say_line`, and what is appended to a
list of warnings or notes). A field of an f-string is filled with a sample value ("7"), except a
module's text constant (RERECORD, PERF_INSTALL_HINT...), which is filled with its own text, and a
local variable assigned a text (or one of two texts) in the same function, which gives a message
for each text it may hold."""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path

SAMPLE = "7"
# Where a YAML document's error points: a file, a line, a field (diagnose.yamlfile.YamlDoc.error).
YAML_WHERE = "pack.yaml:7: rules[7].id"
# Functions whose returned text becomes a part of an error or a warning (a reason, who holds a
# folder): their return statements are message sites too.
MESSAGE_PARTS = {("diagnose/patterns.py", "_explain"), ("diagnose/claim.py", "holder"),
                 ("diagnose/threadstat.py", "unread"), ("diagnose/syscall_counts.py", "unavailable_reason"),
                 ("diagnose/select.py", "selection_note"), ("diagnose/commands/run.py", "_why")}
# Lists that hold warnings or notes shown to the user.
_WARNING_LISTS = ("warnings", "notes", "not_measured", "merge_notes")


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    kind: str
    messages: tuple[str, ...]  # empty when the text is not written at the call (a variable)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _constants(files: list[tuple[str, ast.Module]]) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for _, tree in files:
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.isupper() and isinstance(node.value, (ast.Constant, ast.JoinedStr))
                    and (not isinstance(node.value, ast.Constant) or isinstance(node.value.value, str))):
                out[node.targets[0].id] = node.value
    return out


class _Texts:
    """The texts an expression may be, as far as the source says."""

    def __init__(self, constants: dict[str, ast.expr]) -> None:
        self.constants = constants
        self.locals: dict[str, list[ast.expr]] = {}

    def of(self, node: ast.expr | None, depth: int = 0) -> list[str]:
        if depth > 6 or node is None:
            return [SAMPLE]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            parts = [self._part(v, depth) for v in node.values]
            return ["".join(p) for p in itertools.islice(itertools.product(*parts), 16)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return [a + b for a in self.of(node.left, depth + 1) for b in self.of(node.right, depth + 1)][:16]
        if isinstance(node, ast.IfExp):
            return self.of(node.body, depth + 1) + self.of(node.orelse, depth + 1)
        if isinstance(node, ast.Name):
            if node.id in self.locals:
                return [t for v in self.locals[node.id] for t in self.of(v, depth + 1)][:16]
            if node.id in self.constants:
                return self.of(self.constants[node.id], depth + 1)
        return [SAMPLE]

    def _part(self, v: ast.expr, depth: int) -> list[str]:
        if isinstance(v, ast.Constant):
            return [str(v.value)]
        assert isinstance(v, ast.FormattedValue)
        texts = self.of(v.value, depth + 1) if isinstance(v.value, (ast.Name, ast.IfExp, ast.JoinedStr)) else [SAMPLE]
        return [repr(t) if v.conversion == ord("r") else t for t in texts]


def _text_args(node: ast.expr) -> bool:
    return isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp, ast.IfExp, ast.Name))


def _locals_of(func: ast.AST) -> dict[str, list[ast.expr]]:
    out: dict[str, list[ast.expr]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, (ast.Constant, ast.JoinedStr, ast.IfExp)):
                out.setdefault(node.targets[0].id, []).append(node.value)
    return out


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _site(call: ast.Call, texts: _Texts) -> tuple[str, list[str]] | None:
    """(kind, messages) of a call that makes an error or a warning, None for any other call."""
    name, args = _name(call.func), call.args
    arg = dict(enumerate(args)).get
    kw = {k.arg: k.value for k in call.keywords}

    def t(node: ast.expr | None) -> list[str]:
        return texts.of(node) if node is not None and _text_args(node) else []

    def joined(where: list[str], what: ast.expr | None, fix: ast.expr | None) -> list[str]:
        fixes = t(fix) or [""]
        return [f"{w}: {a}" + (f"; {f}" if f else "") for w in where for a in t(what) for f in fixes][:16]

    if name in ("DiagnoseError", "PatternError") and args:
        return "error", t(args[0])
    if name == "input_error" and len(args) >= 2:
        return "error", joined([SAMPLE], arg(1), arg(2) or kw.get("fix"))
    if name == "error" and len(args) >= 2 and isinstance(call.func, (ast.Attribute, ast.Name)):
        return "error", joined([YAML_WHERE], arg(1), arg(2) or kw.get("fix"))
    if name == "_refuse" and len(args) == 4:
        return "error", joined([f"{SAMPLE}:{SAMPLE}"], arg(2), arg(3))
    if name in ("warn", "say_line") and len(args) == 1:
        return "warning", t(args[0])
    if name == "warn" and len(args) == 3:  # a line perf script printed that the parser skipped
        return "warning", [f"{SAMPLE}:{SAMPLE}: skipped {m}" for m in t(args[1])]
    if name == "Warning_" and len(args) >= 2:
        return "warning", [f"{SAMPLE}:{SAMPLE}: skipped {m}" for m in t(args[1])]
    if name == "append" and len(args) == 1 and isinstance(call.func, ast.Attribute):
        target = _name(call.func.value)
        if target in _WARNING_LISTS and isinstance(args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
            return "warning", t(args[0])
    return None


def message_sites(root: Path) -> list[Site]:
    files = [(str(p.relative_to(root)), ast.parse(p.read_text(encoding="utf-8")))
             for p in sorted((root / "diagnose").rglob("*.py"))]
    constants = _constants(files)
    sites: list[Site] = []
    for path, tree in files:
        scopes: list[ast.AST] = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        owner: dict[int, ast.AST] = {}
        for scope in scopes:  # the innermost function holding each call
            for node in ast.walk(scope):
                if isinstance(node, ast.Call):
                    owner[id(node)] = scope
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            texts = _Texts(constants)
            if id(node) in owner:
                texts.locals = _locals_of(owner[id(node)])
            found = _site(node, texts)
            if found:
                sites.append(Site(path, node.lineno, found[0], tuple(dict.fromkeys(found[1]))))
        for scope in scopes:
            if (path, scope.name) in MESSAGE_PARTS:
                texts = _Texts(constants)
                texts.locals = _locals_of(scope)
                for node in ast.walk(scope):
                    if isinstance(node, ast.Return) and isinstance(node.value, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                        sites.append(Site(path, node.lineno, "part", tuple(dict.fromkeys(texts.of(node.value)))))
        for node in tree.body:  # a module's warning text (a constant the code appends to a list)
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith("_WARNING")):
                sites.append(Site(path, node.lineno, "warning", tuple(_Texts(constants).of(node.value))))
    return sites
