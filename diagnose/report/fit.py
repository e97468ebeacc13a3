"""Fitting names and tables to the terminal's width, so that an identifier is never cut in the
middle of a name: a function or module name is wrapped only after `::`, `.`, `/` or `;` (where a
reader sees a boundary), or else shortened in the middle with `…` (the JSON report keeps the full
name); a table drops or narrows the columns that can go before it would wrap an identifier.

Widths are terminal cells (rich.cells.cell_len): a Chinese character takes two."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# After these a name may be wrapped: C++ and Rust scopes, Go and Python packages, paths, folded stacks.
BOUNDARIES = ("::", ".", "/", ";")
ELLIPSIS = "…"


def break_points(name: str) -> list[int]:
    """Offsets k (0 < k < len) where `name[:k]` ends at a boundary: a line may end there."""
    out = []
    i = 0
    while i < len(name):
        for b in BOUNDARIES:
            if name.startswith(b, i):
                end = i + len(b)
                if 0 < end < len(name):
                    out.append(end)
                i = end - 1
                break
        i += 1
    return out


def middle_ellipsis(name: str, width: int) -> str:
    """`name` in at most `width` cells: its start and its end (the method, the file) around `…`."""
    if cell_len(name) <= width:
        return name
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    head_cells, tail_cells = keep // 2, keep - keep // 2
    head, used = "", 0
    for ch in name:
        if used + cell_len(ch) > head_cells:
            break
        head, used = head + ch, used + cell_len(ch)
    tail, used = "", 0
    for ch in reversed(name):
        if used + cell_len(ch) > tail_cells:
            break
        tail, used = ch + tail, used + cell_len(ch)
    return head + ELLIPSIS + tail


def wrap_name(name: str, width: int, max_lines: int = 3) -> list[str]:
    """`name` as lines of at most `width` cells, broken only at boundaries; one line shortened
    in the middle when that is not possible in `max_lines` lines."""
    if cell_len(name) <= width:
        return [name]
    # `[libvpx.so.7.1.0]`: a file standing for a function that has no symbol; a file name is not cut.
    points = [] if name.startswith("[") and name.endswith("]") else break_points(name)
    lines, start = [], 0
    while cell_len(name[start:]) > width:
        fit = [k for k in points if k > start and cell_len(name[start:k]) <= width]
        if not fit:
            return [middle_ellipsis(name, width)]
        lines.append(name[start:fit[-1]])
        start = fit[-1]
    lines.append(name[start:])
    return lines if len(lines) <= max_lines else [middle_ellipsis(name, width)]


# Chinese has no spaces between words: a line may break between any two characters of a run
# that holds a wide (CJK) one, except before closing and after opening punctuation (the usual
# line-breaking rule), and never inside a run of narrow characters (a number, an identifier).
NO_LINE_START = frozenset("，。、；：？！）」』》】〉”’…%,.;:?!)]}")
NO_LINE_END = frozenset("（「『《【〈“‘([{")


def _wide(ch: str) -> bool:
    return cell_len(ch) > 1


def _last_break(piece: str, room: int) -> int:
    """The longest start of `piece` (a run with wide characters) that fits `room` cells and ends
    where a line may end (between two characters one of which is wide, not before closing nor
    after opening punctuation), as its length; 0 when none does. Walks `room` cells at most, so a
    long run costs its length, not its length squared."""
    used = best = 0
    for k in range(1, len(piece)):
        used += cell_len(piece[k - 1])
        if used > room:
            break
        a, b = piece[k - 1], piece[k]
        if (_wide(a) or _wide(b)) and b not in NO_LINE_START and a not in NO_LINE_END:
            best = k
    return best


def _fill_wide(line: str, width: int) -> str:
    """A line holding Chinese text broken into lines of at most `width` cells: words go on while
    they fit, a run of Chinese is broken where the rules above allow, a long name at its
    boundaries (wrap_name). Without this, rich takes a run longer than the line for one word and
    cuts it with `…`: the words in between were lost."""
    lines: list[str] = []
    cur: str | None = None  # the line being filled (None: nothing on it yet, not even a space)
    for word in line.split(" "):
        piece = word
        wide = any(_wide(c) for c in word)
        while True:
            if not piece and cur is None:
                break  # a space a line would start with (two spaces in a row): dropped
            head = "" if cur is None else cur + " "
            if cell_len(head + piece) <= width:
                cur = head + piece
                break
            k = _last_break(piece, width - cell_len(head)) if wide else 0
            if k:
                lines.append(head + piece[:k])
                cur, piece = None, piece[k:]
                wide = any(_wide(c) for c in piece)  # (stops at the first wide character)
            elif cur is not None:
                lines.append(cur)  # the piece starts the next line
                cur = None
            elif not wide:
                parts = wrap_name(piece, width, max_lines=99)
                lines.extend(parts[:-1])
                cur = parts[-1]
                break
            else:  # no allowed break fits a whole line: cut at the width (never seen in our texts)
                k = 1
                while k < len(piece) and cell_len(piece[:k + 1]) <= width:
                    k += 1
                lines.append(piece[:k])
                piece = piece[k:]
    if cur or not lines:  # (a trailing space leaves no empty last line)
        lines.append(cur or "")
    return "\n".join(lines)


def prose(text: str, width: int) -> str:
    """Running text whose words rich may wrap at spaces: a word (a name, a path) longer than the
    line is wrapped at its boundaries here, since rich would cut it at any character; a line with
    Chinese in it is broken here whole (_fill_wide)."""
    if width <= 0 or cell_len(text) <= width:
        return text
    out_lines = []
    for line in text.split("\n"):
        if any(_wide(c) for c in line) and cell_len(line) > width:
            out_lines.append(_fill_wide(line, width))
            continue
        words = line.split(" ")
        for i, w in enumerate(words):
            if cell_len(w) > width and not any(cell_len(c) > 1 for c in w):
                parts = wrap_name(w, width, max_lines=99)
                if len(parts) > 1 or parts[0] != w:
                    words[i] = "\n".join(parts)
        out_lines.append(" ".join(words))
    return "\n".join(out_lines)


def hanging(text: str | Text, width: int) -> Text:
    """A Text for a cell `width` cells wide, its over-long words wrapped at their boundaries."""
    if isinstance(text, Text):
        plain = text.plain
        fixed = prose(plain, width)
        if fixed == plain:
            return text
        # The same characters with some spaces turned into line breaks (or dropped, two in a row),
        # and breaks added after boundaries or between Chinese characters: rebuild with the
        # styles kept on the original spans.
        out = Text(style=text.style)
        j = 0
        for ch in fixed:
            while ch != " " and j < len(plain) and plain[j] == " " and ch != plain[j]:
                j += 1  # a space the breaking dropped
            if j < len(plain) and ch == plain[j]:
                out.append_text(text[j:j + 1])
                j += 1
            else:
                out.append(ch)
                if ch == "\n" and j < len(plain) and plain[j] == " ":
                    j += 1
        return out
    return Text(prose(text, width))


@dataclass
class Col:
    """A column of a fitted table. kind: "fixed" (a number or short word, never wrapped), "name"
    (an identifier: wrapped at boundaries or shortened in the middle, never below min_width
    unless it is shortened), "prose" (words, wrapped at spaces by rich)."""

    header: str
    kind: str = "fixed"
    justify: str = "left"
    style: str | None = None
    min_width: int = 12
    max_lines: int = 3
    keep: bool = True  # a column dropped when the table would not fit otherwise: keep=False
    comfort: int = 0  # a prose column narrower than this makes the table drop columns that can go
    cells: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Named:
    """A name cell with a marker after it (` [k]` for a kernel function), kept whole on the
    name's last line."""

    name: str
    suffix: str = ""
    suffix_style: str | None = None

    def text(self, width: int, max_lines: int) -> Text:
        lines = wrap_name(self.name, width, max_lines) if width > 0 else [self.name]
        if self.suffix and cell_len(lines[-1] + self.suffix) > width:
            if len(lines) < max_lines and cell_len(self.suffix.strip()) <= width:
                lines.append("")
            else:
                lines[-1] = middle_ellipsis(lines[-1], max(1, width - cell_len(self.suffix)))
        out = Text("\n".join(lines))
        if self.suffix:
            out.append(self.suffix if lines[-1] else self.suffix.strip(), style=self.suffix_style)
        return out


