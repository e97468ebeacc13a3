"""Redaction: what a capture folder, the reports and the terminal keep of command lines and
recorded values, with secrets replaced by [redacted] before anything is written or printed,
and, on request (anonymize), host names, user names and absolute paths dropped as well.

Secrets are:
  - the value of a flag or key=value pair whose name looks secret (pass, secret, token, key,
    auth, credential, or a name starting with turn): `--api-key=X`, `--password X`,
    `DB_PASSWORD=X`, `?token=X`;
  - the credentials of a URL (`scheme://user:pass@host`, `turn:user:pass@host`);
  - the word after Bearer or Basic (`Authorization: Bearer X`);
  - long random-looking strings (24 or more base64 or hex characters, with letters and digits
    and high entropy).
A Redactor counts what it replaced; the count goes into the manifest and the report.
"""

from __future__ import annotations

import copy
import math
import os
import pwd
import re
import socket
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
HOST = "[host]"
USER = "[user]"
# Regular login accounts; system users (root, daemon, ...) name no person.
FIRST_REGULAR_UID = 1000

_SECRET_WORD = re.compile(r"pass|secret|token|key|auth|credential|(?:^|[-_.])turn", re.IGNORECASE)
_VALUE = r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)"
# name=value anywhere in a text (flags, env-style assignments, query strings, option lists),
# then `--name value` (a flag and its separate value, inside one text).
_ASSIGNMENT = re.compile(r"(?P<name>(?<![\w.-])-{0,2}[A-Za-z_][\w.-]*)(?P<sep>=)" + _VALUE)
_FLAG_VALUE = re.compile(r"(?P<name>(?<![\w.-])--?[A-Za-z_][\w.-]*)(?P<sep>\s+)(?!-)" + _VALUE)
_URL_USERINFO = re.compile(r"(?i)\b(?P<scheme>[a-z][a-z0-9+.-]*://|turns?:|stuns?:)(?P<userinfo>[^\s/@]+)@(?=[\w\[])")
_AUTH_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<sep>\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})")
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{24,}(?![A-Za-z0-9+/=_-])")
_SEPARATORS = re.compile(r"[-_/]")
_HEX = re.compile(r"[0-9a-fA-F_-]+")
# A lower-case word between slashes (main, tests, ipc_peer, x86_64-linux-gnu): part of a path.
_PATH_WORD = re.compile(r"[a-z0-9_-]*[a-z]{3,}[a-z0-9_-]*")
# An absolute path of at least two parts; not the // of a URL, not inside a word or a relative path.
_JIT_MAP = re.compile(r"/tmp/perf-\d+\.map")
_ABS_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s/\"'(),;:=\[\]<>|]+){2,}/?")


def secret_name(name: str) -> bool:
    """A flag or variable name whose value is taken as a secret: --api-key, DB_PASSWORD, turn-user."""
    return bool(_SECRET_WORD.search(name.lstrip("-")))


def looks_random(text: str) -> bool:
    """24+ characters of base64 or hex that read like a key, not like a word, a path or a
    mangled symbol: letters and digits, few separators, high entropy per
    character and, unless hex, the frequent switches between upper case, lower case and digits
    of random text (CamelCase words switch far less often)."""
    if len(text) < 24 or not re.search(r"\d", text) or not re.search(r"[A-Za-z]", text):
        return False
    if len(_SEPARATORS.findall(text)) > len(text) / 6:  # words joined by - _ /
        return False
    if sum(bool(_PATH_WORD.fullmatch(part)) for part in text.split("/")) >= 2:
        return False  # a path with one random part (mktemp's tmp.MQTLjZ7kVC/main/tests/...)
    counts: dict[str, int] = {}
    for c in text:
        counts[c] = counts.get(c, 0) + 1
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    if _HEX.fullmatch(text):
        return entropy >= 3.0
    classes = [_class(c) for c in text]
    switches = sum(a != b for a, b in zip(classes, classes[1:])) / (len(text) - 1)
    return entropy >= 3.5 and switches >= 0.4


def _class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


