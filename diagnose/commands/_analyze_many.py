"""`diagnose analyze A B C ...` (or a folder of captures): the many-captures report, its
warnings and errors on stderr, and the exit code (2 when a capture failed, else 3 when --fail-on
is reached on any capture)."""

from __future__ import annotations

import sys

from diagnose.commands.common import EXIT_FAIL_ON, warn
from diagnose.core.errors import EXIT_BAD_INPUT, DiagnoseError
from diagnose.core.escape import terminal
from diagnose.core.output import write_output
from diagnose.model.select import Selection

FORMATS = ("terminal", "json", "markdown")
ALIASES = {"md": "markdown", "text": "terminal"}
# Skipped folder entries named one by one on stderr; the JSON report lists them all.
SHOW_SKIPPED = 10


def analyze_many(inputs: list[str], fmt: str, output: str | None, rules: list[str] | None, lang: str,
                 fail_on: str | None, event: str | None, jobs: int | None, width: int | None,
                 selection: Selection | None = None) -> None:
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.expert.rules import load_packs
    from diagnose.orchestrate import fleet as fleet_mod

    fmt = ALIASES.get(fmt.lower(), fmt.lower())
    if fmt not in FORMATS:
        raise DiagnoseError(f"--format {fmt!r} does not apply to many captures; choose one of: {', '.join(FORMATS)} "
                            f"(a flame graph draws one capture: `diagnose flamegraph CAPTURE`)")
    if jobs is not None and jobs < 1:
        raise DiagnoseError(f"--jobs {jobs}: give at least 1 (captures analysed at once)")
    ruleset = load_packs(rules, builtin_knowledge())  # a bad pack: one line, before any capture is read
    for note in ruleset.notes:
        warn(note)
    fleet = fleet_mod.run(inputs, event=event, rules=rules, lang=lang, jobs=jobs, selection=selection)
    shown = [(p, why) for p, why in fleet.skipped if why != "hidden"]
    for path, why in shown[:SHOW_SKIPPED]:
        warn(f"{path}: skipped, not a capture ({why})")
    if len(fleet.skipped) > min(len(shown), SHOW_SKIPPED):
        more = len(fleet.skipped) - min(len(shown), SHOW_SKIPPED)
        warn(f"{more} more entries skipped (hidden, or not captures); the JSON report's `skipped` lists each with why")
    for c, label in zip(fleet.captures, fleet.labels):
        for w in c.warnings:
            warn(w if w.startswith(c.path) else f"{label}: {w}")
    write_output(_render(fleet, fmt, output is None, width), output)
    for c in fleet.failed:
        print(f"diagnose: error: {terminal(c.error)}", file=sys.stderr)
    if fleet.failed:
        print(f"diagnose: {len(fleet.failed)} of {len(fleet.captures)} captures could not be analysed",
              file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    _gate(fleet, fail_on)


def _render(fleet, fmt: str, to_terminal: bool, width: int | None) -> str:  # type: ignore[no-untyped-def]
    if fmt == "json":
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.report.fleet_json import render_fleet_json

        return render_fleet_json(fleet)
    if fmt == "markdown":
        # imported when the command runs: diagnose.cli loads every command module for --help
        from diagnose.report.fleet_markdown import render_fleet_markdown

        return render_fleet_markdown(fleet)
    # imported when the command runs: diagnose.cli loads every command module for --help
    import shutil

    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.report.fleet_terminal import render_fleet_terminal

    color = to_terminal and sys.stdout.isatty()
    w = width or (shutil.get_terminal_size((100, 40)).columns if to_terminal else 100)
    return render_fleet_terminal(fleet, width=w, color=color)


def _gate(fleet, fail_on: str | None) -> None:  # type: ignore[no-untyped-def]
    """--fail-on applies to every capture's findings (the merged profile's are not gated)."""
    if fail_on is None:
        return
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.expert.rules import SEVERITIES

    level = SEVERITIES.index(fail_on)
    hits = [(label, f) for c, label in zip(fleet.captures, fleet.labels) for f in c.findings
            if SEVERITIES.index(f["severity"]) >= level]
    if hits:
        names = terminal(", ".join(f"{label}: {f['id']} ({f['severity']})" for label, f in hits[:5]))
        print(f"diagnose: --fail-on {fail_on}: {len(hits)} finding(s) at or above {fail_on}: {names}", file=sys.stderr)
        sys.exit(EXIT_FAIL_ON)
