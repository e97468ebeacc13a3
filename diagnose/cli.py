"""The `diagnose` command line: registers the subcommands of diagnose.commands and turns
DiagnoseError into one line on stderr and an exit code (the user never sees a traceback)."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any

import typer

from diagnose.commands import COMMANDS
from diagnose.commands._group_lang import GroupLang, pass_lang_down
from diagnose.core.errors import DiagnoseError
from diagnose.core.escape import terminal
from diagnose.core.interrupt import EXIT_INTERRUPTED, INTERRUPTED

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Diagnose CPU profiles (perf) of Linux processes, first of all real-time media (WebRTC) processes.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(ctx: typer.Context, lang: GroupLang = None) -> None:
    """Diagnose CPU profiles (perf) of Linux processes, first of all real-time media (WebRTC) processes."""
    pass_lang_down(ctx, lang)


def _interruptible(command: Callable[..., Any]) -> Callable[..., Any]:
    """A Ctrl-C in a command (one that does not handle it itself, as `run` does) ends it with one
    line and exit code 130; left to typer it would be "Aborted!" and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            print(INTERRUPTED, file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def _one_paragraph(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command's docstring as its --help text: its lines joined (a docstring is wrapped at the
    source's width, the help at the terminal's), paragraphs kept apart."""
    doc = command.__doc__
    if doc:
        command.__doc__ = "\n\n".join(" ".join(p.split()) for p in doc.strip().split("\n\n"))
    return command


def _register() -> None:
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"diagnose.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"diagnose.commands.{name}":
                continue  # not built yet
            raise
        if hasattr(module, "app"):
            for info in module.app.registered_commands:
                if info.callback is not None:
                    _one_paragraph(info.callback)
            app.add_typer(module.app, name=name)
        else:
            app.command(name)(_interruptible(_one_paragraph(module.command)))


_register()


def main() -> None:
    """Console entry point. Usage errors are reported by typer itself (exit code 2); under --lang zh
    the help and the usage errors are in Chinese (diagnose.cli_zh)."""
    # yaml: not loaded by `import diagnose.cli` (diagnose --help)
    from diagnose.core import messages

    messages.set_lang(messages.lang_of_argv(sys.argv[1:]))
    zh = messages.current_lang() == "zh"
    try:
        if zh:
            from diagnose import cli_zh  # the Chinese help (and its YAML catalogue) only under --lang zh

            cli_zh.run(app)
        else:
            app()
    except DiagnoseError as exc:
        # One line, whatever the input put in the message (a name, a path, a line of the file).
        print(f"{'diagnose：错误：' if zh else 'diagnose: error: '}{terminal(messages.say(exc.message))}",
              file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED and _typer_ended_a_ctrl_c(exc):
            print(INTERRUPTED, file=sys.stderr)
        raise
    except BrokenPipeError:
        sys.exit(0)


def _typer_ended_a_ctrl_c(exc: SystemExit) -> bool:
    """typer turns a Ctrl-C while it parses the command line into exit code 130 and says nothing
    (its Exit(130), raised from the KeyboardInterrupt); our own handlers said the line already."""
    ended = exc.__context__
    return ended is not None and not isinstance(ended, KeyboardInterrupt) and \
        isinstance(ended.__cause__, KeyboardInterrupt)
