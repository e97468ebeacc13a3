"""diagnose rules: list, validate and test rule packs. Texts of the packs are shown escaped
(escape.terminal): a pack cannot send control characters to the terminal."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from diagnose.commands._group_lang import GroupLang, pass_lang_down

app = typer.Typer(help="List, validate and test rule packs.", no_args_is_help=True)
Lang = Annotated[str, typer.Option("--lang", help="Language of the titles and headings: en or zh.")]


@app.callback()
def _group(ctx: typer.Context, lang: GroupLang = None) -> None:
    pass_lang_down(ctx, lang)


def _words(lang: str):  # type: ignore[no-untyped-def]
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.commands.common import check_lang
    from diagnose.report.labels import label, texts

    check_lang(lang)

    def L(key: str) -> str:
        return label(key, lang) if key in texts() else key

    return L


@app.command("list")
def list_rules(
    rules: Annotated[Optional[list[str]], typer.Option("--rules", help="Extra rule pack file or folder (repeatable).")] = None,
    knowledge: Annotated[bool, typer.Option("--knowledge", help="List knowledge ids (recommendations, categories) instead.")] = False,
    lang: Lang = "en",
) -> None:
    """List the rules that would run (built-in packs, $DIAGNOSE_RULES_PATH, --rules), or knowledge ids."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.escape import terminal as esc
    from diagnose.core.messages import say
    from diagnose.core.texts import tr
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.expert.rules import load_packs
    from diagnose.report.labels import colon

    L = _words(lang)

    def row(*cells: str) -> list[Text]:
        return [Text(esc(c)) for c in cells]

    kb = builtin_knowledge()
    console = Console(highlight=False)
    if knowledge:
        kb = load_packs(rules, kb).knowledge or kb  # with the packs' own entries (PACK:ID)
        t = Table(title=L("r_recommendations"), title_justify="left")
        for col in ("r_id", "r_kind", "r_title_col"):
            t.add_column(L(col))
        for r in kb.recommendations.values():
            t.add_row(*row(r.id, r.kind, tr(r.title, lang)))
        console.print(t)
        c = Table(title=L("r_categories"), title_justify="left")
        for col in ("r_id", "r_component", "r_title_col"):
            c.add_column(L(col))
        for cat in kb.categories:
            c.add_row(*row(cat.id, cat.component, tr(cat.title, lang)))
        console.print(c)
        return
    ruleset = load_packs(rules, kb)
    console.print(rules_table(ruleset, lang, console.width))
    for note in ruleset.notes:
        print(f"{L('r_note')}{colon(lang)}{esc(say(note, lang))}", file=sys.stderr)


def rules_table(ruleset, lang: str, width: int):  # type: ignore[no-untyped-def]
    """The rules as a table `width` columns wide: ids whole on one line (the columns that can go,
    status, enabled and pack, go first at a narrow width), titles and tags wrapped at spaces."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from rich.text import Text

    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.escape import terminal as esc
    from diagnose.core.texts import tr
    from diagnose.report.fit import Col, Named, fitted_table
    from diagnose.report.labels import severity_label

    L = _words(lang)
    rows = sorted(ruleset.rules, key=lambda r: (r.pack, r.id))
    longest = max((len(esc(r.id)) for r in rows), default=8)
    cols = [Col(L("r_id"), "name", min_width=longest, max_lines=1, cells=[Named(esc(r.id)) for r in rows]),
            Col(L("r_pack"), keep=False, cells=[Text(esc(r.pack)) for r in rows]),
            Col(L("r_severity"), cells=[severity_label(r.severity, lang) for r in rows]),
            Col(L("r_status"), keep=False, cells=[L(f"r_status_{r.status}") for r in rows]),
            Col(L("r_enabled"), keep=False, cells=[L("r_yes") if r.enabled else L("r_no") for r in rows]),
            Col(L("r_tags"), "prose", keep=False, cells=[Text(esc(", ".join(r.tags))) for r in rows]),
            Col(L("r_title_col"), "prose", comfort=36, cells=[Text(esc(tr(r.title, lang))) for r in rows])]
    title = L("r_title").format(rules=len(ruleset.rules), packs=len(ruleset.packs))
    return fitted_table(title, cols, width)


@app.command("validate")
def validate(paths: Annotated[list[str], typer.Argument(help="Rule pack files or folders.")], lang: Lang = "en") -> None:
    """Check rule packs: YAML, fields, knowledge ids, patterns. Every error is listed (file:line:
    field, sorted), then the command exits with code 2."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.errors import DiagnoseError
    from diagnose.core.escape import terminal as esc
    from diagnose.core.messages import say
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.expert.problems import Problems
    from diagnose.orchestrate.ruletest import load_with_builtin
    from diagnose.report.labels import colon

    L = _words(lang)
    kb = builtin_knowledge()
    problems = Problems()
    try:
        ruleset, packs = load_with_builtin(paths, kb, problems)
    except DiagnoseError as exc:  # a cycle of fact:/fired: or too many rules: after the other errors
        problems.add(exc)
        ruleset, packs = None, []
    if problems.errors:
        errors = problems.sorted()
        if len(errors) == 1:
            raise errors[0]  # one error: one line, as every command says it
        for e in errors:
            print(esc(say(e.message, lang)), file=sys.stderr)
        raise DiagnoseError(f"{len(errors)} error(s) in {', '.join(paths)}; fix them and run `diagnose rules validate` "
                            f"again")
    assert ruleset is not None
    n_rules = sum(len(p.rules) for p in packs)
    n_tests = sum(len(p.tests) for p in packs)
    print(L("r_ok").format(packs=len(packs), rules=n_rules, tests=n_tests, merged=len(ruleset.rules)))
    for note in ruleset.notes:
        print(f"{L('r_note')}{colon(lang)}{esc(say(note, lang))}")


@app.command("new")
def new(name: Annotated[str, typer.Argument(help="The pack's name (letters, digits, - _ .); writes NAME.yaml.")],
        output: Annotated[Optional[str], typer.Option("-o", "--output", help="The file to write (default: NAME.yaml).")] = None,
        lang: Lang = "en") -> None:
    """Write a commented skeleton pack (one rule, one knowledge entry, one test case on a bundled
    capture) that validates and passes its test as written. Never overwrites a file."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.messages import say
    from diagnose.expert.pack_skeleton import write_skeleton

    path = write_skeleton(name, output)
    print(say(f"wrote {path}; check it with `diagnose rules validate {path}` and `diagnose rules test {path}`", lang))


@app.command("test")
def test(paths: Annotated[list[str], typer.Argument(help="Rule pack files or folders with tests: cases.")],
         lang: Lang = "en") -> None:
    """Run the test cases of rule packs: each capture's findings that must and must not appear."""
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.core.escape import terminal as esc
    from diagnose.expert.knowledge import builtin_knowledge
    from diagnose.orchestrate.ruletest import run_tests
    from diagnose.report.explain_view import miss_text

    L = _words(lang)
    results = run_tests(paths, builtin_knowledge())
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = L("r_pass") if r.passed else L("r_fail")
        print(f"{mark}  {esc(r.pack)}: {esc(r.name)}")
        for m in r.misses:
            print(f"      {esc(miss_text(m, lang))}")
    print(L("r_summary").format(passed=len(results) - len(failed), failed=len(failed)))
    if failed:
        raise typer.Exit(1)
