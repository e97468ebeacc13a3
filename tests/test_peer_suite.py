"""`diagnose collapse` against the conformance suite in ../shared/peer-suites: real perf script
inputs and the folded outputs of stackcollapse-perf.pl (and of inferno, which ports it).

Every expected file is checked. Where our output differs, the test asserts the exact, known reason:
  - FlameGraph master drops a last sample that is not followed by a blank line (commit 57207af,
    which we follow, counts it; so does inferno);
  - 8 master --pid/--tid Java results are stale: they keep the leading "L" of Java class frames
    that the script strips today;
  - inferno's own extensions that stackcollapse-perf.pl does not have: Rust legacy symbol repair,
    nesting-aware C++ argument stripping, `_[k]` for versioned vmlinux and .ko modules, and
    keeping quote characters.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import PEER, require_peer_suite
from diagnose.collapse import CollapseOptions
from diagnose.pipeline import collapse_input

OPTIONS = ("pid", "tid", "kernel", "jit", "all", "addrs")
INPUTS = (
    "perf-cycles-instructions-01", "perf-dd-stacks-01", "perf-funcab-cmd-01", "perf-funcab-pid-01",
    "perf-iperf-stacks-pidtid-01", "perf-java-faults-01", "perf-java-stacks-01", "perf-java-stacks-02",
    "perf-js-stacks-01", "perf-mirageos-stacks-01", "perf-numa-stacks-01", "perf-rust-Yamakaky-dcpu",
    "perf-vertx-stacks-01",
)
# Inputs whose last sample is not followed by a blank line.
UNTERMINATED = {"perf-dd-stacks-01", "perf-iperf-stacks-pidtid-01", "perf-java-stacks-01",
                "perf-mirageos-stacks-01", "perf-numa-stacks-01", "perf-vertx-stacks-01"}
STALE_JAVA = {"perf-java-faults-01", "perf-java-stacks-01", "perf-java-stacks-02", "perf-vertx-stacks-01"}


def options(opt: str) -> CollapseOptions:
    if opt == "default":
        return CollapseOptions()
    if opt == "all":
        return CollapseOptions(kernel=True, jit=True)
    return CollapseOptions(**{opt: True})


def input_path(name: str) -> Path:
    base = PEER / "flamegraph" / "test" / f"{name}.txt"
    return base if base.exists() else base.with_name(base.name + ".gz")


def ours(path: Path, opt: str, tmp_path: Path | None = None) -> bytes:
    text, _warnings = collapse_input(str(path), options(opt), jobs=1)
    return text


def expected(path: Path) -> bytes:
    return path.read_bytes()


CASES_57207AF = [(i, o) for i in INPUTS for o in OPTIONS]


@pytest.mark.parametrize("name,opt", CASES_57207AF, ids=[f"{i}-{o}" for i, o in CASES_57207AF])
def test_matches_stackcollapse_perf_57207af(name: str, opt: str) -> None:
    require_peer_suite()
    exp = PEER / "inferno" / "flamegraph" / "test" / "results" / f"{name}-collapsed-{opt}.txt"
    assert ours(input_path(name), opt) == expected(exp)


@pytest.mark.parametrize("name", INPUTS + ("example-perf-stacks",))
def test_matches_stackcollapse_perf_57207af_default_options(name: str) -> None:
    require_peer_suite()
    path = PEER / "flamegraph" / "example-perf-stacks.txt.gz" if name == "example-perf-stacks" else input_path(name)
    exp = PEER / "generated" / "stackcollapse-perf-57207af-default" / f"{name}-collapsed-default.txt"
    assert ours(path, "default") == expected(exp)


def _drop_unterminated_last_sample(path: Path, tmp: Path) -> Path:
    import gzip

    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    cut = raw.rstrip(b"\n").rfind(b"\n\n")
    out = tmp / (path.name.removesuffix(".gz"))
    out.write_bytes(raw[: cut + 2])
    return out


def _restore_java_l(folded: bytes, expected_text: bytes) -> bytes:
    """Master's stale Java results keep "L" before class frames: put it back where they have it."""
    exp_frames = {f for line in expected_text.splitlines() for f in line.rsplit(b" ", 1)[0].split(b";")}
    out = []
    for line in folded.splitlines():
        stack, count = line.rsplit(b" ", 1)
        frames = [b"L" + f if (b"L" + f) in exp_frames and b"/" in f else f for f in stack.split(b";")]
        out.append(b";".join(frames) + b" " + count)
    return b"\n".join(sorted(out)) + b"\n"


CASES_MASTER = [(i, o) for i in INPUTS for o in OPTIONS + ("default",)]


@pytest.mark.parametrize("name,opt", CASES_MASTER, ids=[f"{i}-{o}" for i, o in CASES_MASTER])
def test_flamegraph_master_results_equal_or_differ_for_the_known_reasons(name: str, opt: str, tmp_path: Path) -> None:
    require_peer_suite()
    if opt == "default":
        exp_path = PEER / "generated" / "stackcollapse-perf-master-default" / f"{name}-collapsed-default.txt"
    else:
        exp_path = PEER / "flamegraph" / "test" / "results" / f"{name}-collapsed-{opt}.txt"
    exp = expected(exp_path)
    path = input_path(name)
    got = ours(path, opt)
    if got == exp:
        assert name not in UNTERMINATED, "master drops the unterminated last sample: we should differ here"
        return
    explained = False
    if name in UNTERMINATED:
        got = ours(_drop_unterminated_last_sample(path, tmp_path), opt)
        explained = True
    if got != exp and name in STALE_JAVA and opt in ("pid", "tid"):
        got = _restore_java_l(got, exp)
        explained = True
    assert explained, f"{name} --{opt} differs from FlameGraph master for no known reason"
    assert got == exp


