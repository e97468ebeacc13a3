"""Reading a perf.data while the rules load. perf script and the parse of its text run in a
forked child process; this process meanwhile imports the rule engine and loads the knowledge base
and the rule packs (a third of a second, which would otherwise follow the parse). On 2 CPUs
perf and the parse fill little more than one of them, so the loading costs no wall time.

The child hands its parse back through an unnamed file on disk (as the parser processes of
perf_reader do), exits, and only then is the parse read back: never two copies at once. Errors
keep their order: a bad input is reported before a bad rule pack, as when the two ran in turn."""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO, TypeVar

from diagnose.errors import DiagnoseError
from diagnose.inputs.perf_reader import _hand_over, _take_over
from diagnose.inputs.perf_script import PartialParse
from diagnose.inputs.source import InputSource

T = TypeVar("T")
Parsed = tuple[PartialParse, list[str], bool]


def worth_it(source: InputSource) -> bool:
    """Only a perf.data (perf script is the slow part) on a machine with a CPU to spare."""
    return source.format == "perf-data" and (os.cpu_count() or 1) >= 2


def _child(source: InputSource, jobs: int | None, results: mp.Queue,
           spill: BinaryIO) -> None:  # pragma: no cover - runs in a child process
    from diagnose.pipeline import read_perf

    try:
        parse, warnings, cut = read_perf(source, jobs=jobs)
        _hand_over(parse, spill)
        results.put(("ok", warnings, cut))
    except DiagnoseError as exc:
        results.put(("input-error", str(exc), False))
    except BaseException as exc:  # report, never leave the parent waiting
        results.put(("error", repr(exc), False))


def read_perf_beside(source: InputSource, jobs: int | None, load: Callable[[], T]) -> tuple[Parsed, T]:
    """read_perf(source) in a child process while load() runs here: (the parse, its warnings,
    whether the input was cut short; what load returned)."""
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()
    spill = tempfile.TemporaryFile()
    # Not a daemon: with more than 2 CPUs the child starts parser processes of its own.
    child = ctx.Process(target=_child, args=(source, jobs, results, spill))
    child.start()
    try:
        loaded: T | None = None
        load_error: BaseException | None = None
        try:
            loaded = load()
        except DiagnoseError as exc:
            load_error = exc  # raised after the input's own error, if it has one
        status, payload, cut = results.get()
        child.join()
        if status == "input-error":
            raise DiagnoseError(payload)
        if status != "ok":
            raise RuntimeError(f"parser process failed: {payload}")
        if load_error is not None:
            raise load_error
        parse = _take_over(spill)
        return (parse, payload, cut), loaded  # type: ignore[return-value]
    finally:
        if child.is_alive():
            child.terminate()
            child.join(timeout=5)
        spill.close()
