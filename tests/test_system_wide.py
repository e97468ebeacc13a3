"""A system-wide recording (perf record -a) of a Janus VideoRoom session, its publisher and two
subscriber processes on this 2-CPU machine (fixtures/janus-videoroom-system, with ground_truth.py's
counts per process in its sidecar): the idle CPUs' samples are left out of every share and of the
cores used, a finding that one process has far above the machine's share is rated by that
process, and each process is named by its program."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, run_cli

from diagnose.analysis import Analysis
from diagnose.model.idle import without_idle
from diagnose.pipeline import analyze, load_profile
from diagnose.select import selection

NAME = "janus-videoroom-system"
CAPTURE = FIXTURES / f"{NAME}.perf.txt.gz"


@lru_cache(maxsize=None)
def sidecar() -> dict:
    return yaml.safe_load((FIXTURES / f"{NAME}.yaml").read_text())


@lru_cache(maxsize=None)
def analysed() -> Analysis:
    return analyze(str(CAPTURE))


def noise(share: float, n: int) -> float:
    return 2 * math.sqrt(max(share * (1 - share), 1 / n) / n) + 0.005


def test_the_idle_task_is_left_out_of_the_shares_and_the_cores() -> None:
    a, truth = analysed(), sidecar()["ground_truth"]
    cap = a.profile.capture
    idle_truth = truth["idle_task"]
    halted = idle_truth["categories"]["kernel:other"]["samples"]  # the idle loop; the rest are interrupts
    assert cap.idle_samples == halted
    assert cap.total_samples + cap.idle_samples == sidecar()["samples"]
    busy = sum(truth[k]["samples"] for k in ("janus", "publisher", "subscribers_1", "subscribers_2"))
    assert busy <= cap.total_samples <= busy + 0.02 * sidecar()["samples"]  # + a few other tasks and interrupts
    cores = cap.total_samples / (sidecar()["frequency_hz"] * sidecar()["duration_s"])
    assert a.summary.cores_used == pytest.approx(cores, rel=0.01) and a.summary.cores_used < 1.0
    # Nothing of the idle loop is a hot function, nor the idle task the busiest thread.
    assert all("safe_halt" not in r.name for r in a.summary.top_self(15))
    assert max(a.summary.threads, key=lambda t: t.cores or 0).key["comm"] != "swapper"
    assert any("idle task" in w for w in cap.warnings)


def test_interrupts_the_idle_task_ran_stay_in() -> None:
    kept = [s for s in analysed().profile.stacks if analysed().profile.threads[s.thread].comm == "swapper"]
    interrupts = sidecar()["ground_truth"]["idle_task"]["categories"]["kernel:interrupt"]["samples"]
    assert sum(s.samples for s in kept) == interrupts


def test_collapse_keeps_every_sample_as_the_standard_collapsers_do(tmp_path: Path) -> None:
    out = tmp_path / "all.folded"
    proc = run_cli("collapse", str(CAPTURE), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    counts = [int(line.rsplit(" ", 1)[1]) for line in lines]
    period = math.gcd(*counts)  # the perf script text has periods: stacks weigh their periods, as stackcollapse-perf does
    swapper = sum(int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("swapper;"))
    assert sum(counts) == sidecar()["samples"] * period  # (a sample without a stack folds to its process alone)
    assert swapper == sidecar()["ground_truth"]["idle_task"]["samples"] * period


def test_asking_for_the_idle_task_keeps_it() -> None:
    idle = load_profile(str(CAPTURE), selection=selection(pids=[0]))
    assert idle.capture.total_samples == sidecar()["ground_truth"]["idle_task"]["samples"]
    assert idle.capture.idle_samples == 0


def test_a_finding_a_process_has_far_above_the_machines_share_is_rated_by_that_process() -> None:
    """VP8 encoding is a fifth of the machine's busy samples but two thirds of the publisher's:
    it is rated (HIGH) and ranked first by the publisher, and says both shares."""
    a, truth, pids = analysed(), sidecar()["ground_truth"], sidecar()["pids"]
    codec = next(f for f in a.findings if f.id == "codec-hot")
    assert codec.rank == 1 and codec.severity == "high"
    source = codec.values["score_from_process"]
    assert source["pid"] == pids["publisher"] and source["samples"] == truth["publisher"]["samples"]
    vp8 = truth["publisher"]["categories"]["codec-vp8"]
    alone = vp8["share"]
    merged = vp8["samples"] / a.profile.stack_samples
    assert abs(codec.values["codec"] - merged) <= noise(merged, a.profile.stack_samples)
    said = [float(x) / 100 for x in re.findall(r"takes ([0-9.]+)% of samples", codec.summary["en"])]
    assert len(said) == 2 and abs(said[1] - alone) <= noise(alone, truth["publisher"]["samples"])
    # Janus's SRTP, a third of Janus, is rated by Janus the same way, below the codec.
    srtp = next(f for f in a.findings if f.id == "srtp-crypto-hot")
    assert srtp.values["score_from_process"]["pid"] == pids["janus"] and srtp.rank > codec.rank


def test_each_process_is_named_by_its_program() -> None:
    """Janus's main thread never runs during the recording (its 17 loop threads do): it is still
    `janus`, from the executable its frames run in, not the name of one of its threads."""
    names = analysed().profile.program_names()
    assert names[sidecar()["pids"]["janus"]] == "janus"
    assert [names[p] for p in sidecar()["pids"]["subscribers"]] == ["gst-sub1", "gst-sub2"]


def test_without_idle_on_folded_stacks_of_a_hand_made_machine(tmp_path: Path) -> None:
    """Folded stacks carry no pid: the idle task is known by its name. Its halted samples go, its
    interrupt work stays, a program called swapperd is not the idle task."""
    from diagnose.inputs.folded import read_folded

    text = (b"swapper;secondary_startup_64;cpu_startup_entry;do_idle;default_idle_call;default_idle 90\n"
            b"swapper/1;cpu_startup_entry;do_idle;default_idle;asm_sysvec_apic_timer_interrupt;__irq_exit_rcu;"
            b"handle_softirqs;net_rx_action;napi_poll 6\n"
            b"swapperd;main;work 4\n"
            b"app;main;compute 50\n")
    profile = without_idle(read_folded([text], "x.folded"))
    assert profile.capture.idle_samples == 90 and profile.capture.total_samples == 60
    assert sorted(t.comm for t in profile.threads) == ["app", "swapper/1", "swapperd"]
    everything_idle = read_folded([b"swapper;do_idle;default_idle 10\n"], "idle.folded")
    assert without_idle(everything_idle) is everything_idle  # an idle machine is analysed as it is


def test_the_flame_graph_leaves_the_idle_task_out(tmp_path: Path) -> None:
    svg = tmp_path / "flame.svg"
    proc = run_cli("flamegraph", str(CAPTURE), "-o", str(svg))
    assert proc.returncode == 0, proc.stderr
    text = svg.read_text()
    assert f"{analysed().profile.stack_samples:,} " in text
    # The halt loop is there only under the interrupts the idle task ran: their samples, not 3,811.
    halted = [int(n.replace(",", "")) for n in re.findall(r"<title>pv_native_safe_halt [^<]* — ([\d,]+) samples", text)]
    assert halted == [sidecar()["ground_truth"]["idle_task"]["categories"]["kernel:interrupt"]["samples"]]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", __file__]))


def test_a_comm_that_picks_out_the_idle_task_keeps_it_and_one_that_matches_everything_does_not() -> None:
    swapper = load_profile(str(CAPTURE), selection=selection(comms=["swapper(/.*)?"]))
    assert swapper.capture.total_samples == sidecar()["ground_truth"]["idle_task"]["samples"]
    everything = load_profile(str(CAPTURE), selection=selection(comms=[".*"]))
    assert everything.capture.total_samples == analysed().profile.capture.total_samples
    # A selection's report does not carry the whole recording's idle count.
    janus = load_profile(str(CAPTURE), selection=selection(pids=[sidecar()["pids"]["janus"]]))
    assert janus.capture.idle_samples == 0
