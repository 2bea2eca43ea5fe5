"""Everything collected from one Docker host, as frozen dataclasses.

A HostSnapshot is the only input of the checks. It is produced by the
collectors in ``dockerbench.collect`` and round-trips through JSON, so a scan
can be stored, re-evaluated later with newer checks, or turned into a test
fixture.

Conventions:

* A part that could not be collected is ``None`` and ``missing[part]`` says
  why. Checks never treat ``None`` as "nothing wrong": they SKIP.
* Raw Docker API documents (``docker info``, inspect data, ...) are kept as
  the daemon returned them, in plain dicts, except for what
  ``dockerbench.redact`` replaces: every environment value, and secret-shaped
  values in commands, history, process lists and the host's config files.
  Treat them as read-only.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import types
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeVar

SCHEMA_VERSION = 1

# The label our own probe container carries; checks never report it.
PROBE_LABEL = "io.dockerbench.probe"

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class FileFact:
    """Ownership and mode of one path on the host, as ``stat`` saw it."""

    path: str
    exists: bool
    kind: str = ""  # "file", "dir", "socket", "link", "other"
    uid: int | None = None
    gid: int | None = None
    user: str = ""  # owner name as the host resolves it ("" if unknown)
    group: str = ""
    mode: int | None = None  # permission bits only, e.g. 0o644
    error: str = ""  # why it could not be examined, if it could not

    @property
    def mode_octal(self) -> str:
        return "" if self.mode is None else format(self.mode, "o")


@dataclass(frozen=True)
class ProcessFact:
    """A daemon process on the host (dockerd, containerd)."""

    pid: int
    argv: tuple[str, ...]


@dataclass(frozen=True)
class MountFact:
    source: str
    target: str
    fstype: str
    options: str = ""


@dataclass(frozen=True)
class HostFacts:
    """What the read-only fact script found on the host itself.

    ``roles`` names the paths section 1 and 3 care about, as this daemon
    really uses them (its data root, its sockets, its TLS files). Keys:
    ``docker.service``, ``docker.socket``, ``containerd.service``,
    ``etc-docker``, ``daemon.json``, ``default-docker``, ``sysconfig-docker``,
    ``data-root``, ``docker-sock``, ``containerd-sock``, ``containerd-config``,
    ``tlscacert``, ``tlscert``, ``tlskey``, ``bin:dockerd``, ``bin:containerd``,
    ``bin:containerd-shim``, ``bin:containerd-shim-runc-v1``,
    ``bin:containerd-shim-runc-v2``, ``bin:runc``, ``containerd-dir`` (/run/containerd).
    A role is absent when this host has no such path (for example no systemd units).
    """

    method: str  # "local", "probe" or "ssh"
    hostname: str = ""
    dockerd: ProcessFact | None = None
    # How the serving dockerd was told apart: "socket" (it holds the audited
    # socket: a unix socket, or the tcp port of a tcp endpoint), "probe" (the
    # probe container's own containerd-shim leads to it), "data-root" (its data
    # root is the one docker info reports), "only" (the one dockerd running), or
    # "" (not found).
    dockerd_match: str = ""
    # The DOCKER_* variables of the serving dockerd's own environment
    # (/proc/<pid>/environ): DOCKER_TLS_VERIFY turns --tlsverify on, DOCKER_CERT_PATH
    # moves its default TLS files.
    dockerd_environment: dict[str, str] = field(default_factory=dict)
    containerd: ProcessFact | None = None
    roles: dict[str, str] = field(default_factory=dict)
    files: dict[str, FileFact] = field(default_factory=dict)  # keyed by path
    contents: dict[str, str] = field(default_factory=dict)  # config file texts by path
    mounts: tuple[MountFact, ...] = ()
    # Loaded audit rules (auditctl -l), else the rules files; None: unreadable.
    audit_rules: tuple[str, ...] | None = None
    audit_source: str = ""
    # Members of the group dockerd gives its sockets to (docker_group_name: "docker",
    # or its -G/--group or daemon.json "group"): explicit members plus users whose
    # primary group it is. () when the host has no such group; None when /etc/group
    # could not be read (errors["docker-group"] says why).
    docker_group: tuple[str, ...] | None = None
    docker_group_name: str = "docker"
    registry_certs: tuple[str, ...] = ()  # files under /etc/docker/certs.d
    # The DOCKER_* variables of the host's /etc/environment, what every login shell
    # gets (DOCKER_CONTENT_TRUST, for 4.5). {} when the file is missing; when it could
    # not be read, errors["environment"] says why.
    environment: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def file(self, role: str) -> FileFact | None:
        """The FileFact for a role, or None when the host has no such path."""
        path = self.roles.get(role)
        return self.files.get(path) if path else None


@dataclass(frozen=True)
class DiffEntry:
    kind: str  # "A" added, "C" changed, "D" deleted
    path: str


@dataclass(frozen=True)
class ContainerSnapshot:
    id: str
    name: str
    inspect: JSONDict
    running: bool
    # {"Titles": ["UID", "PID", "PPID", "COMM", "CMD"], "Processes": [[...]]}: COMM is the kernel's process
    # name, CMD its argv; snapshots from before COMM have docker top's default columns (ps -ef's).
    top: JSONDict | None = None
    diff: tuple[DiffEntry, ...] | None = None
    errors: dict[str, str] = field(default_factory=dict)  # part -> why missing

    @property
    def labels(self) -> dict[str, str]:
        return (self.inspect.get("Config") or {}).get("Labels") or {}

    @property
    def is_probe(self) -> bool:
        return PROBE_LABEL in self.labels

    @property
    def host_config(self) -> JSONDict:
        return self.inspect.get("HostConfig") or {}

    @property
    def config(self) -> JSONDict:
        return self.inspect.get("Config") or {}


@dataclass(frozen=True)
class ImageSnapshot:
    id: str
    tags: tuple[str, ...]
    inspect: JSONDict
    history: tuple[JSONDict, ...] | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.tags[0] if self.tags else self.id[:19]


class Severity(StrEnum):
    """A vulnerability's severity, one vocabulary for every scanner (dockerbench.vulns), worst first."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    NEGLIGIBLE = "NEGLIGIBLE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, kw_only=True)
