"""A `diagnose run` capture folder: its layout, writing it (removed again if anything fails),
its manifest, and reading a folder back for analysis.

Layout (file names fixed; report files only for formats the render registry has):

    perf.data            role perf-data        the perf record output
    perf.script.txt.gz   role perf-script      `perf script --header -F +pid`, gzip'd: what is analysed
    stacks.folded        role folded-stacks    folded stacks, comm-pid/tid root frame (collapse --tid)
    environment.json     role environment      sysctls, CPU, kernel, processes (diagnose.environment)
    report.json          role report-json      the analysis (schema diagnose.report/v1)
    report.md            role report-markdown
    flamegraph.svg       role flamegraph-svg
    manifest.json        written atomically once the capture is complete (perf.data, perf script text,
                         folded stacks, environment), since the analysis reads the folder through it;
                         rewritten atomically, last, once the reports are there. A folder without it
                         did not finish; a failed run removes its folder anyway.

manifest.json (schema diagnose.capture/v1):

    {"schema": "diagnose.capture/v1", "complete": true, "created": ISO time,
     "diagnose": {"version": "0.1.0", "command": ["diagnose", "run", "--pid", "123", ...]},
     "perf": {"version": "6.1.187", "record_command": [...], "messages": ["[ perf record: ... ]"]},
     "recording": {"start": ISO time, "duration_s": 30.0, "requested_duration_s": 30.0,
                   "frequency_hz": 99, "call_graph": "fp", "event": "cpu-clock", "pids": [123],
                   "name_pattern": null, "stopped_by": "duration", "exited": [{"pid": 7, "after_s": 2.0}]},
     "warnings": ["one line each"],
     "files": [{"path": "perf.data", "role": "perf-data", "bytes": 123, "sha256": "..."}, ...]}

stopped_by is one of duration, interrupt (Ctrl-C), targets-exited, perf-spinning, perf-exited.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnose.errors import DiagnoseError
from diagnose.inputs.source import CAPTURE_MANIFEST
from diagnose.profile import CaptureInfo, positive
from diagnose.report.output import atomic_write

if TYPE_CHECKING:
    from diagnose.analysis import Analysis
    from diagnose.recorder import Recording, RecordSpec

SCHEMA = "diagnose.capture/v1"
PERF_DATA = "perf.data"
PERF_SCRIPT = "perf.script.txt.gz"
FOLDED = "stacks.folded"
ENVIRONMENT = "environment.json"
# render format -> (file name, role); written when diagnose.report.render.FORMATS has the format.
REPORTS = {"json": ("report.json", "report-json"), "markdown": ("report.md", "report-markdown"),
           "svg": ("flamegraph.svg", "flamegraph-svg")}
ROLES = {PERF_DATA: "perf-data", PERF_SCRIPT: "perf-script", FOLDED: "folded-stacks", ENVIRONMENT: "environment",
         **{name: role for name, role in REPORTS.values()}}
# What is analysed, best first.
STACK_ROLES = ("perf-script", "perf-data", "folded-stacks")
RERECORD = "record again with `diagnose run`"


def file_entry(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"path": name, "role": ROLES.get(name, "other"), "bytes": path.stat().st_size, "sha256": digest}


class CaptureWriter:
    """Writes the files of one capture folder; the manifest lists those present when written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / name

    def write(self, name: str, data: bytes) -> None:
        atomic_write(self.path(name), data)

    def write_json(self, name: str, data: Any) -> None:
        self.write(name, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())

    def write_manifest(self, info: dict[str, Any]) -> dict[str, Any]:
        """List every file now in the folder (size, sha256) and write manifest.json atomically."""
        names = sorted((p.name for p in self.folder.iterdir() if p.is_file() and p.name != CAPTURE_MANIFEST
                        and not p.name.startswith(".")), key=_file_order)
        manifest = {"schema": SCHEMA, "complete": True, "created": datetime.now(UTC).isoformat(), **info,
                    "files": [file_entry(self.folder, n) for n in names]}
        self.write_json(CAPTURE_MANIFEST, manifest)
        return manifest


