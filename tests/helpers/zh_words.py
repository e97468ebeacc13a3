"""English left in a Chinese report: the ASCII words of a text rendered with --lang zh that are not
a symbol, a number, a unit or a code identifier.

What is allowed, and nothing else:
- spans that are code, placeholders or citations by their markup: `backticks`, [bracketed]
  lower-case markers ([k], [unknown], [redacted]) and 《titles of cited documents》;
- chunks of ASCII text (apart by spaces, Chinese characters or full-width marks) that are paths,
  options or expressions: they hold `/`, `::`, `=`, `|`, `->`, a call `f(` or index `a[`, a dotted
  `a.b` or `a:b`, or start with `-` (then the next chunk is the option's value);
- a token (letters, digits, `_`, joined by `-`) that holds a digit or `_`, is all capitals
  (CPU, UDP, SRTP), has a capital after its first letter (WebRTC, GStreamer, setParameters), is
  one letter (n samples, p = 10%, Go's M and P), or whose `-` parts are each allowed;
- the names the analysed input holds (functions, modules, threads, processes, rule, category and
  advice ids, recorded command lines), passed in by the test as `names`, and the names of
  functions, libraries and threads the knowledge base recognises (knowledge_code_tokens);
- the short lists below: units, and names of software, system calls, kernel facilities and
  people that Chinese technical text writes as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

UNITS = {"Hz", "s", "ms", "ns", "KB", "MB", "GB", "KiB", "MiB", "GiB"}
# Proper names of software and systems (the Chinese text names them the same way).
NAMES = {
    "Linux", "Python", "CPython", "Go", "Opus", "Pion", "Janus", "Jitsi", "Unix", "Wilson", "Graphviz",
    "Chromium", "Chrome", "Firefox", "Safari", "Debian", "Ubuntu", "Intel", "AMD", "Rust", "Java", "Node",
    "Pyroscope", "Parca", "Gephi", "Ctrl", "Mojo", "Asio", "Netfilter", "Docker", "Videobridge", "Newcombe",
    "Dumazet", "Mission", "Control", "Holm", "Bonferroni", "Metronome", "Speex",
}
# Lower-case names of programs, libraries, system calls and kernel facilities.
LOWER_CODE = {
    "diagnose", "perf", "sysctl", "epoll", "futex", "libvpx", "libopus", "libsrtp", "libwebrtc", "mediasoup",
    "aiortc", "malloc", "memcpy", "memset", "memmove", "sendto", "sendmsg", "sendmmsg", "recvfrom",
    "recvmsg", "recvmmsg", "read", "write", "readv", "writev", "poll", "ppoll", "select", "pselect", "io",
    "uring", "clone", "glibc", "libc", "jemalloc", "tcmalloc", "openssl", "libav", "libavcodec", "swscale",
    "ffmpeg", "gst", "pprof", "speedscope", "graphml", "svg", "json", "markdown", "html", "zh", "en",
    "pid", "tid", "comm", "rmem", "wmem", "netdev", "gso", "gro", "vmlinux", "kallsyms",
    "proc", "ss", "strace", "bpftrace", "mmap", "munmap", "brk", "taskset", "chrt", "irqbalance", "ethtool",
    "nftables", "iptables", "conntrack", "cpu-used", "cpu-clock", "task-clock", "debuginfod", "dbgsym",
    "perf-map-agent", "async-profiler", "libuv", "webrtcbin", "pp", "goroutine", "eventfd", "timerfd", "splice",
    "sendfile", "mimalloc", "slab", "memcg", "cgroup", "rseq", "retpoline", "retbleed", "netlink", "ksoftirqd",
    "iovec", "setuid", "cpuset", "ldd", "ldconfig", "grep", "tuned", "netfilter", "videotestsrc", "audiotestsrc",
    "rtpjitterbuffer", "nicesrc", "opusenc", "srtpenc", "rtpbin", "rtpsession", "speexdsp", "rnnoise", "usrsctp",
    "jsoncpp", "jansson", "pymalloc", "asyncio", "webrtcdsp", "videoscale", "videorate", "schedstat", "ion",
    "protobuf", "worker", "nice", "madvise", "gzip", "mkdir", "veth", "tun", "skb", "pthread", "glib", "capsfilter", "chan", "libnice", "liburing", "libyuv", "libevent", "libaom", "libswresample", "gopark", "wakep",
}
_CODE_CHUNK = re.compile(r"(?:/|::|=|\||^-|\w\(|\w\[|\w\.\w|\w:\w|\w->\w)")
# Chunks of ASCII text are apart by spaces, Chinese characters or full-width marks.
_CHUNK_BREAK = re.compile(r"[\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+")
_SPANS = re.compile(r"`[^`]*`|《[^》]*》|\[[a-z]+\]")
_TOKEN = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*(?:'[a-z]+)?")


def _allowed(token: str, names: set[str]) -> bool:
    if token in names or token in UNITS or token in NAMES or token in LOWER_CODE:
        return True
    if "-" in token and all(_allowed(part, names) for part in token.split("-")):
        return True
    if re.search(r"[0-9_]", token):
        return True
    if len(token) >= 2 and token.isupper():
        return True
    return bool(re.search(r"[A-Z]", token[1:]))


def name_tokens(texts: Iterable[str]) -> set[str]:
    """The tokens of names the input holds (function, module, thread names, command lines)."""
    out: set[str] = set()
    for text in texts:
        out.update(_TOKEN.findall(str(text)))
    return out


def english_words(text: str, names: set[str] | None = None) -> list[str]:
    """The ASCII words of `text` that are neither symbol, number, unit nor code identifier."""
    names = names or set()
    bad: list[str] = []
    for line in _SPANS.sub(" ", text).splitlines():
        after_option = False
        for chunk in _CHUNK_BREAK.split(line):
            if not chunk:
                continue
            if _CODE_CHUNK.search(chunk) or after_option:
                # a path, an option or an expression; the word after an option is its value
                after_option = chunk.startswith("-")
                continue
            for token in _TOKEN.findall(chunk):
                if len(token) == 1:
                    continue  # a symbol: n samples, p = 10%, Go's M and P, the C language
                if not _allowed(token, names):
                    bad.append(token)
    return bad


def knowledge_code_tokens(root: Path) -> set[str]:
    """The names of functions, libraries, threads and processes the knowledge base recognises
    (the regular expressions of knowledge/*.yaml under symbols, modules, threads, processes, stack
    and calls): code the Chinese texts cite as it is written."""
    import yaml

    keys = {"symbols", "modules", "threads", "processes", "stack", "calls", "match", "comm"}
    found: set[str] = set()

    def walk(x: object, key: str | None) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, str(k))
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and key in keys:
            found.update(t for t in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", x) if len(t) >= 3)

    for name in ("taxonomy.yaml", "stacks.yaml", "threads.yaml"):
        walk(yaml.safe_load((root / "knowledge" / name).read_text(encoding="utf-8")), None)
    return found
