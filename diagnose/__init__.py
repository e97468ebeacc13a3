"""diagnose: rule-based diagnosis of Linux CPU profiles of real-time media processes."""

__version__ = "0.1.0"


def _checkout_data() -> None:
    """Run from a source checkout (a clone or a git worktree put first on PYTHONPATH, perhaps
    ahead of an editable install of another checkout), the built-in rules and knowledge are that
    checkout's rules/ and knowledge/, as an installed copy maps them, not the other checkout's."""
    # stdlib only, inside the function: the package namespace stays clean. os.path, not pathlib:
    # this runs before the entry point forks perf script, and pathlib costs 9 ms.
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    if not os.path.isfile(os.path.join(root, "pyproject.toml")):
        return  # installed: the package data is where the install put it
    import importlib.util

    for name, folder in (("diagnose.builtin_rules", "rules"), ("diagnose.builtin_knowledge", "knowledge")):
        init = os.path.join(root, folder, "__init__.py")
        if name in sys.modules or not os.path.isfile(init):
            continue
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[os.path.dirname(init)])
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)



try:
    _checkout_data()
    from diagnose import _moved  # the old import paths of moved modules (diagnose.rules, ...)

    _moved.install()
except KeyboardInterrupt:  # Ctrl-C while the tool loads: as in diagnose.entry, one line and 130
    import sys

    print("diagnose: interrupted", file=sys.stderr)
    sys.exit(130)
