"""Container fixes: each container with WARN findings in sections 4 and 5, as it runs and hardened.

From a container's inspect data (and its image's, its diff and its process list) this writes the
``docker run`` line and the compose service that would recreate it as it runs today, then the same with
every fix its WARN results call for. The reconstruction covers what the checks judge and what a
recreated container needs to behave the same: image, name, entrypoint and command, user, working
directory, tty, labels, networks, ports with their host addresses, mounts, tmpfs, devices, capabilities,
security options, namespaces, limits, ulimits, restart policy and health check.

Environment values are never copied: the snapshot holds them redacted, and they are often the secrets
themselves. The lines pass each variable by name (``-e NAME``, compose's bare ``NAME``), so its value
comes from the shell that runs them.

A fix goes into the hardened line only when what the snapshot shows makes it safe to: a tmpfs for each
directory the diff shows written, a limit sized from what is in force. Otherwise its ``Change`` is marked
for review with the reason and the line keeps the setting as it is, so that the hardened line always
starts. ``CONTAINER_FIXES`` says, per section 4 and 5 check, which kind of fix it gets and why.
"""

from __future__ import annotations

import copy
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from dockerbench.checks.runtime import DEFAULT_CAPS, WILDCARD_IPS
from dockerbench.fixes.model import Change, ContainerFix
from dockerbench.results import Result, Status
from dockerbench.snapshot import ContainerSnapshot, HostSnapshot, ImageSnapshot

# Per check of sections 4 and 5: "fix", "review" or "advice", then why. "fix": the hardened line carries
# the change (when the reason names a condition, it is marked for review instead when that fails);
# "review": a change is suggested but never written as a working line; "advice": nothing a run line can
# change (the check judges an image, a Dockerfile, the host, or is a manual review).
CONTAINER_FIXES: dict[str, str] = {
    "4.1": "fix: --user with the image's own non-root USER, when the image has one and every path the diff "
    "shows written lands on a tmpfs (a non-root user cannot write where root did); else review",
    "4.2": "advice: the base image's origin is a build-time choice, not a runtime setting",
    "4.3": "advice: what an image installs is decided in its Dockerfile",
    "4.4": "advice: rebuilding the image on a patched base is a build step",
    "4.5": "advice: DOCKER_CONTENT_TRUST is the host's environment, not the container's",
    "4.6": "advice: HEALTHCHECK belongs in the Dockerfile; 5.27 covers the container's own health check",
    "4.7": "advice: a Dockerfile change (update and install in one RUN)",
    "4.8": "advice: setuid bits are removed in the image; 5.26 (no-new-privileges) neutralises them at runtime",
    "4.9": "advice: a Dockerfile change (COPY instead of ADD)",
    "4.10": "advice: secrets in an image are removed by rebuilding it without them",
    "4.11": "advice: package verification happens at build time",
    "4.12": "advice: artifact signatures are checked before pushing, not at runtime",
    "5.1": "advice: swarm mode is the host's, not a container's",
    "5.2": "fix: --security-opt apparmor=docker-default in place of no or an unconfined profile",
    "5.3": "fix: drops label=disable; review when the container has no SELinux label for another reason",
    "5.4": "review: --cap-drop ALL is written, but the capabilities it added are kept so that it still "
    "starts; whether it still needs each one only its owner knows",
    "5.5": "review: --privileged is kept; what it stands for (capabilities, devices) is not in the snapshot",
    "5.6": "fix: a host root mount is removed, another sensitive host directory is mounted read-only",
    "5.7": "advice: sshd is removed from the image; use docker exec",
    "5.8": "review: moving the host port below 1024 moves it for every client",
    "5.9": "advice: an INFO to confirm each published port; nothing to change blindly",
    "5.10": "review: off the host network its listening ports are unknown, so it would be unreachable",
    "5.11": "fix: --memory sized from its memory reservation; review when none is in force (a guessed "
    "limit gets it OOM-killed)",
    "5.12": "fix: --cpu-shares 512, a relative weight that only applies under contention",
    "5.13": "fix: --read-only with a tmpfs for each directory the diff shows written; review when it wrote "
    "or deleted where a tmpfs would hide the image's files, or the diff was not collected",
    "5.14": "fix: ports published on every interface are bound to loopback (127.0.0.1 or ::1); review for -P",
    "5.15": "fix: --restart on-failure:5; review for a swarm task (its service's policy applies)",
    "5.16": "fix: the host PID namespace is dropped",
    "5.17": "fix: the host IPC namespace is dropped",
    "5.18": "advice: an INFO to confirm each device; which ones it needs only its owner knows",
    "5.19": "advice: an INFO; the right ulimits depend on the application",
    "5.20": "fix: shared mount propagation is dropped (private, the default)",
    "5.21": "fix: the host UTS namespace is dropped",
    "5.22": "fix: seccomp=unconfined is dropped (Docker's default profile); review when the daemon's own "
    "default is unconfined",
    "5.23": "advice: docker exec --privileged is an operator's habit, in the audit log",
    "5.24": "advice: docker exec --user root is an operator's habit, in the audit log",
    "5.25": "review: a non-default cgroup parent may be deliberate",
    "5.26": "fix: --security-opt no-new-privileges=true",
    "5.27": "fix: drops --no-healthcheck when the image has a HEALTHCHECK; else review (a health check must "
    "test what the application does)",
    "5.28": "advice: an INFO; pull the image and recreate the container",
    "5.29": "fix: --pids-limit sized from the processes it runs now; review when the process list is missing",
    "5.30": "advice: an INFO; moving it to a user-defined network changes who it can reach",
    "5.31": "fix: --userns host is dropped",
    "5.32": "fix: the Docker socket mount (or the directory holding it) is removed",
}

