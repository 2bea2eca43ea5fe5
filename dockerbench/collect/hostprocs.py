"""Every container's processes from the host's own /proc, in one pass of the fact script.

``docker top`` costs dockerd a ``ps`` run per container (about 20 ms each); the
fact script instead greps every pid's cgroup once, and a process belongs to
each container whose id (64 hex digits) its cgroup path names: ``/docker/<id>``
(cgroupfs driver), ``/system.slice/docker-<id>.scope`` (systemd driver), under
cgroup v1 or v2, and the outer container's too when containers nest. That is
the set ``docker top`` shows: runc lists the pids of the container's cgroup
and everything below it.

The result has the shape the API gives (``{"Titles": [...], "Processes":
[[...]]}``), with the columns UID, PID, PPID, COMM and CMD, all strings, rows
in pid order as ``ps`` prints them: the same columns ``docker_api.TOP_PS_ARGS``
asks ``docker top`` for. COMM is the kernel's name of the process (the
``Name:`` of /proc/PID/status, what /proc/PID/comm and ``ps -o comm`` show: the
executed file's name, at most 15 characters), which argv cannot disguise; CMD
is its argv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TITLES = ("UID", "PID", "PPID", "COMM", "CMD")

_ID = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class HostProcesses:
    """What the script reported about container processes (records pcgroups, pstatus, pcmdlines, passwd)."""

    cgroups: dict[int, tuple[str, ...]] = field(default_factory=dict)  # pid -> container ids
    status: dict[int, dict[str, str]] = field(default_factory=dict)  # pid -> Name, State, PPid, Uid
    argv: dict[int, list[bytes]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # uid -> name, from the host's /etc/passwd
    complete: bool = False  # the cgroup listing arrived

    def pids_of(self) -> dict[str, list[int]]:
        """Container id -> its pids, in order."""
        out: dict[str, list[int]] = {}
        for pid in sorted(self.cgroups):
            if pid not in self.status:
                continue  # it exited between the two greps: ps would not list it either
            for cid in self.cgroups[pid]:
                out.setdefault(cid, []).append(pid)
        return out

    def top(self, pids: list[int]) -> dict[str, Any]:
        return {"Titles": list(TITLES), "Processes": [self._row(pid) for pid in pids]}

    def _row(self, pid: int) -> list[str]:
        st = self.status.get(pid, {})
        uids = st.get("Uid", "").split()  # real, effective, saved, fs: ps shows the effective one
        euid = uids[1] if len(uids) > 1 else "".join(uids)
        comm = _CONTROL.sub("?", st.get("Name", "").strip())
        return [self.users.get(euid, euid), str(pid), st.get("PPid", "").strip(), comm, self._cmd(pid, st)]

    def _cmd(self, pid: int, st: dict[str, str]) -> str:
        args = self.argv.get(pid) or []
        if args and any(args):
            text = " ".join(a.decode("utf-8", "replace") for a in args)
            return _CONTROL.sub("?", text)
        # No command line (a zombie, or a kernel thread): ps shows the name in brackets.
        name = f"[{st.get('Name', '').strip()}]"
        return name + " <defunct>" if st.get("State", "").strip().startswith("Z") else name


def _records(blob: bytes, name: str, sep: bytes) -> list[tuple[int, bytes]]:
    """``grep -H`` output over /proc/<pid>/<name>: (pid, rest) per record."""
    out = []
    tail = f"/{name}:".encode()
    for record in blob.split(sep):
        if not record:
            continue
        head, found, rest = record.partition(tail)
        if not found or not head.startswith(b"/proc/") or not head[6:].isdigit():
            raise ValueError(f"unexpected {name} record {record[:40]!r}")
        out.append((int(head[6:]), rest))
    return out


def parse_record(procs: HostProcesses, tag: str, blob: bytes | None) -> None:
    """Take in one of the script's process records."""
    data = blob or b""
    if tag == "pcgroups":
        procs.complete = True
        for pid, line in _records(data, "cgroup", b"\n"):
            ids = tuple(dict.fromkeys(m.decode() for m in _ID.findall(line)))
            if ids:
                procs.cgroups[pid] = ids
    elif tag == "pstatus":
        for pid, raw in _records(data, "status", b"\n"):
            key, _, value = raw.decode("utf-8", "replace").partition(":")
            procs.status.setdefault(pid, {})[key] = value.strip()
    elif tag == "pcmdlines":
        for pid, arg in _records(data, "cmdline", b"\0"):
            procs.argv.setdefault(pid, []).append(arg)
    elif tag == "passwd":
        for entry in data.decode("utf-8", "replace").splitlines():
            parts = entry.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                procs.users.setdefault(parts[2], parts[0])
