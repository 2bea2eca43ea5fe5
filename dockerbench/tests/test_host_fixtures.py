"""The engine on snapshots captured from real hosts (scripts/capture_fixtures.py).

No dockerd and no database: each fixture is a real dockerd's snapshot, with
local host facts, of a default install, a misconfigured host and a hardened one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerbench.catalog import EXTRA_RECOMMENDATIONS
from dockerbench.report import check_status, group_by_check, summarize
from dockerbench.results import Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot

HOSTS = Path(__file__).parent / "fixtures" / "hosts"


def load(profile: str) -> HostSnapshot:
    return HostSnapshot.from_json((HOSTS / f"{profile}.json").read_bytes())


@pytest.fixture(scope="module", params=["default", "misconfigured", "hardened"])
def host(request):
    snap = load(request.param)
    return request.param, snap, evaluate(snap)


def verdicts(results) -> dict[str, Status]:
    return {cid: check_status(rows) for cid, rows in group_by_check(results).items()}


def warned(results, check_id: str) -> set[str]:
    return {r.object.name for r in results if r.check_id == check_id and r.status is Status.WARN and r.object}


def test_a_snapshot_survives_the_json_round_trip(host):
    _name, snap, _results = host
    assert HostSnapshot.from_json(snap.to_json()) == snap


def test_every_check_gives_a_verdict_and_none_crashes(host):
    _name, _snap, results = host
    assert len(group_by_check(results)) == 117 + len(EXTRA_RECOMMENDATIONS)  # the CIS checks and our own (S.x)
    assert [r for r in results if r.status is Status.ERROR] == []


def test_the_serving_dockerd_and_its_own_paths_were_found(host):
    name, snap, _results = host
    facts = snap.facts
    assert facts is not None and facts.dockerd is not None
    assert facts.dockerd_match == "socket"
    # Each fixture's daemon ran with its own data root and socket, not the defaults.
    assert facts.roles["data-root"] == f"/var/lib/dockerbench-fx/{name}/data"
    assert facts.roles["docker-sock"] == f"/run/dockerbench-fx/{name}/docker.sock"


def test_the_default_install_warns_about_its_unconstrained_container():
    results = evaluate(load("default"))
    for check_id in ("5.11", "5.12", "5.13", "5.26", "5.29"):
        assert warned(results, check_id) == {"web"}, check_id
    assert verdicts(results)["2.2"] is Status.WARN  # icc is on by default


def test_the_misconfigured_host_warns_for_each_mistake_and_names_the_culprit():
    results = evaluate(load("misconfigured"))
    v = verdicts(results)
    for check_id in ("2.3", "2.5", "2.18", "3.18"):
        assert v[check_id] is Status.WARN, check_id
    assert warned(results, "5.4") == {"caps"}
    assert warned(results, "5.6") == {"rootrw"}
    assert warned(results, "5.8") == {"lowport"}
    assert warned(results, "5.10") == {"hostns"}
    assert warned(results, "5.15") == {"always"}
    assert warned(results, "5.22") == {"unconfined"}
    assert warned(results, "5.32") == {"sock", "rootrw"}
    (registry,) = [r for r in results if r.check_id == "2.5" and r.status is Status.WARN]
    assert "registry.internal:5000" in str(registry.evidence) + registry.message
    (mode,) = [r for r in results if r.check_id == "3.18" and r.status is Status.WARN]
    assert mode.object is not None and mode.object.name.endswith("/daemon.json")


def test_the_hardened_host_passes_what_its_configuration_covers():
    results = evaluate(load("hardened"))
    v = verdicts(results)
    for check_id in ("2.2", "2.3", "2.14", "2.15", "2.16", "3.17", "3.18"):
        assert v[check_id] is Status.PASS, check_id
    runtime_warnings = {r.check_id for r in results if r.check_id.startswith("5.") and r.status is Status.WARN}
    assert runtime_warnings == set()


def test_scores_rank_hardened_above_default_above_misconfigured():
    scores = {p: summarize(evaluate(load(p))).score or 0 for p in ("default", "misconfigured", "hardened")}
    assert scores["hardened"] > scores["default"] > scores["misconfigured"] > 0
