"""Focused tests for CIS section 7 (swarm configuration)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockerbench.checks._helpers import NotCollected
from dockerbench.checks.swarm import CHECKS
from dockerbench.results import Finding, Status
from dockerbench.snapshot import HostSnapshot
from dockerbench.tests import factories as f

PASS, WARN, INFO, NOTE = Status.PASS, Status.WARN, Status.INFO, Status.NOTE

STATE_FILE = "/var/lib/docker/swarm/docker-state.json"


def manager(*, managers: int = 1, listen: str | None = None, **changes: Any) -> HostSnapshot:
    """A snapshot of a swarm manager."""
    contents = {STATE_FILE: json.dumps({"ListenAddr": listen, "AdvertiseAddr": "10.0.0.1"})} if listen else {}
    kwargs: dict[str, Any] = {
        "info_changes": f.swarm_info(managers=managers, nodes=managers),
        "swarm": f.swarm_inspect(),
        "nodes": tuple(f.node(f"m{i}") for i in range(managers)),
        "services": (),
        "host_facts": f.facts(roles={"data-root": "/var/lib/docker"}, contents=contents),
    }
    kwargs.update(changes)
    return f.snapshot(**kwargs)


def verdicts(findings: list[Finding]) -> list[tuple[Status, str | None]]:
    return [(x.status, x.object.name if x.object else None) for x in findings]


@pytest.mark.parametrize(
    ("check_id", "status"),
    [
        ("7.1", PASS),
        ("7.2", PASS),
        ("7.5", PASS),
        ("7.4", INFO),
        ("7.6", INFO),
        ("7.7", INFO),
        ("7.8", INFO),
        ("7.9", INFO),
    ],
)
def test_it_passes_automated_swarm_checks_and_informs_manual_ones_when_swarm_is_off(
    check_id: str, status: Status
) -> None:
    findings = CHECKS[check_id](f.snapshot(swarm=None, missing={"swarm": "swarm mode is inactive"}))
    assert [(x.status, x.evidence) for x in findings] == [(status, {"state": "inactive"})]


# -- 7.1 -----------------------------------------------------------------------------


@pytest.mark.parametrize(("managers", "status"), [(1, PASS), (2, WARN), (3, PASS), (4, WARN), (9, WARN)])
def test_it_judges_the_manager_count_by_fault_tolerance(managers: int, status: Status) -> None:
    findings = CHECKS["7.1"](manager(managers=managers))
    assert [x.status for x in findings] == [status]
    assert findings[0].evidence == {"managers": managers, "nodes": managers}


def test_it_counts_managers_among_worker_nodes() -> None:
    nodes = (f.node("m1"), f.node("w1", role="worker"), f.node("w2", role="worker"))
    (finding,) = CHECKS["7.1"](manager(nodes=nodes))
    assert (finding.status, finding.evidence) == (PASS, {"managers": 1, "nodes": 3})


def test_it_skips_the_manager_count_on_a_worker() -> None:
    snap = f.snapshot(info_changes=f.swarm_info(manager=False), missing={"swarm": "this engine is a swarm worker"})
    with pytest.raises(NotCollected, match="worker"):
        CHECKS["7.1"](snap)


# -- 7.2 -----------------------------------------------------------------------------


@pytest.mark.parametrize(("listen", "status"), [("0.0.0.0:2377", WARN), ("[::]:2377", WARN), ("10.0.0.1:2377", PASS)])
def test_it_judges_the_swarm_listen_address(listen: str, status: Status) -> None:
    findings = CHECKS["7.2"](manager(listen=listen, services=(f.service("api", ports=[{"PublishedPort": 80}]),)))
    assert [x.status for x in findings] == [status]
    assert findings[0].evidence == {"listen_addr": listen, "services_published_on_all_interfaces": ["api"]}


def test_it_skips_the_listen_address_when_the_swarm_state_file_was_not_read() -> None:
    with pytest.raises(NotCollected, match="docker-state.json"):
        CHECKS["7.2"](manager())


# -- 7.3 -----------------------------------------------------------------------------


def test_it_warns_for_each_unencrypted_overlay_network() -> None:
    networks = (
        f.overlay_network("ingress", Ingress=True),
        f.overlay_network("secure", encrypted=True),
        f.overlay_network("plain"),
        f.network("bridge"),
    )
    findings = CHECKS["7.3"](f.snapshot(networks=networks))
    assert verdicts(findings) == [(WARN, "ingress"), (WARN, "plain")]
    assert findings[0].evidence == {"scope": "swarm", "ingress": True}


def test_it_passes_overlay_encryption_without_overlay_networks() -> None:
    findings = CHECKS["7.3"](f.snapshot(networks=(f.network("bridge"),)))
    assert [(x.status, x.evidence) for x in findings] == [(PASS, {"overlay_networks": 0})]


def test_it_skips_overlay_encryption_when_networks_were_not_collected() -> None:
    with pytest.raises(NotCollected):
        CHECKS["7.3"](f.snapshot(networks=None))


# -- 7.4, 7.5 -----------------------------------------------------------------------------


def test_it_lists_services_that_use_swarm_secrets() -> None:
    api = f.service("api", secrets=[{"SecretName": "db", "SecretID": "s1"}])
    (finding,) = CHECKS["7.4"](manager(services=(api, f.service("web"))))
    assert (finding.status, finding.evidence["services_with_secrets"]) == (INFO, ["api"])


def test_it_reports_info_when_no_service_uses_secrets() -> None:
    assert verdicts(CHECKS["7.4"](manager(services=(f.service("web"),)))) == [(INFO, None)]


def test_it_warns_when_managers_are_not_auto_locked() -> None:
    assert verdicts(CHECKS["7.5"](manager())) == [(WARN, "Swarm.AutoLockManagers")]


def test_it_passes_when_managers_are_auto_locked() -> None:
    assert verdicts(CHECKS["7.5"](manager(swarm=f.swarm_inspect(autolock=True)))) == [(PASS, None)]


def test_it_skips_autolock_on_a_worker() -> None:
    snap = f.snapshot(info_changes=f.swarm_info(manager=False), missing={"swarm": "this engine is a swarm worker"})
    with pytest.raises(NotCollected, match="worker"):
        CHECKS["7.5"](snap)


# -- 7.6 - 7.9: manual ----------------------------------------------------------------------


@pytest.mark.parametrize(("check_id", "status"), [("7.6", NOTE), ("7.7", INFO), ("7.8", INFO), ("7.9", INFO)])
def test_it_reports_manual_swarm_recommendations_on_an_active_swarm(check_id: str, status: Status) -> None:
    assert verdicts(CHECKS[check_id](manager())) == [(status, None)]


def test_it_shows_the_node_certificate_lifetime() -> None:
    (finding,) = CHECKS["7.7"](manager(swarm=f.swarm_inspect(node_cert_expiry_days=30)))
    assert finding.evidence == {"node_cert_expiry_days": 30}
