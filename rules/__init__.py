"""Package marker so the built-in rule packs install with diagnose (diagnose.builtin_rules). No code."""
