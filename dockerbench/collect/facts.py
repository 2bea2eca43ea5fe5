"""Host facts: run the read-only ``facts.sh`` on the host and turn its output into HostFacts.

The same script runs three ways, each a ``FactRunner``:

* ``LocalRunner``: on this machine, when the engine runs on the audited host;
* ``ProbeRunner``: in a short-lived container started through the audited
  Docker API, with the host's / mounted read-only at /host, so a host reachable
  only by its API is still fully audited;
* ``SshRunner``: over SSH, with host keys verified against known_hosts.

``gather_facts`` asks the script what runs on the host, tells which dockerd
serves the audited endpoint (not whichever started last), finds the paths that
daemon really uses (data root, sockets, TLS files, config file) and stats them.

Text from the host (argv, paths, file contents) is decoded as UTF-8 with
``surrogateescape``, like ``os.fsdecode``: it round-trips exactly, and bytes
that are not UTF-8 show up as lone surrogates. Print such strings with
``errors="backslashreplace"``.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shlex
import stat as stat_module
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit

from dockerbench.collect.hostprocs import HostProcesses
from dockerbench.collect.hostprocs import parse_record as parse_process_record
from dockerbench.daemonconfig import DaemonConfig, effective
from dockerbench.snapshot import PROBE_LABEL, FileFact, HostFacts, MountFact, ProcessFact, norm_host_path

DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
DEFAULT_SOCK = "/var/run/docker.sock"
DEFAULT_EXEC_ROOT = "/var/run/docker"
SYSTEM_CONTAINERD_SOCK = "/run/containerd/containerd.sock"
DEFAULT_CONTAINERD_CONFIG = "/etc/containerd/config.toml"
RUN_CONTAINERD = "/run/containerd"  # the directory CIS 1.1.4 names
ETC_ENVIRONMENT = "/etc/environment"
DEFAULT_GROUP = "docker"  # dockerd's --group
PROBE_ROOT = "/host"
# dockerd's defaults when TLS is on but a path is not given (in _cert_dir).
TLS_DEFAULTS = {"tlscacert": "ca.pem", "tlscert": "cert.pem", "tlskey": "key.pem"}


class FactsError(Exception):
    """Nothing could be gathered: the script did not run or said nothing usable."""


def script_text() -> str:
    return resources.files(__package__).joinpath("facts.sh").read_text(encoding="utf-8")


# -- runners -----------------------------------------------------------------


class FactRunner(Protocol):
    """Runs facts.sh on the audited host with ``args`` (mode first) and returns its stdout."""

    method: str  # "local", "probe" or "ssh", as HostFacts.method

    def run(self, args: list[str]) -> bytes: ...


def _script_argv(root: str, args: list[str]) -> list[str]:
    return ["sh", "-s", "--", root, *args]


class LocalRunner:
    """facts.sh on this machine: ``sh -s`` with the script on stdin."""

    method = "local"

    def __init__(self, *, timeout: float = 60.0, root: str = "", shell: str = "sh") -> None:
        self.timeout = timeout
        self.root = root
        self.shell = shell

    def run(self, args: list[str]) -> bytes:
        argv = [self.shell, *_script_argv(self.root, args)[1:]]
        try:
            done = subprocess.run(  # noqa: S603 - fixed program, our own arguments
                argv, input=script_text().encode(), capture_output=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise FactsError(f"the fact script did not finish within {self.timeout:g} s") from exc
        except OSError as exc:
            raise FactsError(f"cannot run {self.shell}: {exc}") from exc
        if done.returncode != 0:
            raise FactsError(f"the fact script failed ({done.returncode}): {_tail(done.stderr)}")
        return done.stdout


class ProbeRunner:
    """facts.sh in a short-lived probe container started through the audited Docker API.

    The container shares the host's PID namespace and sees the host's / read-only
    at /host; it has no network, a read-only root filesystem and the probe label
    (so the audit never reports it), and it is removed whatever happens.

    Capabilities: all dropped, then two added back, each because a fact needs it:

    * SYS_PTRACE: the socket inodes a daemon holds are the links in
      /proc/<pid>/fd, and the kernel lets another process read them only if it
      passes a ptrace access check. Our uid matches the daemons' (root), but
      the check also asks that the reader's capabilities cover the target's,
      and dockerd has them all; without SYS_PTRACE the "fds" are unreadable and
      the serving dockerd can only be told apart by the probe's own ancestry
      (measured: listing the directory works, every readlink is refused).
    * DAC_READ_SEARCH: root without capabilities is an ordinary user for
      permission checks on files it does not own, so a TLS key or a daemon.json
      under a directory owned by another user with mode 0700 could not be
      stat'ed or read. DAC_READ_SEARCH grants read and search only, never write
      (DAC_OVERRIDE would also grant write).

    On Docker before 25 a read-only bind is read-only only at its top mount
    (submounts of / stay writable); the script never writes, and the container
    has no capability that would let it change ownership or modes.
    """

    method = "probe"

    def __init__(self, api_client: Any, image: str, *, timeout: float = 60.0) -> None:
        self.api = api_client
        self.image = image
        self.timeout = timeout

    def _check_image(self) -> None:
        import docker.errors

        try:
            self.api.inspect_image(self.image)
        except docker.errors.ImageNotFound as exc:
            raise FactsError(f"probe image {self.image} is not on the host; pull it or set --probe-image") from exc
        except docker.errors.DockerException as exc:
            raise FactsError(f"cannot inspect the probe image {self.image}: {exc}") from exc

    def run(self, args: list[str]) -> bytes:
        import docker.errors
        import requests.exceptions

        self._check_image()
        api = self.api
        host_config = api.create_host_config(
            binds={"/": {"bind": PROBE_ROOT, "mode": "ro"}},
            pid_mode="host",
            network_mode="none",
            read_only=True,
            cap_drop=["ALL"],
            cap_add=["SYS_PTRACE", "DAC_READ_SEARCH"],
            security_opt=["no-new-privileges"],
            # json-file whatever the daemon's default driver, so logs() can read the output.
            log_config={"Type": "json-file", "Config": {}},
            userns_mode="host",
        )
        # Named up front, so it can be removed even when the answer to "create" is lost.
        name = f"dockerbench-probe-{secrets.token_hex(6)}"
        created_id = ""
        try:
            created = api.create_container(
                self.image,
                name=name,
                entrypoint=["sh"],
                command=["-c", script_text(), "dockerbench-facts", PROBE_ROOT, *args],
                user="0:0",
                labels={PROBE_LABEL: "1"},
                network_disabled=True,
                host_config=host_config,
            )
            created_id = created["Id"]
            api.start(created_id)
            try:
                result = api.wait(created_id, timeout=self.timeout)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
                raise FactsError(f"the probe container did not finish within {self.timeout:g} s") from exc
            out = api.logs(created_id, stdout=True, stderr=False)
            code = result.get("StatusCode")
            if code != 0:
                err = api.logs(created_id, stdout=False, stderr=True)
                raise FactsError(f"the fact script failed in the probe container ({code}): {_tail(err)}")
            return bytes(out)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise FactsError(f"the probe container failed: {exc}") from exc
        finally:
            self._remove(created_id or name)

    def _remove(self, container: str) -> None:
        import docker.errors
        import requests.exceptions

        try:
            self.api.remove_container(container, force=True)
        except docker.errors.NotFound:
            pass  # never created, or already gone
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise FactsError(f"could not remove the probe container {container}: {exc}") from exc


def _accept_unknown_policy() -> Any:
    import paramiko

    class AcceptUnknown(paramiko.MissingHostKeyPolicy):
        """Accept a host key we do not know, for this connection only (never saved)."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            return None

    return AcceptUnknown()


