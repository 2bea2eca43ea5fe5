"""CIS section 1: host configuration (partition, docker group, audit rules, versions)."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable

from dockerbench.checks._helpers import NotCollected, info, note, passed, require_facts, warn
from dockerbench.results import Finding, ObjectRef
from dockerbench.snapshot import HostFacts, HostSnapshot, norm_host_path

CheckFn = Callable[[HostSnapshot], list[Finding]]

# With userns-remap the daemon keeps its data in <data-root>/<uid>.<gid>.
_USERNS_SUBDIR = re.compile(r"^\d+\.\d+$")
RUN_CONTAINERD = "/run/containerd"


def _data_root(snap: HostSnapshot, facts: HostFacts) -> str:
    path = facts.roles.get("data-root") or (snap.info or {}).get("DockerRootDir") or ""
    if not path:
        raise NotCollected("the daemon's data root is unknown (no data-root fact and no docker info)")
    return str(path)


# -- 1.1.1 -------------------------------------------------------------------


def check_1_1_1(snap: HostSnapshot) -> list[Finding]:
    facts = require_facts(snap)
    if not facts.mounts:
        raise NotCollected(facts.errors.get("mounts") or "the host's mount table was not collected")
    root = norm_host_path(_data_root(snap, facts))
    candidates = [root]
    if _USERNS_SUBDIR.match(posixpath.basename(root)):
        candidates.append(posixpath.dirname(root))
    by_target = {norm_host_path(m.target): m for m in facts.mounts}
    for path in candidates:
        mount = by_target.get(path)
        if mount is not None:
            return [passed(f"{path} is its own mount", data_root=root, source=mount.source, fstype=mount.fstype)]
    # Name the filesystem it lives on instead, so the reader sees what it shares.
    holder = max(
        (
            m
            for m in facts.mounts
            if root == norm_host_path(m.target) or root.startswith(norm_host_path(m.target).rstrip("/") + "/")
        ),
        key=lambda m: len(m.target),
        default=None,
    )
    evidence = {"data_root": root}
    if holder is not None:
        evidence.update(mounted_on=holder.target, source=holder.source, fstype=holder.fstype)
    return [warn(f"{root} is not a separate partition", ObjectRef("file", root, root), **evidence)]


# -- 1.1.2 -------------------------------------------------------------------


def check_1_1_2(snap: HostSnapshot) -> list[Finding]:
    facts = require_facts(snap)
    # The group dockerd gives its socket to: "docker" unless -G/--group or daemon.json "group" names another.
    group = facts.docker_group_name or "docker"
    if facts.docker_group is None:
        raise NotCollected(facts.errors.get("docker-group") or f"the {group} group's members were not collected")
    users = sorted(facts.docker_group)
    if not users:
        return [info(f"The {group} group has no members", users=[], group=group)]
    return [
        info(
            f"Review the {len(users)} member(s) of the {group} group; each can control the daemon as root",
            ObjectRef("host", facts.hostname, facts.hostname),
            users=users,
            group=group,
        )
    ]


# -- 1.1.3 - 1.1.18: audit rules ----------------------------------------------


def _watched(rules: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Paths the audit rules watch, each with whether the watch covers what lies below it.

    ``-w DIR`` and ``-F dir=DIR`` watch a whole tree; ``-F path=P`` only P itself.
    """
    out: list[tuple[str, bool]] = []
    for line in rules:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError:
            tokens = text.split()
        if not tokens:
            continue
        if tokens[0] in ("-a", "-A") and len(tokens) > 1 and "never" in tokens[1]:
            continue  # an exclusion, not an audit
        for i, tok in enumerate(tokens[:-1]):
            nxt = tokens[i + 1]
            if tok == "-w":
                out.append((norm_host_path(nxt), True))
            elif tok == "-F" and nxt.startswith("path="):
                out.append((norm_host_path(nxt[5:]), False))
            elif tok == "-F" and nxt.startswith("dir="):
                out.append((norm_host_path(nxt[4:]), True))
    return out


def _audited_by(path: str, rules: tuple[str, ...]) -> str:
    """The watched path that covers ``path`` (itself or a watched ancestor directory), or ''."""
    target = norm_host_path(path)
    for watched, recursive in _watched(rules):
        if watched == target:
            return watched
        if recursive and target.startswith(watched.rstrip("/") + "/"):
            return watched
    return ""


def _audit_check(role: str, what: str) -> CheckFn:
    def check(snap: HostSnapshot) -> list[Finding]:
        facts = require_facts(snap)
        path = _audit_target(snap, facts, role)
        if not path:
            return [info(f"No {what} on this host", role=role)]
        if not _present(facts, path):
            return [info(f"{path} is not present on this host", path=path, role=role)]
        if facts.audit_rules is None:
            raise NotCollected(facts.errors.get("audit") or "the audit rules could not be read")
        evidence = {"path": path, "rules_source": facts.audit_source, "rules": len(facts.audit_rules)}
        watched = _audited_by(path, facts.audit_rules)
        if watched:
            return [passed(f"{path} is audited", watched=watched, **evidence)]
        return [warn(f"No audit rule watches {path}", ObjectRef("file", path, path), **evidence)]

    check.__name__ = f"check_audit_{role.replace(':', '_').replace('-', '_').replace('.', '_')}"
    check.__doc__ = f"WARN when no audit rule watches {what}."
    return check


