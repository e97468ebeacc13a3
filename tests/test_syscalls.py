"""System calls by what the kernel entered: one row per call whatever wrapper made it, interrupts
and faults in user space are not system calls, unnamed entry/exit samples go to the call their
wrapper makes, and wrapper-only profiles are read from the wrapper's name."""

from __future__ import annotations

from test_flamegraph import K, make_profile

from diagnose.knowledge import builtin_knowledge
from diagnose.syscalls import stack_calls, syscall_breakdown

GO = "/opt/sfu/bin/sfu"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
GO_SYSCALL = [("runtime.goexit", GO), ("internal/poll.(*FD).WriteTo", GO), ("syscall.sendto", GO),
              ("syscall.Syscall6", GO), ("runtime/internal/syscall.Syscall6", GO)]
ENTRY = [("entry_SYSCALL_64_after_hwframe", K), ("do_syscall_64", K)]


def rows(profile):
    return {r.name: r for r in syscall_breakdown(profile, builtin_knowledge()).rows}


def test_one_go_wrapper_shows_every_call_it_makes() -> None:
    recv = [("runtime.goexit", GO), ("internal/poll.(*FD).ReadFrom", GO), ("syscall.recvfrom", GO),
            ("syscall.Syscall6", GO), ("runtime/internal/syscall.Syscall6", GO)]
    p = make_profile([("t", GO_SYSCALL + ENTRY + [("__x64_sys_sendto", K), ("udp_sendmsg", K)], 6),
                      ("t", recv + ENTRY + [("__x64_sys_recvfrom", K), ("udp_recvmsg", K)], 3)])
    r = rows(p)
    assert (r["sendto"].total, r["sendto"].direction) == (6, "send")
    assert (r["recvfrom"].total, r["recvfrom"].direction) == (3, "receive")
    assert set(r["sendto"].wrappers) == set(r["recvfrom"].wrappers) == {"runtime/internal/syscall.Syscall6"}


def test_interrupts_and_faults_in_user_space_are_not_system_calls() -> None:
    p = make_profile([("t", [("main", "/opt/app"), ("asm_sysvec_apic_timer_interrupt", K),
                             ("sysvec_apic_timer_interrupt", K)], 4),
                      ("t", [("main", "/opt/app"), ("asm_exc_page_fault", K), ("exc_page_fault", K)], 2)])
    assert stack_calls(p) == [None, None]
    assert syscall_breakdown(p, builtin_knowledge()).total == 0


def test_an_exit_path_no_kernel_frame_names_goes_to_the_call_of_its_wrapper() -> None:
    select = [("main", "/opt/app"), ("__select", LIBC)]
    p = make_profile([("t", select + ENTRY + [("__x64_sys_pselect6", K), ("do_pselect", K)], 5),
                      ("t", select + [("entry_SYSCALL_64_after_hwframe", K), ("syscall_return_via_sysret", K)], 2),
                      ("t", [("main", "/opt/app"), ("read", LIBC), ("entry_SYSCALL_64_after_hwframe", K),
                             ("syscall_exit_to_user_mode", K)], 1)])
    r = rows(p)
    assert r["pselect6"].total == 7 and r["pselect6"].transitions == 2  # glibc's select() enters pselect6
    assert r["read"].total == 1  # no other sample of that wrapper: its own name says read


def test_a_kernel_that_inlines_the_dispatch_frame_still_names_the_call() -> None:
    p = make_profile([("t", [("main", "/opt/app"), ("read", LIBC)] + ENTRY +
                      [("ksys_read", K), ("vfs_read", K), ("filemap_read", K)], 3)])
    assert rows(p)["read"].total == 3


def test_without_kernel_frames_the_leaf_wrapper_names_the_call() -> None:
    p = make_profile([("t", [("send_batch", "udp_sender.py"), ("sendto", LIBC)], 7),
                      ("t", GO_SYSCALL, 2), ("t", [("send_batch", "udp_sender.py")], 1)])
    calls = stack_calls(p)
    assert [c.name if c else None for c in calls] == ["sendto", "sendto", None]
    assert all(c.inferred for c in calls if c)
    assert syscall_breakdown(p, builtin_knowledge()).inferred


