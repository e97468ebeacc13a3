"""Showing text the input controls (function, module, thread and process names, paths, rule pack
texts, a saved report's strings) safely: one helper per output format.

- terminal(): control characters (C0, DEL, C1: ESC, CR, BEL, CSI...) and the Unicode controls that
  reorder or break lines are shown escaped (`\\x1b`, `\\u202e`), so a name can neither move the
  cursor, recolour nor rewrite the terminal;
- markdown(): the same, and what Markdown or HTML would interpret (`| * _ [ ] \\ < > & \\``),
  so a name cannot break a table or inject HTML into a GFM renderer;
- code(): an inline code span (backslashes and HTML are literal there); in a table cell a `|`
  is escaped, which GFM requires even inside code;
- fence(): a fenced block that no backtick run of its content can close.

JSON needs no helper: json.dumps escapes control characters itself."""

from __future__ import annotations

import re

# C0 (but newline when kept), DEL, C1, and Unicode's line/paragraph separators and bidi controls.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MARKDOWN = {"\\": "\\\\", "|": "\\|", "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]",
             "<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MARKDOWN_RE = re.compile("[" + re.escape("".join(_MARKDOWN)) + "]")


def _hex(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal(text: object, multiline: bool = False) -> str:
    """`text` for a terminal: control characters escaped. A newline is kept only in `multiline`
    prose (summaries, advice); a name stays on one line."""
    s = _CONTROL.sub(_hex, str(text))
    return s if multiline else s.replace("\n", "\\x0a")


def markdown(text: object) -> str:
    """`text` as Markdown inline content or a table cell: shown as written, never interpreted."""
    return _MARKDOWN_RE.sub(lambda m: _MARKDOWN[m.group()], terminal(str(text).replace("\n", " ")))


def code(text: object, cell: bool = False) -> str:
    """`text` as an inline code span; `cell`: inside a table row."""
    s = terminal(text)
    if cell:
        s = s.replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", s)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def fence(lines: list[str], info: str = "") -> list[str]:
    """A fenced code block around `lines` (each escaped for the terminal), longer than any run
    of backticks inside."""
    body = [terminal(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall("`+", line)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [ticks + info, *body, ticks]