class SshRunner:
    """facts.sh over SSH (paramiko): ``sh -s`` with the script on stdin.

    Host keys are checked against ``known_hosts`` (default ~/.ssh/known_hosts);
    an unknown key is refused unless ``accept_unknown_host``. With ``sudo``,
    the script runs under ``sudo -n`` for a non-root login.
    """

    method = "ssh"

    def __init__(
        self,
        host: str,
        *,
        port: int = 22,
        user: str | None = None,
        key_filename: str | None = None,
        pkey: Any = None,
        known_hosts: str | None = None,
        accept_unknown_host: bool = False,
        timeout: float = 60.0,
        sudo: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.key_filename = key_filename
        self.pkey = pkey
        self.known_hosts = known_hosts
        self.accept_unknown_host = accept_unknown_host
        self.timeout = timeout
        self.sudo = sudo
        self._client: Any = None

    def _connect(self) -> Any:
        import paramiko

        if self._client is not None:
            return self._client
        client = paramiko.SSHClient()
        known = self.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        if os.path.exists(known):
            # Into the in-memory set only: load_host_keys() would make paramiko write
            # every accepted key back to the user's file.
            client.get_host_keys().load(known)
        client.set_missing_host_key_policy(
            _accept_unknown_policy() if self.accept_unknown_host else paramiko.RejectPolicy()
        )
        explicit_key = self.key_filename is not None or self.pkey is not None
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                key_filename=self.key_filename,
                pkey=self.pkey,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                look_for_keys=not explicit_key,
                allow_agent=not explicit_key,
            )
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise FactsError(
                    f"the SSH host key of {self.host}:{self.port} is not in {known}; add it, or accept unknown keys"
                ) from exc
            raise FactsError(f"SSH to {self.host}:{self.port} failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            client.close()
            raise FactsError(f"SSH to {self.host}:{self.port} failed: {exc}") from exc
        self._client = client
        return client

    def run(self, args: list[str]) -> bytes:
        import paramiko

        client = self._connect()
        words = _script_argv("", args)
        command = " ".join(shlex.quote(w) for w in words)
        if self.sudo:
            command = "sudo -n " + command
        try:
            stdin, stdout, stderr = client.exec_command(
                command.encode("utf-8", "surrogateescape"), timeout=self.timeout
            )
            stdin.write(script_text().encode())
            stdin.channel.shutdown_write()
            out = stdout.read()
            err = stderr.read()
            code = stdout.channel.recv_exit_status()
        except TimeoutError as exc:
            raise FactsError(f"the fact script did not finish within {self.timeout:g} s over SSH") from exc
        except (paramiko.SSHException, OSError) as exc:
            raise FactsError(f"running the fact script over SSH failed: {exc}") from exc
        if code != 0:
            raise FactsError(f"the fact script failed over SSH ({code}): {_tail(err)}")
        return bytes(out)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> SshRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tail(data: bytes, limit: int = 400) -> str:
    text = data.decode("utf-8", "backslashreplace").strip()
    return text[-limit:] or "no message"


# -- the script's output -----------------------------------------------------


@dataclass(frozen=True)
class ProcRecord:
    pid: int
    ppid: int
    kind: str  # "dockerd", "containerd", "shim", or "" for an ancestor of the script
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Listener:
    pid: int
    proto: str  # "unix", "tcp", "tcp6"
    inode: int
    path: str = ""  # unix: as bound
    canonical: str = ""  # unix: symlinks resolved on the host
    port: int | None = None  # tcp


@dataclass(frozen=True)
class GroupRecord:
    """A group as the host's /etc/group has it, found by the name (or gid) asked for."""

    name: str
    gid: str
    members: tuple[str, ...]  # explicit members, then users whose primary group it is


@dataclass
class Discovery:
    """The script's output, parsed but not yet interpreted."""

    root: str = ""
    complete: bool = False
    self_pid: int | None = None
    ancestry: list[ProcRecord] = field(default_factory=list)
    procs: list[ProcRecord] = field(default_factory=list)
    fd_errors: dict[int, str] = field(default_factory=dict)
    fds_read: set[int] = field(default_factory=set)
    listeners: list[Listener] = field(default_factory=list)
    # Each dockerd's DOCKER_* variables by pid; env_errors: why a dockerd's could not be read.
    environments: dict[int, dict[str, str]] = field(default_factory=dict)
    env_errors: dict[int, str] = field(default_factory=dict)
    hostname: str = ""
    mounts: tuple[MountFact, ...] | None = None
    mounts_error: str = ""
    audit_source: str = ""
    audit_note: str = ""
    audit_text: str | None = None  # auditctl -l
    audit_files: dict[str, str] = field(default_factory=dict)
    audit_errors: dict[str, str] = field(default_factory=dict)
    # Groups asked for, by the name asked: a GroupRecord, None (no such group) or an error text.
    groups: dict[str, GroupRecord | None | str] = field(default_factory=dict)
    # The DOCKER_* lines of /etc/environment; None: the file is missing; envfile_error: unreadable.
    envfile: str | None = None
    envfile_error: str = ""
    stats: dict[str, FileFact] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)
    read_errors: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    binaries: dict[str, str] = field(default_factory=dict)
    certs: list[str] = field(default_factory=list)
    canonical: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # malformed lines
    # The processes of containers (token p): None when not asked for or not reported.
    processes: HostProcesses | None = None

    def merge(self, other: Discovery) -> None:
        """Add what a later fetch run found."""
        self.stats.update(other.stats)
        for path, text in other.reads.items():
            self.reads[path] = text
            self.read_errors.pop(path, None)
        for path, error in other.read_errors.items():
            self.read_errors[path] = error
            self.reads.pop(path, None)
        self.groups.update(other.groups)
        self.canonical.update(other.canonical)
        self.problems.extend(other.problems)


