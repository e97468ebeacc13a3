"""diagnose rules: list, validate and test rule packs. Texts of the packs are shown escaped
(escape.terminal): a pack cannot send control characters to the terminal."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

app = typer.Typer(help="List, validate and test rule packs.", no_args_is_help=True)


@app.command("list")
def list_rules(
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="Extra rule pack file or folder (repeatable).")] = None,
    knowledge: Annotated[bool, typer.Option("--knowledge", help="List knowledge ids (recommendations, categories) instead.")] = False,
) -> None:
    """List the rules that would run (built-in packs, $DIAGNOSE_RULES_PATH, --rules), or knowledge ids."""
    from rich.console import Console
    from rich.table import Table

    from rich.text import Text

    from diagnose.knowledge import builtin_knowledge
    from diagnose.report.escape import terminal as esc
    from diagnose.rules import load_packs

    def row(*cells: str) -> list[Text]:
        return [Text(esc(c)) for c in cells]

    kb = builtin_knowledge()
    console = Console(highlight=False)
    if knowledge:
        t = Table(title="Recommendations", title_justify="left")
        for col in ("id", "kind", "title"):
            t.add_column(col)
        for r in kb.recommendations.values():
            t.add_row(*row(r.id, r.kind, r.title["en"]))
        console.print(t)
        c = Table(title="Categories", title_justify="left")
        for col in ("id", "component", "title"):
            c.add_column(col)
        for cat in kb.categories:
            c.add_row(*row(cat.id, cat.component, cat.title["en"]))
        console.print(c)
        return
    ruleset = load_packs(rules, kb)
    t = Table(title=f"{len(ruleset.rules)} rules from {len(ruleset.packs)} packs", title_justify="left")
    for col in ("id", "pack", "severity", "status", "enabled", "tags", "title"):
        t.add_column(col, overflow="fold")
    for r in sorted(ruleset.rules, key=lambda r: (r.pack, r.id)):
        t.add_row(*row(r.id, r.pack, r.severity, r.status, "yes" if r.enabled else "no", ", ".join(r.tags),
                       r.title["en"]))
    console.print(t)
    for note in ruleset.notes:
        print(f"note: {esc(note)}", file=sys.stderr)


@app.command("validate")
def validate(paths: Annotated[list[str], typer.Argument(help="Rule pack files or folders.")]) -> None:
    """Check rule packs: YAML, fields, knowledge ids, patterns (errors name file, line and field)."""
    from diagnose.knowledge import builtin_knowledge
    from diagnose.report.escape import terminal as esc
    from diagnose.ruletest import load_with_builtin

    kb = builtin_knowledge()
    ruleset, packs = load_with_builtin(paths, kb)
    n_rules = sum(len(p.rules) for p in packs)
    n_tests = sum(len(p.tests) for p in packs)
    print(f"ok: {len(packs)} pack(s), {n_rules} rule(s), {n_tests} test case(s); "
          f"{len(ruleset.rules)} rules after merging with the built-in packs")
    for note in ruleset.notes:
        print(f"note: {esc(note)}")


@app.command("test")
def test(paths: Annotated[list[str], typer.Argument(help="Rule pack files or folders with tests: cases.")]) -> None:
    """Run the test cases of rule packs: each capture's findings that must and must not appear."""
    from diagnose.knowledge import builtin_knowledge
    from diagnose.report.escape import terminal as esc
    from diagnose.ruletest import run_tests

    results = run_tests(paths, builtin_knowledge())
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        print(f"{mark}  {esc(r.pack)}: {esc(r.name)}")
        for p in r.problems:
            print(f"      {esc(p)}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)
