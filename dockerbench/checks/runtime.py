"""CIS section 5: Container Runtime.

Every check here looks at the running containers (``snap.audited_containers``,
our own probe left out) and reports one finding per offending container, with
the flag and value that offends. When no container runs, the automated checks
give a single PASS with ``containers: 0``. Deliberate differences from
docker-bench-security are listed in docs/differences.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dockerbench import daemonconfig
from dockerbench.checks._helpers import (
    NotCollected,
    container_ref,
    containers,
    info,
    note,
    passed,
    per_container,
    require,
    setting_ref,
)
from dockerbench.results import Finding, Status
from dockerbench.snapshot import ContainerSnapshot, HostSnapshot

CheckFn = Callable[[HostSnapshot], list[Finding]]
Offender = tuple[ContainerSnapshot, str, dict[str, Any]]

# Docker's default capability set: adding one of these back changes nothing.
DEFAULT_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)

# The host directories CIS 5.6 names.
SENSITIVE_DIRS = frozenset({"/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"})

WILDCARD_IPS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - we detect these, we do not bind them

SWARM_SERVICE_LABEL = "com.docker.swarm.service.id"


# -- small readers ------------------------------------------------------------


def _norm_path(path: str) -> str:
    path = re.sub(r"/+", "/", path.strip())
    return path.rstrip("/") or "/"


_OPT_RE = re.compile(r"\s*([^=:\s]+)\s*(?:[=:](.*))?$", re.S)


def _security_opts(c: ContainerSnapshot) -> list[str]:
    return [str(o) for o in c.host_config.get("SecurityOpt") or ()]


def _opt_value(c: ContainerSnapshot, key: str) -> str | None:
    """The value of a ``--security-opt key=value`` (or legacy ``key:value``); "" when given bare."""
    for opt in _security_opts(c):
        m = _OPT_RE.match(opt)
        if m and m.group(1) == key:
            return (m.group(2) or "").strip()
    return None


def _bind_mounts(c: ContainerSnapshot) -> Iterator[dict[str, Any]]:
    for m in c.inspect.get("Mounts") or ():
        kind = m.get("Type") or ("bind" if str(m.get("Source", "")).startswith("/") and not m.get("Name") else "")
        if kind == "bind" and m.get("Source"):
            yield m


def _published(c: ContainerSnapshot) -> list[dict[str, Any]]:
    """Every published port binding of a container, as the engine reports it."""
    ports = (c.inspect.get("NetworkSettings") or {}).get("Ports")
    if ports is None:
        ports = c.host_config.get("PortBindings") or {}
    out = []
    for container_port, bindings in sorted(ports.items()):
        for b in bindings or ():
            host_port = str(b.get("HostPort") or "")
            if host_port:
                out.append({"container_port": container_port, "host_ip": b.get("HostIp") or "", "host_port": host_port})
    return out


def _binding_text(b: dict[str, Any]) -> str:
    ip = b["host_ip"]
    host = f"[{ip}]" if ":" in ip else ip or "*"
    return f"{host}:{b['host_port']}->{b['container_port']}"


def _offenders(
    snap: HostSnapshot, test: Callable[[ContainerSnapshot], tuple[str, dict[str, Any]] | None]
) -> list[Offender]:
    out = []
    for c in containers(snap):
        hit = test(c)
        if hit is not None:
            out.append((c, hit[0], hit[1]))
    return out


def _per_container_info(snap: HostSnapshot, hits: Iterable[Offender], ok_message: str) -> list[Finding]:
    """INFO once per container, else a single INFO: a manual recommendation never passes."""
    found = [info(msg, container_ref(c), **ev) for c, msg, ev in hits]
    return found or [info(ok_message, containers=len(snap.audited_containers))]


def _daemon_security_options(snap: HostSnapshot) -> list[str]:
    return [str(o) for o in require(snap, "info").get("SecurityOptions") or ()]


def _daemon_supports(snap: HostSnapshot, name: str) -> bool:
    return any(opt.split(",")[0] == f"name={name}" for opt in _daemon_security_options(snap))


# -- 5.1 ----------------------------------------------------------------------


def check_swarm_mode(snap: HostSnapshot) -> list[Finding]:
    swarm = require(snap, "info").get("Swarm") or {}
    state = swarm.get("LocalNodeState") or "inactive"
    if state == "inactive":
        return [passed("swarm mode is not enabled", state=state)]
    evidence: dict[str, Any] = {"state": state, "manager": bool(swarm.get("ControlAvailable"))}
    return [
        Finding(
            Status.WARN,
            f"swarm mode is {state}; leave the swarm if this host does not need it",
            setting_ref("Swarm.LocalNodeState"),
            evidence,
        )
    ]


# -- 5.2, 5.3: mandatory access control ---------------------------------------


def check_apparmor(snap: HostSnapshot) -> list[Finding]:
    if not _daemon_supports(snap, "apparmor"):
        # Without AppArmor in the daemon, every profile is empty: nothing to enforce here.
        return [
            info(
                "AppArmor is not enabled in this daemon; the recommendation does not apply",
                security_options=_daemon_security_options(snap),
            )
        ]

    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        profile = c.inspect.get("AppArmorProfile") or ""
        if profile in ("", "unconfined"):
            return "runs without an AppArmor profile", {"apparmor_profile": profile or "(none)"}
        return None

    return per_container(snap, _offenders(snap, test), "every container runs under an AppArmor profile")


def check_selinux(snap: HostSnapshot) -> list[Finding]:
    if not _daemon_supports(snap, "selinux"):
        return [
            info(
                "SELinux is not enabled in this daemon; the recommendation does not apply",
                security_options=_daemon_security_options(snap),
            )
        ]

    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        label = _opt_value(c, "label")
        process_label = c.inspect.get("ProcessLabel") or ""
        if label == "disable" or not process_label:
            return "runs without SELinux confinement", {"label": label, "process_label": process_label}
        return None

    return per_container(snap, _offenders(snap, test), "every container runs with an SELinux label")


# -- 5.4, 5.5: capabilities and privileged mode --------------------------------


def _cap_name(cap: str) -> str:
    cap = str(cap).strip().upper()
    return cap[4:] if cap.startswith("CAP_") else cap


def check_capabilities(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        added = [str(cap) for cap in c.host_config.get("CapAdd") or () if _cap_name(cap) not in DEFAULT_CAPS]
        if added:
            return "adds capabilities beyond Docker's default set", {"cap_add": added}
        return None

    return per_container(snap, _offenders(snap, test), "no container adds capabilities beyond the default set")


def check_privileged(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        if c.host_config.get("Privileged") is True:
            return "runs in privileged mode", {"privileged": True}
        return None

    return per_container(snap, _offenders(snap, test), "no container runs in privileged mode")


# -- 5.6, 5.20, 5.32: mounts -------------------------------------------------------


def check_sensitive_mounts(snap: HostSnapshot) -> list[Finding]:
    findings: list[Finding] = []
    for c in containers(snap):
        hits = [
            {"source": _norm_path(m["Source"]), "destination": m.get("Destination", ""), "rw": bool(m.get("RW"))}
            for m in _bind_mounts(c)
            if _norm_path(m["Source"]) in SENSITIVE_DIRS
        ]
        if any(h["rw"] for h in hits):
            findings.append(
                Finding(Status.WARN, "mounts a sensitive host directory read-write", container_ref(c), {"mounts": hits})
            )
        elif hits:
            findings.append(info("mounts a sensitive host directory read-only; review", container_ref(c), mounts=hits))
    return findings or [
        passed("no container mounts a sensitive host directory", containers=len(snap.audited_containers))
    ]


def check_mount_propagation(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        shared = [
            {"source": m.get("Source", ""), "destination": m.get("Destination", ""), "propagation": m["Propagation"]}
            for m in c.inspect.get("Mounts") or ()
            if m.get("Propagation") in ("shared", "rshared")
        ]
        if shared:
            return "has a mount with shared propagation", {"mounts": shared}
        return None

    return per_container(snap, _offenders(snap, test), "no mount uses shared propagation")


def _canonical_run(path: str) -> str:
    # /var/run is a symlink to /run on every current distribution.
    if path == "/var/run" or path.startswith("/var/run/"):
        return "/run" + path[len("/var/run") :]
    return path


def _daemon_sockets(snap: HostSnapshot) -> set[str]:
    sockets = set()
    if snap.facts is not None and snap.facts.roles.get("docker-sock"):
        sockets.add(_canonical_run(_norm_path(snap.facts.roles["docker-sock"])))
    if snap.target.startswith("unix://"):
        sockets.add(_canonical_run(_norm_path(snap.target[len("unix://") :])))
    return sockets


def check_docker_socket(snap: HostSnapshot) -> list[Finding]:
    sockets = _daemon_sockets(snap)

    def reason(source: str) -> str | None:
        canonical = _canonical_run(source)
        if source.endswith("docker.sock") or canonical in sockets:
            return "socket"
        parent = canonical.rstrip("/") + "/"
        if any(sock.startswith(parent) for sock in sockets):
            return "directory holding the socket"
        return None

    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        hits = []
        for m in _bind_mounts(c):
            source = _norm_path(m["Source"])
            why = reason(source)
            if why:
                hits.append(
                    {"source": source, "destination": m.get("Destination", ""), "rw": bool(m.get("RW")), "via": why}
                )
        if hits:
            return "can reach the Docker daemon's socket", {"mounts": hits}
        return None

    return per_container(snap, _offenders(snap, test), "no container mounts the Docker socket")


# -- 5.7: sshd ----------------------------------------------------------------


# The kernel's name of an sshd process (/proc/PID/comm): the listener, and OpenSSH 9.8+'s per-session helpers.
SSHD_NAMES = frozenset({"sshd", "sshd-session", "sshd-auth"})


def _is_sshd(command: str) -> bool:
    # "/usr/sbin/sshd -D", "sshd: /usr/sbin/sshd [listener]", "sshd: root@pts/0"; not "tail sshd.log".
    first = command.strip().split(maxsplit=1)[0] if command.strip() else ""
    return first.rsplit("/", 1)[-1] in ("sshd", "sshd:")


def _column(titles: list[str], *names: str) -> int | None:
    return next((titles.index(t) for t in names if t in titles), None)


def check_sshd(snap: HostSnapshot) -> list[Finding]:
    findings: list[Finding] = []
    for c in containers(snap):
        if c.top is None:
            why = c.errors.get("top") or "the process list was not collected"
            findings.append(Finding(Status.SKIP, f"not collected: {why}", container_ref(c), {}))
            continue
        titles = [str(t).upper() for t in c.top.get("Titles") or ()]
        col = _column(titles, "CMD", "COMMAND", "ARGS")
        col = len(titles) - 1 if col is None else col
        # The process name argv cannot disguise (an sshd exec'd with another argv[0], or started as a copy
        # named sshd); a snapshot from before the COMM column has only argv.
        comm_col = _column(titles, "COMM")
        found = []
        for row in c.top.get("Processes") or ():
            cmd = " ".join(str(x) for x in row[col:]) if col >= 0 and len(row) > col else ""
            comm = str(row[comm_col]) if comm_col is not None and len(row) > comm_col else ""
            if cmd.endswith("<defunct>"):
                continue  # a zombie: it has exited
            if _is_sshd(cmd):
                found.append(cmd)
            elif comm in SSHD_NAMES:
                found.append(f"{cmd} (process name {comm})")
        if found:
            findings.append(Finding(Status.WARN, "runs an sshd process", container_ref(c), {"processes": found[:5]}))
    return findings or [passed("no container runs sshd", containers=len(snap.audited_containers))]


# -- 5.8, 5.9, 5.14: published ports -------------------------------------------


def check_privileged_ports(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        low = [b for b in _published(c) if b["host_port"].isdigit() and 0 < int(b["host_port"]) < 1024]
        if low:
            return "publishes a privileged host port (below 1024)", {"ports": [_binding_text(b) for b in low]}
        return None

    return per_container(snap, _offenders(snap, test), "no container publishes a host port below 1024")


def check_open_ports(snap: HostSnapshot) -> list[Finding]:
    hits: list[Offender] = []
    for c in containers(snap):
        ports = _published(c)
        if ports:
            hits.append(
                (c, "publishes ports; confirm each one is needed", {"ports": [_binding_text(b) for b in ports]})
            )
    return _per_container_info(snap, hits, "no container publishes a port")


def check_bound_interface(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        wild = [b for b in _published(c) if b["host_ip"] in WILDCARD_IPS]
        if wild:
            return "publishes ports on every host interface", {"ports": [_binding_text(b) for b in wild]}
        return None

    return per_container(snap, _offenders(snap, test), "every published port is bound to a specific interface")


# -- 5.10, 5.16, 5.17, 5.21, 5.31: host namespaces --------------------------------


def _host_namespace(key: str, what: str) -> CheckFn:
    def check(snap: HostSnapshot) -> list[Finding]:
        def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
            if c.host_config.get(key) == "host":
                return f"shares the host's {what} namespace", {key: "host"}
            return None

        return per_container(snap, _offenders(snap, test), f"no container shares the host's {what} namespace")

    check.__name__ = f"check_host_{what.replace(' ', '_')}_namespace"
    return check


check_host_network = _host_namespace("NetworkMode", "network")
check_host_pid = _host_namespace("PidMode", "process")
check_host_ipc = _host_namespace("IpcMode", "IPC")
check_host_uts = _host_namespace("UTSMode", "UTS")
check_host_userns = _host_namespace("UsernsMode", "user")


# -- 5.11, 5.12, 5.29: resource limits -------------------------------------------


def check_memory(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        if not c.host_config.get("Memory"):
            return "has no memory limit", {"memory": c.host_config.get("Memory")}
        return None

    return per_container(snap, _offenders(snap, test), "every container has a memory limit")


def check_cpu(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        hc = c.host_config
        shares = hc.get("CpuShares") or 0
        restricted = (
            shares not in (0, 1024)  # 0 means "not set", 1024 is the default weight
            or (hc.get("NanoCpus") or 0) > 0
            or (hc.get("CpuQuota") or 0) > 0
            or bool(hc.get("CpusetCpus"))
        )
        if not restricted:
            evidence = {k: hc.get(k) for k in ("CpuShares", "NanoCpus", "CpuQuota", "CpusetCpus")}
            return "has no CPU shares or CPU limit", evidence
        return None

    return per_container(snap, _offenders(snap, test), "every container has CPU shares or a CPU limit")


def check_pids_limit(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        limit = c.host_config.get("PidsLimit")
        if not limit or limit < 0:
            return "has no PIDs limit", {"pids_limit": limit}
        return None

    return per_container(snap, _offenders(snap, test), "every container has a PIDs limit")


# -- 5.13 ----------------------------------------------------------------------


def check_readonly_rootfs(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        if not c.host_config.get("ReadonlyRootfs"):
            return "has a writable root filesystem", {"readonly_rootfs": False}
        return None

    return per_container(snap, _offenders(snap, test), "every container's root filesystem is read-only")


# -- 5.15: restart policy --------------------------------------------------------


def _service_policy(snap: HostSnapshot, c: ContainerSnapshot) -> dict[str, Any] | None:
    service_id = c.labels.get(SWARM_SERVICE_LABEL)
    if not service_id or snap.services is None:
        return None
    for service in snap.services:
        if service.get("ID") == service_id:
            policy = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("RestartPolicy") or {}
            return {
                "service": (service.get("Spec") or {}).get("Name", service_id),
                "condition": policy.get("Condition") or "any",
                "max_attempts": policy.get("MaxAttempts") or 0,
            }
    return None


def check_restart_policy(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        service = _service_policy(snap, c)
        if service is not None:
            # Swarm restarts a task's containers itself: the service's policy is the one that applies.
            cond, retries = service["condition"], service["max_attempts"]
            if cond == "any" or (cond == "on-failure" and not 0 < retries <= 5):
                return "its swarm service restarts it without a limit of 5 attempts", {"service_policy": service}
            return None
        policy = c.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        retries = policy.get("MaximumRetryCount") or 0
        if name in ("always", "unless-stopped") or (name == "on-failure" and not 0 < retries <= 5):
            # on-failure without a count retries forever.
            return "restart policy is not on-failure with at most 5 retries", {
                "restart_policy": name,
                "maximum_retry_count": retries,
            }
        return None

    return per_container(snap, _offenders(snap, test), "no container restarts without a limit")


# -- 5.18, 5.19: devices and ulimits (manual) ---------------------------------------


def check_devices(snap: HostSnapshot) -> list[Finding]:
    hits: list[Offender] = []
    for c in containers(snap):
        devices = [
            f"{d.get('PathOnHost', '')}:{d.get('PathInContainer', '')}:{d.get('CgroupPermissions', '')}"
            for d in c.host_config.get("Devices") or ()
        ]
        if devices:
            hits.append((c, "has host devices exposed directly; confirm each is needed", {"devices": devices}))
    return _per_container_info(snap, hits, "no container has host devices exposed")


def check_ulimits(snap: HostSnapshot) -> list[Finding]:
    hits: list[Offender] = [
        (c, "uses the daemon's default ulimits; override them if needed", {"ulimits": []})
        for c in containers(snap)
        if not c.host_config.get("Ulimits")
    ]
    return _per_container_info(snap, hits, "every container sets its own ulimits")


# -- 5.22: seccomp -------------------------------------------------------------------


def check_seccomp(snap: HostSnapshot) -> list[Finding]:
    daemon_unconfined = "name=seccomp,profile=unconfined" in _daemon_security_options(snap)

    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        profile = _opt_value(c, "seccomp")
        if profile == "unconfined":
            return "runs with seccomp disabled", {"security_opt": "seccomp=unconfined"}
        if profile is None and daemon_unconfined:
            return "runs with seccomp disabled by the daemon's default", {"daemon_seccomp_profile": "unconfined"}
        return None

    return per_container(snap, _offenders(snap, test), "no container runs with seccomp disabled")


# -- 5.23, 5.24: docker exec (manual: the exec options are not in the snapshot) ---------


def _exec_sessions(snap: HostSnapshot) -> dict[str, Any]:
    if snap.containers is None:
        return {}
    live = [c.name for c in snap.audited_containers if c.inspect.get("ExecIDs")]
    return {"containers_with_exec_sessions": live}


def check_exec_privileged(snap: HostSnapshot) -> list[Finding]:
    return [note("review the audit log for 'docker exec --privileged'", **_exec_sessions(snap))]


def check_exec_root(snap: HostSnapshot) -> list[Finding]:
    return [note("review the audit log for 'docker exec --user=root'", **_exec_sessions(snap))]


# -- 5.25 --------------------------------------------------------------------------------


def check_cgroup_parent(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        parent = c.host_config.get("CgroupParent") or ""
        if parent:
            return "runs under a non-default cgroup parent; confirm it", {"cgroup_parent": parent}
        return None

    return per_container(snap, _offenders(snap, test), "every container uses the default cgroup parent")


# -- 5.26: no-new-privileges ----------------------------------------------------------------


def _nnp(c: ContainerSnapshot) -> bool | None:
    """The container's own no-new-privileges setting, or None when it has none."""
    value = _opt_value(c, "no-new-privileges")
    if value is None:
        return None
    return value.lower() not in ("false", "0", "f")


