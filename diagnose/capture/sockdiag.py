"""Socket buffer sizes from the kernel's sock_diag netlink interface (what `ss -m` prints as
skmem rb/tb): for every UDP and TCP socket of a network namespace, by inode, its receive buffer
(sk_rcvbuf, SO_RCVBUF as getsockopt reports it), its send buffer (sk_sndbuf) and the bytes queued
now. /proc/net/udp has the queues and drops but not the buffer sizes; this has them.

A namespace other than ours is read from a short-lived thread that joins it with setns(2) (root,
or CAP_SYS_ADMIN over it): the netlink socket belongs to the namespace it was opened in, and the
thread's namespace ends with the thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from diagnose.core.thread_signals import leave_ctrl_c_to_the_main_thread
from diagnose.expert.socket_buffers import LIMITS

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
INET_DIAG_SKMEMINFO = 7  # enum inet_diag_attr_type (linux/inet_diag.h)
CLONE_NEWNET = 0x40000000
# struct nlmsghdr; struct inet_diag_req_v2 (family, protocol, ext, pad, states, sockid of 48 bytes)
_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBxI48x")
# struct inet_diag_msg: family, state, timer, retrans, sockid (48), expires, rqueue, wqueue, uid, inode
_MSG = struct.Struct("=BBBB48xIIIII")
_RTA = struct.Struct("=HH")
# The first four of SK_MEMINFO_*: rmem_alloc, rcvbuf, wmem_alloc, sndbuf
_MEMINFO = struct.Struct("=IIII")
PROTOCOLS = {"udp": socket.IPPROTO_UDP, "tcp": socket.IPPROTO_TCP}


class SockDiagError(Exception):
    """Why the buffer sizes could not be read, in a few words."""


def _dump(family: int, protocol: int) -> dict[str, dict[str, int]]:
    """inode -> {"rcvbuf", "sndbuf", "rmem_alloc", "wmem_alloc"} of every socket of one family
    and protocol in the calling thread's network namespace."""
    out: dict[str, dict[str, int]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(5.0)
        req = _REQ.pack(family, protocol, 1 << (INET_DIAG_SKMEMINFO - 1), 0xFFFFFFFF)
        nl.sendall(_NLMSGHDR.pack(_NLMSGHDR.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
                   + req)
        while True:
            data = nl.recv(1 << 16)
            if not data:
                raise SockDiagError("the netlink socket closed before the end of the dump")
            pos = 0
            while pos + _NLMSGHDR.size <= len(data):
                length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, pos)
                if length < _NLMSGHDR.size:
                    raise SockDiagError("a malformed netlink message")
                body = data[pos + _NLMSGHDR.size:pos + length]
                pos += (length + 3) & ~3
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
                    if code == 0:
                        continue
                    raise SockDiagError(f"sock_diag: {os.strerror(code)}" + (
                        " (the kernel has no udp_diag/inet_diag module loaded)" if code == errno.ENOENT else ""))
                if kind != SOCK_DIAG_BY_FAMILY or len(body) < _MSG.size:
                    continue
                inode = _MSG.unpack_from(body)[-1]
                mem = _meminfo(body, _MSG.size)
                if mem is not None:
                    out[str(inode)] = mem
    # not reached


def _meminfo(body: bytes, pos: int) -> dict[str, int] | None:
    while pos + _RTA.size <= len(body):
        length, kind = _RTA.unpack_from(body, pos)
        if length < _RTA.size:
            return None
        if kind == INET_DIAG_SKMEMINFO and length >= _RTA.size + _MEMINFO.size:
            rmem, rcvbuf, wmem, sndbuf = _MEMINFO.unpack_from(body, pos + _RTA.size)
            return {"rcvbuf": rcvbuf, "sndbuf": sndbuf, "rmem_alloc": rmem, "wmem_alloc": wmem}
        pos += (length + 3) & ~3
    return None


def _all_sockets() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for protocol in PROTOCOLS.values():
        for family in (socket.AF_INET, socket.AF_INET6):
            out.update(_dump(family, protocol))
    return out


def _reading() -> dict[str, Any]:
    """The sockets and the buffer sysctls as the calling thread's network namespace sees them."""
    return {"sockets": _all_sockets(), "limits": {k: _sysctl(k) for k in LIMITS}}


def _sysctl(key: str) -> int | None:
    try:
        return int((Path("/proc/sys") / key.replace(".", "/")).read_text().strip())
    except (OSError, ValueError):
        return None


def _in_namespace(ns_path: Path) -> dict[str, Any]:
    """_reading() from inside another network namespace."""
    result: list[dict[str, Any]] = []
    failure: list[BaseException] = []

    def run() -> None:
        leave_ctrl_c_to_the_main_thread()
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise SockDiagError(f"cannot enter the network namespace {ns_path} "
                                        f"({os.strerror(ctypes.get_errno())}: it takes CAP_SYS_ADMIN; run as root)")
            finally:
                os.close(fd)
            result.append(_reading())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    t = threading.Thread(target=run, name="sockdiag-netns", daemon=True)
    t.start()
    t.join()
    if failure:
        raise failure[0]
    return result[0]


def read(pid: int) -> dict[str, Any]:
    """{"sockets": {inode: {"rcvbuf", "sndbuf", "rmem_alloc", "wmem_alloc"}}, "limits": {sysctl:
    int}} for every UDP and TCP socket in the network namespace of `pid`, with the sysctls that
    size socket buffers as seen from there. Raises SockDiagError (or OSError) with why not."""
    ns = Path("/proc") / str(pid) / "ns" / "net"
    try:
        theirs, ours = os.stat(ns), os.stat("/proc/self/ns/net")
    except OSError as exc:
        raise SockDiagError(f"cannot read the network namespace of pid {pid} ({exc.strerror})") from None
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        return _reading()
    return _in_namespace(ns)
