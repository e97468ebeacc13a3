"""--lang on a command group (`diagnose --lang zh analyze X`, `diagnose rules --lang zh --help`):
it chooses the language of the help and of the errors (diagnose.core.messages reads it from the command
line), and becomes the default --lang of every command under the group that has one."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

GroupLang = Annotated[Optional[str], typer.Option(
    "--lang", help="Language of the help, the errors and the output of the command that follows: en or zh.")]


def _defaults(command: Any, lang: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in getattr(command, "commands", {}).items():
        below = _defaults(sub, lang)
        if any(p.name == "lang" for p in sub.params):
            below["lang"] = lang
        if below:
            out[name] = below
    return out


def pass_lang_down(ctx: typer.Context, lang: str | None) -> None:
    """The group's --lang, when given, as the default of its commands' own --lang (click looks a
    command's defaults up in its parent's default_map by the command's name)."""
    if lang is None:
        return
    # imported when the command runs: diagnose.cli loads every command module for --help
    from diagnose.commands.common import check_lang

    check_lang(lang)
    merged = dict(ctx.default_map or {})
    merged.update(_defaults(ctx.command, lang))
    ctx.default_map = merged
