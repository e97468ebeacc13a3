"""Why a thread was off the CPU, read from the kernel frames of the stack it left the CPU with:
a futex (locks, condition variables), an epoll/poll/select wait, a sleep, I/O (a blocking read,
write, receive or disk wait), or something else. The first reason whose frames the stack holds
wins, in the order of REASONS; a thread in uninterruptible sleep (state D) with no such frame is
waiting for I/O.

The reason names are part of the JSON report (off_cpu.by_reason[].reason): add, never rename.
"""

from __future__ import annotations

import re

# (reason, kernel frames that say it), checked in this order: a poll that sleeps in a futex is
# not possible, but a read that ends in io_schedule is I/O whatever called it.
REASONS: tuple[tuple[str, str], ...] = (
    ("futex", r"futex_wait.*|futex_do_wait|__futex_wait|do_futex|futex_lock_pi.*|__(x64|ia32|arm64)_sys_futex.*"),
    ("poll", r"do_epoll_wait|do_epoll_pwait.*|ep_poll|__(x64|ia32|arm64)_sys_epoll_.*|do_sys_poll|do_poll|"
             r"do_select|core_sys_select|poll_schedule_timeout.*|__(x64|ia32|arm64)_sys_(poll|ppoll|select|pselect6)"),
    ("sleep", r"hrtimer_nanosleep|do_nanosleep|common_nsleep.*|__(x64|ia32|arm64)_sys_(clock_)?nanosleep.*|"
              r"schedule_hrtimeout.*|msleep.*|__(x64|ia32|arm64)_sys_pause"),
    ("io", r"io_schedule.*|folio_wait_bit.*|wait_on_page_bit.*|__lock_page.*|blk_.*|bit_wait_io|"
           r"jbd2_.*|__wait_on_buffer|filemap_fault|"
           r"__skb_wait_for_more_packets|__skb_recv_datagram|skb_recv_datagram|sk_wait_data|sk_stream_wait_memory|"
           r"sock_wait_for_wmem|unix_stream_read_generic|unix_stream_data_wait|unix_wait_for_peer|"
           r"inet_csk_accept|inet_csk_wait_for_connect|__inet_stream_connect|wait_woken|"
           r"pipe_read|pipe_write|pipe_wait.*|n_tty_read|wait_for_completion_io.*|"
           r"__(x64|ia32|arm64)_sys_(read|readv|pread64|preadv2?|write|writev|pwrite64|recvfrom|recvmsg|recvmmsg|"
           r"sendto|sendmsg|sendmmsg|accept4?|connect|splice|sendfile64|fsync|fdatasync|sync_file_range)"),
)
OTHER = "other"
# Blocked since before the recording began, and no stack could be read for it.
UNKNOWN = "unknown"
ALL = (*(r for r, _ in REASONS), OTHER, UNKNOWN)

TEXTS: dict[str, dict[str, str]] = {
    "futex": {"en": "futex (locks, condition variables)", "zh": "futex（锁、条件变量）"},
    "poll": {"en": "epoll / poll / select", "zh": "epoll / poll / select"},
    "sleep": {"en": "sleep (nanosleep, timers)", "zh": "睡眠（nanosleep、定时器）"},
    "io": {"en": "I/O (blocking read, write, receive, disk)", "zh": "I/O（阻塞的读、写、接收、磁盘）"},
    "other": {"en": "other", "zh": "其他"},
    "unknown": {"en": "unknown (blocked before the recording began)", "zh": "未知（录制开始前已阻塞）"},
}

_PATTERNS = tuple((reason, re.compile(f"(?:{expr})$")) for reason, expr in REASONS)


def reason_of(kernel_frames: list[str] | tuple[str, ...], state: str = "S") -> str:
    """The reason of a wait from the names of its kernel frames (any order) and the task state
    perf printed for it (prev_state: S, D, ...)."""
    names = [name for name in kernel_frames if name]
    for reason, pattern in _PATTERNS:
        if any(pattern.match(name) for name in names):
            return reason
    if state.startswith("D"):
        return "io"
    return OTHER


SHORT: dict[str, dict[str, str]] = {
    "futex": {"en": "futex", "zh": "futex"},
    "poll": {"en": "epoll/poll", "zh": "epoll/poll"},
    "sleep": {"en": "sleep", "zh": "睡眠"},
    "io": {"en": "I/O", "zh": "I/O"},
    "other": {"en": "other", "zh": "其他"},
    "unknown": {"en": "unknown", "zh": "未知"},
}


def reason_text(reason: str, lang: str, short: bool = False) -> str:
    texts = (SHORT if short else TEXTS).get(reason)
    if texts is None:
        return reason
    return texts.get(lang) or texts["en"]
