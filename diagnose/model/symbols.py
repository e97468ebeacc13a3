"""Readable function names for analysis: argument lists removed without breaking C++ templates
and lambdas, legacy-mangled Rust names repaired, unknown symbols named by their module.

`diagnose collapse` keeps stackcollapse-perf.pl's cruder rules (diagnose.inputs.collapse) so that its
output is byte-identical to that tool's; analysis favours names people can read.
"""

from __future__ import annotations

import re

_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
_RUST_ESCAPES = {
    "$SP$": "@", "$BP$": "*", "$RF$": "&", "$LT$": "<", "$GT$": ">", "$LP$": "(", "$RP$": ")", "$C$": ",",
    "$u7e$": "~", "$u20$": " ", "$u27$": "'", "$u3d$": "=", "$u5b$": "[", "$u5d$": "]", "$u7b$": "{",
    "$u7d$": "}", "$u3b$": ";", "$u2b$": "+", "$u21$": "!", "$u22$": '"',
}
_RUST_ESCAPE = re.compile(r"\$(?:SP|BP|RF|LT|GT|LP|RP|C|u[0-9a-f]{2})\$")
_GO_METHOD = re.compile(r"\.\(.*\)\.")
# "cfree@GLIBC_2.2.5", "clock_gettime@@GLIBC_2.17": the symbol version is not part of the name.
_SYMBOL_VERSION = re.compile(r"@@?[A-Za-z_][A-Za-z0-9_.]*$")
# Operator names whose characters are not brackets: "operator<<", "operator()", ...
_OPERATOR_TOKENS = ("()", "<=>", "<<=", ">>=", "->*", "<<", ">>", "<=", ">=", "->", "<", ">")


def repair_rust(name: str) -> str:
    """`_$LT$alloc..vec..Vec$LT$T$GT$$GT$::push::h0123456789abcdef` -> `<alloc::vec::Vec<T>>::push`."""
    if "$" not in name and not _RUST_HASH.search(name):
        return name
    if not _RUST_HASH.search(name) and not _RUST_ESCAPE.search(name):
        return name
    out = _RUST_HASH.sub("", name)
    out = _RUST_ESCAPE.sub(lambda m: _RUST_ESCAPES.get(m.group(0), m.group(0)), out)
    out = out.replace("..", "::")
    # A leading "_" before an escaped "<" or "{" only kept the symbol a valid identifier.
    out = re.sub(r"(^|::)_(?=[<{])", r"\1", out)
    return out


def strip_arguments(name: str) -> str:
    """Drop the argument list: everything from the first "(" outside <...> and {...}, unless it
    is "(anonymous namespace)" or the name is a Go method such as `net/http.(*Client).Do`."""
    if "(" not in name or _GO_METHOD.search(name):
        return name
    depth = 0
    i = 0
    n = len(name)
    while i < n:
        if name.startswith("operator", i):
            j = i + len("operator")
            while j < n and name[j] == " ":
                j += 1
            for token in _OPERATOR_TOKENS:
                if name.startswith(token, j):
                    j += len(token)
                    break
            i = j
            continue
        c = name[i]
        if c in "<{":
            depth += 1
        elif c in ">}":
            # "operator>" and "->" are not closing brackets.
            if depth > 0 and not (c == ">" and i > 0 and name[i - 1] == "-"):
                depth -= 1
        elif c == "(" and depth == 0:
            if name.startswith("(anonymous namespace)", i):
                i += len("(anonymous namespace)")
                continue
            if i == 0:
                return name  # a name that is all parentheses, e.g. "(root)": keep it
            return name[:i].rstrip()
        i += 1
    return name


def display_name(func: str, module: str, is_java: bool) -> list[str]:
    """Names for one perf frame (several for a Java `A->B` inline chain, outermost first);
    [] for a frame perf printed as a process name."""
    if func.startswith("("):
        return []
    names = []
    for part in func.split("->"):
        if part == "[unknown]":
            base = module.rsplit("/", 1)[-1] if module and module != "[unknown]" else "unknown"
            part = f"[{base}]"
        else:
            part = strip_arguments(repair_rust(_SYMBOL_VERSION.sub("", part)))
            part = part.replace(";", ":")
            if is_java and part.startswith("L") and "/" in part:
                part = part[1:]
        names.append(part)
    return names
