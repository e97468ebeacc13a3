"""A `diagnose run` capture folder: its layout, writing it, and its manifest (reading a folder
back is diagnose.capture.capture_read). The folder is claimed for one run (diagnose.capture.claim) and private:
mode 0700, every file 0600 (perf.data can hold copies of the targets' memory: with
--call-graph dwarf, pieces of their stacks).

Layout (file names fixed; report files only for formats the render registry has):

    perf.data            role perf-data        the perf record output
    perf.script.txt.gz   role perf-script      `perf script --header -F +pid`, gzip'd: what is analysed
    stacks.folded        role folded-stacks    folded stacks, comm-pid/tid root frame (collapse --tid)
    environment.json     role environment      sysctls, CPU, kernel, processes (diagnose.capture.environment)
    report.json          role report-json      the analysis (schema diagnose.report/v1)
    report.md            role report-markdown
    report.html          role report-html      the same report as one HTML file, flame graph embedded
    flamegraph.svg       role flamegraph-svg
    profile.pb.gz        role profile-pprof      the CPU profile as pprof (go tool pprof, speedscope, ...)
    offcpu.perf.data     role offcpu-perf-data       with --off-cpu: sched_switch recording (private)
    offcpu.folded        role offcpu-folded          with --off-cpu: blocked time per stack, microseconds
    offcpu.svg           role offcpu-flamegraph-svg  with --off-cpu: its flame graph
    manifest.json        written atomically as soon as perf.data and environment.json are there, then
                         rewritten (atomically) after the perf script text and folded stacks, and last
                         after the reports. From its first writing on the folder is a capture that
                         `diagnose analyze FOLDER` reads and that nothing removes: an interrupt or an
                         error later leaves it with a manifest whose "missing" says what was not
                         written and why. A failure before it removes the folder (perf.data of a
                         recording that did not end cleanly is not worth keeping).

manifest.json (schema diagnose.capture/v1):

    {"schema": "diagnose.capture/v1", "complete": true, "created": ISO time,
     "diagnose": {"version": "0.1.0", "command": ["diagnose", "run", "--pid", "123", ...]},
     "perf": {"version": "6.1.187", "record_command": [...], "messages": ["[ perf record: ... ]"]},
     "recording": {"start": ISO time, "duration_s": 30.0, "requested_duration_s": 30.0,
                   "frequency_hz": 99, "call_graph": "fp", "event": "cpu-clock", "pids": [123],
                   "name_pattern": null, "stopped_by": "duration", "exited": [{"pid": 7, "after_s": 2.0}]},
     "warnings": ["one line each"],
     "redaction": {"redacted": 3, "secrets_kept": false, "anonymized": false},
     "files": [{"path": "perf.data", "role": "perf-data", "bytes": 123, "sha256": "...", "private": true}, ...],
     "missing": [{"path": "report.md", "role": "report-markdown", "why": "not written: interrupted (Ctrl-C) ..."}]}

"private": true marks what must not be shared (perf.data: raw samples, and memory with dwarf
stacks); the other files are what can be shared, with secrets redacted (diagnose.core.redact).
"recording" also has "clock" (CLOCK_MONOTONIC, the clock of perf's sample time stamps, perf
record -k) with "enable_sent_s", "enabled_s" and "ended_s" on it, and each "exited" entry its
"seen_s": a recording can be checked against its own samples.

stopped_by is one of duration, interrupt (Ctrl-C), targets-exited, perf-spinning, perf-exited.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnose import __version__
from diagnose.capture.claim import claim
from diagnose.core.errors import DiagnoseError
from diagnose.core.output import atomic_write
from diagnose.inputs.source import CAPTURE_MANIFEST

if TYPE_CHECKING:
    from diagnose.capture.recorder import Recording, RecordSpec

SCHEMA = "diagnose.capture/v1"
PERF_DATA = "perf.data"
PERF_SCRIPT = "perf.script.txt.gz"
FOLDED = "stacks.folded"
ENVIRONMENT = "environment.json"
# render format -> (file name, role); written when diagnose.report.render.FORMATS has the format
# (diagnose.orchestrate.run_folder writes them: the renderers are above the capture stage).
REPORTS = {"json": ("report.json", "report-json"), "markdown": ("report.md", "report-markdown"),
           "html": ("report.html", "report-html"), "svg": ("flamegraph.svg", "flamegraph-svg"),
           "pprof": ("profile.pb.gz", "profile-pprof")}
# diagnose run --off-cpu (diagnose.orchestrate.offcpu_folder): its own recording, waits as folded stacks
# (microseconds), and their flame graph; never part of the CPU profile.
OFFCPU_DATA, OFFCPU_FOLDED, OFFCPU_SVG = "offcpu.perf.data", "offcpu.folded", "offcpu.svg"
OFFCPU_ROLES = {OFFCPU_DATA: "offcpu-perf-data", OFFCPU_FOLDED: "offcpu-folded", OFFCPU_SVG: "offcpu-flamegraph-svg"}
ROLES = {PERF_DATA: "perf-data", PERF_SCRIPT: "perf-script", FOLDED: "folded-stacks", ENVIRONMENT: "environment",
         **{name: role for name, role in REPORTS.values()}, **OFFCPU_ROLES}
REPORT_ROLES = tuple(role for _, role in REPORTS.values())
# Not to be shared: the raw recordings.
PRIVATE = (PERF_DATA, OFFCPU_DATA)
FILE_MODE = 0o600
PENDING = "not written yet: diagnose run had not got to it"
# What is analysed, best first.
STACK_ROLES = ("perf-script", "perf-data", "folded-stacks")
RERECORD = "record again with `diagnose run`"


def file_entry(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"path": name, "role": ROLES.get(name, "other"), "bytes": path.stat().st_size, "sha256": digest,
            "private": name in PRIVATE}


class CaptureWriter:
    """Writes the files of one capture folder (mode 0600); the manifest lists those present when
    written, and those of `expected` that are not as missing. `saved` once a manifest is there."""

    def __init__(self, folder: Path, expected: list[str] | None = None) -> None:
        self.folder = folder
        self.expected = list(expected or [])
        self.saved = False

    def path(self, name: str) -> Path:
        return self.folder / name

    def write(self, name: str, data: bytes) -> None:
        atomic_write(self.path(name), data, mode=FILE_MODE)

    def write_json(self, name: str, data: Any) -> None:
        self.write(name, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())

    def write_manifest(self, info: dict[str, Any], why: str = PENDING) -> dict[str, Any]:
        """List every file now in the folder (size, sha256), and the expected ones that are not
        with `why`, and write manifest.json atomically."""
        names = sorted((p.name for p in self.folder.iterdir() if p.is_file() and p.name != CAPTURE_MANIFEST
                        and not p.name.startswith(".")), key=_file_order)
        missing = [{"path": n, "role": ROLES.get(n, "other"), "why": why} for n in self.expected if n not in names]
        manifest = {"schema": SCHEMA, "complete": True, "created": datetime.now(UTC).isoformat(), **info,
                    "files": [file_entry(self.folder, n) for n in names], "missing": missing}
        self.write_json(CAPTURE_MANIFEST, manifest)
        self.saved = True
        return manifest

    def keep(self, info: dict[str, Any], why: str) -> bool:
        """After a failure once the capture is saved: say in the manifest what is missing and why.
        False if even that could not be written (the previous manifest, which lists them as not
        written yet, stays)."""
        try:
            self.write_manifest(info, why)
        except (OSError, DiagnoseError):
            return False
        return True


def _file_order(name: str) -> tuple[int, str]:
    order = list(ROLES)
    return (order.index(name) if name in order else len(order), name)


@contextmanager
def creating(folder: Path, expected: list[str] | None = None) -> Iterator[CaptureWriter]:
    """Claim the folder (created, or taken when empty; refused when another run has it). If
    anything fails inside (Ctrl-C included) before a manifest was written, remove what was
    created, so that no half-written capture is left behind; after, keep the folder."""
    owned = claim(folder)
    writer = CaptureWriter(folder, expected)
    try:
        yield writer
    except BaseException:
        if writer.saved:
            owned.release()
        else:
            owned.remove()
        raise
    owned.release()


# -- filling a folder after a recording -------------------------------------------------------

def recorded_facts(spec: RecordSpec, recording: Recording) -> dict[str, Any]:
    """The "recorded" part of environment.json."""
    # re2: loaded only when this runs
    from diagnose.capture.recorder import EVENT

    return {"start": recording.start, "duration_s": round(recording.duration_s, 6),
            "frequency_hz": spec.frequency_hz, "call_graph": spec.call_graph, "event": EVENT,
            "stopped_by": recording.stopped_by}


def timeline(recording: Recording) -> dict[str, Any]:
    """The moments of the recording on the clock of perf's sample time stamps."""
    # re2: loaded only when this runs
    from diagnose.capture.recorder import CLOCK

    return {"clock": CLOCK, "enable_sent_s": round(recording.enable_sent_s, 6),
            "enabled_s": round(recording.enabled_s, 6), "ended_s": round(recording.enabled_s + recording.duration_s, 6)}


def manifest_info(command: list[str], perf_version: str, spec: RecordSpec, recording: Recording,
                  name_pattern: str | None, warnings: list[str]) -> dict[str, Any]:
    """Everything in manifest.json but the file list."""
    return {
        "diagnose": {"version": __version__, "command": command},
        "perf": {"version": perf_version, "record_command": list(recording.command),
                 "messages": list(recording.perf_messages)},
        "recording": {**recorded_facts(spec, recording), "requested_duration_s": spec.duration_s,
                      "pids": list(spec.pids), "name_pattern": name_pattern,
                      "exited": [{"pid": e.pid, "after_s": round(e.after_s, 3),
                                  "seen_s": round(recording.enabled_s + e.after_s, 6)} for e in recording.exited],
                      **timeline(recording)},
        "warnings": warnings,
    }


def save_recording(writer: CaptureWriter, environment: dict[str, Any], info: dict[str, Any]) -> None:
    """After perf record wrote perf.data: the environment and a first manifest, which makes the
    folder a capture that is kept whatever happens next."""
    os.chmod(writer.path(PERF_DATA), FILE_MODE)
    writer.write_json(ENVIRONMENT, environment)
    writer.write_manifest(info)
