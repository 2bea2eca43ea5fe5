"""Container drift: which changes in a container's filesystem (``docker diff``) deserve a look.

Pure functions on ``[kind, path]`` pairs (kind A added, C changed, D deleted),
the way DiffSnapshot.changes stores them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence

Change = Sequence[str]  # [kind, path]

# Where executables and shared libraries live; /lib* and /usr/lib* include lib32, lib64, libx32.
_EXEC_DIR = re.compile(r"^/(?:bin|sbin|usr/bin|usr/sbin|usr/local/bin|usr/local/sbin|lib[^/]*|usr/lib[^/]*)/")
_ACCOUNT_FILES = {
    "/etc/passwd": "user accounts (/etc/passwd) changed",
    "/etc/shadow": "password hashes (/etc/shadow) changed",
    "/etc/group": "groups (/etc/group) changed",
    "/etc/gshadow": "group passwords (/etc/gshadow) changed",
    "/etc/sudoers": "sudo rules (/etc/sudoers) changed",
}
_CRON = re.compile(r"^/(?:etc/crontab$|etc/cron\.[^/]+/[^/]+$|var/spool/cron/.+)")
_AUTHORIZED_KEYS = re.compile(r"/\.ssh/authorized_keys[^/]*$")
_KIND_WORD = {"A": "new", "C": "changed", "D": "deleted"}


def suspicious_reason(kind: str, path: str) -> str | None:
    """Why one change is suspicious, or None when it is not."""
    path = posixpath.normpath(path) if path else path
    word = _KIND_WORD.get(kind, "changed")
    if path in _ACCOUNT_FILES:
        return _ACCOUNT_FILES[path] if kind != "D" else f"{path} deleted"
    if path.startswith("/etc/sudoers.d/"):
        return f"sudo rules ({path}) {word}"
    if _CRON.match(path):
        return f"scheduled job ({path}) {word}"
    if _AUTHORIZED_KEYS.search(path):
        return f"SSH authorized keys ({path}) {word}"
    if kind in ("A", "C") and _EXEC_DIR.match(path):
        # A changed directory entry (the dir itself) shows as C on the dir; only what is inside counts.
        return f"{word} file in an executable or library directory ({posixpath.dirname(path)})"
    return None


def suspicious_changes(changes: Iterable[Change]) -> list[dict[str, str]]:
    """The changes worth a look, each with its reason, in the order given."""
    flagged = []
    for kind, path in changes:
        reason = suspicious_reason(kind, path)
        if reason is not None:
            flagged.append({"path": path, "kind": kind, "reason": reason})
    return flagged


def new_since(changes: Iterable[Change], previous: Iterable[Change] | None) -> list[list[str]]:
    """Changes not present (same kind and path) in the previous diff of the same container.

    With no previous diff (a container seen for the first time), every change is new.
    """
    current = [[kind, path] for kind, path in changes]
    if previous is None:
        return current
    before = {(kind, path) for kind, path in previous}
    return [change for change in current if (change[0], change[1]) not in before]