def _audit_target(snap: HostSnapshot, facts: HostFacts, role: str) -> str:
    if role == "data-root":
        return _data_root(snap, facts)
    if role == "run-containerd":
        # /run/containerd when the host has it; else the directory of the containerd
        # socket in use (a dockerd that runs its own containerd keeps it under /run/docker).
        if facts.roles.get("containerd-dir"):
            return facts.roles["containerd-dir"]
        fact = facts.files.get(RUN_CONTAINERD)
        sock = facts.roles.get("containerd-sock", "")
        if (fact is not None and fact.exists) or norm_host_path(sock).startswith(RUN_CONTAINERD + "/"):
            return RUN_CONTAINERD
        return posixpath.dirname(sock) if sock else ""
    if role == "bin:dockerd":
        path = facts.roles.get(role, "")
        if not path and facts.dockerd is not None and facts.dockerd.argv[:1]:
            argv0 = facts.dockerd.argv[0]
            path = argv0 if argv0.startswith("/") else ""
        return path
    return facts.roles.get(role, "")


def _present(facts: HostFacts, path: str) -> bool:
    fact = facts.files.get(path)
    return fact is None or fact.exists  # a role is only set for a path that exists


check_1_1_3 = _audit_check("bin:dockerd", "dockerd binary")
check_1_1_4 = _audit_check("run-containerd", "/run/containerd directory")
check_1_1_5 = _audit_check("data-root", "data root")
check_1_1_6 = _audit_check("etc-docker", "/etc/docker directory")
check_1_1_7 = _audit_check("docker.service", "docker.service unit")
check_1_1_8 = _audit_check("containerd-sock", "containerd.sock")
check_1_1_9 = _audit_check("docker.socket", "docker.socket unit")
check_1_1_10 = _audit_check("default-docker", "/etc/default/docker")
check_1_1_11 = _audit_check("daemon.json", "daemon.json")
check_1_1_12 = _audit_check("containerd-config", "containerd config.toml")
check_1_1_13 = _audit_check("sysconfig-docker", "/etc/sysconfig/docker")
check_1_1_14 = _audit_check("bin:containerd", "containerd binary")
check_1_1_15 = _audit_check("bin:containerd-shim", "containerd-shim binary")
check_1_1_16 = _audit_check("bin:containerd-shim-runc-v1", "containerd-shim-runc-v1 binary")
check_1_1_17 = _audit_check("bin:containerd-shim-runc-v2", "containerd-shim-runc-v2 binary")
check_1_1_18 = _audit_check("bin:runc", "runc binary")


# -- 1.2 ---------------------------------------------------------------------


def check_1_2_1(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info or {}
    evidence = {k: str(doc[k]) for k in ("OperatingSystem", "KernelVersion") if doc.get(k)}
    return [note("Review the host's hardening against an OS benchmark (CIS distribution benchmark)", None, **evidence)]


def check_1_2_2(snap: HostSnapshot) -> list[Finding]:
    version = (snap.version or {}).get("Version") or snap.engine_version or (snap.info or {}).get("ServerVersion")
    if not version:
        raise NotCollected(snap.missing.get("version") or "the engine version was not collected")
    evidence: dict[str, str] = {"version": str(version)}
    for key, name in (("ApiVersion", "api_version"), ("Os", "os"), ("KernelVersion", "kernel")):
        if (snap.version or {}).get(key):
            evidence[name] = str((snap.version or {})[key])
    return [info(f"Docker engine {version}: check it is still supported and patched by its vendor", None, **evidence)]


CHECKS: dict[str, CheckFn] = {
    "1.1.1": check_1_1_1,
    "1.1.2": check_1_1_2,
    "1.1.3": check_1_1_3,
    "1.1.4": check_1_1_4,
    "1.1.5": check_1_1_5,
    "1.1.6": check_1_1_6,
    "1.1.7": check_1_1_7,
    "1.1.8": check_1_1_8,
    "1.1.9": check_1_1_9,
    "1.1.10": check_1_1_10,
    "1.1.11": check_1_1_11,
    "1.1.12": check_1_1_12,
    "1.1.13": check_1_1_13,
    "1.1.14": check_1_1_14,
    "1.1.15": check_1_1_15,
    "1.1.16": check_1_1_16,
    "1.1.17": check_1_1_17,
    "1.1.18": check_1_1_18,
    "1.2.1": check_1_2_1,
    "1.2.2": check_1_2_2,
}
