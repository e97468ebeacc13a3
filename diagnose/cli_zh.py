"""The command line in Chinese (--lang zh anywhere on it): `--help` of every command from the
catalogue knowledge/cli_help.yaml, and typer's own usage errors (no such option, missing argument,
invalid value) as one line through diagnose.core.messages. Imported by diagnose.cli only under zh, so
`diagnose --help` in English loads neither YAML nor this module."""

from __future__ import annotations

import importlib.resources
import sys
from typing import Any

import typer
import typer.main
from rich.text import Text
from typer import _click, rich_utils

from diagnose.core import messages
from diagnose.core.escape import terminal
from diagnose.core.yamlfile import load_yaml_text


def _catalogue() -> dict[str, Any]:
    res = importlib.resources.files("diagnose.builtin_knowledge") / "cli_help.yaml"
    doc = load_yaml_text(res.read_text(encoding="utf-8"), "knowledge/cli_help.yaml")
    data = doc.data if isinstance(doc.data, dict) else {}
    for key in ("labels", "options", "commands"):
        if not isinstance(data.get(key), dict):
            raise doc.error((key,), "needs a mapping")
    return data


def _label_panels(labels: dict[str, str]) -> None:
    # typer draws the help's panel titles and the [default: ...] / [required] marks from these
    # module constants of typer.rich_utils (gettext strings with no Chinese catalogue shipped);
    # they are read when the help is drawn, so setting them here, only under zh, puts the help's
    # own words in Chinese and leaves English untouched.
    rich_utils.ARGUMENTS_PANEL_TITLE = labels["arguments"]
    rich_utils.OPTIONS_PANEL_TITLE = labels["options"]
    rich_utils.COMMANDS_PANEL_TITLE = labels["commands"]
    rich_utils.DEFAULT_STRING = labels["default"]
    rich_utils.REQUIRED_LONG_STRING = labels["required"]
    # Rich wraps help text at spaces and ends a longer run with "…" in the options table; Chinese
    # has no spaces between words, so its help text may break anywhere instead (overflow "fold").
    make_text = getattr(rich_utils, "_make_rich_text", None)
    if make_text is not None:
        def folding(*args: Any, **kwargs: Any) -> Any:
            text = make_text(*args, **kwargs)
            if isinstance(text, Text):
                text.overflow = "fold"
            return text

        rich_utils._make_rich_text = folding


def _zh_context(usage: str) -> type[_click.Context]:
    # click writes "Usage: " before the usage line unless a formatter says otherwise.
    class Formatter(_click.HelpFormatter):
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, usage if prefix is None else prefix)

    class Context(typer.Context):
        formatter_class = Formatter

    return Context


def _walk(cmd: _click.Command, path: str, parent: _click.Context | None,
          out: list[tuple[str, _click.Command, _click.Context]]) -> None:
    # A context like the one the command runs in (help option names come from the parent).
    ctx = cmd.context_class(cmd, info_name=path.rsplit(" ", 1)[-1] or "diagnose", parent=parent,
                            **cmd.context_settings)
    out.append((path, cmd, ctx))
    for name, sub in getattr(cmd, "commands", {}).items():
        _walk(sub, f"{path} {name}".strip(), ctx, out)


def localize(root: _click.Command) -> None:
    """Put the Chinese help texts on the click command tree typer built from the app."""
    data = _catalogue()
    labels, shared, commands = data["labels"], data["options"], data["commands"]
    _label_panels(labels)
    context = _zh_context(labels["usage"])
    tree: list[tuple[str, _click.Command, _click.Context]] = []
    _walk(root, "", None, tree)
    for path, cmd, ctx in tree:
        entry = commands.get(path) or {}
        if entry.get("help"):
            cmd.help, cmd.short_help = entry["help"], None
        own = entry.get("options") or {}
        for param in cmd.params:
            text = own.get(param.name) or shared.get(param.name)
            if text and hasattr(param, "help"):
                param.help = text
        help_option = cmd.get_help_option(ctx)
        if help_option is not None:
            help_option.help = labels["help_option"]
        cmd.context_class = context


def _usage_error(exc: _click.ClickException) -> None:
    ctx = getattr(exc, "ctx", None)
    line = messages.say(exc.format_message(), "zh")
    if ctx is not None:
        line += f"；运行 `{ctx.command_path} --help --lang zh` 查看用法"

    print(f"diagnose：错误：{terminal(line)}", file=sys.stderr)


def run(app: typer.Typer) -> None:
    """Run the command line with Chinese help and usage errors. Exits like typer would: 2 for a
    usage error, the command's own code otherwise."""
    root = typer.main.get_command(app)
    localize(root)
    try:
        code = root.main(standalone_mode=False)
    except _click.exceptions.NoArgsIsHelpError as exc:
        sys.exit(exc.exit_code)  # the help is shown already
    except _click.ClickException as exc:
        _usage_error(exc)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("diagnose：已中止", file=sys.stderr)
        sys.exit(1)
    # In this mode click returns the code of an exit the command asked for (typer.Exit), and the
    # command's own return value (None: the commands return nothing) when it simply ends.
    sys.exit(code if isinstance(code, int) else 0)
