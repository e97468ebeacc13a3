"""The `diagnose` command line: registers the subcommands of diagnose.commands and turns
DiagnoseError into one line on stderr and an exit code (the user never sees a traceback)."""

from __future__ import annotations

import importlib
import sys

import typer

from diagnose.commands import COMMANDS
from diagnose.errors import DiagnoseError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Diagnose CPU profiles (perf) of Linux processes, first of all real-time media (WebRTC) processes.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Diagnose CPU profiles (perf) of Linux processes, first of all real-time media (WebRTC) processes."""


def _register() -> None:
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"diagnose.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"diagnose.commands.{name}":
                continue  # not built yet
            raise
        if hasattr(module, "app"):
            app.add_typer(module.app, name=name)
        else:
            app.command(name)(module.command)


_register()


def main() -> None:
    """Console entry point. Usage errors are reported by typer itself (exit code 2)."""
    from diagnose import messages

    messages.set_lang(messages.lang_of_argv(sys.argv[1:]))
    zh = messages.current_lang() == "zh"
    try:
        app()
    except DiagnoseError as exc:
        from diagnose.report.escape import terminal

        # One line, whatever the input put in the message (a name, a path, a line of the file).
        print(f"{'diagnose：错误：' if zh else 'diagnose: error: '}{terminal(messages.say(exc.message))}",
              file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("diagnose: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