def test_a_python_function_named_like_a_system_call_is_not_one() -> None:
    # py-spy: logging's write() and json's read() are the program's code; libc's write is a call.
    p = make_profile([("t", [("main", "app.py"), ("write", "logging/__init__.py")], 5),
                      ("t", [("main", "app.py"), ("read", "json/decoder.py")], 3),
                      ("t", [("main", "app.py"), ("write", LIBC)], 2)])
    assert [c.name if c else None for c in stack_calls(p)] == [None, None, "write"]


def _calls(path: str) -> dict[str, dict]:
    import json

    from conftest import run_cli

    proc = run_cli("analyze", path, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {c["name"]: c for c in json.loads(proc.stdout)["profile"]["syscalls"]["calls"]}


def test_the_code_that_makes_a_call_is_named_past_wrappers_and_go_io_packages() -> None:
    """Pion's sends (fixtures/lab/pion-sfu): above the kernel, runtime/internal/syscall.Syscall6,
    syscall.sendto, internal/poll and net.(*UDPConn) are plumbing; ICE's writeTo makes the call.
    Counted independently from perf's text: 85 sendto samples, as ground_truth.py counts them."""
    import gzip
    import re

    from conftest import FIXTURES

    text = gzip.decompress((FIXTURES / "lab" / "pion-sfu" / "perf.script.txt.gz").read_bytes()).decode()
    expected: dict[str, int] = {}
    for block in text.split("\n\n"):
        frames = re.findall(r"^\s+[0-9a-f]+ (\S+?)(?:\+0x[0-9a-f]+)? \((.*)\)$", block, re.MULTILINE)  # leaf first
        user = [name for name, module in frames if module != "[kernel.kallsyms]"]
        if "syscall.sendto" not in user or len(user) == len(frames):  # (in the kernel: in the call)
            continue
        maker = next(name for name in user if not name.startswith(("runtime/internal/syscall.", "syscall.",
                                                                     "internal/poll.", "net.")))
        expected[maker] = expected.get(maker, 0) + 1
    sendto = _calls(str(FIXTURES / "lab" / "pion-sfu"))["sendto"]
    assert [c["name"] for c in sendto["callers"]] == ["runtime/internal/syscall.Syscall6"]
    assert {c["name"]: c["samples"] for c in sendto["made_by"]} == expected
    assert list(expected) == ["github.com/pion/ice/v2.(*candidateBase).writeTo"]


def test_a_call_chain_broken_above_libc_names_no_maker() -> None:
    """socat is built without frame pointers: above __libc_recv the chain is [unknown], and no
    named frame further up is taken for the caller."""
    from conftest import FIXTURES

    recvfrom = _calls(str(FIXTURES / "socat-unix-ipc.perf.txt.gz"))["recvfrom"]
    assert recvfrom["made_by"] == [] and recvfrom["callers"][0]["name"] == "__libc_recv"


def test_dwarf_stacks_name_no_c_library_internal_as_the_maker() -> None:
    """perf's DWARF unwinding prints glibc's inlined internals (__GI___libc_malloc, _IO_fread) with
    the module of their caller (fixtures/lab/janus-videoroom-dwarf, fixtures/bzip2-dwarf): they are
    still the C library, not the code that made the call."""
    import re

    from conftest import FIXTURES

    makers = {c["name"]: [m["name"] for m in c["made_by"]]
              for path in (FIXTURES / "lab" / "janus-videoroom-dwarf", FIXTURES / "bzip2-dwarf.perf.txt.gz")
              for c in _calls(str(path)).values()}
    assert makers["sendmsg"] == ["g_socket_send_message_with_timeout"]
    internal = [m for ms in makers.values() for m in ms if re.match(r"__GI_|__libc_|_IO_", m)]
    assert not internal