# Directories that hold run-time scratch data only: a tmpfs over them hides nothing the image needs.
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/run", "/var/run")  # noqa: S108 - paths inside the container, not ours
# Directories whose subdirectories an application may need to exist: a tmpfs goes on the written one.
SCRATCH_PARENTS = ("/var/log", "/var/cache")
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev"
CPU_SHARES = 512
MIN_PIDS = 64
_ROOT_USERS = ("", "0", "root")


# -- what a container is, as options --------------------------------------------------------


@dataclass
class _Port:
    host_ip: str
    host_port: str
    container_port: str  # "80/tcp"

    def text(self) -> str:
        port, _, proto = self.container_port.partition("/")
        target = port if proto in ("", "tcp") else f"{port}/{proto}"
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{ip}:{self.host_port}:{target}" if ip else f"{self.host_port}:{target}" if self.host_port else target


@dataclass
class _Mount:
    kind: str  # "bind" or "volume"
    source: str  # host path, or volume name
    target: str
    read_only: bool = False
    propagation: str = ""  # "" when the default (rprivate)
    extra: tuple[str, ...] = ()  # z, Z, nocopy

    def text(self) -> str:
        opts = [*(["ro"] if self.read_only else []), *([self.propagation] if self.propagation else []), *self.extra]
        return ":".join([self.source, self.target, *([",".join(opts)] if opts else [])])


@dataclass
class _Health:
    test: list[str]
    interval: int = 0
    timeout: int = 0
    retries: int = 0
    start_period: int = 0


@dataclass
class _Spec:
    """A container's run options, the common ground of the docker run line and the compose service."""

    name: str
    image: str
    entrypoint: list[str] | None = None  # None: the image's own; []: --entrypoint ''
    command: list[str] | None = None
    user: str = ""
    workdir: str = ""
    hostname: str = ""
    tty: bool = False
    stdin: bool = False
    init: bool = False
    env: list[str] = field(default_factory=list)  # names only
    labels: dict[str, str] = field(default_factory=dict)
    network: str = ""  # "" the daemon's default
    extra_networks: list[str] = field(default_factory=list)
    ports: list[_Port] = field(default_factory=list)
    publish_all: bool = False
    mounts: list[_Mount] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    read_only: bool = False
    memory: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    nano_cpus: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    cpuset: str = ""
    pids_limit: int = 0
    ulimits: list[tuple[str, int, int]] = field(default_factory=list)
    cgroup_parent: str = ""
    pid: str = ""
    ipc: str = ""
    uts: str = ""
    userns: str = ""
    restart: str = ""
    health: _Health | None = None
    no_healthcheck: bool = False
    extra_hosts: list[str] = field(default_factory=list)


def _image_of(snap: HostSnapshot, c: ContainerSnapshot) -> ImageSnapshot | None:
    image_id = str(c.inspect.get("Image", ""))
    return next((i for i in snap.images or () if i.id == image_id), None)


def _env_names(env: Iterable[str]) -> list[str]:
    return [str(e).split("=", 1)[0] for e in env or ()]


def _health(doc: dict[str, Any] | None) -> _Health | None:
    if not doc or not doc.get("Test"):
        return None
    return _Health(
        test=[str(t) for t in doc["Test"]],
        interval=int(doc.get("Interval") or 0),
        timeout=int(doc.get("Timeout") or 0),
        retries=int(doc.get("Retries") or 0),
        start_period=int(doc.get("StartPeriod") or 0),
    )


def _mounts(c: ContainerSnapshot) -> tuple[list[_Mount], dict[str, str]]:
    mounts, tmpfs = [], {str(k): str(v or "") for k, v in (c.host_config.get("Tmpfs") or {}).items()}
    for m in c.inspect.get("Mounts") or ():
        kind, target = str(m.get("Type") or ""), str(m.get("Destination") or "")
        if kind == "tmpfs":
            tmpfs.setdefault(target, "")
            continue
        if kind not in ("bind", "volume"):
            continue
        propagation = str(m.get("Propagation") or "")
        mode = [o for o in str(m.get("Mode") or "").split(",") if o in ("z", "Z", "nocopy")]
        mounts.append(
            _Mount(
                kind=kind,
                source=str(m.get("Source") if kind == "bind" else m.get("Name") or ""),
                target=target,
                read_only=not m.get("RW", True),
                propagation="" if propagation in ("", "rprivate") else propagation,
                extra=tuple(mode),
            )
        )
    return mounts, tmpfs


