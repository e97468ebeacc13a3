"""Call-chain trees as text lines, in the style of a hand-written analysis:

    __libc_recvmsg (23.50%)
    ├── entry_SYSCALL_64_after_hwframe (11.48%)
    │   └── do_syscall_64 (7.37%)
    └── syscall_return_via_sysret (9.03%)
"""

from __future__ import annotations

from diagnose.expert.analysis import Analysis
from diagnose.model.summary import TreeNode

UNICODE = ("├── ", "└── ", "│   ", "    ")
ASCII = ("+-- ", "+-- ", "|   ", "    ")


def tree_lines(analysis: Analysis, root: TreeNode, ascii: bool = False) -> list[tuple[str, str, str]]:
    """(prefix, "name (share%)", kind) per line, root first."""
    mid, last, bar, blank = ASCII if ascii else UNICODE
    n = analysis.profile.stack_samples or 1
    frames = analysis.profile.frames
    out: list[tuple[str, str, str]] = []

    def label(node: TreeNode) -> str:
        return f"{frames[node.frame].name} ({100 * node.samples / n:.2f}%)"

    out.append(("", label(root), frames[root.frame].kind))

    def walk(node: TreeNode, prefix: str) -> None:
        children = node.sorted_children()
        for i, child in enumerate(children):
            is_last = i == len(children) - 1
            out.append((prefix + (last if is_last else mid), label(child), frames[child.frame].kind))
            walk(child, prefix + (blank if is_last else bar))

    walk(root, "")
    return out
