"""Scan workflows in this process, on the real dockerd (the Celery worker path is in test_tasks.py)."""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from dockerbench.results import ObjectRef, Result, Status
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import ContainerSnapshot, DiffEntry, HostSnapshot
from hosts.crypto import Sealed
from hosts.models import Host
from hosts.services import create_host
from scans import services
from scans.models import DiffSnapshot, Episode, Finding, LatestScan, Scan, ScanSnapshot, warn_sections_of
from tests.personas import make_user

pytestmark = pytest.mark.django_db

HOSTILE = "<img src=x onerror=alert(1)>"


def wait_for_diff(container, path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c["Path"] == path for c in container.diff() or []):
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never showed in the container's diff")


FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/hosts"


@pytest.fixture
def local_host(docker_url: str) -> Host:
    return create_host("local-test", docker_url, facts_method=Host.Facts.NONE)


def test_a_scan_of_the_real_engine_stores_results_diffs_and_summary(local_host: Host, containers) -> None:
    script = (
        f"touch '/tmp/{HOSTILE}'; touch \"$(printf '/tmp/bad\\377name')\"; cp /bin/busybox /bin/evil; "
        "echo 'x:x:0:0::/:/bin/sh' >> /etc/passwd; mkdir -p /root/.ssh; echo key > /root/.ssh/authorized_keys; "
        "touch /tmp/ready; sleep 300"
    )
    drifting = containers(script, labels={"note": HOSTILE})
    read_only = containers("sleep 300", read_only=True)
    wait_for_diff(drifting, "/tmp/ready")

    scan = services.start_scan(local_host, trigger=Scan.Trigger.USER)
    done = services.run_scan(scan.pk, worker="in-process")

    assert done is not None and done.status == Scan.Status.SUCCEEDED, done.error if done else None
    assert (done.attempts, done.worker, done.error) == (1, "in-process", "")
    results = done.reported()
    assert list(results.values_list("seq", flat=True)) == list(range(results.count()))
    assert set(results.values_list("check_id", flat=True)) == set(select())
    assert done.summary["checks"] == len(select())
    assert sum(done.summary["findings"].values()) == results.count()
    assert (
        done.warn_count
        == done.summary["by_status"].get("WARN", 0)
        == results.filter(status="WARN").values("check_id").distinct().count()
    )
    # The fleet overview's section filter reads this column (Scan.save derives it from the summary).
    assert Scan.objects.get(pk=done.pk).warn_sections == warn_sections_of(done.summary) != ""
    assert done.score is not None and 0 <= done.score <= 100
    assert done.progress["checks_done"] == done.progress["checks_total"] == len(select())
    assert LatestScan.objects.get(host=local_host).scan_id == done.pk

    diff = DiffSnapshot.objects.get(scan=done, container_id=drifting.id)
    paths = {path for _kind, path in diff.changes}
    assert {f"/tmp/{HOSTILE}", "/tmp/bad\ufffdname", "/bin/evil", "/etc/passwd"} <= paths  # stored as sent
    assert sorted(diff.new_since_previous) == sorted(diff.changes)  # first sight: everything is new
    flagged = {s["path"] for s in diff.suspicious}
    assert {"/bin/evil", "/etc/passwd", "/root/.ssh/authorized_keys"} <= flagged
    assert diff.running and not diff.read_only and diff.image == "dockerbench/busybox:test"
    ro = DiffSnapshot.objects.get(scan=done, container_id=read_only.id)
    assert (ro.read_only, ro.changes) == (True, [])

    raw = HostSnapshot.from_json(done.raw.unpack())
    labels = next(c.labels for c in raw.containers or () if c.id == drifting.id)
    assert labels["note"] == HOSTILE


def test_the_second_scan_shows_only_changes_new_since_the_first(local_host: Host, containers) -> None:
    container = containers("touch /tmp/one; while [ ! -e /tmp/go ]; do sleep 0.1; done; touch /tmp/two; sleep 300")
    wait_for_diff(container, "/tmp/one")
    first = services.run_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="w")
    container.exec_run(["touch", "/tmp/go"])
    wait_for_diff(container, "/tmp/two")
    second = services.run_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="w")

    assert first and second and first.pk != second.pk
    diff = DiffSnapshot.objects.get(scan=second, container_id=container.id)
    assert sorted(diff.new_since_previous) == [["A", "/tmp/go"], ["A", "/tmp/two"]]


