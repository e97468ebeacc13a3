"""Package marker so the knowledge base installs with diagnose (diagnose.builtin_knowledge). No code."""
