"""Entry point for `python -m diagnose`. A Ctrl-C while even the entry module loads ends as one
line and exit code 130 too (see diagnose.entry)."""

try:
    from diagnose.entry import main
except KeyboardInterrupt:
    import sys

    print("diagnose: interrupted", file=sys.stderr)
    sys.exit(130)

main()