def _daemon_nnp(snap: HostSnapshot) -> tuple[bool, str]:
    facts = snap.facts
    if facts is None or facts.dockerd is None:
        why = snap.missing.get("facts") or "dockerd's command line was not collected"
        raise NotCollected(f"the daemon-wide no-new-privileges default is unknown: {why}")
    argv = facts.dockerd.argv
    config_file = daemonconfig.effective(argv, None).config_file
    cfg = daemonconfig.effective(argv, facts.contents.get(config_file))
    return cfg.get("no-new-privileges") is True, cfg.source.get("no-new-privileges", "")


def check_no_new_privileges(snap: HostSnapshot) -> list[Finding]:
    audited = containers(snap)
    if all(_nnp(c) is True for c in audited):
        return [passed("every container sets no-new-privileges", containers=len(audited))]
    daemon_default, source = _daemon_nnp(snap)
    offenders: list[Offender] = []
    for c in audited:
        own = _nnp(c)
        if own is False:
            offenders.append((c, "turns no-new-privileges off", {"security_opt": "no-new-privileges=false"}))
        elif own is None and not daemon_default:
            offenders.append((c, "may gain privileges through setuid binaries", {"no_new_privileges": False}))
    if not offenders and daemon_default:
        return [passed("the daemon sets no-new-privileges for every container", source=source)]
    return per_container(snap, offenders, "every container sets no-new-privileges")