def test_running_a_finished_scan_again_changes_nothing(local_host: Host) -> None:
    scan = services.run_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="first")
    assert scan is not None
    before = (scan.status, scan.finished, scan.attempts, scan.reported().count(), scan.diffs.count())

    assert services.run_scan(scan.pk, worker="second") is None

    scan.refresh_from_db()
    assert (scan.status, scan.finished, scan.attempts, scan.reported().count(), scan.diffs.count()) == before
    assert scan.worker == "first"


def test_a_reclaimed_scan_replaces_the_earlier_attempts_rows(local_host: Host) -> None:
    scan = services.run_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="first")
    assert scan is not None
    count = scan.reported().count()
    # As if its worker had died after writing, and the reaper had queued it again.
    Scan.objects.filter(pk=scan.pk).update(status=Scan.Status.QUEUED)

    again = services.run_scan(scan.pk, worker="second")

    assert again is not None and again.status == Scan.Status.SUCCEEDED
    assert (again.attempts, again.worker) == (2, "second")
    assert again.reported().count() == count
    assert not again.reported().values("seq").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert ScanSnapshot.objects.filter(scan=again).count() == 1


def test_a_running_scan_of_another_live_worker_is_not_claimed(local_host: Host) -> None:
    scan = Scan.objects.create(host=local_host, status=Scan.Status.RUNNING, started=timezone.now(), attempts=1)
    assert services.run_scan(scan.pk, worker="intruder") is None
    scan.refresh_from_db()
    assert (scan.status, scan.attempts) == (Scan.Status.RUNNING, 1)


def test_results_of_a_reaped_attempt_are_not_recorded(local_host: Host) -> None:
    scan = services.claim_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="slow")
    assert scan is not None
    Scan.objects.filter(pk=scan.pk).update(status=Scan.Status.FAILED, error="reaped")
    snapshot = HostSnapshot(target=local_host.url, collected_at="2026-01-01T00:00:00+00:00")

    with pytest.raises(services.ScanNotOwned):
        services.record_results(scan, snapshot, [Result("1.1.1", Status.PASS)])

    assert not scan.reported().exists()
    scan.refresh_from_db()
    assert (scan.status, scan.error) == (Scan.Status.FAILED, "reaped")


def test_an_unreachable_engine_fails_the_scan_with_the_engines_message() -> None:
    host = create_host("gone", "unix:///nonexistent/docker.sock")
    scan = services.run_scan(services.start_scan(host, trigger=Scan.Trigger.USER).pk, worker="w")
    assert scan is not None and scan.status == Scan.Status.FAILED
    assert "/nonexistent/docker.sock" in scan.error
    assert scan.finished is not None
    assert services.start_scan(host, trigger=Scan.Trigger.USER).pk != scan.pk  # nothing left stuck


def test_a_host_whose_credential_is_unreadable_fails_its_scan_with_that_reason(local_host: Host) -> None:
    host = create_host("tls", "tcp://127.0.0.1:9", tls_client_cert="CERT", tls_client_key="KEY")
    Host.objects.filter(pk=host.pk).update(tls_client_key=Sealed("gAAAAAB-not-for-this-key"))
    scan = services.run_scan(services.start_scan(host, trigger=Scan.Trigger.USER).pk, worker="w")
    assert scan is not None and scan.status == Scan.Status.FAILED
    assert scan.error == "a credential of this host is unreadable (the encryption key changed?): enter it again"
    other = services.run_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="w")
    assert other is not None and other.status == Scan.Status.SUCCEEDED  # every other host works