class Vuln:
    """One vulnerability of one installed package, as an image scanner reported it (dockerbench.vulns)."""

    id: str  # CVE-2023-5363, GHSA-..., as the scanner names it
    aliases: tuple[str, ...] = ()  # other ids of the same flaw the report gives
    severity: Severity = Severity.UNKNOWN
    package: str = ""
    installed: str = ""
    fixed: str | None = None  # the version(s) that fix it, None when no fix is known
    title: str = ""
    url: str = ""
    cvss_score: float | None = None
    # An accepted risk: a CVE waiver in force covers it (the dashboard sets it); checks do not count it.
    waived: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.id, self.package, self.installed)


@dataclass(frozen=True, kw_only=True)
class ImageVulnReport:
    """What one scanner found in one image; matched to a host's images by digest (dockerbench.vulns)."""

    scanner: str  # "trivy", "grype" or "clair"
    scanner_version: str = ""
    image_id: str = ""  # sha256:... of the image config, what `docker image inspect` calls Id
    digests: tuple[str, ...] = ()  # sha256:... manifest digests (RepoDigests' digest parts)
    tags: tuple[str, ...] = ()
    artifact: str = ""  # what the scanner was pointed at, e.g. "nginx:1.25"
    scanned_at: str = ""  # as the report gives it (ISO 8601), "" when it gives none
    vulns: tuple[Vuln, ...] = ()

    def counts(self) -> dict[Severity, int]:
        """Vulnerabilities per severity, every severity present, worst first."""
        counts = dict.fromkeys(Severity, 0)
        for v in self.vulns:
            counts[v.severity] += 1
        return counts


@dataclass(frozen=True)
class HostSnapshot:
    target: str  # the endpoint audited, e.g. unix:///var/run/docker.sock
    collected_at: str  # ISO 8601, UTC
    engine_version: str = ""
    schema: int = SCHEMA_VERSION
    info: JSONDict | None = None
    version: JSONDict | None = None
    containers: tuple[ContainerSnapshot, ...] | None = None
    images: tuple[ImageSnapshot, ...] | None = None
    networks: tuple[JSONDict, ...] | None = None
    swarm: JSONDict | None = None  # swarm inspect, only on a manager
    nodes: tuple[JSONDict, ...] | None = None
    services: tuple[JSONDict, ...] | None = None
    facts: HostFacts | None = None
    # Vulnerability reports of this host's images, attached before evaluating (the CLI's --image-report,
    # the dashboard's stored reports); None: nobody gave any, and 4.4 stays a manual review.
    image_reports: tuple[ImageVulnReport, ...] | None = None
    # TLS in use on the audited connection, as the client saw it.
    connection: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # part -> reason
    timings: dict[str, float] = field(default_factory=dict)  # part -> seconds

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(to_jsonable(self), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> HostSnapshot:
        return from_jsonable(cls, json.loads(text))

    @property
    def audited_containers(self) -> tuple[ContainerSnapshot, ...]:
        """Running containers, our own probe left out (what section 5 audits)."""
        return tuple(c for c in self.containers or () if c.running and not c.is_probe)


def norm_host_path(path: str) -> str:
    """A host path in the form used to compare paths without asking the host.

    /var/run is a symlink to /run on every current distribution, so both
    spellings of a socket or directory must compare equal.
    """
    path = posixpath.normpath(path) if path else path
    if path == "/var/run" or path.startswith("/var/run/"):
        path = path[len("/var") :]
    return path


# -- JSON round trip ---------------------------------------------------------

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def from_jsonable(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` from what ``to_jsonable`` produced."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return from_jsonable(inner, value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        kwargs = {k: from_jsonable(hints[k], v) for k, v in value.items() if k in names}
        return tp(**kwargs)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        return tuple(from_jsonable(inner, v) for v in value)
    if origin is dict:
        _key, inner = typing.get_args(tp)
        return {k: from_jsonable(inner, v) for k, v in value.items()}
    return value
