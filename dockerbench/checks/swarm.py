"""CIS section 7: Docker Swarm Configuration.

When swarm mode is not active the automated checks pass, as docker-bench-security
reports it: there is no swarm to configure; the manual ones say so as INFO. The swarm's own settings are only
visible on a manager; on a worker the checks that need them SKIP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dockerbench.checks._helpers import NotCollected, info, note, passed, require, setting_ref, warn
from dockerbench.results import Finding, ObjectRef
from dockerbench.snapshot import HostSnapshot

CheckFn = Callable[[HostSnapshot], list[Finding]]

NOT_ENABLED = "swarm mode is not enabled"
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - detected, never bound
NS_PER_DAY = 86_400 * 10**9


def _swarm_info(snap: HostSnapshot) -> dict[str, Any]:
    swarm: dict[str, Any] = require(snap, "info").get("Swarm") or {}
    return swarm


def _inactive(snap: HostSnapshot, *, manual: bool = False) -> list[Finding] | None:
    """A single PASS (INFO for a manual recommendation) when swarm mode is off, else None."""
    state = _swarm_info(snap).get("LocalNodeState") or "inactive"
    if state == "inactive":
        return [(info if manual else passed)(NOT_ENABLED, state=state)]
    return None


def _swarm(snap: HostSnapshot) -> dict[str, Any]:
    swarm: dict[str, Any] = require(snap, "swarm")
    return swarm


def _service_name(service: dict[str, Any]) -> str:
    return str((service.get("Spec") or {}).get("Name") or service.get("ID", ""))


# -- 7.1 ----------------------------------------------------------------------


def check_manager_count(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap)) is not None:
        return off
    swarm = _swarm_info(snap)
    if snap.nodes is not None:
        managers = sum(1 for n in snap.nodes if (n.get("Spec") or {}).get("Role") == "manager")
        nodes = len(snap.nodes)
    elif swarm.get("ControlAvailable"):
        managers, nodes = int(swarm.get("Managers") or 0), int(swarm.get("Nodes") or 0)
    else:
        raise NotCollected(snap.missing.get("swarm") or "the swarm's nodes are only visible on a manager")
    evidence = {"managers": managers, "nodes": nodes}
    # Raft tolerates (n-1)/2 lost managers: an even count adds load but no fault tolerance,
    # and Docker advises at most seven managers.
    if managers % 2 == 0 or managers > 7:
        return [warn("the number of managers adds no fault tolerance", setting_ref("Swarm.Managers"), **evidence)]
    return [passed("the swarm has an odd number of managers, at most seven", **evidence)]


# -- 7.2 ----------------------------------------------------------------------


def _listen_addr(snap: HostSnapshot) -> str:
    """The swarm listen address, from the daemon's swarm state file (the API does not expose it)."""
    facts = snap.facts
    if facts is None:
        raise NotCollected(snap.missing.get("facts") or "host facts were not collected")
    data_root = facts.roles.get("data-root") or (snap.info or {}).get("DockerRootDir") or "/var/lib/docker"
    path = data_root.rstrip("/") + "/swarm/docker-state.json"
    text = facts.contents.get(path)
    if text is None:
        raise NotCollected(f"the swarm listen address is only recorded in {path}, which was not collected")
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise NotCollected(f"{path} is not valid JSON") from exc
    return str(state.get("ListenAddr") or "")


def check_swarm_interface(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap)) is not None:
        return off
    listen = _listen_addr(snap)
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    host = host.strip("[]")
    evidence: dict[str, Any] = {"listen_addr": listen}
    if snap.services is not None:
        # Published service ports go through the routing mesh on every interface of every node.
        evidence["services_published_on_all_interfaces"] = sorted(
            _service_name(s) for s in snap.services if ((s.get("Endpoint") or {}).get("Ports"))
        )
    if host in WILDCARD_HOSTS:
        return [
            warn("the swarm management port listens on every interface", setting_ref("swarm listen-addr"), **evidence)
        ]
    return [passed("the swarm management port is bound to one interface", **evidence)]


# -- 7.3 ----------------------------------------------------------------------


def check_overlay_encryption(snap: HostSnapshot) -> list[Finding]:
    networks: tuple[dict[str, Any], ...] = require(snap, "networks")
    overlays = [n for n in networks if n.get("Driver") == "overlay"]
    findings = [
        warn(
            "overlay network is not encrypted",
            ObjectRef("network", str(n.get("Id", "")), str(n.get("Name", ""))),
            scope=n.get("Scope", ""),
            ingress=bool(n.get("Ingress")),
        )
        # The overlay driver turns encryption on when the option is present, whatever its value.
        for n in overlays
        if "encrypted" not in (n.get("Options") or {})
    ]
    return findings or [passed("every overlay network is encrypted", overlay_networks=len(overlays))]


# -- 7.4 ----------------------------------------------------------------------


def check_secret_management(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap, manual=True)) is not None:
        return off
    services: tuple[dict[str, Any], ...] = require(snap, "services")
    with_secrets = sorted(
        _service_name(s)
        for s in services
        if (((s.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Secrets")
    )
    if with_secrets:
        return [info("services use swarm secrets", services_with_secrets=with_secrets, services=len(services))]
    return [info("no service uses swarm secrets; confirm none needs one", services=len(services))]


# -- 7.5 - 7.9 -------------------------------------------------------------------


def check_autolock(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap)) is not None:
        return off
    spec = _swarm(snap).get("Spec") or {}
    if (spec.get("EncryptionConfig") or {}).get("AutoLockManagers"):
        return [passed("swarm managers are auto-locked", autolock=True)]
    return [warn("swarm managers are not auto-locked", setting_ref("Swarm.AutoLockManagers"), autolock=False)]


def check_unlock_key_rotation(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap, manual=True)) is not None:
        return off
    return [note("rotate the swarm unlock key periodically (docker swarm unlock-key --rotate)")]


def check_node_cert_rotation(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap, manual=True)) is not None:
        return off
    evidence: dict[str, Any] = {}
    if snap.swarm is not None:
        expiry = ((snap.swarm.get("Spec") or {}).get("CAConfig") or {}).get("NodeCertExpiry")
        if expiry:
            evidence["node_cert_expiry_days"] = round(expiry / NS_PER_DAY, 2)
    return [info("confirm node certificates are rotated as often as your policy requires", **evidence)]


def check_ca_rotation(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap, manual=True)) is not None:
        return off
    evidence: dict[str, Any] = {}
    if snap.swarm is not None:
        ca = (snap.swarm.get("Spec") or {}).get("CAConfig") or {}
        evidence = {"force_rotate": ca.get("ForceRotate", 0), "external_cas": len(ca.get("ExternalCAs") or ())}
    return [info("confirm the swarm CA certificate is rotated as your policy requires", **evidence)]


def check_plane_separation(snap: HostSnapshot) -> list[Finding]:
    if (off := _inactive(snap, manual=True)) is not None:
        return off
    return [
        info(
            "confirm management and data traffic use separate interfaces (--data-path-addr)",
            node_addr=_swarm_info(snap).get("NodeAddr", ""),
        )
    ]


CHECKS: dict[str, CheckFn] = {
    "7.1": check_manager_count,
    "7.2": check_swarm_interface,
    "7.3": check_overlay_encryption,
    "7.4": check_secret_management,
    "7.5": check_autolock,
    "7.6": check_unlock_key_rotation,
    "7.7": check_node_cert_rotation,
    "7.8": check_ca_rotation,
    "7.9": check_plane_separation,
}
