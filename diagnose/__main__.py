"""Entry point for `python -m diagnose`."""

from diagnose.entry import main

main()
