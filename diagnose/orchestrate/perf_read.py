"""Reading a perf input (perf script text, gzip'd or not, or a perf.data through perf script) into
a parse, with the warnings a user sees and whether the input was cut short. Used by the pipeline
and by collapse, which needs no profile model."""

from __future__ import annotations

from diagnose.core.errors import DiagnoseError
from diagnose.inputs import perf_early
from diagnose.inputs.perf_data import PerfScriptExit, parse_perf_data
from diagnose.inputs.perf_reader import parse_file, stream_jobs
from diagnose.inputs.perf_script import PartialParse, count
from diagnose.inputs.perf_slice_plan import SLICE_MIN_BYTES
from diagnose.inputs.perf_slices import parse_sliced, slices_for
from diagnose.inputs.source import InputSource


def parse_warnings(parse: PartialParse, source: InputSource, truncated_gzip: bool) -> list[str]:
    warnings = []
    for w in sorted(parse.warnings.values(), key=lambda w: (w.line or 0)):
        where = f"{source.path}:{w.line}" if w.line is not None else source.path
        more = f" ({w.count} lines like it)" if w.count > 1 else ""
        warnings.append(f"{where}: skipped {w.message}{more}")
    if truncated_gzip and parse.unterminated_line is not None:
        warnings.append(f"{source.path}:{parse.unterminated_line}: the compressed data ends early, inside a sample; "
                   f"analysed up to there, the last sample may miss its outer frames")
    elif truncated_gzip:
        warnings.append(f"{source.path}: the compressed data ends early; analysed what could be read")
    elif parse.unterminated_line is not None:
        warnings.append(f"{source.path}:{parse.unterminated_line}: the input ends inside a sample (was perf killed?); "
                   f"analysed up to there, the last sample may miss its outer frames")
    return warnings


def read_perf(source: InputSource, keep_unknown_addresses: bool = False, jobs: int | None = None,
              slice_min_bytes: int = SLICE_MIN_BYTES) -> tuple[PartialParse, list[str], bool]:
    """The parse, its warnings, and whether the input was cut short (a compressed file that
    ends early, text that ends inside a sample). A perf.data of slice_min_bytes or more may be
    read by several perf scripts over time slices, one parser each (see perf_slices.slices_for)."""
    perf_exit = PerfScriptExit()
    ranges = slices_for(source.path, jobs, slice_min_bytes) if source.format == "perf-data" else None
    if ranges is not None:
        parse, truncated = parse_sliced(source.path, ranges, keep_unknown_addresses, perf_exit), False
    elif source.format == "perf-data":
        if jobs is None:
            jobs = stream_jobs()
        # Read already, by the process the entry point forked (inputs/perf_early), or now.
        early = perf_early.take_parse(source.path, keep_unknown_addresses, jobs, perf_exit)
        if early is not None:
            parse, truncated = early
        else:
            parse, truncated = parse_perf_data(source.path, perf_exit, keep_unknown_addresses, jobs)
    else:
        parse, truncated = parse_file(source.path, keep_unknown_addresses, jobs)
    if perf_exit.failed:
        # perf script stopped part-way (a perf.data cut short: perf killed, disk full).
        if not parse.counts:
            raise DiagnoseError(f"{source.path}: perf script failed before any sample ({perf_exit.describe()}); "
                                f"check that it is a complete perf.data file")
        samples = sum(count(c)[0] for c in parse.counts.values())
        warnings = parse_warnings(parse, source, truncated)
        warnings.append(f"{source.path}: perf script stopped ({perf_exit.describe()}); "
                        f"analysed the {samples:,} samples before that (is the perf.data file cut short?)")
        return parse, warnings, True
    if not parse.counts:
        require_samples(parse, source)
    return parse, parse_warnings(parse, source, truncated), truncated or parse.unterminated_line is not None


def require_samples(parse: PartialParse, source: InputSource) -> None:
    """A parse without a single sample (no event seen) whose lines were all skipped: one line."""
    if not parse.events and parse.warnings:
        first = min(parse.warnings.values(), key=lambda w: w.line or 0)
        raise DiagnoseError(f"{source.path}:{first.line}: no samples could be read ({first.message}); "
                            f"expected `perf script` output")