def _current_spec(snap: HostSnapshot, c: ContainerSnapshot) -> _Spec:
    cfg, hc = c.config, c.host_config
    image = _image_of(snap, c)
    icfg = (image.inspect.get("Config") or {}) if image else {}
    spec = _Spec(name=c.name.lstrip("/"), image=str(cfg.get("Image") or c.inspect.get("Image") or ""))

    entrypoint = [str(a) for a in cfg.get("Entrypoint") or ()]
    if entrypoint:
        spec.entrypoint = entrypoint
    elif icfg.get("Entrypoint"):
        spec.entrypoint = []
    spec.command = [str(a) for a in cfg.get("Cmd") or ()] or None
    spec.user = str(cfg.get("User") or "")
    if (cfg.get("WorkingDir") or "") != (icfg.get("WorkingDir") or ""):
        spec.workdir = str(cfg.get("WorkingDir") or "")
    hostname = str(cfg.get("Hostname") or "")
    if hostname and not c.id.startswith(hostname) and (hc.get("NetworkMode") or "") != "host":
        spec.hostname = hostname
    spec.tty, spec.stdin, spec.init = bool(cfg.get("Tty")), bool(cfg.get("OpenStdin")), bool(hc.get("Init"))
    image_env = set(_env_names(icfg.get("Env") or ()))
    spec.env = [n for n in _env_names(cfg.get("Env") or ()) if n not in image_env]
    image_labels = icfg.get("Labels") or {}
    spec.labels = {str(k): str(v) for k, v in c.labels.items() if image_labels.get(k) != v}

    mode = str(hc.get("NetworkMode") or "")
    spec.network = "" if mode in ("", "default", "bridge") else mode
    attached = list(((c.inspect.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    spec.extra_networks = [n for n in attached if n not in (mode, "bridge") and not mode.startswith("container:")]
    if mode in ("host", "none"):
        spec.extra_networks = []
    for container_port, bindings in sorted((hc.get("PortBindings") or {}).items()):
        for b in bindings or ():
            spec.ports.append(_Port(str(b.get("HostIp") or ""), str(b.get("HostPort") or ""), str(container_port)))
    spec.publish_all = bool(hc.get("PublishAllPorts"))
    spec.mounts, spec.tmpfs = _mounts(c)
    spec.devices = [
        ":".join(p for p in (d.get("PathOnHost", ""), d.get("PathInContainer", ""), d.get("CgroupPermissions", "")))
        for d in hc.get("Devices") or ()
    ]
    spec.privileged = bool(hc.get("Privileged"))
    spec.cap_add = [str(x) for x in hc.get("CapAdd") or ()]
    spec.cap_drop = [str(x) for x in hc.get("CapDrop") or ()]
    spec.security_opt = [str(x) for x in hc.get("SecurityOpt") or ()]
    spec.read_only = bool(hc.get("ReadonlyRootfs"))
    spec.memory = int(hc.get("Memory") or 0)
    spec.memory_reservation = int(hc.get("MemoryReservation") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    spec.memory_swap = swap if swap and swap != 2 * spec.memory else 0
    spec.cpu_shares = int(hc.get("CpuShares") or 0)
    spec.nano_cpus = int(hc.get("NanoCpus") or 0)
    spec.cpu_quota, spec.cpu_period = int(hc.get("CpuQuota") or 0), int(hc.get("CpuPeriod") or 0)
    spec.cpuset = str(hc.get("CpusetCpus") or "")
    limit = hc.get("PidsLimit")
    spec.pids_limit = int(limit) if limit and limit > 0 else 0
    spec.ulimits = [(str(u["Name"]), int(u.get("Soft", 0)), int(u.get("Hard", 0))) for u in hc.get("Ulimits") or ()]
    spec.cgroup_parent = str(hc.get("CgroupParent") or "")
    spec.pid = str(hc.get("PidMode") or "")
    ipc = str(hc.get("IpcMode") or "")
    spec.ipc = "" if ipc in ("private", "shareable") else ipc
    spec.uts, spec.userns = str(hc.get("UTSMode") or ""), str(hc.get("UsernsMode") or "")
    policy = hc.get("RestartPolicy") or {}
    name, retries = str(policy.get("Name") or "no"), int(policy.get("MaximumRetryCount") or 0)
    spec.restart = "" if name == "no" else f"{name}:{retries}" if name == "on-failure" and retries else name
    health = _health(cfg.get("Healthcheck"))
    if health and health.test[0] == "NONE":
        spec.no_healthcheck = True
    elif health and health != _health(icfg.get("Healthcheck")):
        spec.health = health
    spec.extra_hosts = [str(h) for h in hc.get("ExtraHosts") or ()]
    return spec


# -- rendering ------------------------------------------------------------------------------


def _size(n: int) -> str:
    for unit, factor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}b"


def _duration(ns: int) -> str:
    for unit, factor in (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns % factor == 0:
            return f"{ns // factor}{unit}"
    return f"{ns}ns"


def _health_shell(test: list[str]) -> str:
    kind, args = test[0], test[1:]
    return args[0] if kind == "CMD-SHELL" and args else shlex.join(args)


def _run_options(spec: _Spec) -> list[list[str]]:
    """One list per option: its flag and value, unquoted."""
    o: list[list[str]] = [["--name", spec.name]]
    flags = (
        ("--interactive", spec.stdin),
        ("--tty", spec.tty),
        ("--init", spec.init),
        ("--privileged", spec.privileged),
        ("--read-only", spec.read_only),
        ("--publish-all", spec.publish_all),
        ("--no-healthcheck", spec.no_healthcheck),
    )
    o += [[flag] for flag, on in flags if on]
    if spec.entrypoint is not None:
        o.append(["--entrypoint", spec.entrypoint[0] if spec.entrypoint else ""])
    pairs: list[tuple[str, str]] = [
        ("--user", spec.user),
        ("--workdir", spec.workdir),
        ("--hostname", spec.hostname),
        ("--network", spec.network),
        *(("--network", n) for n in spec.extra_networks),
        *(("--publish", p.text()) for p in spec.ports),
        *(("--volume", m.text()) for m in spec.mounts),
        *(("--tmpfs", f"{path}:{opts}" if opts else path) for path, opts in spec.tmpfs.items()),
        *(("--device", d) for d in spec.devices),
        *(("--cap-drop", cap) for cap in spec.cap_drop),
        *(("--cap-add", cap) for cap in spec.cap_add),
        *(("--security-opt", opt) for opt in spec.security_opt),
        ("--pid", spec.pid),
        ("--ipc", spec.ipc),
        ("--uts", spec.uts),
        ("--userns", spec.userns),
        ("--memory", _size(spec.memory) if spec.memory else ""),
        ("--memory-reservation", _size(spec.memory_reservation) if spec.memory_reservation else ""),
        ("--memory-swap", str(spec.memory_swap) if spec.memory_swap else ""),
        ("--cpu-shares", str(spec.cpu_shares) if spec.cpu_shares else ""),
        ("--cpus", f"{spec.nano_cpus / 1e9:g}" if spec.nano_cpus else ""),
        ("--cpu-quota", str(spec.cpu_quota) if spec.cpu_quota else ""),
        ("--cpu-period", str(spec.cpu_period) if spec.cpu_period else ""),
        ("--cpuset-cpus", spec.cpuset),
        ("--pids-limit", str(spec.pids_limit) if spec.pids_limit else ""),
        *(("--ulimit", f"{n}={soft}:{hard}") for n, soft, hard in spec.ulimits),
        ("--cgroup-parent", spec.cgroup_parent),
        ("--restart", spec.restart),
        *(("--add-host", h) for h in spec.extra_hosts),
        *(("--env", name) for name in spec.env),
        *(("--label", f"{k}={v}") for k, v in spec.labels.items()),
    ]
    if spec.health:
        h = spec.health
        pairs += [
            ("--health-cmd", _health_shell(h.test)),
            ("--health-interval", _duration(h.interval) if h.interval else ""),
            ("--health-timeout", _duration(h.timeout) if h.timeout else ""),
            ("--health-retries", str(h.retries) if h.retries else ""),
            ("--health-start-period", _duration(h.start_period) if h.start_period else ""),
        ]
    o += [[flag, value] for flag, value in pairs if value]
    return o


def render_run(spec: _Spec) -> str:
    """The docker run command line, every value shell-quoted, one option per line."""
    args = [*(spec.entrypoint or [])[1:], *(spec.command or [])]
    lines = ["docker run --detach"]
    lines += ["  " + shlex.join(opt) for opt in _run_options(spec)]
    lines.append("  " + shlex.join([spec.image, *args]))
    return " \\\n".join(lines) + "\n"


def _compose_str(value: str) -> str:
    # Compose interpolates $VAR in every value: a literal $ is written $$.
    return value.replace("$", "$$")


def _service_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]", "_", name).strip("._-") or "container"


def render_compose(spec: _Spec) -> str:
    """A compose file with the one service; networks and volumes it uses are declared external."""
    q = _compose_str
    svc: dict[str, Any] = {"image": q(spec.image), "container_name": q(spec.name)}
    if spec.entrypoint is not None:
        svc["entrypoint"] = [q(a) for a in spec.entrypoint] or ""
    if spec.command is not None:
        svc["command"] = [q(a) for a in spec.command]
    simple: list[tuple[str, Any]] = [
        ("user", q(spec.user)),
        ("working_dir", q(spec.workdir)),
        ("hostname", q(spec.hostname)),
        ("stdin_open", spec.stdin),
        ("tty", spec.tty),
        ("init", spec.init),
        ("privileged", spec.privileged),
        ("read_only", spec.read_only),
        ("environment", list(spec.env)),
        ("labels", {q(k): q(v) for k, v in spec.labels.items()}),
        ("ports", [q(p.text()) for p in spec.ports]),
        ("volumes", [q(m.text()) for m in spec.mounts]),
        ("tmpfs", [q(f"{p}:{o}" if o else p) for p, o in spec.tmpfs.items()]),
        ("devices", [q(d) for d in spec.devices]),
        ("cap_drop", list(spec.cap_drop)),
        ("cap_add", list(spec.cap_add)),
        ("security_opt", [q(s) for s in spec.security_opt]),
        ("pid", q(spec.pid)),
        ("ipc", q(spec.ipc)),
        ("uts", q(spec.uts)),
        ("userns_mode", q(spec.userns)),
        ("mem_limit", _size(spec.memory) if spec.memory else ""),
        ("mem_reservation", _size(spec.memory_reservation) if spec.memory_reservation else ""),
        ("memswap_limit", spec.memory_swap),
        ("cpu_shares", spec.cpu_shares),
        ("cpus", spec.nano_cpus / 1e9 if spec.nano_cpus else 0),
        ("cpu_quota", spec.cpu_quota),
        ("cpu_period", spec.cpu_period),
        ("cpuset", spec.cpuset),
        ("pids_limit", spec.pids_limit),
        ("ulimits", {n: {"soft": s, "hard": h} for n, s, h in spec.ulimits}),
        ("cgroup_parent", q(spec.cgroup_parent)),
        ("restart", spec.restart),
        ("extra_hosts", [q(h) for h in spec.extra_hosts]),
    ]
    svc.update((k, v) for k, v in simple if v)
    if spec.publish_all:
        svc["x-dockerbench-publish-all"] = "docker run -P publishes every exposed port; compose has no such key"
    if spec.no_healthcheck:
        svc["healthcheck"] = {"disable": True}
    elif spec.health:
        h = spec.health
        health: dict[str, Any] = {"test": [q(t) for t in h.test]}
        for key, ns in (("interval", h.interval), ("timeout", h.timeout), ("start_period", h.start_period)):
            if ns:
                health[key] = _duration(ns)
        if h.retries:
            health["retries"] = h.retries
        svc["healthcheck"] = health
    doc: dict[str, Any] = {"services": {_service_name(spec.name): svc}}
    if spec.network in ("host", "none") or spec.network.startswith(("container:", "service:")):
        svc["network_mode"] = q(spec.network)
    elif spec.network or spec.extra_networks:
        names = [n for n in [spec.network, *spec.extra_networks] if n]
        svc["networks"] = [q(n) for n in names]
        doc["networks"] = {q(n): {"external": True, "name": q(n)} for n in names}
    volumes = [m.source for m in spec.mounts if m.kind == "volume"]
    if volumes:
        doc["volumes"] = {q(v): {"external": True, "name": q(v)} for v in volumes}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)


# -- what the diff says it writes -------------------------------------------------------------


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True)
class _Writes:
    tmpfs: tuple[str, ...]  # the directories to put a tmpfs on
    problems: tuple[str, ...]  # why a read-only root would break it; () when it would not
    hidden: tuple[str, ...] = ()  # tmpfs over directories the image has, whose other files are hidden


def _writes(c: ContainerSnapshot, keep: Iterable[str]) -> _Writes:
    """Where a read-only root needs a tmpfs, from the container's diff (``keep``: tmpfs and mounts it has)."""
    if c.diff is None:
        why = c.errors.get("diff") or "the diff was not collected"
        return _Writes((), (f"which paths it writes is unknown ({why})",))
    kinds = {posixpath.normpath(e.path): e.kind for e in c.diff}
    paths = sorted(kinds)
    mounted = [posixpath.normpath(p) for p in keep]
    dirs: set[str] = set()
    problems: list[tuple[str, str]] = []
    hidden: set[str] = set()
    for path in paths:
        kind = kinds[path]
        if any(_under(path, m) for m in mounted):
            continue
        if any(p != path and _under(p, path) for p in paths):
            continue  # a directory: its entries say what was written inside
        if kind == "D":
            problems.append((path, f"it deleted {path} from the image's files"))
            continue
        ancestors = [posixpath.dirname(path)]
        while ancestors[-1] != "/":
            ancestors.append(posixpath.dirname(ancestors[-1]))
        created = [a for a in ancestors if kinds.get(a) == "A"]
        scratch = [r for r in SCRATCH_DIRS if _under(path, r) and path != r]
        if created:
            dirs.add(created[-1])  # the outermost directory it created: the image has nothing there
        elif scratch:
            dirs.add(scratch[0])
            hidden.add(scratch[0])
        elif any(_under(path, r) and path != r and ancestors[0] != "/" for r in SCRATCH_PARENTS):
            dirs.add(ancestors[0])
            hidden.add(ancestors[0])
        else:
            problems.append((path, f"it wrote {path}, where a tmpfs would hide the image's files"))
    outermost = sorted(d for d in dirs if not any(o != d and _under(d, o) for o in dirs))
    # A tmpfs hides deletions below it; those are not in the way.
    left = [text for path, text in problems if not any(_under(path, d) for d in outermost)]
    return _Writes(tuple(outermost), tuple(left), tuple(sorted(hidden & set(outermost))))


# -- the fixes, one function per check -----------------------------------------------------------


@dataclass
class _Ctx:
    snap: HostSnapshot
    c: ContainerSnapshot
    image: ImageSnapshot | None
    results: list[Result]  # its WARN results for this check
    spec: _Spec  # the hardened spec being written
    all_checks: set[str]  # every check id it WARNs on


Fixer = Callable[[_Ctx], list[Change]]


def _advice(check_id: str) -> Fixer:
    def fixer(ctx: _Ctx) -> list[Change]:
        reason = CONTAINER_FIXES.get(check_id, "advice: no generated fix").split(": ", 1)[1]
        return [Change(check_id, "(no change to the run line)", ctx.results[0].message, review=reason)]

    return fixer


def _is_root(user: str) -> bool:
    return user.split(":", 1)[0].strip() in _ROOT_USERS


def _fix_user(ctx: _Ctx) -> list[Change]:
    image_user = str(((ctx.image.inspect.get("Config") or {}) if ctx.image else {}).get("User") or "")
    why = "runs as root: a process that escapes the container is root on the host (without user namespaces)"
    if ctx.image is None:
        return [Change("4.1", "--user <uid>", why, review="its image is not in the snapshot: its USER is unknown")]
    if _is_root(image_user):
        return [
            Change(
                "4.1",
                "--user <uid>:<gid>",
                why,
                review=f"the image {ctx.image.name} has no non-root USER; add one to its Dockerfile, or run it "
                "as a uid that owns what it writes",
            )
        ]
    writes = _writes(ctx.c, [*ctx.spec.tmpfs, *(m.target for m in ctx.spec.mounts)])
    if writes.problems or (writes.tmpfs and not ctx.spec.read_only):
        reasons = list(writes.problems) or [f"it wrote under {', '.join(writes.tmpfs)} as root"]
        return [
            Change(
                "4.1",
                f"--user {image_user}",
                why,
                review=f"{'; '.join(reasons)}: as {image_user} it may not be allowed to write there",
            )
        ]
    ctx.spec.user = image_user
    return [
        Change(
            "4.1",
            f"--user {image_user}",
            f"{why}; the image's own USER is {image_user}",
            may_break="files in its volumes and bind mounts owned by root are no longer writable",
        )
    ]


def _fix_apparmor(ctx: _Ctx) -> list[Change]:
    ctx.spec.security_opt = [o for o in ctx.spec.security_opt if not re.match(r"apparmor[=:]", o)]
    ctx.spec.security_opt.append("apparmor=docker-default")
    return [
        Change(
            "5.2",
            "--security-opt apparmor=docker-default",
            "runs without an AppArmor profile",
            may_break="mounting, writing to /proc/sys and ptrace are denied",
        )
    ]


def _fix_selinux(ctx: _Ctx) -> list[Change]:
    disabled = [o for o in ctx.spec.security_opt if re.fullmatch(r"label[=:]disable", o)]
    if not disabled:
        return [
            Change(
                "5.3",
                "--security-opt label=type:container_t",
                "runs without SELinux confinement",
                review="it has no SELinux process label, though it does not disable labelling: check the daemon",
            )
        ]
    ctx.spec.security_opt = [o for o in ctx.spec.security_opt if o not in disabled]
    return [
        Change(
            "5.3",
            f"drop --security-opt {disabled[0]}",
            "runs without SELinux confinement",
            may_break="bind mounts without the :z or :Z relabel option become unreadable",
        )
    ]


def _fix_caps(ctx: _Ctx) -> list[Change]:
    added = [cap for cap in ctx.spec.cap_add if _cap_name(cap) not in DEFAULT_CAPS]
    # Defaults that what the snapshot shows still needs: low ports, processes under other users.
    keep = set()
    if any(int(p.container_port.split("/")[0] or 0) < 1024 for p in ctx.spec.ports if p.container_port[0].isdigit()):
        keep.add("NET_BIND_SERVICE")
    uids = _process_users(ctx.c)
    if _is_root(ctx.spec.user) and uids and uids != {"root"} and uids != {"0"}:
        keep |= {"SETUID", "SETGID"}
    ctx.spec.cap_drop = ["ALL"]
    ctx.spec.cap_add = [*added, *sorted(keep)]
    changes = [
        Change(
            "5.4",
            "--cap-drop ALL" + "".join(f" --cap-add {cap}" for cap in sorted(keep)),
            "only the capabilities it names remain",
            may_break="a root process that changes file owners (CHOWN), reads others' files (DAC_OVERRIDE) or "
            "switches user (SETUID, SETGID) needs those back",
        )
    ]
    changes += [
        Change(
            "5.4",
            f"--cap-add {cap}",
            f"it adds {cap}, beyond Docker's default set",
            review=f"kept so that it still starts: drop {cap} if it does not use it (only then does 5.4 pass)",
        )
        for cap in added
    ]
    return changes


def _process_users(c: ContainerSnapshot) -> set[str]:
    if not c.top:
        return set()
    titles = [str(t).upper() for t in c.top.get("Titles") or ()]
    if "UID" not in titles:
        return set()
    col = titles.index("UID")
    return {str(row[col]) for row in c.top.get("Processes") or () if len(row) > col}


def _fix_privileged(ctx: _Ctx) -> list[Change]:
    return [
        Change(
            "5.5",
            "drop --privileged",
            "runs in privileged mode: every capability, every device, no confinement",
            review="kept: what it needs instead (capabilities, devices) is not in the snapshot; replace it with those",
        )
    ]


def _cap_name(cap: str) -> str:
    cap = cap.strip().upper()
    return cap.removeprefix("CAP_")


def _norm_path(path: str) -> str:
    # As the checks write a mount's source in their evidence.
    return re.sub(r"/+", "/", path.strip()).rstrip("/") or "/"


def _same_mount(m: _Mount, hit: dict[str, Any]) -> bool:
    return m.kind == "bind" and _norm_path(m.source) == hit.get("source") and m.target == hit.get("destination")


def _remove_mounts(ctx: _Ctx, check_id: str, hits: list[dict[str, Any]], why: str, may_break: str) -> list[Change]:
    changes = []
    for m in list(ctx.spec.mounts):
        if any(_same_mount(m, h) for h in hits):
            ctx.spec.mounts.remove(m)
            changes.append(Change(check_id, f"drop --volume {m.text()}", why, may_break=may_break))
    return changes


def _fix_sensitive_mounts(ctx: _Ctx) -> list[Change]:
    hits = [h for r in ctx.results for h in r.evidence.get("mounts") or () if h.get("rw")]
    changes = _remove_mounts(
        ctx,
        "5.6",
        [h for h in hits if h.get("source") == "/"],
        "mounts the host's root directory read-write",
        "whatever it reads or changes on the host through it",
    )
    for m in ctx.spec.mounts:
        if any(_same_mount(m, h) for h in hits) and not m.read_only:
            m.read_only = True
            changes.append(
                Change(
                    "5.6",
                    f"--volume {m.text()}",
                    f"mounts the host's {m.source} read-write",
                    may_break=f"writes to {m.target}",
                )
            )
    return changes


def _fix_docker_socket(ctx: _Ctx) -> list[Change]:
    hits = [h for r in ctx.results for h in r.evidence.get("mounts") or ()]
    removed = {h.get("source") for h in hits if h.get("source") == "/"} if "5.6" in ctx.all_checks else set()
    changes = _remove_mounts(
        ctx,
        "5.32",
        hits,
        "can reach the Docker daemon's socket: root on the host for anyone in the container",
        "anything it does with the Docker API (CI runners, proxies and dashboards may need exactly that: give "
        "them a socket proxy that allows only the calls they make)",
    )
    # A host root mount 5.6 removed already held the socket.
    changes += [
        Change("5.32", f"drop --volume {h.get('source')}:{h.get('destination')}", "see 5.6: the mount is gone")
        for h in hits
        if h.get("source") in removed and not any(c.what.endswith(f"{h.get('destination')}") for c in changes)
    ]
    return changes


def _fix_privileged_ports(ctx: _Ctx) -> list[Change]:
    ports = [p for r in ctx.results for p in r.evidence.get("ports") or ()]
    return [
        Change(
            "5.8",
            "--publish <port above 1023>:<container port>",
            f"publishes a host port below 1024 ({', '.join(ports)})",
            review="every client of that host port would have to move with it",
        )
    ]


def _fix_host_network(ctx: _Ctx) -> list[Change]:
    return [
        Change(
            "5.10",
            "drop --network host",
            "shares the host's network stack",
            review="the ports it listens on are not in the snapshot: publish each one (-p 127.0.0.1:PORT:PORT) "
            "when leaving the host network",
        )
    ]


def _fix_memory(ctx: _Ctx) -> list[Change]:
    why = "has no memory limit: it can take the host's memory"
    if ctx.spec.memory_reservation:
        ctx.spec.memory = 2 * ctx.spec.memory_reservation
        return [
            Change(
                "5.11",
                f"--memory {_size(ctx.spec.memory)}",
                f"{why}; twice its memory reservation ({_size(ctx.spec.memory_reservation)})",
                may_break="it is OOM-killed above the limit; its tmpfs counts against it",
            )
        ]
    return [
        Change(
            "5.11",
            "--memory <size>",
            why,
            review="no memory reservation is in force and its use is not in the snapshot: size it from "
            "`docker stats --no-stream` at peak load (a guessed limit gets it OOM-killed)",
        )
    ]


def _fix_cpu(ctx: _Ctx) -> list[Change]:
    ctx.spec.cpu_shares = CPU_SHARES
    return [
        Change(
            "5.12",
            f"--cpu-shares {CPU_SHARES}",
            "has no CPU shares or limit: it can starve the other containers",
            may_break="it gets half the default CPU weight while the host's CPUs are busy",
        )
    ]


def _fix_readonly(ctx: _Ctx) -> list[Change]:
    writes = _writes(ctx.c, [*ctx.spec.tmpfs, *(m.target for m in ctx.spec.mounts)])
    why = "has a writable root filesystem: an intruder can change its binaries"
    if writes.problems:
        return [Change("5.13", "--read-only", why, review="; ".join(writes.problems))]
    ctx.spec.read_only = True
    for path in writes.tmpfs:
        ctx.spec.tmpfs.setdefault(path, TMPFS_OPTIONS)
    what = "--read-only" + "".join(f" --tmpfs {p}:{TMPFS_OPTIONS}" for p in writes.tmpfs)
    breaks = ["writes outside the tmpfs (its diff showed none)", "programs run from the tmpfs (noexec)"]
    if writes.hidden:
        breaks.append(f"what the image has in {', '.join(writes.hidden)} is hidden by the tmpfs")
    return [Change("5.13", what, why, may_break="; ".join(breaks))]


def _fix_bound_interface(ctx: _Ctx) -> list[Change]:
    if ctx.spec.publish_all:
        return [
            Change(
                "5.14",
                "--publish 127.0.0.1::<port> for each exposed port",
                "publishes every exposed port on every interface (-P)",
                review="-P picks random host ports: publish each port on an address instead",
            )
        ]
    changed = []
    for p in ctx.spec.ports:
        if p.host_ip in WILDCARD_IPS:
            p.host_ip = "::1" if p.host_ip == "::" else "127.0.0.1"
            changed.append(p.text())
    return [
        Change(
            "5.14",
            " ".join(f"--publish {t}" for t in changed),
            "publishes ports on every host interface",
            may_break="clients on other hosts: bind the host's own address instead of loopback for them",
        )
    ]


def _fix_restart(ctx: _Ctx) -> list[Change]:
    if any("service_policy" in r.evidence for r in ctx.results):
        return [
            Change(
                "5.15",
                "docker service update --restart-condition on-failure --restart-max-attempts 5",
                "its swarm service restarts it without a limit",
                review="a swarm task: its service's restart policy applies, not the container's",
            )
        ]
    ctx.spec.restart = "on-failure:5"
    return [
        Change(
            "5.15",
            "--restart on-failure:5",
            "restarts without a limit: a crash loop never stops",
            may_break="it stays down after a reboot of the daemon or a clean exit",
        )
    ]


def _drop_namespace(check_id: str, attr: str, flag: str, what: str, may_break: str) -> Fixer:
    def fixer(ctx: _Ctx) -> list[Change]:
        setattr(ctx.spec, attr, "")
        done = f"drop {flag} host"
        spec = ctx.spec
        # Docker adds label=disable itself to a container sharing the host's PID or IPC namespace; once it
        # shares neither, the label would only keep SELinux off.
        alone = attr in ("pid", "ipc") and "host" not in (spec.pid, spec.ipc) and not spec.privileged
        if alone and "label=disable" in spec.security_opt:
            spec.security_opt.remove("label=disable")
            done += " (and the label=disable Docker added with it)"
        return [Change(check_id, done, f"shares the host's {what} namespace", may_break=may_break)]

    return fixer


def _fix_propagation(ctx: _Ctx) -> list[Change]:
    changes = []
    for m in ctx.spec.mounts:
        if m.propagation in ("shared", "rshared"):
            old = m.propagation
            m.propagation = ""
            changes.append(
                Change(
                    "5.20",
                    f"--volume {m.text()}",
                    f"mounts {m.target} with {old} propagation",
                    may_break="mounts it makes there no longer appear on the host (or the reverse)",
                )
            )
    return changes


def _fix_seccomp(ctx: _Ctx) -> list[Change]:
    why = "runs with seccomp disabled"
    own = [o for o in ctx.spec.security_opt if re.fullmatch(r"seccomp[=:]unconfined", o)]
    if not own:
        return [
            Change(
                "5.22",
                "--security-opt seccomp=<profile.json>",
                f"{why} by the daemon's default",
                review="the daemon's default profile is unconfined: fix it there (daemon.json seccomp-profile)",
            )
        ]
    ctx.spec.security_opt = [o for o in ctx.spec.security_opt if o not in own]
    return [
        Change(
            "5.22",
            f"drop --security-opt {own[0]}",
            why,
            may_break="system calls Docker's default profile blocks (mount, keyctl, ptrace on older kernels...)",
        )
    ]


def _fix_cgroup_parent(ctx: _Ctx) -> list[Change]:
    return [
        Change(
            "5.25",
            "drop --cgroup-parent",
            f"runs under the cgroup parent {ctx.spec.cgroup_parent}",
            review="a non-default cgroup parent is often deliberate (resource accounting): confirm it",
        )
    ]


def _fix_nnp(ctx: _Ctx) -> list[Change]:
    ctx.spec.security_opt = [o for o in ctx.spec.security_opt if not re.match(r"no-new-privileges\b", o)]
    ctx.spec.security_opt.append("no-new-privileges=true")
    return [
        Change(
            "5.26",
            "--security-opt no-new-privileges=true",
            "may gain privileges through setuid binaries",
            may_break="setuid and file-capability programs (sudo, su, ping on some images) no longer elevate",
        )
    ]


def _fix_health(ctx: _Ctx) -> list[Change]:
    image_health = _health(((ctx.image.inspect.get("Config") or {}) if ctx.image else {}).get("Healthcheck"))
    why = "has no health check: a hung process looks healthy"
    if ctx.spec.no_healthcheck and image_health and image_health.test[0] != "NONE":
        ctx.spec.no_healthcheck = False
        return [
            Change(
                "5.27",
                "drop --no-healthcheck",
                f"{why}; its image has one ({_health_shell(image_health.test)})",
                may_break="it is marked unhealthy when the image's check fails",
            )
        ]
    return [
        Change(
            "5.27",
            "--health-cmd <command>",
            why,
            review="a health check must test what the application does (a request, a query); only its owner knows that",
        )
    ]


def _fix_pids(ctx: _Ctx) -> list[Change]:
    why = "has no PIDs limit: a fork bomb takes the host down"
    processes = len((ctx.c.top or {}).get("Processes") or ())
    if not processes:
        return [Change("5.29", "--pids-limit <n>", why, review="its process list is not in the snapshot")]
    ctx.spec.pids_limit = max(MIN_PIDS, 8 * processes)
    return [
        Change(
            "5.29",
            f"--pids-limit {ctx.spec.pids_limit}",
            f"{why}; it runs {processes} process{'es' if processes != 1 else ''} now",
            may_break=f"more than {ctx.spec.pids_limit} processes and threads at once: fork and thread creation fail",
        )
    ]


FIXERS: dict[str, Fixer] = {
    "4.1": _fix_user,
    "5.2": _fix_apparmor,
    "5.3": _fix_selinux,
    "5.4": _fix_caps,
    "5.5": _fix_privileged,
    "5.6": _fix_sensitive_mounts,
    "5.7": _advice("5.7"),
    "5.8": _fix_privileged_ports,
    "5.10": _fix_host_network,
    "5.11": _fix_memory,
    "5.12": _fix_cpu,
    "5.13": _fix_readonly,
    "5.14": _fix_bound_interface,
    "5.15": _fix_restart,
    "5.16": _drop_namespace("5.16", "pid", "--pid", "process", "it no longer sees or signals the host's processes"),
    "5.17": _drop_namespace("5.17", "ipc", "--ipc", "IPC", "shared memory with the host's processes"),
    "5.20": _fix_propagation,
    "5.21": _drop_namespace("5.21", "uts", "--uts", "UTS", "it no longer sets the host's hostname"),
    "5.22": _fix_seccomp,
    "5.25": _fix_cgroup_parent,
    "5.26": _fix_nnp,
    "5.27": _fix_health,
    "5.29": _fix_pids,
    "5.31": _drop_namespace(
        "5.31", "userns", "--userns", "user", "with userns-remap on, files in its volumes belong to other uids"
    ),
    "5.32": _fix_docker_socket,
}

# The order fixes are made in: 5.13 before 4.1 (a non-root user is safe once the writes land on a tmpfs),
# 5.6 before 5.32 (a removed host root mount held the socket).
_ORDER = ["5.13", "5.6"]


def _check_key(check_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in check_id.split("."))


def container_fixes(snapshot: HostSnapshot, results: list[Result]) -> list[ContainerFix]:
    """For each audited running container with WARN results in sections 4 and 5, its run line and compose
    service as it runs, and hardened with the fix each result calls for (or marked for review, with why)."""
    warns: dict[str, dict[str, list[Result]]] = {}
    for r in results:
        if r.status is not Status.WARN or not r.object or r.object.kind != "container":
            continue
        if r.check_id.split(".")[0] not in ("4", "5"):
            continue
        warns.setdefault(r.object.id, {}).setdefault(r.check_id, []).append(r)
    fixes = []
    for c in snapshot.audited_containers:
        by_check = warns.get(c.id)
        if not by_check:
            continue
        current = _current_spec(snapshot, c)
        fixed = copy.deepcopy(current)
        image = _image_of(snapshot, c)
        changes: list[Change] = []
        order = [*(k for k in _ORDER if k in by_check), *sorted(set(by_check) - set(_ORDER), key=_check_key)]
        for check_id in order:
            fixer = FIXERS.get(check_id) or _advice(check_id)
            ctx = _Ctx(snapshot, c, image, by_check[check_id], fixed, set(by_check))
            changes += fixer(ctx)
        changes.sort(key=lambda ch: _check_key(ch.check_id))
        fixes.append(
            ContainerFix(
                container_id=c.id,
                name=current.name,
                current_run=render_run(current),
                fixed_run=render_run(fixed),
                current_compose=render_compose(current),
                fixed_compose=render_compose(fixed),
                changes=tuple(changes),
            )
        )
    return fixes