@pytest.mark.parametrize("name", INPUTS + ("example-perf-stacks",))
def test_inferno_default_output_equal_or_only_inferno_extensions(name: str) -> None:
    require_peer_suite()
    path = PEER / "flamegraph" / "example-perf-stacks.txt.gz" if name == "example-perf-stacks" else input_path(name)
    exp = expected(PEER / "generated" / "inferno-0.12.8-default" / f"{name}-collapsed-default.txt")
    got = ours(path, "default")
    if name == "perf-js-stacks-01":
        # inferno keeps quote characters; stackcollapse-perf.pl deletes them.
        assert got == exp.replace(b'"', b"").replace(b"'", b"")
        assert got != exp
    elif name == "perf-rust-Yamakaky-dcpu":
        assert_differs_only_in_rust_names(got, exp)
    else:
        assert got == exp


INFERNO_EXACT = [("go-stacks", "default"), ("java-inline", "default"),
                 ("single-line-stacks", "default"), ("sourcepawn-jitdump", "jit")]


@pytest.mark.parametrize("name,opt", INFERNO_EXACT, ids=[n for n, _ in INFERNO_EXACT])
def test_inferno_collapse_perf_cases(name: str, opt: str) -> None:
    require_peer_suite()
    base = PEER / "inferno" / "tests" / "data" / "collapse-perf"
    suffix = "" if opt == "default" else f"-{opt}"
    assert ours(base / f"{name}.txt", opt) == expected(base / "results" / f"{name}-collapsed{suffix}.txt")


def test_inferno_no_events_is_a_clear_error_not_an_empty_output() -> None:
    """inferno folds an empty input into an empty output. Our contract for bad input is one
    clear line and exit code 2: an empty capture is a mistake worth saying."""
    require_peer_suite()
    from conftest import assert_one_line_error, run_cli

    base = PEER / "inferno" / "tests" / "data" / "collapse-perf"
    assert expected(base / "results" / "no-events-collapsed.txt") == b""
    assert_one_line_error(run_cli("collapse", str(base / "no-events.txt")), "no-events.txt", "empty")


def test_inferno_example_perf_stacks() -> None:
    require_peer_suite()
    exp = PEER / "inferno" / "tests" / "data" / "collapse-perf" / "results" / "example-perf-stacks-collapsed.txt"
    assert ours(PEER / "flamegraph" / "example-perf-stacks.txt.gz", "default") == expected(exp)


_RUST_MANGLED = re.compile(rb"\$(?:LT|GT|C|u[0-9a-f]{2}|RF|BP|SP|LP|RP)\$|::h[0-9a-f]{16}$")


def _frames(text: bytes) -> list[tuple[list[bytes], bytes]]:
    return [(line.rsplit(b" ", 1)[0].split(b";"), line.rsplit(b" ", 1)[1]) for line in sorted(text.splitlines())]


def assert_differs_only_in_rust_names(got: bytes, exp: bytes) -> None:
    """Same stacks, same counts; frames differ only where ours is a legacy-mangled Rust name."""
    g = sorted((len(f), c) for f, c in _frames(got))
    e = sorted((len(f), c) for f, c in _frames(exp))
    assert g == e
    ours_names = {f for fr, _ in _frames(got) for f in fr}
    theirs = {f for fr, _ in _frames(exp) for f in fr}
    for name in ours_names - theirs:
        assert _RUST_MANGLED.search(name), name


def test_inferno_rust_repair_is_the_only_difference() -> None:
    require_peer_suite()
    base = PEER / "inferno" / "tests" / "data" / "collapse-perf"
    assert_differs_only_in_rust_names(ours(base / "single-event.txt", "default"),
                                      expected(base / "results" / "single-event-collapsed.txt"))
    for opt in OPTIONS:
        exp = expected(base / "results" / f"perf-rust-Yamakaky-dcpu-collapsed-{opt}.txt")
        assert_differs_only_in_rust_names(ours(input_path("perf-rust-Yamakaky-dcpu"), opt), exp)


def test_inferno_cpp_argument_stripping_is_the_only_difference() -> None:
    """stackcollapse-perf.pl cuts a C++ name at its first "(", even inside template arguments."""
    require_peer_suite()
    base = PEER / "inferno" / "tests" / "data" / "collapse-perf"
    got = _frames(ours(base / "cpp-stacks-std-function.txt", "default"))
    exp = _frames(expected(base / "results" / "cpp-stacks-std-function-collapsed.txt"))
    assert [c for _, c in got] == [c for _, c in exp]
    differing = {a for (fa, _), (fb, _) in zip(got, exp) for a, b in zip(fa, fb) if a != b}
    assert differing == {b"std::function<int ", b"std::_Function_handler<int "}


def test_inferno_versioned_vmlinux_annotation_is_the_only_difference() -> None:
    """inferno also marks /usr/lib/debug/boot/vmlinux-<version> and *.ko frames _[k];
    stackcollapse-perf.pl only marks [...] modules and names ending in vmlinux."""
    require_peer_suite()
    base = PEER / "inferno" / "tests" / "data" / "collapse-perf"
    got = ours(base / "versioned-vmlinux.txt", "kernel")
    exp = expected(base / "results" / "versioned-vmlinux-collapsed-kernel.txt")
    assert got != exp
    assert got.replace(b"_[k]", b"") == exp.replace(b"_[k]", b"")
