"""Every error of a rule pack at once: `rules validate` reports them all (sorted by file, line and
field) rather than stopping at the first; loading a pack to run it stops at the first (the
same message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from diagnose.core.errors import DiagnoseError

T = TypeVar("T")


def sort_key(err: DiagnoseError) -> tuple[str, int, str, str]:
    path, line, field = getattr(err, "where", (err.message.split(":", 1)[0], 0, ""))
    return (str(path), int(line), str(field), err.message)


class Problems:
    """The errors found so far. `attempt` runs one independent check and keeps its error."""

    def __init__(self) -> None:
        self.errors: list[DiagnoseError] = []

    def attempt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return fn(*args, **kwargs)
        except DiagnoseError as exc:
            self.add(exc)
            return None

    def add(self, err: DiagnoseError) -> None:
        if all(e.message != err.message for e in self.errors):
            self.errors.append(err)

    def sorted(self) -> list[DiagnoseError]:
        return sorted(self.errors, key=sort_key)

    def raise_first(self) -> None:
        """Raise the first error by file, line and field, if there is one."""
        if self.errors:
            raise self.sorted()[0]
