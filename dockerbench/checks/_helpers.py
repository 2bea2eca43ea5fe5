"""Small building blocks shared by the check modules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from dockerbench.results import Finding, ObjectRef, Status
from dockerbench.snapshot import ContainerSnapshot, FileFact, HostFacts, HostSnapshot, ImageSnapshot

T = TypeVar("T")


class NotCollected(Exception):  # noqa: N818 - reads better at the raise site
    """Raised by a check when the data it needs is missing; becomes SKIP."""


def require(snap: HostSnapshot, part: str) -> Any:
    """Return ``snap.<part>`` or raise NotCollected with the collector's reason."""
    value = getattr(snap, part)
    if value is None:
        raise NotCollected(snap.missing.get(part) or f"{part} was not collected")
    return value


def require_facts(snap: HostSnapshot) -> HostFacts:
    facts: HostFacts = require(snap, "facts")
    return facts


def passed(message: str = "", **evidence: Any) -> Finding:
    return Finding(Status.PASS, message, None, evidence)


def warn(message: str, obj: ObjectRef | None = None, **evidence: Any) -> Finding:
    return Finding(Status.WARN, message, obj, evidence)


def info(message: str, obj: ObjectRef | None = None, **evidence: Any) -> Finding:
    return Finding(Status.INFO, message, obj, evidence)


def note(message: str, obj: ObjectRef | None = None, **evidence: Any) -> Finding:
    return Finding(Status.NOTE, message, obj, evidence)


def skipped(reason: str) -> Finding:
    return Finding(Status.SKIP, reason)


def container_ref(c: ContainerSnapshot) -> ObjectRef:
    return ObjectRef("container", c.id, c.name)


def image_ref(i: ImageSnapshot) -> ObjectRef:
    return ObjectRef("image", i.id, i.name)


def file_ref(f: FileFact) -> ObjectRef:
    return ObjectRef("file", f.path, f.path)


def setting_ref(name: str) -> ObjectRef:
    return ObjectRef("setting", name, name)


def containers(snap: HostSnapshot) -> tuple[ContainerSnapshot, ...]:
    """The running containers section 5 audits (our probe excluded); SKIP if not collected."""
    require(snap, "containers")
    return snap.audited_containers


def per_container(
    snap: HostSnapshot,
    offenders: Iterable[tuple[ContainerSnapshot, str, dict[str, Any]]],
    ok_message: str,
) -> list[Finding]:
    """WARN once per (container, message, evidence), else a single PASS."""
    found = [warn(msg, container_ref(c), **ev) for c, msg, ev in offenders]
    if found:
        return found
    return [passed(ok_message, containers=len(snap.audited_containers))]