def _file_order(name: str) -> tuple[int, str]:
    order = list(ROLES)
    return (order.index(name) if name in order else len(order), name)


@contextmanager
def creating(folder: Path) -> Iterator[CaptureWriter]:
    """Create the folder; if anything fails inside (Ctrl-C included), remove what was created,
    so that no half-written capture is left behind."""
    created: list[Path] = []
    probe = folder.absolute()
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DiagnoseError(f"--out {folder}: cannot create it ({exc.strerror}); choose another --out") from None
    try:
        yield CaptureWriter(folder)
    except BaseException:
        if created:
            shutil.rmtree(created[0], ignore_errors=True)
            for parent in created[1:]:
                try:
                    parent.rmdir()
                except OSError:
                    break
        else:  # the folder was there (empty) before: empty it again
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


# -- filling a folder after a recording -------------------------------------------------------

def recorded_facts(spec: RecordSpec, recording: Recording) -> dict[str, Any]:
    """The "recorded" part of environment.json."""
    from diagnose.recorder import EVENT

    return {"start": recording.start, "duration_s": round(recording.duration_s, 6),
            "frequency_hz": spec.frequency_hz, "call_graph": spec.call_graph, "event": EVENT,
            "stopped_by": recording.stopped_by}


def manifest_info(command: list[str], perf_version: str, spec: RecordSpec, recording: Recording,
                  name_pattern: str | None, warnings: list[str]) -> dict[str, Any]:
    """Everything in manifest.json but the file list."""
    from diagnose import __version__

    return {
        "diagnose": {"version": __version__, "command": command},
        "perf": {"version": perf_version, "record_command": list(recording.command),
                 "messages": list(recording.perf_messages)},
        "recording": {**recorded_facts(spec, recording), "requested_duration_s": spec.duration_s,
                      "pids": list(spec.pids), "name_pattern": name_pattern,
                      "exited": [{"pid": e.pid, "after_s": round(e.after_s, 3)} for e in recording.exited]},
        "warnings": warnings,
    }


def save_recording(writer: CaptureWriter, perf: str, environment: dict[str, Any], info: dict[str, Any]) -> None:
    """After perf record wrote perf.data: its perf script text, folded stacks, the environment,
    and a first manifest, which makes the folder an analysable capture."""
    from diagnose.collapse import CollapseOptions
    from diagnose.pipeline import collapse_input
    from diagnose.recorder import export_script

    export_script(perf, writer.path(PERF_DATA), writer.path(PERF_SCRIPT))
    folded, _ = collapse_input(str(writer.path(PERF_SCRIPT)), CollapseOptions(tid=True))
    writer.write(FOLDED, folded)
    writer.write_json(ENVIRONMENT, environment)
    writer.write_manifest(info)


def save_reports(writer: CaptureWriter, analysis: Analysis, info: dict[str, Any]) -> list[str]:
    """The reports of every file format the render registry has, then the final manifest."""
    from diagnose.report.render import FORMATS, render

    written = []
    if "svg" in FORMATS:
        analysis.extra["flamegraph"] = REPORTS["svg"][0]  # the Markdown report links it
    for fmt, (name, _role) in REPORTS.items():
        if fmt in FORMATS:
            data = render(analysis, fmt, to_terminal=False)
            writer.write(name, data if isinstance(data, bytes) else data.encode())
            written.append(name)
    writer.write_manifest(info)
    return written


# -- reading --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaptureFolder:
    """A complete capture folder, its manifest checked against the files."""

    path: Path
    manifest: dict[str, Any]

    def file(self, role: str) -> Path | None:
        for entry in self.manifest["files"]:
            if entry.get("role") == role:
                return self.path / str(entry["path"])
        return None

    @property
    def recording(self) -> dict[str, Any]:
        rec = self.manifest.get("recording")
        return rec if isinstance(rec, dict) else {}

    def environment(self) -> dict[str, Any]:
        path = self.file("environment")
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_unknown)
        except (OSError, ValueError) as exc:
            raise DiagnoseError(f"{path}: not readable JSON ({exc}); the capture folder is damaged, "
                                f"{RERECORD}") from None
        return data if isinstance(data, dict) else {}


