"""One module per subcommand; each exposes either `command` (a function typer turns into a
command, its docstring the help text) or `app` (a typer group). diagnose.cli registers them."""

# Registration order is the order `diagnose --help` lists them in.
COMMANDS = ("run", "analyze", "explain", "flamegraph", "graph", "diff", "collapse", "rules")
