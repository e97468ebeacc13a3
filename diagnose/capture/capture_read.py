"""Reading a `diagnose run` capture folder back for analysis, trusting nothing in it: every file
its manifest lists must be a regular file inside the folder (never a symbolic link or a path
out of it, which is refused without being followed), and the manifest and environment.json
must have the shapes diagnose writes (diagnose.capture.capture_dir); anything else is one line and
exit code 2, never a traceback and never a quote of what such a file holds."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagnose.capture.capture_dir import REPORT_ROLES, RERECORD, ROLES, SCHEMA, STACK_ROLES
from diagnose.core.errors import DiagnoseError
from diagnose.inputs.source import CAPTURE_MANIFEST
from diagnose.model.profile import CaptureInfo, positive

DAMAGED = f"the capture folder is damaged; {RERECORD}"


@dataclass(frozen=True)
class CaptureFolder:
    """A capture folder, its manifest checked against the files."""

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

    def missing(self) -> list[dict[str, Any]]:
        """Files the run meant to write and did not (interrupted, or a write failed), with why."""
        return list(self.manifest.get("missing") or [])

    def environment(self) -> dict[str, Any]:
        path = self.file("environment")
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_unknown)
        except (OSError, ValueError) as exc:
            raise DiagnoseError(f"{path}: not readable JSON ({exc}); {DAMAGED}") from None
        problem = environment_problem(data)
        if problem is not None:
            raise DiagnoseError(f"{path}: {problem}; {DAMAGED}")
        return data


def _unknown(constant: str) -> None:
    """NaN and Infinity are not JSON (a hand-edited file can hold them): read them as unknown."""
    return None


def looks_like_capture(folder: Path) -> bool:
    """A folder `diagnose run` began (its name, or its files) rather than any folder."""
    return folder.absolute().name.startswith("diagnose-") or any((folder / n).exists() for n in ROLES)


def open_folder(path: str) -> CaptureFolder:
    folder = Path(path)
    manifest_path = folder / CAPTURE_MANIFEST
    if not manifest_path.exists() and not manifest_path.is_symlink():
        if looks_like_capture(folder):
            raise DiagnoseError(f"{path}: incomplete capture folder: no {CAPTURE_MANIFEST}; the capture did not "
                                f"finish — {RERECORD}")
        raise DiagnoseError(f"{path}: is a directory without a capture manifest; pass a perf script text, "
                            f"folded stacks, perf.data or a complete `diagnose run` folder")
    check_regular(manifest_path, "")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"), parse_constant=_unknown)
    except (OSError, ValueError) as exc:
        raise DiagnoseError(f"{manifest_path}: not a readable capture manifest ({exc}); {RERECORD}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DiagnoseError(f"{manifest_path}: not a capture manifest (no list of files); {RERECORD}")
    if manifest.get("schema") != SCHEMA:
        raise DiagnoseError(f"{manifest_path}: unknown schema {str(manifest.get('schema'))[:40]!r} (this diagnose "
                            f"reads {SCHEMA}); use the diagnose version that made it, or {RERECORD}")
    if manifest.get("complete") is not True:
        raise DiagnoseError(f"{path}: incomplete capture folder: {CAPTURE_MANIFEST} says the capture did not "
                            f"finish; {RERECORD}")
    problem = manifest_problem(manifest)
    if problem is not None:
        raise DiagnoseError(f"{manifest_path}: {problem}; {DAMAGED}")
    for entry in manifest["files"]:
        check_entry(folder, entry)
    return CaptureFolder(folder, manifest)


def check_entry(folder: Path, entry: Any) -> None:
    """A listed file must be inside the folder, a regular file (not a link), and of the listed
    size (hashing every file on each analysis would cost more than reading it; the sha256 is
    there to verify copies)."""
    name = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or name in (".", ".."):
        shown = repr(name)[:80] if isinstance(name, str) else "none"
        raise DiagnoseError(f"{folder / CAPTURE_MANIFEST}: a listed file has no usable name ({shown}: files must "
                            f"be plain names inside the folder); {DAMAGED}")
    path = folder / name
    size = check_regular(path, f", though {CAPTURE_MANIFEST} lists it")
    if isinstance(entry.get("bytes"), int) and size != entry["bytes"]:
        raise DiagnoseError(f"{path}: {size} bytes, but {CAPTURE_MANIFEST} says {entry['bytes']} (changed or cut "
                            f"short); copy the whole folder again, or {RERECORD}")


def check_regular(path: Path, listed: str) -> int:
    """The size of `path`, which must be a regular file; looked at without following a link."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise DiagnoseError(f"{path}: missing{listed}; the capture folder is incomplete — copy the whole "
                            f"folder, or {RERECORD}") from None
    except OSError as exc:
        raise DiagnoseError(f"{path}: cannot be read ({exc.strerror}); check the folder's permissions") from None
    if stat.S_ISLNK(st.st_mode):
        raise DiagnoseError(f"{path}: is a symbolic link, not a file of the capture (refused, not followed); "
                            f"{DAMAGED}")
    if not stat.S_ISREG(st.st_mode):
        raise DiagnoseError(f"{path}: not a regular file{listed}; {DAMAGED}")
    return st.st_size