class Redactor:
    """Replaces secrets (unless keep_secrets) and, when anonymize, host names, the names of
    regular users and absolute paths (an absolute path becomes its last part) in texts,
    argument lists and JSON-like values. `count` is the number of secrets replaced."""

    def __init__(self, keep_secrets: bool = False, anonymize: bool = False,
                 hosts: Iterable[str] = (), users: Iterable[str] = ()) -> None:
        self.keep_secrets = keep_secrets
        self.anonymize = anonymize
        self.count = 0
        self._hosts = sorted({h for h in hosts if h}, key=len, reverse=True)
        self._users = sorted({u for u in users if u}, key=len, reverse=True)

    @classmethod
    def for_machine(cls, keep_secrets: bool = False, anonymize: bool = False,
                    uids: Iterable[int | None] = ()) -> Redactor:
        """Host and user names of this machine: its host name, and the names of the regular
        users among us, the user sudo ran us for, and the targets' owners."""
        hosts, users = [], []
        if anonymize:
            name = socket.gethostname()
            hosts = [name, name.split(".")[0]]
            users = user_names([os.getuid(), os.geteuid(), *uids], os.environ.get("SUDO_USER"))
        return cls(keep_secrets, anonymize, hosts, users)

    # -- texts ---------------------------------------------------------------------------

    def text(self, text: str) -> str:
        if not self.keep_secrets:
            text = _URL_USERINFO.sub(self._userinfo, text)
            text = _AUTH_SCHEME.sub(self._auth, text)
            text = _ASSIGNMENT.sub(self._assignment, text)
            text = _FLAG_VALUE.sub(self._assignment, text)
            text = _LONG_TOKEN.sub(self._long_token, text)
        if self.anonymize:
            text = self.anonymous(text)
        return text

    def anonymous(self, text: str) -> str:
        """Host and user names replaced, absolute paths cut to their last part."""
        text = _ABS_PATH.sub(_last_part, text)
        for host in self._hosts:
            text = re.sub(rf"(?<![\w-]){re.escape(host)}(?![\w-])", HOST, text)
        for user in self._users:
            text = re.sub(rf"(?<![\w-]){re.escape(user)}(?![\w-])", USER, text)
        return text

    def argv(self, args: list[str]) -> list[str]:
        """An argument list: each argument as a text, and the argument after a secret-named
        flag given without `=` (`--password hunter2`)."""
        out = []
        secret_next = False
        for arg in args:
            if secret_next and not self.keep_secrets and not arg.startswith("--") and arg != REDACTED:
                out.append(self._hit(REDACTED))
            else:
                out.append(self.text(arg))
            secret_next = arg.startswith("-") and "=" not in arg and secret_name(arg)
        return out

    def value(self, data: Any) -> Any:
        """Every text inside a JSON-like value (dict keys are left as they are)."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list):
            return [self.value(x) for x in data]
        if isinstance(data, dict):
            return {k: self.value(v) for k, v in data.items()}
        return data

    def environment(self, env: dict[str, Any]) -> dict[str, Any]:
        """environment.json (diagnose.capture.environment): the processes' command lines as argument
        lists, every other text as a text."""
        out = self.value({k: v for k, v in env.items() if k != "processes"})
        if "processes" in env:
            out["processes"] = [{**self.value({k: v for k, v in p.items() if k != "cmdline"}),
                                 "cmdline": self.argv(p.get("cmdline") or [])} for p in env["processes"]]
        return {k: out[k] for k in env}

    def uncounted(self) -> Redactor:
        """The same replacements, not counted: for texts whose secrets were counted already
        (perf's own command line in the perf script header, the report's copy of the capture)."""
        return copy.copy(self)

    def summary(self) -> dict[str, Any]:
        """What the manifest and environment.json say about it."""
        return {"redacted": self.count, "secrets_kept": self.keep_secrets, "anonymized": self.anonymize}

    # -- replacements -----------------------------------------------------------------------

    def _hit(self, replacement: str) -> str:
        self.count += 1
        return replacement

    def _userinfo(self, m: re.Match[str]) -> str:
        if m.group("userinfo") == REDACTED:
            return m.group(0)
        return m.group("scheme") + self._hit(REDACTED) + "@"

    def _auth(self, m: re.Match[str]) -> str:
        if m.group("value") == REDACTED:
            return m.group(0)
        return m.group("scheme") + m.group("sep") + self._hit(REDACTED)

    def _assignment(self, m: re.Match[str]) -> str:
        name, sep, value = m.group("name"), m.group("sep"), m.group("value")
        if value == REDACTED:
            return m.group(0)
        if not secret_name(name):  # `--opts=token=X`, `-c 'run --password X'`: the value may hold more
            return name + sep + (_ASSIGNMENT if sep == "=" else _FLAG_VALUE).sub(self._assignment, value)
        return name + sep + self._hit(REDACTED)

    def _long_token(self, m: re.Match[str]) -> str:
        return self._hit(REDACTED) if looks_random(m.group(0)) else m.group(0)


def _last_part(m: re.Match[str]) -> str:
    if _JIT_MAP.fullmatch(m.group(0)):
        return m.group(0)  # perf's JIT symbol maps: named by pid, and what marks JIT frames
    parts = [p for p in m.group(0).split("/") if p]
    return parts[-1] if parts else m.group(0)


def user_names(uids: Iterable[int | None], extra: str | None = None) -> list[str]:
    """The login names of the regular users (uid >= 1000) among `uids`, and `extra`."""
    names = []
    for uid in set(uids):
        if uid is None or uid < FIRST_REGULAR_UID:
            continue
        try:
            names.append(pwd.getpwuid(uid).pw_name)
        except KeyError:
            continue
    if extra and extra != "root":
        names.append(extra)
    return names