# Plain fields: the script sends these characters as they are, anything else in hex.
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._:@,+=-")


def _field(raw: bytes) -> str:
    """Encode bytes as the script's fields are encoded (for tokens)."""
    return "=" + raw.decode("ascii") if all(c in _PLAIN for c in raw) else "x" + raw.hex()


def _b(word: str) -> bytes:
    if word.startswith("="):
        return word[1:].encode("ascii")
    if not word.startswith("x"):
        raise ValueError(f"expected a field, got {word[:20]!r}")
    return bytes.fromhex(word[1:])


def _s(word: str) -> str:
    return _b(word).decode("utf-8", "surrogateescape")


def _text(data: bytes | None) -> str:
    if data is None:
        raise ValueError("the record has no data")
    return data.decode("utf-8", "surrogateescape")


def _grep_records(data: bytes | None, name: str) -> dict[int, list[bytes]]:
    """Split ``grep -a -z -H`` output over /proc/<pid>/<name> files: the records of each pid, in order."""
    out: dict[int, list[bytes]] = {}
    prefix = b"/proc/"
    tail = f"/{name}:".encode()
    for record in (data or b"").split(b"\0")[:-1]:
        head, sep, rest = record.partition(tail)
        if not sep or not head.startswith(prefix) or not head[len(prefix) :].isdigit():
            raise ValueError(f"unexpected {name} record {record[:40]!r}")
        out.setdefault(int(head[len(prefix) :]), []).append(rest)
    return out


