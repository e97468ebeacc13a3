"""The import paths modules had before the package was grouped by stage (issue 14), and where
those modules live now: `import diagnose.rules` still works and gives diagnose.expert.rules, the
same module object (not a copy), so a test or a user's script that patches or reads the old name
sees what the tool uses. One table, read by a meta-path finder that diagnose/__init__.py installs;
diagnose's own code imports the new paths only (lint-imports checks that)."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from types import ModuleType

MOVED = {
    "diagnose.analysis": "diagnose.expert.analysis",
    "diagnose.attribution": "diagnose.expert.attribution",
    "diagnose.call_graph_mode": "diagnose.model.call_graph_mode",
    "diagnose.callgraph": "diagnose.model.callgraph",
    "diagnose.capture_dir": "diagnose.capture.capture_dir",
    "diagnose.capture_read": "diagnose.capture.capture_read",
    "diagnose.child_process": "diagnose.capture.child_process",
    "diagnose.claim": "diagnose.capture.claim",
    "diagnose.collapse": "diagnose.inputs.collapse",
    "diagnose.collapse_select": "diagnose.orchestrate.collapse_select",
    "diagnose.components": "diagnose.expert.components",
    "diagnose.diff": "diagnose.orchestrate.diff_run",  # re-exports diagnose.expert.diff
    "diagnose.diff_warnings": "diagnose.expert.diff_warnings",
    "diagnose.engine": "diagnose.expert.engine",
    "diagnose.environment": "diagnose.capture.environment",
    "diagnose.errors": "diagnose.core.errors",
    "diagnose.facts": "diagnose.expert.facts",
    "diagnose.finding_processes": "diagnose.expert.finding_processes",
    "diagnose.findings": "diagnose.expert.findings",
    "diagnose.flametree": "diagnose.model.flametree",
    "diagnose.fleet": "diagnose.orchestrate.fleet",
    "diagnose.fleet_merge": "diagnose.orchestrate.fleet_merge",
    "diagnose.graph_export": "diagnose.report.graph_export",
    "diagnose.graph_options": "diagnose.report.graph_options",
    "diagnose.health": "diagnose.report.health",
    "diagnose.knowledge": "diagnose.expert.knowledge",
    "diagnose.knowledge_entries": "diagnose.expert.knowledge_entries",
    "diagnose.measured_facts": "diagnose.expert.measured_facts",
    "diagnose.messages": "diagnose.core.messages",
    "diagnose.netstat": "diagnose.capture.netstat",
    "diagnose.offcpu": "diagnose.expert.offcpu",
    "diagnose.offcpu_folder": "diagnose.orchestrate.offcpu_folder",
    "diagnose.offcpu_reasons": "diagnose.expert.offcpu_reasons",
    "diagnose.offcpu_record": "diagnose.capture.offcpu_record",
    "diagnose.pack_knowledge": "diagnose.expert.pack_knowledge",
    "diagnose.pack_skeleton": "diagnose.expert.pack_skeleton",
    "diagnose.path_measures": "diagnose.expert.path_measures",
    "diagnose.patterns": "diagnose.core.patterns",
    "diagnose.per_process": "diagnose.expert.per_process",
    "diagnose.pipeline": "diagnose.orchestrate.pipeline",
    "diagnose.platform": "diagnose.expert.platform",
    "diagnose.preflight": "diagnose.capture.preflight",
    "diagnose.problems": "diagnose.expert.problems",
    "diagnose.profile": "diagnose.model.profile",
    "diagnose.recommend": "diagnose.expert.recommend",
    "diagnose.recorder": "diagnose.capture.recorder",
    "diagnose.redact": "diagnose.core.redact",
    "diagnose.report.escape": "diagnose.core.escape",
    "diagnose.report.output": "diagnose.core.output",
    "diagnose.rule_format": "diagnose.expert.rule_format",
    "diagnose.rule_parse": "diagnose.expert.rule_parse",
    "diagnose.rules": "diagnose.expert.rules",
    "diagnose.ruletest": "diagnose.orchestrate.ruletest",
    "diagnose.select": "diagnose.model.select",
    "diagnose.sockdiag": "diagnose.capture.sockdiag",
    "diagnose.socket_buffers": "diagnose.expert.socket_buffers",
    "diagnose.stats": "diagnose.model.stats",
    "diagnose.summary": "diagnose.model.summary",
    "diagnose.symbols": "diagnose.model.symbols",
    "diagnose.syscall_costs": "diagnose.expert.syscall_costs",
    "diagnose.syscall_counts": "diagnose.capture.syscall_counts",
    "diagnose.syscalls": "diagnose.expert.syscalls",
    "diagnose.texts": "diagnose.core.texts",
    "diagnose.thread_facts": "diagnose.expert.thread_facts",
    "diagnose.thread_wide": "diagnose.model.thread_wide",
    "diagnose.threadstat": "diagnose.capture.threadstat",
    "diagnose.yamlfile": "diagnose.core.yamlfile",
}


# The finder and the loader follow the import protocol without deriving from importlib.abc: that
# module loads importlib.resources and pathlib (12 ms), before the entry point can fork perf script.
class _Alias:
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.spec = module.__spec__  # the import system sets __spec__ to the old name's: put it back
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec


class _MovedFinder:
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())  # before an editable install's finder of another checkout