# -- shapes ---------------------------------------------------------------------------------

def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _type_name(x: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a text", bool: "true/false", type(None): "null"}.get(
        type(x), "a number" if _number(x) else type(x).__name__)


def manifest_problem(m: dict[str, Any]) -> str | None:
    """What is wrong with the types of a manifest's fields, or None."""
    for i, entry in enumerate(m["files"]):
        if not isinstance(entry, dict):
            return f"files[{i}] is {_type_name(entry)}, not a mapping"
        for key, ok in (("role", lambda x: isinstance(x, str)), ("bytes", _int), ("private", lambda x: isinstance(x, bool))):
            if key in entry and not ok(entry[key]):
                return f"files[{i}].{key} is {_type_name(entry[key])}"
    rec = m.get("recording")
    if rec is not None:
        if not isinstance(rec, dict):
            return f"recording is {_type_name(rec)}, not a mapping"
        pids = rec.get("pids")
        if pids is not None and not (isinstance(pids, list) and all(_int(p) and p > 0 for p in pids)):
            return "recording.pids is not a list of process ids"
        for key in ("duration_s", "frequency_hz"):
            if rec.get(key) is not None and not _number(rec[key]):
                return f"recording.{key} is {_type_name(rec[key])}, not a number"
    for key in ("warnings",):
        value = m.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(w, str) for w in value)):
            return f"{key} is not a list of texts"
    missing = m.get("missing")
    if missing is not None and not (isinstance(missing, list) and all(
            isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("why", ""), str)
            for e in missing)):
        return "missing is not a list of {path, why}"
    return None


_MAPPINGS = ("sysctl", "cpu", "kernel", "vulnerabilities", "recorded", "network", "redaction", "threads",
             "syscalls")


def environment_problem(env: Any) -> str | None:
    """What is wrong with the types of environment.json, or None."""
    if not isinstance(env, dict):
        return f"is {_type_name(env)}, not a mapping"
    for key in _MAPPINGS:
        if env.get(key) is not None and not isinstance(env[key], dict):
            return f"{key} is {_type_name(env[key])}, not a mapping"
    for key, value in (env.get("sysctl") or {}).items():
        if value is not None and not isinstance(value, str) and not _number(value):
            return f"sysctl {str(key)[:60]} is {_type_name(value)}, not a value"
    # re2, yaml: loaded only when this runs
    from diagnose.expert.measured_facts import shape_problem

    problem = shape_problem(env)
    if problem is not None:
        return problem
    cpu = env.get("cpu") or {}
    for key in ("count", "online_count"):
        if cpu.get(key) is not None and not _int(cpu[key]):
            return f"cpu.{key} is {_type_name(cpu[key])}, not a number"
    processes = env.get("processes")
    if processes is None:
        return None
    if not isinstance(processes, list):
        return f"processes is {_type_name(processes)}, not a list"
    for i, p in enumerate(processes):
        if not isinstance(p, dict):
            return f"processes[{i}] is {_type_name(p)}, not a mapping"
        if not _int(p.get("pid")):
            return f"processes[{i}].pid is not a process id"
        if p.get("comm") is not None and not isinstance(p["comm"], str):
            return f"processes[{i}].comm is {_type_name(p['comm'])}, not a text"
        cmdline = p.get("cmdline")
        if cmdline is not None and not (isinstance(cmdline, list) and all(isinstance(a, str) for a in cmdline)):
            return f"processes[{i}].cmdline is not a list of texts"
        threads = p.get("threads")
        if threads is not None and not (isinstance(threads, list) and all(
                isinstance(t, dict) and _int(t.get("tid")) and isinstance(t.get("comm"), str) for t in threads)):
            return f"processes[{i}].threads is not a list of {{tid, comm}}"
    return None


# -- what the analysis takes from a folder --------------------------------------------------

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
    if _number(rec.get("duration_s")) and positive(float(rec["duration_s"])) is not None:
        capture.duration_s, capture.duration_source = float(rec["duration_s"]), "recording"
    if _number(rec.get("frequency_hz")) and positive(float(rec["frequency_hz"])) is not None:
        capture.frequency_hz, capture.frequency_source = float(rec["frequency_hz"]), "recording"
    if rec.get("pids"):
        capture.target_pids = list(rec["pids"])
    for w in folder.manifest.get("warnings") or []:
        if w not in capture.warnings:
            capture.warnings.append(w)
    # Reports that were not written are what this analysis makes again; anything else missing
    # (the perf script text, the folded stacks) the user should know of.
    lost = [e for e in folder.missing() if e.get("role") not in REPORT_ROLES]
    if lost:
        why = lost[0].get("why") or "not written"
        capture.warnings.append(f"{path}: the capture misses {', '.join(str(e['path']) for e in lost)} ({why}); "
                                f"analysed {Path(stacks_file(path)).name}")
