"""`diagnose rules new NAME`: a commented skeleton pack with one rule, one knowledge entry and one
test case on a capture installed with diagnose (bundled:file-read.perf.txt.gz). Its output
validates and its test passes as written; it never replaces a file."""

from __future__ import annotations

from pathlib import Path

from diagnose.core.errors import DiagnoseError
from diagnose.core.output import atomic_write, check_output

SKELETON = """\
# Rule pack {name}: rules, knowledge and test cases of your own (data only, never code).
# The pack author's guide: rules/README.md in diagnose's source (every measure, selector,
# operator and parameter, scores and severities, override, forward chaining, test cases).
#   diagnose rules validate {file}   # every error at once: file:line: field: what; fix
#   diagnose rules test {file}       # runs the test cases below
#   diagnose analyze CAPTURE --rules {file}
schema: diagnose.rules/v1
pack: {{name: {name}, version: 0.1.0, engine: ">=1.0", description: "What this pack is for"}}

# Knowledge of your own. Ids are namespaced by the pack: `id: read-larger-blocks` below is
# `{name}:read-larger-blocks` everywhere else, so it can never replace a built-in entry (write
# `override: true` on an entry whose id is a built-in one to replace that one on purpose).
knowledge:
  recommendations:
    - id: read-larger-blocks
      kind: code                    # sysctl | webrtc | code | system | investigate
      title: {{en: "Read in larger blocks", zh: "以更大的块读取"}}
      why:
        en: "Each read() is a system call; larger blocks mean fewer calls for the same bytes."
        zh: "每次 read() 都是一次系统调用；块越大，读取相同字节所需的调用越少。"
      where: {{en: "The read loop of the program", zh: "程序的读取循环"}}
  # categories:                     # a library of your own: which frames belong to it
  #   - id: my-lib
  #     component: application      # a built-in component, or {name}:ID of one under components:
  #     title: {{en: "My library", zh: "我的库"}}
  #     symbols: ['mylib_.*']       # RE2, the whole function name
  #     modules: ['libmylib\\.so.*'] # RE2, the module's file name
  # threads:                        # what your threads do, shown beside their names
  #   - pattern: 'my-worker-\\d+'
  #     role: {{en: "my worker thread", zh: "我的工作线程"}}

rules:
  - id: {name}-read-hot             # rule ids are global: start them with the pack's name
    title: {{en: "read() takes a large share", zh: "read() 占比很大"}}
    severity: low                   # the most a finding of this rule can be rated
    params: {{info: 0.20, warn: 0.60}}
    when:                           # every condition must hold for the rule to fire
      - as: reads                   # a name for the measured value (templates, score)
        inclusive_share: {{symbol: "read|__libc_read"}}   # samples with read() on the stack
        gte: $info                  # fires from info on: `info` decides whether it fires
    score: {{value: reads, info: $info, warn: $warn}}     # 25 at info, 75 at warn
    summary:
      en: "{{reads:pct}} of samples are inside read()"
      zh: "{{reads:pct}} 的采样在 read() 之内"
    recommend: [{name}:read-larger-blocks]

tests:
  # bundled: names a capture installed with diagnose; other paths are relative to this file.
  - name: a program reading a cached file
    capture: bundled:file-read.perf.txt.gz
    expect: [{name}-read-hot]
"""


def valid_name(name: str) -> bool:
    return bool(name) and name[0].isalnum() and all(c.isalnum() or c in "-_." for c in name) and len(name) <= 64


def write_skeleton(name: str, output: str | None = None) -> str:
    """Write the skeleton of pack `name` to `output` (default NAME.yaml); returns the path."""
    if not valid_name(name):
        raise DiagnoseError(f"rules new {name}: a pack name is letters, digits, - _ . (at most 64, starting with a "
                            f"letter or digit); e.g. diagnose rules new my-team")
    shown = output or f"{name}.yaml"
    if shown == "-":
        raise DiagnoseError("rules new: -o - is not a file; give a file name such as my-team.yaml")
    path = check_output(shown)
    if path is None or Path(shown).exists():
        raise DiagnoseError(f"{shown}: already exists; rules new never replaces a file, so choose another name or -o path")
    text = SKELETON.format(name=name, file=shown)
    try:
        atomic_write(path, text.encode("utf-8"), shown, exclusive=True)
    except FileExistsError:
        raise DiagnoseError(f"{shown}: already exists; rules new never replaces a file, so choose another name "
                            f"or -o path") from None
    return shown