def _unknown(constant: str) -> None:
    """NaN and Infinity are not JSON (a hand-edited file can hold them): read them as unknown."""
    return None


def looks_like_capture(folder: Path) -> bool:
    """A folder `diagnose run` began (its name, or its files) rather than any folder."""
    return folder.absolute().name.startswith("diagnose-") or any((folder / n).exists() for n in ROLES)


def open_folder(path: str) -> CaptureFolder:
    folder = Path(path)
    manifest_path = folder / CAPTURE_MANIFEST
    if not manifest_path.is_file():
        if looks_like_capture(folder):
            raise DiagnoseError(f"{path}: incomplete capture folder: no {CAPTURE_MANIFEST}; the capture did not "
                                f"finish — {RERECORD}")
        raise DiagnoseError(f"{path}: is a directory without a capture manifest; pass a perf script text, "
                            f"folded stacks, perf.data or a complete `diagnose run` folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"), parse_constant=_unknown)
    except (OSError, ValueError) as exc:
        raise DiagnoseError(f"{manifest_path}: not a readable capture manifest ({exc}); {RERECORD}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DiagnoseError(f"{manifest_path}: not a capture manifest (no list of files); {RERECORD}")
    if manifest.get("schema") != SCHEMA:
        raise DiagnoseError(f"{manifest_path}: unknown schema {manifest.get('schema')!r} (this diagnose reads "
                            f"{SCHEMA}); use the diagnose version that made it, or {RERECORD}")
    if manifest.get("complete") is not True:
        raise DiagnoseError(f"{path}: incomplete capture folder: {CAPTURE_MANIFEST} says the capture did not "
                            f"finish; {RERECORD}")
    for entry in manifest["files"]:
        check_entry(folder, entry)
    return CaptureFolder(folder, manifest)


def check_entry(folder: Path, entry: Any) -> None:
    """A listed file must be inside the folder, present, and of the listed size (hashing every
    file on each analysis would cost more than reading it; the sha256 is there to verify copies)."""
    name = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise DiagnoseError(f"{folder / CAPTURE_MANIFEST}: a listed file has no usable name ({entry!r}); {RERECORD}")
    path = folder / name
    if not path.is_file():
        raise DiagnoseError(f"{path}: missing, though {CAPTURE_MANIFEST} lists it; the capture folder is "
                            f"incomplete — copy the whole folder, or {RERECORD}")
    size = path.stat().st_size
    if isinstance(entry.get("bytes"), int) and size != entry["bytes"]:
        raise DiagnoseError(f"{path}: {size} bytes, but {CAPTURE_MANIFEST} says {entry['bytes']} (changed or cut "
                            f"short); copy the whole folder again, or {RERECORD}")


def stacks_file(path: str) -> str:
    """The file of a capture folder that holds the stacks to analyse."""
    capture = open_folder(path)
    for role in STACK_ROLES:
        found = capture.file(role)
        if found is not None:
            return str(found)
    raise DiagnoseError(f"{path}: the capture folder lists no stacks ({', '.join(STACK_ROLES)}); {RERECORD}")


def attach(capture: CaptureInfo, path: str) -> None:
    """What the folder knows better than the stacks: the environment, the exact recording duration
    (the time stamps of the first and last sample only approach it), the frequency, the targets,
    and the warnings of the recording."""
    folder = open_folder(path)
    capture.environment = folder.environment()
    rec = folder.recording
    if isinstance(rec.get("duration_s"), (int, float)) and positive(float(rec["duration_s"])) is not None:
        capture.duration_s, capture.duration_source = float(rec["duration_s"]), "recording"
    if isinstance(rec.get("frequency_hz"), (int, float)) and positive(float(rec["frequency_hz"])) is not None:
        capture.frequency_hz, capture.frequency_source = float(rec["frequency_hz"]), "recording"
    if isinstance(rec.get("pids"), list) and rec["pids"]:
        capture.target_pids = [int(p) for p in rec["pids"]]
    for w in folder.manifest.get("warnings") or []:
        if isinstance(w, str) and w not in capture.warnings:
            capture.warnings.append(w)
