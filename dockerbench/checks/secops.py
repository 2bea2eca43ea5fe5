"""CIS section 6: Docker Security Operations (both manual: counts to review)."""

from __future__ import annotations

from collections.abc import Callable

from dockerbench.checks._helpers import info, require
from dockerbench.results import Finding
from dockerbench.snapshot import ContainerSnapshot, HostSnapshot, ImageSnapshot

CheckFn = Callable[[HostSnapshot], list[Finding]]


def check_image_sprawl(snap: HostSnapshot) -> list[Finding]:
    images: tuple[ImageSnapshot, ...] = require(snap, "images")
    all_containers: tuple[ContainerSnapshot, ...] = require(snap, "containers")
    # Every container counts, stopped ones too: their image cannot be removed either.
    used = {str(c.inspect.get("Image", "")) for c in all_containers if not c.is_probe}
    ids = {i.id for i in images}
    in_use = len(ids & used)
    return [
        info(
            f"{len(ids)} images, {in_use} in use by a container",
            images=len(ids),
            in_use=in_use,
            unused=len(ids) - in_use,
        )
    ]


def check_container_sprawl(snap: HostSnapshot) -> list[Finding]:
    all_containers: tuple[ContainerSnapshot, ...] = require(snap, "containers")
    ours = [c for c in all_containers if not c.is_probe]
    running = sum(1 for c in ours if c.running)
    return [
        info(
            f"{len(ours)} containers, {running} running",
            containers=len(ours),
            running=running,
            stopped=len(ours) - running,
        )
    ]


CHECKS: dict[str, CheckFn] = {
    "6.1": check_image_sprawl,
    "6.2": check_container_sprawl,
}