def _plain(cell: Any) -> str:
    if isinstance(cell, Named):
        return cell.name + cell.suffix
    return cell.plain if isinstance(cell, Text) else str(cell)


def _longest_word(cell: Any) -> int:
    return max((cell_len(w) for line in _plain(cell).split("\n") for w in line.split(" ")), default=0)


def _natural(col: Col) -> int:
    widths = [cell_len(col.header)] + [max((cell_len(x) for x in _plain(c).split("\n")), default=0) for c in col.cells]
    return max(widths)


def _minimum(col: Col, squeeze: bool = False) -> int:
    head = max((cell_len(w) for w in col.header.split(" ")), default=0)
    if col.kind == "fixed":
        if squeeze:  # the header wraps at its spaces, the cells stay whole
            return max([head] + [max((cell_len(x) for x in _plain(c).split("\n")), default=0) for c in col.cells])
        return _natural(col)
    if col.kind == "prose":
        # A word longer than this is wrapped at its boundaries (prose()) rather than widen the column.
        return max([head, 8] + [min(24, _longest_word(c)) for c in col.cells])
    return max(head, min(col.min_width, _natural(col)))


def fitted_table(title: str | None, cols: list[Col], width: int, **table_args: Any) -> Table:
    """A SIMPLE_HEAD table no wider than `width`: columns with keep=False are dropped, last first,
    until the others fit at their minimum; the room left goes to name and prose columns."""
    cols = list(cols)
    overhead = lambda n: 2 + (n - 1) + 2 * (n - 1)  # noqa: E731  edges, separators, padding (pad_edge off)
    while True:
        need = sum(max(_minimum(c), min(c.comfort, _natural(c))) for c in cols) + overhead(len(cols))
        droppable = [i for i, c in enumerate(cols) if not c.keep]
        if need <= width or not droppable:
            break
        del cols[droppable[-1]]
    # Still too wide: the fixed columns' headers wrap at their spaces (their cells never do).
    squeeze = sum(_minimum(c) for c in cols) + overhead(len(cols)) > width
    fixed_width = {id(c): _minimum(c, squeeze) for c in cols if c.kind == "fixed"}
    room = width - overhead(len(cols)) - sum(fixed_width.values())
    flexible = [c for c in cols if c.kind != "fixed"]
    widths = {id(c): _minimum(c) for c in flexible}
    spare = room - sum(widths.values())
    # Give each flexible column what it wants, smallest want first, while room is left.
    for c in sorted(flexible, key=lambda c: _natural(c) - widths[id(c)]):
        want = _natural(c) - widths[id(c)]
        share = max(0, min(want, spare // max(1, len([x for x in flexible if _natural(x) > widths[id(x)]]))))
        widths[id(c)] += share
        spare -= share
    for c in flexible:  # what is left, to the columns that still want it, in order
        add = max(0, min(_natural(c) - widths[id(c)], spare))
        widths[id(c)] += add
        spare -= add
    t = Table(title=title, title_justify="left", box=table_args.pop("box", box.SIMPLE_HEAD), pad_edge=False,
              **table_args)
    rows = len(cols[0].cells) if cols else 0
    for c in cols:
        w = fixed_width[id(c)] if c.kind == "fixed" else widths[id(c)]
        wraps = c.kind == "prose" or (c.kind == "fixed" and squeeze)
        t.add_column(c.header if cell_len(c.header) <= w or wraps else middle_ellipsis(c.header, w),
                     justify=c.justify, style=c.style, width=w, no_wrap=not wraps,
                     overflow="fold" if wraps else "ellipsis")
    for r in range(rows):
        cells = []
        for c in cols:
            cell = c.cells[r]
            if c.kind == "name" and isinstance(cell, Named):
                cells.append(cell.text(widths[id(c)], c.max_lines))
            elif c.kind == "name":
                w = widths[id(c)]
                text = cell if isinstance(cell, Text) else Text(str(cell))
                lines = wrap_name(text.plain, w, c.max_lines)
                if lines != [text.plain]:
                    text = Text("\n".join(lines), style=text.style)
                cells.append(text)
            elif c.kind == "prose":
                cells.append(hanging(cell if isinstance(cell, Text) else Text(str(cell)), widths[id(c)]))
            else:
                cells.append(cell)
        t.add_row(*cells)
    return t


def titled_panel(body: Any, title: str, width: int, note: str | None = None) -> Any:
    """A rounded panel whose title is never cut: a title wider than the top border keeps its head
    (before " (" or "（") and its parenthesis becomes the first line inside, as does `note`."""
    lines = [note] if note else []
    if cell_len(title) + 6 > width:
        for sep in (" (", "（"):
            if sep in title:
                head, rest = title.split(sep, 1)
                title = head
                rest = rest[:-1] if rest.endswith((")", "）")) else rest
                lines.insert(0, rest[:1].upper() + rest[1:] + ("." if sep == " (" else "。"))
                break
        if cell_len(title) + 6 > width:
            title = middle_ellipsis(title, width - 6)
    if lines:
        body = Group(*(Text(prose(x, width - 4), style="dim") for x in lines), body)
    return Panel(body, title=title, title_align="left", box=box.ROUNDED)
