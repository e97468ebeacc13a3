"""Every format of one analysis shows the same numbers, rounded the same way (the report model,
diagnose/report/model.py): the terminal, Markdown, HTML and JSON reports of each capture below.

The numbers compared, read from each format's structure (a table's cells, a JSON field), never by a
search of the whole text:
- the function tables by self and by inclusive time (15 rows each): the main share ("12.34%"), its
  95% interval ("11.9–12.8"), its samples ("1,205") and the other share, as a multiset of rows;
- the kernel/user, module (10 rows) and thread (10 rows) tables: share, interval, samples, cores;
- the overview's CPU cores used and sample count.
JSON holds unrounded numbers: they are rounded as the reports round them, and each row of a
report must be a row of the JSON (which lists more functions)."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any

import pytest

from conftest import fixture
from diagnose.pipeline import analyze
from diagnose.report.html import render_html
from diagnose.report.json_report import render_json
from diagnose.report.labels import label
from diagnose.report.markdown import render_markdown
from diagnose.report.terminal import render_terminal

CAPTURES = ("iperf3-udp-recv.perf.txt.gz", "aiortc-call.perf.txt.gz", "two-process-udp-unix.perf.txt.gz")
TABLES = ("self", "incl", "kernel_user", "modules", "threads")
Row = tuple[str, ...]


@pytest.fixture(scope="module", params=CAPTURES)
def formats(request: pytest.FixtureRequest) -> dict[str, Any]:
    a = analyze(str(fixture(request.param)))
    return {"terminal": render_terminal(a, width=400), "markdown": render_markdown(a), "html": render_html(a),
            "json": json.loads(render_json(a))}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _ci(ci: list[float]) -> str:
    return f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def from_json(data: dict[str, Any]) -> dict[str, list[Row]]:
    prof = data["profile"]
    out: dict[str, list[Row]] = {
        "self": [(_pct(f["self_share"]), _ci(f["self_ci95"]), f"{f['self_samples']:,}", _pct(f["inclusive_share"]))
                 for f in prof["functions"]],
        "incl": [(_pct(f["inclusive_share"]), _ci(f["inclusive_ci95"]), f"{f['inclusive_samples']:,}",
                  _pct(f["self_share"])) for f in prof["functions"]],
        "kernel_user": [(_pct(v["share"]), _ci(v["ci95"]), f"{v['samples']:,}", f"{v['cores']:.2f}")
                        for v in prof["split"]["by_leaf"].values()],
    }
    for key in ("modules", "threads"):
        out[key] = [(_pct(r["share"]), _ci(r["ci95"]), f"{r['samples']:,}", f"{r['cores']:.2f}") for r in prof[key][:10]]
    return out


def _titles(lang: str = "en") -> dict[str, str]:
    return {"self": label("t_self_title", lang), "incl": label("t_incl_title", lang),
            "kernel_user": label("t_kernel_user_title", lang), "modules": label("t_by_module", lang),
            "threads": label("t_by_thread", lang)}


def from_terminal(text: str) -> dict[str, list[Row]]:
    """Each table: its title line, a header line, the rule under it, then one line per row. The
    numbers are the row's last four cells (numbers hold no space; names come first)."""
    lines = text.splitlines()
    out: dict[str, list[Row]] = {}
    for key, title in _titles().items():
        title_at = next(i for i, line in enumerate(lines) if line.strip() == title)
        # the rule under the header (rich may put a blank line between the title and the header)
        at = next(i for i in range(title_at + 1, title_at + 5) if lines[i].strip() and set(lines[i].strip()) == {"─"}) - 2
        header = lines[at + 1].split()
        if key in ("modules", "threads", "kernel_user"):
            assert header[-1] == label("col_cores", "en"), f"{key}: the last column is not cores: {header}"
        rows = []
        for line in lines[at + 3:]:
            cells = line.split()
            if len(cells) < 5 or not re.fullmatch(r"[\d.]+%", cells[-4]):
                break
            rows.append(tuple(cells[-4:]))
        out[key] = rows
    return out


