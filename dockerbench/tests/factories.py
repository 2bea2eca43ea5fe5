"""Builders for focused check tests.

They start from documents captured from a real Docker 20.10 engine
(fixtures/api/*.json) and apply the few changes a test is about, so every
focused test runs on realistically shaped data.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from dockerbench.snapshot import (
    ContainerSnapshot,
    DiffEntry,
    FileFact,
    HostFacts,
    HostSnapshot,
    ImageSnapshot,
    ProcessFact,
)

API = Path(__file__).parent / "fixtures" / "api"


def _load(name: str) -> Any:
    return json.loads((API / name).read_text())


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return base with changes applied; nested dicts merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def info(**changes: Any) -> dict[str, Any]:
    return deep_merge(_load("info-default.json"), changes)


def container(
    name: str = "web",
    *,
    cid: str | None = None,
    running: bool = True,
    top: dict[str, Any] | None = None,
    diff: list[tuple[str, str]] | None = None,
    **changes: Any,
) -> ContainerSnapshot:
    """A container; keyword arguments are merged into its inspect document.

    ``container("db", HostConfig={"Privileged": True})``
    """
    cid = cid or (name.encode().hex() + "0" * 64)[:64]
    doc = deep_merge(_load("container-default.json"), {"Id": cid, "Name": "/" + name})
    doc = deep_merge(doc, changes)
    doc["State"]["Running"] = running
    doc["State"]["Status"] = "running" if running else "exited"
    if top is None and running:
        top = {
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "100", "90", "0", "15:37", "?", "00:00:00", "sleep 3600"]],
        }
    return ContainerSnapshot(
        id=cid,
        name=name,
        inspect=doc,
        running=running,
        top=top,
        diff=tuple(DiffEntry(k, p) for k, p in diff) if diff is not None else (),
    )


def image(
    tag: str = "app:1", *, iid: str | None = None, history: list[dict[str, Any]] | None = None, **changes: Any
) -> ImageSnapshot:
    iid = iid or "sha256:" + (tag.encode().hex() + "0" * 64)[:64]
    doc = deep_merge(_load("image-default.json"), {"Id": iid, "RepoTags": [tag]})
    doc = deep_merge(doc, changes)
    return ImageSnapshot(id=iid, tags=(tag,), inspect=doc, history=tuple(history or ()))


def file(
    path: str,
    mode: int = 0o644,
    user: str = "root",
    group: str = "root",
    kind: str = "file",
    uid: int = 0,
    gid: int = 0,
) -> FileFact:
    return FileFact(path=path, exists=True, kind=kind, uid=uid, gid=gid, user=user, group=group, mode=mode)


def facts(
    *,
    argv: tuple[str, ...] = ("/usr/sbin/dockerd", "-H", "fd://"),
    roles: dict[str, str] | None = None,
    files: list[FileFact] | None = None,
    contents: dict[str, str] | None = None,
    **changes: Any,
) -> HostFacts:
    return HostFacts(
        method="local",
        hostname="test-host",
        dockerd=ProcessFact(pid=100, argv=argv),
        dockerd_match="socket",
        roles=roles or {},
        files={f.path: f for f in files or ()},
        contents=contents or {},
        **changes,
    )


def snapshot(
    *,
    containers: list[ContainerSnapshot] | None = None,
    images: list[ImageSnapshot] | None = None,
    host_facts: HostFacts | None = None,
    info_changes: dict[str, Any] | None = None,
    **changes: Any,
) -> HostSnapshot:
    """A snapshot of one host; every part collected unless set to None via changes."""
    kwargs: dict[str, Any] = {
        "target": "unix:///var/run/docker.sock",
        "collected_at": "2026-11-28T15:00:00+00:00",
        "info": info(**(info_changes or {})),
        "version": {"Version": "20.10.24", "ApiVersion": "1.41"},
        "containers": tuple(containers or ()),
        "images": tuple(images or ()),
        "networks": (),
        "facts": host_facts if host_facts is not None else facts(),
    }
    kwargs.update(changes)
    return HostSnapshot(**kwargs)


def network(name: str = "bridge", **changes: Any) -> dict[str, Any]:
    """One network document from a real engine (none, host or bridge), with changes merged in.

    ``network(Options={"com.docker.network.bridge.enable_icc": "false"})``
    """
    docs: list[dict[str, Any]] = _load("networks-default.json")
    (doc,) = [n for n in docs if n["Name"] == name]
    return deep_merge(doc, changes)


def missing_file(path: str) -> FileFact:
    """A path the fact script looked for and did not find."""
    return FileFact(path=path, exists=False)


# -- sections 4-7: overlay networks and swarm objects ---------------------------


def overlay_network(name: str = "appnet", *, encrypted: bool = False, **changes: Any) -> dict[str, Any]:
    """An overlay network, shaped like the captured bridge network; ``--opt encrypted`` if asked."""
    doc = network("bridge", Id=(name.encode().hex() + "0" * 64)[:64], Name=name, Driver="overlay", Scope="swarm")
    doc["Options"] = {"com.docker.network.driver.overlay.vxlanid_list": "4097"}
    if encrypted:
        doc["Options"]["encrypted"] = ""
    return deep_merge(doc, changes)


def swarm_info(*, managers: int = 1, nodes: int = 1, manager: bool = True) -> dict[str, Any]:
    """``info_changes`` for a node in an active swarm."""
    return {
        "Swarm": {
            "LocalNodeState": "active",
            "ControlAvailable": manager,
            "NodeID": "node1",
            "NodeAddr": "10.0.0.1",
            "Managers": managers if manager else 0,
            "Nodes": nodes if manager else 0,
        }
    }


def node(name: str = "node1", *, role: str = "manager") -> dict[str, Any]:
    return {"ID": name, "Spec": {"Role": role, "Availability": "active"}, "Description": {"Hostname": name}}


def service(
    name: str = "api",
    *,
    restart: dict[str, Any] | None = None,
    ports: list[dict[str, Any]] | None = None,
    secrets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    container_spec: dict[str, Any] = {"Image": "app:1"}
    if secrets:
        container_spec["Secrets"] = secrets
    template: dict[str, Any] = {"ContainerSpec": container_spec}
    if restart is not None:
        template["RestartPolicy"] = restart
    return {
        "ID": name + "-id",
        "Spec": {"Name": name, "TaskTemplate": template},
        "Endpoint": {"Ports": ports or []},
    }


def swarm_inspect(*, autolock: bool = False, node_cert_expiry_days: int = 90) -> dict[str, Any]:
    return {
        "ID": "swarm1",
        "Spec": {
            "Name": "default",
            "EncryptionConfig": {"AutoLockManagers": autolock},
            "CAConfig": {"NodeCertExpiry": node_cert_expiry_days * 86_400 * 10**9},
        },
    }