_KINDS = {
    stat_module.S_IFREG: "file",
    stat_module.S_IFDIR: "dir",
    stat_module.S_IFSOCK: "socket",
    stat_module.S_IFLNK: "link",
}


def _unescape_mount(field_text: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field_text:
        return field_text
    out = bytearray()
    raw = field_text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 4 <= len(raw) and raw[i + 1 : i + 4].isdigit():
            out.append(int(raw[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_mounts(text: str) -> tuple[MountFact, ...]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            mounts.append(MountFact(_unescape_mount(parts[0]), _unescape_mount(parts[1]), parts[2], parts[3]))
    return tuple(mounts)


def _stat_record(path: str, w: list[str]) -> FileFact:
    if w[0] == "ok":
        raw = int(w[1], 16)
        kind = _KINDS.get(stat_module.S_IFMT(raw), "other")
        return FileFact(path, True, kind, int(w[2]), int(w[3]), _s(w[4]), _s(w[5]), raw & 0o7777)
    if w[0] == "missing":
        return FileFact(path, False)
    return FileFact(path, False, error=_s(w[1]) if len(w) > 1 else "unknown error")


@dataclass
class _Pending:
    """Records whose meaning needs the whole output (command lines come in one blob)."""

    anc: list[tuple[int, int]] = field(default_factory=list)
    procs: list[tuple[int, int, str]] = field(default_factory=list)
    cmdlines: dict[int, list[bytes]] = field(default_factory=dict)
    group_members: dict[str, list[str]] = field(default_factory=dict)


def parse_output(data: bytes) -> Discovery:
    """Parse what facts.sh printed. Malformed lines are noted in ``problems``, never fatal."""
    disc = Discovery()
    lines = data.split(b"\n")
    if not lines or lines[0].strip() != b"v 2":
        raise FactsError(f"the fact script printed no recognisable output: {_tail(data[:200])}")
    pending = _Pending()
    i, count = 1, len(lines)
    while i < count:
        line, number = lines[i], i + 1
        i += 1
        if not line:
            continue
        if line.startswith(b" "):
            disc.problems.append(f"line {number}: data outside a record")
            continue
        tag, *w = line.decode("ascii", "replace").split(" ")
        blob: bytes | None = None
        try:
            if w and w[-1] == "+":
                # The record's data: od lines up to the next record.
                start = i
                while i < count and lines[i].startswith(b" "):
                    i += 1
                w = w[:-1]
                blob = bytes.fromhex(b"".join(lines[start:i]).decode("ascii"))
            _parse_line(disc, pending, tag, w, blob)
        except (ValueError, IndexError) as exc:
            disc.problems.append(f"line {number} ({tag}): {exc}")
    argv = {pid: tuple(a.decode("utf-8", "surrogateescape") for a in args) for pid, args in pending.cmdlines.items()}
    disc.ancestry = [ProcRecord(pid, ppid, "", argv.get(pid, ())) for pid, ppid in pending.anc]
    disc.procs = [ProcRecord(pid, ppid, kind, argv.get(pid, ())) for pid, ppid, kind in pending.procs]
    for name, members in pending.group_members.items():
        group = disc.groups.get(name)
        if isinstance(group, GroupRecord):
            disc.groups[name] = GroupRecord(group.name, group.gid, tuple(dict.fromkeys([*group.members, *members])))
    return disc


def _parse_line(  # noqa: C901 - one branch per record
    disc: Discovery, pending: _Pending, tag: str, w: list[str], blob: bytes | None
) -> None:
    if tag == "root":
        disc.root = _s(w[0])
    elif tag == "end":
        disc.complete = True
    elif tag == "self":
        disc.self_pid = int(w[0])
    elif tag == "anc":
        pending.anc.append((int(w[0]), int(w[1])))
    elif tag == "proc":
        pending.procs.append((int(w[0]), int(w[1]), w[2]))
    elif tag == "cmdlines":
        pending.cmdlines.update(_grep_records(blob, "cmdline"))
    elif tag == "env":
        if w[1] == "ok":
            disc.environments.setdefault(int(w[0]), {})
        else:
            disc.env_errors[int(w[0])] = _s(w[2])
    elif tag == "environs":
        for pid, records in _grep_records(blob, "environ").items():
            env = disc.environments.setdefault(pid, {})
            for record in records:
                key, _, value = record.decode("utf-8", "surrogateescape").partition("=")
                env[key] = value
    elif tag == "fds":
        if w[1] == "ok":
            disc.fds_read.add(int(w[0]))
        else:
            disc.fd_errors[int(w[0])] = _s(w[2])
    elif tag == "listen":
        pid, proto, inode = int(w[0]), w[1], int(w[2])
        if proto == "unix":
            disc.listeners.append(Listener(pid, proto, inode, _s(w[3]), _s(w[4])))
        else:
            port = int(w[3].rpartition(":")[2], 16)
            disc.listeners.append(Listener(pid, proto, inode, port=port))
    elif tag == "hostname":
        disc.hostname = _s(w[0]).strip()
    elif tag == "mounts":
        if w[0] == "ok":
            disc.mounts = parse_mounts(_text(blob))
        else:
            disc.mounts_error = _s(w[1])
    elif tag == "audit":
        disc.audit_source = w[0]
        if w[0] == "auditctl":
            disc.audit_text = _text(blob)
        else:
            disc.audit_note = _s(w[1])
    elif tag == "auditfile":
        if w[1] == "ok":
            disc.audit_files[_s(w[0])] = _text(blob)
        else:
            disc.audit_errors[_s(w[0])] = _s(w[2])
    elif tag == "group":
        name = _s(w[0])
        if w[1] == "ok":
            members = tuple(m for m in _s(w[4]).split(",") if m)
            disc.groups[name] = GroupRecord(_s(w[2]), w[3], members)
        elif w[1] == "none":
            disc.groups[name] = None
        else:
            disc.groups[name] = _s(w[2])
    elif tag == "gprimary":
        pending.group_members.setdefault(_s(w[0]), []).append(_s(w[1]))
    elif tag == "envfile":
        if w[0] == "ok":
            disc.envfile = _s(w[1])
        elif w[0] != "missing":
            disc.envfile_error = _s(w[1])
    elif tag == "stat":
        path = _s(w[0])
        disc.stats[path] = _stat_record(path, w[1:])
    elif tag == "read":
        path = _s(w[0])
        if w[1] == "ok":
            disc.reads[path] = _text(blob)
            disc.read_errors.pop(path, None)
        else:
            disc.read_errors[path] = "missing" if w[1] == "missing" else _s(w[2])
            disc.reads.pop(path, None)
    elif tag == "unit":
        disc.units[w[0]] = _s(w[1])
    elif tag == "bin":
        disc.binaries[w[0]] = _s(w[1])
    elif tag == "cert":
        disc.certs.append(_s(w[0]))
    elif tag == "canon":
        disc.canonical[_s(w[0])] = _s(w[1])
    elif tag in ("pcgroups", "pstatus", "pcmdlines", "passwd"):
        if disc.processes is None:
            disc.processes = HostProcesses()
        parse_process_record(disc.processes, tag, blob)
    else:
        disc.problems.append(f"unknown record {tag!r}")


def _token(kind: str, path: str) -> str:
    return kind + _field(path.encode("utf-8", "surrogateescape"))


# -- the endpoint and the daemon that serves it --------------------------------


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # "unix", "tcp", "ssh", ...
    socket_path: str = ""  # unix (ssh: the remote default socket)
    port: int | None = None  # tcp


def parse_endpoint(endpoint: str) -> Endpoint:
    parts = urlsplit(endpoint)
    scheme = parts.scheme or "unix"
    if scheme in ("unix", "http+unix"):
        return Endpoint("unix", parts.path or DEFAULT_SOCK)
    if scheme == "ssh":
        # docker's ssh transport runs `docker system dial-stdio` there, which
        # talks to the remote default socket.
        return Endpoint("ssh", DEFAULT_SOCK)
    if scheme in ("tcp", "http", "https"):
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            port = 2376 if scheme == "https" else 2375
        return Endpoint("tcp", port=port)
    return Endpoint(scheme)


def _flag_value(argv: tuple[str, ...], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def _containerd_address_of(config: DaemonConfig, managed: bool) -> str:
    if config.get("containerd"):
        return str(config.get("containerd"))
    if managed:
        return posixpath.join(str(config.get("exec-root") or DEFAULT_EXEC_ROOT), "containerd", "containerd.sock")
    return SYSTEM_CONTAINERD_SOCK


def _pick_dockerd(
    disc: Discovery, endpoint: Endpoint, info: dict[str, Any], method: str, configs: dict[int, DaemonConfig]
) -> tuple[ProcRecord | None, str, str]:
    """The dockerd that serves the endpoint, how it was told apart, and why not if it was not."""
    dockerds = [p for p in disc.procs if p.kind == "dockerd" and p.argv]
    if not dockerds:
        return None, "", "no dockerd process found"
    candidates = dockerds

    def narrow(pids: set[int]) -> list[ProcRecord]:
        return [p for p in candidates if p.pid in pids]

    # 1. It holds the audited socket.
    holders: set[int] = set()
    if endpoint.socket_path:
        wanted = {
            norm_host_path(endpoint.socket_path),
            norm_host_path(disc.canonical.get(endpoint.socket_path, "")),
        } - {""}
        holders = {
            li.pid
            for li in disc.listeners
            if li.proto == "unix" and ({norm_host_path(li.path), norm_host_path(li.canonical)} & wanted)
        }
    elif endpoint.port is not None:
        holders = {li.pid for li in disc.listeners if li.proto != "unix" and li.port == endpoint.port}
    found = narrow(holders)
    if len(found) == 1:
        return found[0], "socket", ""
    if found:
        candidates = found

    # 2. In the probe: our containerd-shim names the containerd of the dockerd that started us.
    if method == "probe":
        address = ""
        for anc in disc.ancestry:
            if posixpath.basename(anc.argv[0] if anc.argv else "").startswith("containerd-shim"):
                address = _flag_value(anc.argv, "-address", "--address") or ""
                break
        if address:
            by_containerd = _dockerds_using_containerd(disc, address, candidates, configs)
            if len(by_containerd) == 1:
                return by_containerd[0], "probe", ""
            if by_containerd:
                candidates = by_containerd

    # 3. Its data root is the one the API reports.
    root_dir = info.get("DockerRootDir")
    if root_dir:
        same_root = [
            p
            for p in candidates
            if norm_host_path(str(configs[p.pid].get("data-root") or "/var/lib/docker"))
            == norm_host_path(str(root_dir))
        ]
        if len(same_root) == 1:
            return same_root[0], "data-root", ""
        if same_root:
            candidates = same_root

    # 4. The only one.
    if len(dockerds) == 1:
        return dockerds[0], "only", ""
    pids = ", ".join(str(p.pid) for p in candidates)
    return None, "", f"cannot tell which dockerd serves the endpoint (candidates: {pids})"


def _dockerds_using_containerd(
    disc: Discovery, address: str, candidates: list[ProcRecord], configs: dict[int, DaemonConfig]
) -> list[ProcRecord]:
    # Which containerd listens on the shim's address (needs readable fds)...
    serving = {
        li.pid
        for li in disc.listeners
        if li.proto == "unix" and norm_host_path(address) in (norm_host_path(li.path), norm_host_path(li.canonical))
    }
    containerds = {p.pid: p for p in disc.procs if p.kind == "containerd"}
    out = []
    for d in candidates:
        children = {pid for pid, c in containerds.items() if c.ppid == d.pid}
        if serving and children & serving:
            out.append(d)
            continue
        # ... else compare the address dockerd is configured to use.
        if norm_host_path(_containerd_address_of(configs[d.pid], bool(children))) == norm_host_path(address):
            out.append(d)
    return out


# -- gathering ---------------------------------------------------------------


def _listen_stream(unit_text: str) -> str:
    for line in unit_text.splitlines():
        key, eq, value = line.strip().partition("=")
        if eq and key.strip() == "ListenStream" and value.strip().startswith("/"):
            return value.strip()
    return ""


def _audit_rules(disc: Discovery, errors: dict[str, str]) -> tuple[tuple[str, ...] | None, str]:
    if disc.audit_source == "auditctl":
        text = disc.audit_text or ""
        return tuple(ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip() != "No rules"), "auditctl"
    if disc.audit_source != "files":
        errors["audit"] = "the fact script did not report audit rules"
        return None, ""
    if disc.audit_errors and not disc.audit_files:
        errors["audit"] = "; ".join(f"{p}: {e}" for p, e in disc.audit_errors.items())
        return None, "files"
    rules: list[str] = []
    for _path, text in sorted(disc.audit_files.items()):
        rules.extend(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#"))
    return tuple(rules), "files"


def _docker_group(disc: Discovery, name: str, errors: dict[str, str]) -> tuple[str, ...] | None:
    group = disc.groups.get(name, "the fact script did not report the group")
    if isinstance(group, str):
        errors["docker-group"] = f"group {name}: {group}"
        return None
    return group.members if group is not None else ()


def parse_environment_file(text: str) -> dict[str, str]:
    """The DOCKER_* variables of /etc/environment, read as pam_env reads it.

    ``KEY=VALUE`` lines; leading blanks, an ``export`` prefix and ``#`` comments
    (to the end of the line) are ignored; the key is letters, digits and ``_``;
    a quote that opens the value is dropped, and so is a quote that ends it.
    """
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.lstrip(" \t")
        if line.startswith("export "):
            line = line[len("export ") :]
        line = line.partition("#")[0]
        key, eq, value = line.partition("=")
        if not eq or not key or not all(c.isascii() and (c.isalnum() or c == "_") for c in key):
            continue
        if value[:1] in ("'", '"'):
            value = value[1:]
            if value[-1:] in ("'", '"'):
                value = value[:-1]
        if key.startswith("DOCKER_"):
            env[key] = value
    return env


def _swarm_state_path(data_root: str) -> str:
    # Where dockerd keeps the swarm's listen and advertise addresses (check 7.2 reads it there).
    return data_root.rstrip("/") + "/swarm/docker-state.json"


@dataclass(frozen=True)
class HostPass:
    """One fact-gathering pass: the host facts, and the containers' processes when asked for."""

    facts: HostFacts
    processes: HostProcesses | None = None  # None: not asked for, or the script did not report them


def gather_facts(runner: FactRunner, *, endpoint: str, info: dict[str, Any]) -> HostFacts:
    """Gather the host facts of the daemon serving ``endpoint`` (whose ``docker info`` is ``info``)."""
    return gather_host(runner, endpoint=endpoint, info=info).facts


def gather_host(runner: FactRunner, *, endpoint: str, info: dict[str, Any], processes: bool = False) -> HostPass:
    """Gather the host facts of the daemon serving ``endpoint`` (whose ``docker info`` is ``info``).

    With ``processes``, the same first run of the script also lists every
    container's processes from the host's /proc (see ``hostprocs``).

    Runs the script once to discover (and stat and read the paths that can be
    guessed up front), and once more only for what the daemon's configuration
    names beyond that (TLS files, another --group, a config file elsewhere).
    Raises FactsError only when the discovery itself fails; anything else that
    fails is recorded in ``HostFacts.errors``.
    """
    method = getattr(runner, "method", "local")
    ep = parse_endpoint(endpoint)
    root_dir = str(info.get("DockerRootDir") or "")
    swarm_active = (info.get("Swarm") or {}).get("LocalNodeState") == "active"
    guessed = [p for p in (root_dir, ep.socket_path, DEFAULT_SOCK) if p]
    guessed += [posixpath.join(DEFAULT_EXEC_ROOT, "containerd", "containerd.sock"), SYSTEM_CONTAINERD_SOCK]
    # The config files of a system containerd and of one dockerd runs itself.
    guessed += [DEFAULT_CONTAINERD_CONFIG, posixpath.join(DEFAULT_EXEC_ROOT, "containerd", "containerd.toml")]
    tokens = [_token("s", p) for p in dict.fromkeys(guessed)]
    if ep.socket_path:
        tokens.append(_token("c", ep.socket_path))
    if swarm_active and root_dir:
        tokens.append(_token("r", _swarm_state_path(root_dir)))
    if processes:
        tokens.append(_token("p", "all"))
    disc = parse_output(runner.run(["discover", *tokens]))
    errors: dict[str, str] = {}
    if not disc.complete:
        errors["script"] = "the fact script's output ended early; some facts are missing"

    # Each dockerd's configuration as far as its command line tells (for picking).
    configs = {p.pid: effective(p.argv, None) for p in disc.procs if p.kind == "dockerd"}
    dockerd, match, why = _pick_dockerd(disc, ep, info, method, configs)
    if why:
        errors["dockerd"] = why
    for pid, err in disc.fd_errors.items():
        errors[f"fds:{pid}"] = err

    # The configuration file it really reads, and its effective configuration.
    argv = dockerd.argv if dockerd else ()
    config_file = effective(argv, None).config_file
    if config_file not in disc.reads and config_file not in disc.read_errors:
        disc.merge(parse_output(runner.run(["fetch", _token("r", config_file), _token("s", config_file)])))
    daemon_json = disc.reads.get(config_file)
    if config_file in disc.read_errors and disc.read_errors[config_file] != "missing":
        errors["daemon.json"] = f"{config_file}: {disc.read_errors[config_file]}"
    config = effective(argv, daemon_json)
    if config.errors:
        errors["daemon-config"] = "; ".join(config.errors)
    dockerd_env: dict[str, str] = {}
    if dockerd is not None:
        if dockerd.pid in disc.env_errors:
            errors["dockerd-environment"] = f"/proc/{dockerd.pid}/environ: {disc.env_errors[dockerd.pid]}"
        dockerd_env = dict(sorted(disc.environments.get(dockerd.pid, {}).items()))

    containerds = [p for p in disc.procs if p.kind == "containerd"]
    managed = [c for c in containerds if dockerd and c.ppid == dockerd.pid]

    roles: dict[str, str] = {"etc-docker": "/etc/docker", "daemon.json": config_file}
    roles["default-docker"] = "/etc/default/docker"
    roles["sysconfig-docker"] = "/etc/sysconfig/docker"
    roles["data-root"] = root_dir or str(config.get("data-root") or "/var/lib/docker")
    roles["docker-sock"] = _docker_sock(ep, config, disc)
    containerd_sock = _containerd_address_of(config, bool(managed))
    roles["containerd-sock"] = containerd_sock
    roles["containerd-dir"] = RUN_CONTAINERD
    containerd = _pick_containerd(disc, containerd_sock, managed, containerds)
    containerd_config = _flag_value(containerd.argv, "--config", "-c") if containerd else None
    roles["containerd-config"] = containerd_config or DEFAULT_CONTAINERD_CONFIG
    uses_tls = _uses_tls(config, dockerd_env)
    for key in ("tlscacert", "tlscert", "tlskey"):
        value = config.get(key)
        if not value and uses_tls:
            value = posixpath.join(_cert_dir(dockerd_env), TLS_DEFAULTS[key])
        if value:
            roles[key] = str(value)
    for unit, path in disc.units.items():
        roles[unit] = path
    for name, path in disc.binaries.items():
        roles[f"bin:{name}"] = path

    # dockerd gives its unix sockets to this group (-G/--group, daemon.json "group").
    group_name = str(config.get("group") or DEFAULT_GROUP)
    swarm_state = _swarm_state_path(roles["data-root"]) if swarm_active else ""
    more = [_token("s", p) for p in dict.fromkeys([*roles.values(), *disc.certs]) if p not in disc.stats]
    if group_name not in disc.groups:
        more.append(_token("g", group_name))
    if swarm_state and swarm_state not in disc.reads and swarm_state not in disc.read_errors:
        more.append(_token("r", swarm_state))
    if more:
        try:
            disc.merge(parse_output(runner.run(["fetch", *more])))
        except FactsError as exc:
            errors["stat"] = str(exc)
    if disc.problems:
        errors["parse"] = "; ".join(disc.problems[:5])
    files = dict(disc.stats)
    for path, fact in files.items():
        if fact.error:
            errors[f"stat:{path}"] = fact.error
    # A role is absent when the host has no such path.
    roles = {role: path for role, path in roles.items() if path in files and files[path].exists}

    if swarm_state in disc.read_errors:
        errors["swarm-state"] = f"{swarm_state}: {disc.read_errors[swarm_state]}"
    environment: dict[str, str] = {}
    if disc.envfile_error:
        errors["environment"] = f"{ETC_ENVIRONMENT}: {disc.envfile_error}"
    elif disc.envfile is not None:
        environment = parse_environment_file(disc.envfile)
    elif not disc.complete:
        errors["environment"] = f"the fact script did not report {ETC_ENVIRONMENT}"
    audit_rules, audit_source = _audit_rules(disc, errors)
    if disc.mounts is None:
        errors["mounts"] = disc.mounts_error or "the fact script did not report mounts"
    host_procs = disc.processes if disc.processes is not None and disc.processes.complete else None
    facts = HostFacts(
        method=method,
        hostname=disc.hostname,
        dockerd=ProcessFact(dockerd.pid, dockerd.argv) if dockerd else None,
        dockerd_match=match,
        dockerd_environment=dockerd_env,
        containerd=ProcessFact(containerd.pid, containerd.argv) if containerd else None,
        roles=roles,
        files=files,
        contents=dict(disc.reads),
        mounts=disc.mounts or (),
        audit_rules=audit_rules,
        audit_source=audit_source,
        docker_group=_docker_group(disc, group_name, errors),
        docker_group_name=group_name,
        registry_certs=tuple(disc.certs),
        environment=environment,
        errors=errors,
    )
    return HostPass(facts, host_procs)


def _uses_tls(config: DaemonConfig, dockerd_env: dict[str, str]) -> bool:
    if config.get("tlsverify") is True or config.get("tls") is True:
        return True
    # DOCKER_TLS_VERIFY in dockerd's environment turns --tlsverify on unless it is set explicitly.
    return bool(dockerd_env.get("DOCKER_TLS_VERIFY")) and not config.is_set("tlsverify")


def _cert_dir(dockerd_env: dict[str, str]) -> str:
    # dockerd's default for TLS files: $DOCKER_CERT_PATH, else its config dir ($DOCKER_CONFIG or ~/.docker).
    return dockerd_env.get("DOCKER_CERT_PATH") or dockerd_env.get("DOCKER_CONFIG") or "/root/.docker"


def _docker_sock(ep: Endpoint, config: DaemonConfig, disc: Discovery) -> str:
    if ep.scheme == "unix":
        return ep.socket_path
    hosts = [str(h) for h in config.get("hosts") or []]
    for host in hosts:
        if host.startswith("unix://"):
            return host[len("unix://") :] or DEFAULT_SOCK
        if host.startswith("fd://"):
            unit = disc.units.get("docker.socket")
            listen = _listen_stream(disc.reads.get(unit, "")) if unit else ""
            if listen:
                return listen
    return DEFAULT_SOCK


def _pick_containerd(
    disc: Discovery, address: str, managed: list[ProcRecord], containerds: list[ProcRecord]
) -> ProcRecord | None:
    serving = {
        li.pid
        for li in disc.listeners
        if li.proto == "unix" and norm_host_path(address) in (norm_host_path(li.path), norm_host_path(li.canonical))
    }
    found = [c for c in containerds if c.pid in serving]
    if len(found) == 1:
        return found[0]
    if len(managed) == 1:
        return managed[0]
    if len(containerds) == 1:
        return containerds[0]
    return None


__all__ = [
    "FactRunner",
    "FactsError",
    "HostPass",
    "LocalRunner",
    "ProbeRunner",
    "SshRunner",
    "gather_facts",
    "gather_host",
    "parse_output",
    "script_text",
]
