"""Redaction of what a capture keeps of command lines and recorded values (diagnose.redact):
every form of secret the brief names is replaced, the ordinary values a report needs are not,
and --anonymize drops host names, user names and absolute paths."""

from __future__ import annotations

import base64
import random

import pytest

from diagnose.redact import REDACTED, Redactor, looks_random


@pytest.mark.parametrize("text, secret", [
    ("--api-key=SEKRET123", "SEKRET123"),
    ("--turn-secret=s3", "s3"),
    ("--auth-token=abc", "abc"),
    ("--db-credential=abc", "abc"),
    ("--turnserver=alice:pw", "alice:pw"),
    ("DB_PASSWORD=hunter3", "hunter3"),
    ("MY_TOKEN=tok-SEKRET456", "tok-SEKRET456"),
    ("https://bob:pw99@host/x", "bob:pw99"),
    ("rtsp://admin@camera.local/stream", "admin"),
    ("turn:alice:s3cr3t@turn.example.org:3478", "alice:s3cr3t"),
    ("Authorization: Bearer abcdef123456", "abcdef123456"),
    ("Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVuc2VzYW1l"),
    ("https://api.example.org/v1?user=bob&access_token=zzz9&x=1", "zzz9"),
    ("--opts=mode=fast,token=xyz", "xyz"),
    ("--env API_TOKEN=xyz", "xyz"),
    ("sh -c 'run --password hunter2x --verbose'", "hunter2x"),
])
def test_secrets_in_a_text_are_replaced(text: str, secret: str) -> None:
    r = Redactor()
    out = r.text(text)
    assert secret not in out and REDACTED in out, out
    assert r.count >= 1


def test_an_argument_list_redacts_the_value_after_a_secret_flag() -> None:
    r = Redactor()
    argv = ["python3", "-c", "x", "--api-key=SEKRET123", "--password", "hunter2x", "--name", "bob",
            "https://bob:pw99@host/x", "--auth", "--verbose", "--client-secret", "-dash-first"]
    out = r.argv(argv)
    assert out == ["python3", "-c", "x", "--api-key=[redacted]", "--password", "[redacted]", "--name", "bob",
                   "https://[redacted]@host/x", "--auth", "--verbose", "--client-secret", "[redacted]"]
    assert r.count == 4


@pytest.mark.parametrize("make", [lambda rng: rng.randbytes(16).hex(), lambda rng: rng.randbytes(32).hex(),
                                  lambda rng: base64.b64encode(rng.randbytes(33)).decode()],
                         ids=["hex16", "hex32", "base64-44"])
def test_long_random_strings_are_replaced(make) -> None:
    # A random key misses the entropy test now and then (about 1 in 1,000 of these kinds): most
    # of many must be caught. Seeded, so that a run is the same every time.
    rng = random.Random(20261130)
    caught = sum(REDACTED in Redactor().text(f"--session {make(rng)}") for _ in range(200))
    assert caught >= 198


def test_a_base64_key_starting_with_a_slash_is_replaced() -> None:
    """One base64 key in 64 starts with `/`: it was taken for a path and kept."""
    out = Redactor().text("--session /y245OxZ5C/7HD54oHqMfc6dzsLEkS2Mae8vZTZSdATE --log /var/log/app/x.log")
    assert out == f"--session {REDACTED} --log /var/log/app/x.log"


@pytest.mark.parametrize("text", [
    "/usr/lib/x86_64-linux-gnu/libwebrtc_audio_processing.so.1",
    # a clone inside a mktemp folder: one random part, then words (CI's path was cut to [redacted])
    "/tmp/tmp.MQTLjZ7kVC/main/tests/helpers/ipc_peer.py",
    "python3 /home/ci/tmp.Xk4pQ9zL2w/work/media_server/bin/start.py",
    "x86_64-linux-gnu-libwebrtc_audio_processing",
    "_ZN6webrtc12RtpTransport17OnRtpPacketReceivedERNS_",
    "net.core.rmem_max=212992",
    "--frequency 99 --duration 30 --out /tmp/capture",
    "ffmpeg -c:v libvpx-vp9 -b:v 1M -f rtp rtp://127.0.0.1:5004",
    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    "Mitigation: Retpolines; IBPB: conditional; STIBP: disabled",
    "pid 1234 exited 1.5 s into the capture; it was recorded until then",
])
def test_ordinary_values_are_left_alone(text: str) -> None:
    r = Redactor()
    assert r.text(text) == text
    assert r.count == 0


def test_keep_secrets_keeps_everything() -> None:
    r = Redactor(keep_secrets=True)
    argv = ["x", "--password", "hunter2x", "--api-key=SEKRET123", "https://bob:pw99@host/x"]
    assert r.argv(argv) == argv and r.count == 0
    assert r.summary() == {"redacted": 0, "secrets_kept": True, "anonymized": False}


def test_redacting_twice_counts_once() -> None:
    r = Redactor()
    once = r.argv(["--password", "hunter2x", "--api-key=SEKRET123"])
    assert r.count == 2
    assert r.argv(once) == once and r.count == 2


def test_environment_redacts_command_lines_as_argument_lists() -> None:
    r = Redactor()
    env = {"sysctl": {"net.core.rmem_max": "212992"},
           "processes": [{"pid": 7, "comm": "sfu", "cmdline": ["sfu", "--turn-password", "pw1"], "uid": 0,
                          "threads": [{"tid": 7, "comm": "sfu"}]}]}
    out = r.environment(env)
    assert out["processes"][0]["cmdline"] == ["sfu", "--turn-password", REDACTED]
    assert out["sysctl"] == env["sysctl"] and out["processes"][0]["threads"] == env["processes"][0]["threads"]
    assert list(out) == list(env)


def test_anonymize_drops_hosts_users_and_absolute_paths() -> None:
    r = Redactor(anonymize=True, hosts=["media-box"], users=["alice"])
    assert r.text("/usr/bin/perf record -o /home/alice/caps/perf.data -p 7") == "perf record -o perf.data -p 7"
    assert r.text("ssh alice@media-box") == "ssh [user]@[host]"
    assert r.text("https://example.org/a/b") == "https://example.org/a/b"  # a URL's path is not a file
    assert r.text("/tmp/perf-123.map") == "/tmp/perf-123.map"  # marks JIT frames, names no one
    assert r.text("relative/dir/file") == "relative/dir/file"


def test_looks_random_needs_letters_and_digits() -> None:
    assert not looks_random("abcdefghijklmnopqrstuvwxyzABCDEF")
    assert not looks_random("1234567890123456789012345")
    assert looks_random("8b85818e170fed595cb4a231a2352f9b")