def test_nul_and_lone_surrogates_from_a_host_are_stored_escaped_not_lost(local_host: Host) -> None:
    nasty = "/tmp/a\x00b\udcffc\ud800"
    container = ContainerSnapshot(
        id="c" * 64,
        name=f"web{HOSTILE}\x00",
        inspect={"Config": {"Image": "img\x00", "Labels": {"k\udcfe": nasty}}, "HostConfig": {}},
        running=True,
        diff=(DiffEntry("A", nasty), DiffEntry("C", "/etc/shadow")),
    )
    snapshot = HostSnapshot(target=local_host.url, collected_at="2026-01-01T00:00:00+00:00", containers=(container,))
    obj = ObjectRef("container", "c" * 64, f"web{HOSTILE}\x00")
    results = [Result("5.1", Status.WARN, f"label {nasty}", obj, {"labels": {"k\udcfe": nasty}, "n": (1, 2)})]
    scan = services.claim_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="w")
    assert scan is not None

    services.record_results(scan, snapshot, results)

    escaped = "/tmp/a\\x00b\\xffc\\ud800"
    row = scan.reported().get()
    assert row.message == f"label {escaped}"
    assert row.object_name == f"web{HOSTILE}\\x00"
    assert row.evidence == {"labels": {"k\\xfe": escaped}, "n": [1, 2]}
    diff = DiffSnapshot.objects.get(scan=scan)
    assert diff.changes == [["A", escaped], ["C", "/etc/shadow"]]
    assert diff.image == "img\\x00"
    assert [s["path"] for s in diff.suspicious] == ["/etc/shadow"]
    # The raw snapshot keeps the original exactly.
    raw = HostSnapshot.from_json(ScanSnapshot.objects.get(scan=scan).unpack())
    assert raw.containers and raw.containers[0].diff == container.diff


def test_start_scan_returns_the_active_scan_instead_of_a_second_one(local_host: Host) -> None:
    first = services.start_scan(local_host, trigger=Scan.Trigger.USER)
    second = services.start_scan(local_host, trigger=Scan.Trigger.SCHEDULE)
    assert first.pk == second.pk
    assert Scan.objects.filter(host=local_host, status__in=Scan.ACTIVE_STATUSES).count() == 1


