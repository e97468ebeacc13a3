"""How a Ctrl-C ends diagnose, wherever it comes (loading, setting up, working): one line on
stderr and exit code 130, never a traceback. Used by diagnose.entry and diagnose.cli."""

INTERRUPTED = "diagnose: interrupted"
EXIT_INTERRUPTED = 130