# -- 5.27, 5.28: health and image freshness -----------------------------------------


def check_health(snap: HostSnapshot) -> list[Finding]:
    def test(c: ContainerSnapshot) -> tuple[str, dict[str, Any]] | None:
        if not (c.inspect.get("State") or {}).get("Health"):
            return "has no health check", {"image": c.config.get("Image", "")}
        return None

    return per_container(snap, _offenders(snap, test), "every container has a health check")


def check_latest_image(snap: HostSnapshot) -> list[Finding]:
    audited = containers(snap)
    if snap.images is None:
        return [info("confirm containers are re-created when their image is updated", containers=len(audited))]
    by_tag = {tag: img.id for img in snap.images for tag in img.tags}
    stale = []
    for c in audited:
        ref = c.config.get("Image", "")
        tag = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
        current = by_tag.get(tag)
        if current and current != c.inspect.get("Image"):
            stale.append(
                info(
                    "runs an older image than the one its tag now names",
                    container_ref(c),
                    image=ref,
                    running_image_id=c.inspect.get("Image", ""),
                    tagged_image_id=current,
                )
            )
    return stale or [info("confirm containers are re-created when their image is updated", containers=len(audited))]


# -- 5.30 ------------------------------------------------------------------------------


def check_default_bridge(snap: HostSnapshot) -> list[Finding]:
    hits: list[Offender] = []
    for c in containers(snap):
        networks = (c.inspect.get("NetworkSettings") or {}).get("Networks") or {}
        # "bridge" is reserved for the default bridge network: no other network can take the name.
        if "bridge" in networks:
            hits.append((c, "is attached to the default bridge network", {"network": "bridge"}))
    return _per_container_info(snap, hits, "no container uses the default bridge network")


CHECKS: dict[str, CheckFn] = {
    "5.1": check_swarm_mode,
    "5.2": check_apparmor,
    "5.3": check_selinux,
    "5.4": check_capabilities,
    "5.5": check_privileged,
    "5.6": check_sensitive_mounts,
    "5.7": check_sshd,
    "5.8": check_privileged_ports,
    "5.9": check_open_ports,
    "5.10": check_host_network,
    "5.11": check_memory,
    "5.12": check_cpu,
    "5.13": check_readonly_rootfs,
    "5.14": check_bound_interface,
    "5.15": check_restart_policy,
    "5.16": check_host_pid,
    "5.17": check_host_ipc,
    "5.18": check_devices,
    "5.19": check_ulimits,
    "5.20": check_mount_propagation,
    "5.21": check_host_uts,
    "5.22": check_seccomp,
    "5.23": check_exec_privileged,
    "5.24": check_exec_root,
    "5.25": check_cgroup_parent,
    "5.26": check_no_new_privileges,
    "5.27": check_health,
    "5.28": check_latest_image,
    "5.29": check_pids_limit,
    "5.30": check_default_bridge,
    "5.31": check_host_userns,
    "5.32": check_docker_socket,
}
