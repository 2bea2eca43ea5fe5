"""Focused tests for CIS section 6 (security operations): sprawl counts."""

from __future__ import annotations

import dataclasses

import pytest

from dockerbench.checks._helpers import NotCollected
from dockerbench.checks.secops import CHECKS
from dockerbench.results import Status
from dockerbench.snapshot import PROBE_LABEL
from dockerbench.tests import factories as f


def test_it_counts_images_in_use_by_any_container_once() -> None:
    used, spare, idle = f.image("used:1"), f.image("spare:1"), f.image("idle:1")
    snap = f.snapshot(
        images=[used, spare, idle],
        containers=[
            f.container("a", Image=used.id),
            f.container("b", Image=used.id),
            f.container("stopped", running=False, Image=spare.id),
        ],
    )
    (finding,) = CHECKS["6.1"](snap)
    assert finding.status == Status.INFO
    assert finding.evidence == {"images": 3, "in_use": 2, "unused": 1}


def test_it_does_not_count_the_probe_as_using_its_image() -> None:
    busybox = f.image("busybox:latest")
    probe = f.container("probe", Config={"Labels": {PROBE_LABEL: "1"}}, Image=busybox.id)
    (finding,) = CHECKS["6.1"](f.snapshot(images=[busybox], containers=[probe]))
    assert finding.evidence == {"images": 1, "in_use": 0, "unused": 1}


def test_it_counts_running_and_stopped_containers_without_the_probe() -> None:
    snap = f.snapshot(
        containers=[
            f.container("up"),
            f.container("down", running=False),
            f.container("gone", running=False),
            f.container("probe", Config={"Labels": {PROBE_LABEL: "1"}}),
        ]
    )
    (finding,) = CHECKS["6.2"](snap)
    assert finding.status == Status.INFO
    assert finding.evidence == {"containers": 3, "running": 1, "stopped": 2}


@pytest.mark.parametrize(("check_id", "part"), [("6.1", "images"), ("6.1", "containers"), ("6.2", "containers")])
def test_it_skips_sprawl_counts_when_their_data_is_missing(check_id: str, part: str) -> None:
    snap = dataclasses.replace(f.snapshot(missing={part: "engine went away"}), **{part: None})  # type: ignore[arg-type]  # the part is one of the Optional ones
    with pytest.raises(NotCollected, match="engine went away"):
        CHECKS[check_id](snap)