def test_start_scan_sends_the_task_only_when_the_transaction_commits(
    local_host: Host,
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.start_scan(local_host, trigger=Scan.Trigger.USER)
        services.start_scan(local_host, trigger=Scan.Trigger.USER)
    assert len(callbacks) == 1


def test_the_reaper_requeues_a_scan_whose_worker_stopped_beating_then_fails_it(
    local_host: Host,
    celery_queue: str,  # what the reaper sends goes to this session's own queue
) -> None:
    other = create_host("other", "unix:///var/run/docker.sock")
    now = timezone.now()
    stale = now - services.heartbeat_timeout() - timedelta(seconds=1)
    dead = Scan.objects.create(
        host=local_host, status=Scan.Status.RUNNING, started=stale, heartbeat=stale, attempts=1, worker="w@h"
    )
    alive = Scan.objects.create(host=other, status=Scan.Status.RUNNING, started=stale, heartbeat=now, attempts=1)

    assert services.reap_stale_scans()["requeued"] == 1

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == Scan.Status.QUEUED and dead.sends == 1  # sent again, to be retried once
    assert "trying again: its worker (w@h, pid ?) stopped answering" in dead.progress["note"]
    assert alive.status == Scan.Status.RUNNING

    # The retry's worker died too: the second time, the scan fails and says why.
    Scan.objects.filter(pk=dead.pk).update(status=Scan.Status.RUNNING, attempts=2, heartbeat=stale, worker_pid=4242)
    assert services.reap_stale_scans()["failed"] == 1
    dead.refresh_from_db()
    assert dead.status == Scan.Status.FAILED and dead.finished is not None
    assert dead.error == (
        "its worker (w@h, pid 4242) stopped answering (killed, out of memory or restarted), on 2 attempts"
    )


def test_a_queued_scan_whose_message_was_lost_is_sent_again_and_never_blocks(
    local_host: Host,
    settings,
    celery_queue: str,
    django_capture_on_commit_callbacks,
) -> None:
    settings.DOCKERBENCH_QUEUED_RESEND_SECONDS = 60
    lost = services.start_scan(local_host, trigger=Scan.Trigger.SCHEDULE)  # on_commit never runs here: lost
    assert Scan.objects.get(pk=lost.pk).sent_at is None
    Scan.objects.filter(pk=lost.pk).update(created=timezone.now() - timedelta(seconds=61))

    assert services.reap_stale_scans()["resent"] == 1
    lost.refresh_from_db()
    assert (lost.status, lost.sends) == (Scan.Status.QUEUED, 1)
    assert services.reap_stale_scans()["resent"] == 0  # sent a moment ago: not again yet

    # "Scan now" on a host whose queued scan waits too long sends it again rather than wait on it.
    Scan.objects.filter(pk=lost.pk).update(sent_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        again = services.start_scan(local_host, trigger=Scan.Trigger.USER)
    assert again.pk == lost.pk
    assert Scan.objects.get(pk=lost.pk).sends == 2  # sent again, by "Scan now"


def test_a_queued_scan_nobody_took_for_a_day_fails(local_host: Host) -> None:
    forgotten = Scan.objects.create(host=local_host, sent_at=timezone.now())
    Scan.objects.filter(pk=forgotten.pk).update(created=timezone.now() - timedelta(days=1, minutes=1))
    assert services.reap_stale_scans()["expired"] == 1
    forgotten.refresh_from_db()
    assert forgotten.status == Scan.Status.FAILED and "no worker took the scan within a day" in forgotten.error


def test_a_restarted_worker_recovers_the_scans_its_dead_process_held(local_host: Host, celery_queue: str) -> None:
    gone_pid = 2**22 + 7  # above pid_max on these machines: no such process
    scan = Scan.objects.create(
        host=local_host,
        status=Scan.Status.RUNNING,
        started=timezone.now(),
        heartbeat=timezone.now(),
        attempts=1,
        worker="celery@box",
        worker_pid=gone_pid,
    )
    mine_alive = Scan.objects.create(
        host=create_host("busy", "unix:///var/run/docker.sock"),
        status=Scan.Status.RUNNING,
        started=timezone.now(),
        heartbeat=timezone.now(),
        attempts=1,
        worker="celery@box",
        worker_pid=os.getpid(),
    )
    assert services.reap_scans_of_dead_worker("celery@box") == 1
    scan.refresh_from_db()
    mine_alive.refresh_from_db()
    assert scan.status == Scan.Status.QUEUED  # at once, without waiting for the heartbeat to go stale
    assert mine_alive.status == Scan.Status.RUNNING


def test_a_retry_of_the_same_task_resumes_its_claim_and_a_stranger_cannot(local_host: Host) -> None:
    queued = services.start_scan(local_host, trigger=Scan.Trigger.USER)
    first = services.claim_scan(queued.pk, worker="w", claim="task-1")
    assert first is not None and first.attempts == 1
    assert services.claim_scan(queued.pk, worker="w", claim="task-2") is None  # a duplicate message
    resumed = services.claim_scan(queued.pk, worker="w2", claim="task-1", retry=True)  # retried after a DB error
    assert resumed is not None and resumed.attempts == 1 and resumed.worker == "w2"


def test_a_copy_of_the_message_resumes_the_scan_only_once_its_holder_is_gone(local_host: Host, settings) -> None:
    # The broker hands a message again when its holder held it past the visibility timeout (alive) or died.
    scan = services.start_scan(local_host, trigger=Scan.Trigger.USER)
    assert services.claim_scan(scan.pk, worker="a@far-machine", claim="task-1") is not None
    Scan.objects.filter(pk=scan.pk).update(worker_pid=1)  # a live process, as far as this machine can tell
    assert services.claim_scan(scan.pk, worker="b@near-machine", claim="task-1") is None  # heartbeat fresh

    Scan.objects.filter(pk=scan.pk).update(worker="a@near-machine", worker_pid=2**22 + 1)  # here, and gone
    resumed = services.claim_scan(scan.pk, worker="b@near-machine", claim="task-1")
    assert resumed is not None and (resumed.worker, resumed.attempts) == ("b@near-machine", 1)

    settings.DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS = 60
    Scan.objects.filter(pk=scan.pk).update(worker="b@near-machine", worker_pid=1)
    assert services.claim_scan(scan.pk, worker="c@far-machine", claim="task-1") is None
    Scan.objects.filter(pk=scan.pk).update(heartbeat=timezone.now() - timedelta(seconds=61))  # stale: it died
    resumed = services.claim_scan(scan.pk, worker="c@far-machine", claim="task-1")
    assert resumed is not None and (resumed.worker, resumed.attempts) == ("c@far-machine", 1)


def test_an_operator_cancels_a_queued_scan_and_the_trail_says_who(local_host: Host) -> None:
    operator = make_user("operator")
    scan = services.start_scan(local_host, trigger=Scan.Trigger.USER, user=operator)
    assert services.cancel_scan(scan, user=operator)
    scan.refresh_from_db()
    assert (scan.status, scan.error) == (Scan.Status.CANCELLED, "cancelled by operator")
    assert services.claim_scan(scan.pk, worker="w", claim="t") is None  # a worker that gets it later does nothing
    assert not services.cancel_scan(scan, user=operator)  # finished already
    assert services.start_scan(local_host, trigger=Scan.Trigger.USER).pk != scan.pk


def test_prune_keeps_recent_snapshots_and_each_hosts_latest(local_host: Host, settings) -> None:
    settings.DOCKERBENCH_SNAPSHOT_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    scans = [Scan.objects.create(host=local_host, status=Scan.Status.SUCCEEDED) for _ in range(3)]
    for scan in scans:
        ScanSnapshot.pack(scan, "{}").save()
        DiffSnapshot.objects.create(scan=scan, container_id="c" * 64, container_name="web")
    Scan.objects.filter(pk__in=[scans[0].pk, scans[1].pk]).update(created=old)
    LatestScan.objects.create(host=local_host, scan=scans[1])  # old, but the newest this host has

    assert services.prune_snapshots() == 1

    assert set(ScanSnapshot.objects.values_list("scan_id", flat=True)) == {scans[1].pk, scans[2].pk}
    assert set(DiffSnapshot.objects.values_list("scan_id", flat=True)) == {scans[1].pk, scans[2].pk}


def test_a_partial_scan_never_fixes_what_it_did_not_collect(local_host: Host) -> None:
    """The real checks on a real host snapshot, recorded twice: the second time the containers could not be
    listed (a partial scan). Their WARN findings stay open; a third, complete scan without them fixes them."""
    full = HostSnapshot.from_json((FIXTURES / "misconfigured.json").read_text())
    container_warns = {
        (r.check_id, r.object.name)
        for r in evaluate(full)
        if r.status is Status.WARN and r.object is not None and r.object.kind == "container"
    }
    assert container_warns  # the misconfigured host has offending containers
    no_containers = dataclasses.replace(full, containers=None, missing={**full.missing, "containers": "timed out"})
    empty = dataclasses.replace(full, containers=())

    def record(snapshot: HostSnapshot) -> Scan:
        scan = services.claim_scan(services.start_scan(local_host, trigger=Scan.Trigger.USER).pk, worker="w")
        assert scan is not None
        services.record_results(scan, snapshot, evaluate(snapshot))
        scan.refresh_from_db()
        return scan

    def open_keys() -> set[tuple[str, str]]:
        rows = Finding.objects.filter(host=local_host, state="open", object_kind="container")
        return set(rows.values_list("check_id", "object_key"))

    first = record(full)
    assert open_keys() == {(c, n.lstrip("/")) for c, n in container_warns}
    assert first.summary["news"]["first"] is True

    partial = record(no_containers)
    assert partial.status == Scan.Status.PARTIAL
    assert open_keys() == {(c, n.lstrip("/")) for c, n in container_warns}  # a SKIP is not a fix
    assert partial.summary["news"]["fixed"] == {}
    assert Episode.open_at(partial).filter(finding__object_kind="container").count() == len(container_warns)
    assert not partial.reported().filter(object_kind="container").exists()  # it reported none of them

    complete = record(empty)
    assert open_keys() == set()
    assert sum(complete.summary["news"]["fixed"].values()) >= len(container_warns)