def _md_cells(line: str) -> list[str]:
    return [c.strip().replace("\\", "") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def from_markdown(text: str) -> dict[str, list[Row]]:
    """Each table under its title (a heading or a bold line): the cells of its columns."""
    lines = text.splitlines()
    titles = {"self": "### " + label("by_self", "en"), "incl": "### " + label("by_inclusive", "en"),
              "kernel_user": f"**{label('t_kernel_user_title', 'en')}**", "modules": f"**{label('t_by_module', 'en')}**",
              "threads": f"**{label('t_by_thread', 'en')}**"}
    out: dict[str, list[Row]] = {}
    for key, title in titles.items():
        at = lines.index(title)
        assert lines[at + 1] == "" and lines[at + 2].startswith("|"), key
        header = _md_cells(lines[at + 2])
        rows = []
        for line in lines[at + 4:]:
            if not line.startswith("|"):
                break
            cells = _md_cells(line)
            rows.append(tuple(cells[3:7]) if key in ("self", "incl") else tuple(cells[1:5]))
        assert header[-1 if key != "threads" or len(header) == 5 else -2] == label("col_cores", "en") or \
            key in ("self", "incl"), header
        out[key] = rows
    return out


class _Tables(HTMLParser):
    """The HTML report's tables, each a list of rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _md_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            if not re.fullmatch(r"\|(-+:?\|)+", line.replace("---:", "---")):
                tables[-1].append([re.sub(r"`", "", c) for c in _md_cells(line)])
        previous = line
    return tables


def test_terminal_markdown_and_json_show_the_same_numbers(formats: dict[str, Any]) -> None:
    term, md, js = from_terminal(formats["terminal"]), from_markdown(formats["markdown"]), from_json(formats["json"])
    for key in TABLES:
        assert term[key], f"{key}: no row read from the terminal report"
        assert Counter(term[key]) == Counter(md[key]), f"{key}: the terminal and Markdown rows differ"
        if key in ("self", "incl"):
            assert len(term[key]) == min(15, formats["json"]["profile"]["function_count"])
            missing = Counter(term[key]) - Counter(js[key])
            assert not missing, f"{key}: rows shown that the JSON does not hold: {missing}"
        else:
            assert term[key] == js[key], f"{key}: the reports and the JSON differ"


def test_html_tables_are_the_markdown_tables(formats: dict[str, Any]) -> None:
    parser = _Tables()
    parser.feed(formats["html"])
    md = _md_tables(formats["markdown"])
    assert len(parser.tables) == len(md) >= 5
    for html_table, md_table in zip(parser.tables, md):
        assert html_table == md_table


def test_the_overview_states_cores_and_samples_alike(formats: dict[str, Any]) -> None:
    cap = formats["json"]["capture"]
    cores = f"{cap['cores_used']:.2f} = {cap['total_samples']:,} samples"
    for name in ("terminal", "markdown"):
        row = next(line for line in formats[name].splitlines() if line.lstrip("│| ").startswith(label("cores_used", "en")))
        assert cores in row, (name, row)
    if cap["processes"] and "cores" in cap["processes"][0]:
        p = cap["processes"][0]
        shown = f"{p['label']} ({p['cores']:.2f} cores)"
        for name in ("terminal", "markdown"):
            row = next(line for line in formats[name].splitlines() if line.lstrip("│| ").startswith(
                label("processes", "en")))
            assert shown in row.replace("\\_", "_"), (name, row)


def _syscall_rows_terminal(text: str) -> list[Row]:
    """The terminal's system-call table: (call, share, entry/exit, work) of each row."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(label("syscalls", "en") + ": "))
    rule = next(i for i in range(at + 1, len(lines)) if lines[i].strip() and set(lines[i].strip()) == {"─"})
    rows = []
    for line in lines[rule + 1:]:
        cells = line.split()
        numbers = [c for c in cells if re.fullmatch(r"[\d.]+%|–", c)]
        if len(numbers) < 3:
            break
        rows.append((cells[0], numbers[0], numbers[1], numbers[-1]))
    return rows


def _syscall_rows_markdown(text: str) -> list[Row]:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("## 3. "))
    first = next(i for i in range(at, len(lines)) if lines[i].startswith("|"))
    rows = []
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        c = _md_cells(line)
        rows.append((c[0].strip("`"), c[2], c[3], c[5]))
    return rows


def test_the_system_call_table_is_the_same_in_the_terminal_and_markdown(formats: dict[str, Any]) -> None:
    term, md = _syscall_rows_terminal(formats["terminal"]), _syscall_rows_markdown(formats["markdown"])
    assert term, "no system-call row read from the terminal report"
    assert term == md
