"""Shared leaves every stage uses: errors (DiagnoseError), messages and texts (the words in two
languages), YAML loading, redaction of secrets, RE2 patterns, escaping, atomic output files.
They import nothing else of diagnose, and never typer or rich."""
