"""validate_snapshot: a stranger's snapshot JSON is refused, by path, wherever its shape is not a HostSnapshot's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dockerbench.snapshot import HostSnapshot
from dockerbench.validate import SnapshotInvalid, validate_snapshot

FIXTURES = Path(__file__).parent / "fixtures/hosts"


def doc(name: str = "misconfigured") -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["default", "hardened", "misconfigured"])
def test_it_accepts_our_fixture_hosts_as_from_json_reads_them(name: str) -> None:
    text = (FIXTURES / f"{name}.json").read_text()
    assert validate_snapshot(json.loads(text)) == HostSnapshot.from_json(text)


def test_it_accepts_a_snapshot_with_image_reports() -> None:
    d = doc()
    d["image_reports"] = [
        {"scanner": "trivy", "image_id": "sha256:" + "a" * 64, "vulns": [{"id": "CVE-2023-5363", "severity": "HIGH"}]}
    ]
    snapshot = validate_snapshot(d)
    assert snapshot.image_reports is not None and snapshot.image_reports[0].vulns[0].id == "CVE-2023-5363"


def _problem(d: Any) -> str:
    with pytest.raises(SnapshotInvalid) as caught:
        validate_snapshot(d)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("target"), "target is missing"),
        (lambda d: d.update(target=7), "target is a number, not a string"),
        (lambda d: d.update(schema=2), "schema is 2; this dashboard reads snapshot schema 1"),
        (lambda d: d.update(schema=True), "schema is True"),
        (lambda d: d.update(collected_at="yesterday"), "collected_at is 'yesterday', not an ISO 8601 time"),
        (lambda d: d.update(containers={"a": 1}), "containers is an object, not a list"),
        (lambda d: d["containers"][0].update(running="yes"), "containers[0].running is a string, not true or false"),
        (lambda d: d["containers"][0].pop("inspect"), "containers[0].inspect is missing"),
        (lambda d: d["containers"][0].update(inspect=[]), "containers[0].inspect is a list, not an object"),
        (lambda d: d["images"][0].update(tags="nginx:latest"), "images[0].tags is a string, not a list"),
        (lambda d: d["images"][0].update(tags=[1]), "images[0].tags[0] is a number, not a string"),
        (lambda d: d["facts"]["files"][next(iter(d["facts"]["files"]))].update(mode="0644"), "mode is a string"),
        (lambda d: d["facts"].update(mounts=[{"source": "/"}]), "facts.mounts[0].target is missing"),
        (lambda d: d.update(timings={"collect": "fast"}), "timings['collect'] is a string, not a number"),
        (lambda d: d.update(surprise=1), "surprise is not a field of a snapshot's HostSnapshot"),
        (
            lambda d: d.update(image_reports=[{"scanner": "trivy", "vulns": [{"id": "CVE-1", "severity": "DIRE"}]}]),
            "image_reports[0].vulns[0].severity is 'DIRE'; one of CRITICAL",
        ),
    ],
)
def test_it_refuses_a_wrong_shape_and_says_where(change: Any, expected: str) -> None:
    d = copy.deepcopy(doc())
    change(d)
    assert expected in _problem(d)


@pytest.mark.parametrize("value", [[], "snapshot", 1, None])
def test_it_refuses_what_is_not_an_object(value: Any) -> None:
    assert "a snapshot is a JSON object" in _problem(value)


def test_it_lists_at_most_ten_problems() -> None:
    d = doc()
    d["containers"] = [{"id": 1} for _ in range(50)]
    with pytest.raises(SnapshotInvalid) as caught:
        validate_snapshot(d)
    assert len(caught.value.problems) == 10 and "(and perhaps more)" in str(caught.value)
