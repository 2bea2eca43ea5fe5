"""CIS section 3: ownership and permissions of the daemon's files.

Every path comes from ``HostFacts.roles``: the files this daemon really uses,
not the packaged defaults. "N or more restrictive" means no permission bit
beyond N (special bits included), so 600 satisfies 644 but 606 does not.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from dockerbench.checks._helpers import NotCollected, file_ref, info, passed, require_facts, skipped, warn
from dockerbench.results import Finding
from dockerbench.snapshot import FileFact, HostFacts, HostSnapshot

CheckFn = Callable[[HostSnapshot], list[Finding]]

# Docker reads CA certificates (*.crt) and client certificates (*.cert) from certs.d.
CERT_SUFFIXES = (".crt", ".cert")


def _mode(mode: int) -> str:
    return format(mode, "03o")


def _evidence(fact: FileFact) -> dict[str, Any]:
    return {
        "path": fact.path,
        "owner": fact.user or ("" if fact.uid is None else str(fact.uid)),
        "group": fact.group or ("" if fact.gid is None else str(fact.gid)),
        "mode": "" if fact.mode is None else _mode(fact.mode),
    }


def _is(name: str, wanted: str, number: int | None) -> bool | None:
    """Whether an owner/group is ``wanted``; root is judged by id, other names by name. None: cannot tell."""
    if wanted == "root" and number is not None:
        return number == 0
    if name:
        return name == wanted
    return None


def _judge_owner(fact: FileFact, user: str, group: str) -> Finding:
    user_ok = _is(fact.user, user, fact.uid)
    group_ok = _is(fact.group, group, fact.gid)
    if user_ok is None or group_ok is None:
        return skipped(f"the owner or group of {fact.path} could not be resolved to a name")
    evidence = _evidence(fact)
    if user_ok and group_ok:
        return passed(f"{fact.path} is owned by {user}:{group}", **evidence)
    shown = f"{evidence['owner'] or '?'}:{evidence['group'] or '?'}"
    return warn(f"{fact.path} is owned by {shown}, not {user}:{group}", file_ref(fact), **evidence)


def _judge_mode(fact: FileFact, limit: int) -> Finding:
    if fact.mode is None:
        return skipped(f"the mode of {fact.path} was not collected")
    evidence = _evidence(fact)
    extra = fact.mode & ~limit & 0o7777
    if not extra:
        return passed(f"{fact.path} has mode {_mode(fact.mode)}", **evidence)
    return warn(
        f"{fact.path} has mode {_mode(fact.mode)}, more permissive than {_mode(limit)}",
        file_ref(fact),
        extra_bits=_mode(extra),
        **evidence,
    )


def _role_fact(facts: HostFacts, role: str, label: str) -> FileFact | Finding:
    """The examined FileFact for a role, or the INFO finding saying it is not on this host."""
    path = facts.roles.get(role)
    if not path:
        return info(f"No {label} on this host", role=role)
    fact = facts.files.get(path)
    if fact is None:
        raise NotCollected(facts.errors.get(path) or f"{path} was not examined")
    if fact.error:
        raise NotCollected(f"{path} could not be examined: {fact.error}")
    if not fact.exists:
        return info(f"{path} is not present on this host", path=path, role=role)
    return fact


# What each check of this section wants of its file: an owner, or the loosest mode allowed. The checks below are
# made from these, and dockerbench.fixes writes its chown and chmod lines from the same tables.
OWNERS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        ("3.1", "3.3", "3.5", "3.7", "3.9", "3.11", "3.13", "3.17", "3.19", "3.22", "3.23"), ("root", "root")
    ),
    "3.15": ("root", "docker"),
}
MODE_LIMITS: dict[str, int] = {
    "3.2": 0o644,
    "3.4": 0o644,
    "3.6": 0o755,
    "3.8": 0o444,
    "3.10": 0o444,
    "3.12": 0o444,
    "3.14": 0o400,
    "3.16": 0o660,
    "3.18": 0o644,
    "3.20": 0o644,
    "3.21": 0o644,
    "3.24": 0o660,
}


def _ownership(check_id: str, role: str, label: str) -> CheckFn:
    user, group = OWNERS[check_id]

    def check(snap: HostSnapshot) -> list[Finding]:
        found = _role_fact(require_facts(snap), role, label)
        return [found if isinstance(found, Finding) else _judge_owner(found, user, group)]

    check.__name__ = f"check_owner_{role.replace('-', '_').replace('.', '_')}"
    return check


def _permissions(check_id: str, role: str, label: str) -> CheckFn:
    limit = MODE_LIMITS[check_id]

    def check(snap: HostSnapshot) -> list[Finding]:
        found = _role_fact(require_facts(snap), role, label)
        return [found if isinstance(found, Finding) else _judge_mode(found, limit)]

    check.__name__ = f"check_mode_{role.replace('-', '_').replace('.', '_')}"
    return check


# -- 3.7 / 3.8: registry certificates, one verdict per file --------------------


def _registry_certs(facts: HostFacts) -> list[str]:
    return sorted(p for p in facts.registry_certs if posixpath.basename(p).endswith(CERT_SUFFIXES))


def _per_cert(snap: HostSnapshot, judge: Callable[[FileFact], Finding], ok: str) -> list[Finding]:
    facts = require_facts(snap)
    paths = _registry_certs(facts)
    if not paths:
        return [info("No registry certificates under certs.d on this host", certificates=0)]
    findings: list[Finding] = []
    for path in paths:
        fact = facts.files.get(path)
        if fact is None or fact.error:
            findings.append(skipped(f"{path} could not be examined: {fact.error if fact else 'not collected'}"))
        elif fact.exists:
            findings.append(judge(fact))
    bad = [f for f in findings if f.status != "PASS"]
    if bad:
        return bad
    return [passed(ok, certificates=len(paths), paths=paths)]


def check_3_7(snap: HostSnapshot) -> list[Finding]:
    return _per_cert(
        snap, lambda f: _judge_owner(f, *OWNERS["3.7"]), "Every registry certificate is owned by root:root"
    )


def check_3_8(snap: HostSnapshot) -> list[Finding]:
    return _per_cert(
        snap, lambda f: _judge_mode(f, MODE_LIMITS["3.8"]), "Every registry certificate is 444 or stricter"
    )


check_3_1 = _ownership("3.1", "docker.service", "docker.service unit")
check_3_2 = _permissions("3.2", "docker.service", "docker.service unit")
check_3_3 = _ownership("3.3", "docker.socket", "docker.socket unit")
check_3_4 = _permissions("3.4", "docker.socket", "docker.socket unit")
check_3_5 = _ownership("3.5", "etc-docker", "/etc/docker directory")
check_3_6 = _permissions("3.6", "etc-docker", "/etc/docker directory")
check_3_9 = _ownership("3.9", "tlscacert", "TLS CA certificate configured")
check_3_10 = _permissions("3.10", "tlscacert", "TLS CA certificate configured")
check_3_11 = _ownership("3.11", "tlscert", "TLS server certificate configured")
check_3_12 = _permissions("3.12", "tlscert", "TLS server certificate configured")
check_3_13 = _ownership("3.13", "tlskey", "TLS server key configured")
check_3_14 = _permissions("3.14", "tlskey", "TLS server key configured")
check_3_15 = _ownership("3.15", "docker-sock", "Docker socket")
check_3_16 = _permissions("3.16", "docker-sock", "Docker socket")
check_3_17 = _ownership("3.17", "daemon.json", "daemon.json")
check_3_18 = _permissions("3.18", "daemon.json", "daemon.json")
check_3_19 = _ownership("3.19", "default-docker", "/etc/default/docker")
check_3_20 = _permissions("3.20", "default-docker", "/etc/default/docker")
check_3_21 = _permissions("3.21", "sysconfig-docker", "/etc/sysconfig/docker")
check_3_22 = _ownership("3.22", "sysconfig-docker", "/etc/sysconfig/docker")
check_3_23 = _ownership("3.23", "containerd-sock", "containerd socket")
check_3_24 = _permissions("3.24", "containerd-sock", "containerd socket")


CHECKS: dict[str, CheckFn] = {
    "3.1": check_3_1,
    "3.2": check_3_2,
    "3.3": check_3_3,
    "3.4": check_3_4,
    "3.5": check_3_5,
    "3.6": check_3_6,
    "3.7": check_3_7,
    "3.8": check_3_8,
    "3.9": check_3_9,
    "3.10": check_3_10,
    "3.11": check_3_11,
    "3.12": check_3_12,
    "3.13": check_3_13,
    "3.14": check_3_14,
    "3.15": check_3_15,
    "3.16": check_3_16,
    "3.17": check_3_17,
    "3.18": check_3_18,
    "3.19": check_3_19,
    "3.20": check_3_20,
    "3.21": check_3_21,
    "3.22": check_3_22,
    "3.23": check_3_23,
    "3.24": check_3_24,
}
