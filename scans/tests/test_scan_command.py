"""manage.py scan: scans queued from the shell, run by a real Celery worker on Redis against the real dockerd."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hosts.models import Host, Tag
from hosts.services import create_host
from scans import services
from scans.management.commands.scan import _findings
from scans.models import Scan
from tests.workers import ROOT, database_url, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]


class Run:
    """One call_command("scan", ...): its exit code (a CommandError's returncode, else 0) and its output."""

    def __init__(self, *args: str, stdout: io.StringIO | None = None) -> None:
        self.stdout = stdout or io.StringIO()
        self.stderr = io.StringIO()
        self.error = ""
        try:
            call_command("scan", *args, stdout=self.stdout, stderr=self.stderr)
        except CommandError as exc:
            self.code, self.error = exc.returncode, str(exc)
        else:
            self.code = 0
        self.out, self.err = self.stdout.getvalue(), self.stderr.getvalue()

    def __repr__(self) -> str:
        return f"exit {self.code}: {self.error}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def host(name: str, url: str, *, tags: tuple[str, ...] = (), enabled: bool = True) -> Host:
    tag_rows = [Tag.objects.get_or_create(name=t)[0] for t in tags]
    return create_host(name, url, tags=tag_rows, enabled=enabled, facts_method=Host.Facts.NONE)


def scanned() -> set[str]:
    return set(Scan.objects.values_list("host__name", flat=True))


def release_when(seen: Callable[[], bool], release: Callable[[], None]) -> threading.Thread:
    """Call ``release`` once ``seen()`` is true, from a thread: the command under test blocks the test's own."""

    def run() -> None:
        try:
            wait_for(seen, timeout=60, what="the command to report the running scan")
        finally:
            release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_it_scans_a_named_host_waits_for_it_and_writes_the_json(
    start_worker, containers, docker_url: str, tmp_path: Path
) -> None:
    worker = start_worker()
    containers()  # no memory limit: a WARN for sure; WARNs alone do not fail the command
    target = host("cli-one", docker_url)
    report = tmp_path / "scan.json"

    run = Run("cli-one", "--wait", "--json", str(report))

    assert run.code == 0, (run, worker.log_text()[-2000:])
    scan = Scan.objects.get(host=target)
    assert scan.status == Scan.Status.SUCCEEDED and scan.summary["findings"]["WARN"] > 0
    assert (scan.trigger, scan.triggered_by) == (Scan.Trigger.API, None)
    url = reverse("scans:scan", args=[scan.pk])
    assert url == f"/fleet/scans/{scan.pk}/"
    assert f"cli-one: queued scan #{scan.pk} ({url})" in run.out
    assert f"cli-one: scan #{scan.pk} succeeded: score {scan.score}, {scan.warn_count} WARN, " in run.out
    assert json.loads(report.read_text()) == {
        "exit_code": 0,
        "hosts": [
            {
                "host": "cli-one",
                "host_id": target.pk,
                "scan_id": scan.pk,
                "queued": True,
                "status": "succeeded",
                "score": scan.score,
                "warn_count": scan.warn_count,
                "findings": scan.summary["findings"],
                "duration_seconds": round(scan.duration.total_seconds(), 1) if scan.duration else None,
                "error": "",
                "url": url,
            }
        ],
    }
    # In the audit trail as the schedules' scans are: queued by the system, no user.
    (entry,) = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Scan), object_pk=str(scan.pk))
    assert (entry.additional_data["event"], entry.actor, entry.changes) == (
        "scan queued",
        None,
        {"trigger": [None, "api"]},
    )


def test_a_tag_selects_exactly_its_enabled_hosts(transactional_db, celery_queue, docker_url: str) -> None:
    host("prod-1", docker_url, tags=("prod",))
    host("prod-2", docker_url, tags=("prod", "db"))
    host("db-only", docker_url, tags=("db",))
    host("untagged", docker_url)
    host("prod-off", docker_url, tags=("prod",), enabled=False)

    run = Run("--tag", "prod")

    assert run.code == 0, run
    assert scanned() == {"prod-1", "prod-2"}
    assert "Left out 1 disabled host(s): prod-off" in run.out
    assert run.out.count("queued scan #") == 2
    assert Run("--tag", "prod", "--tag", "db").code == 0  # repeated: the union, the running ones kept
    assert scanned() == {"prod-1", "prod-2", "db-only"} and Scan.objects.count() == 3


def test_all_queues_every_enabled_host_and_json_on_stdout_moves_the_lines_to_stderr(
    transactional_db, celery_queue, docker_url: str
) -> None:
    host("a-host", docker_url, tags=("x",))
    host("b-host", docker_url)
    host("c-off", docker_url, enabled=False)

    run = Run("--all", "--json", "-")

    assert run.code == 0, run
    assert scanned() == {"a-host", "b-host"}
    summary = json.loads(run.out)
    assert [(h["host"], h["status"], h["queued"]) for h in summary["hosts"]] == [
        ("a-host", "queued", True),
        ("b-host", "queued", True),
    ]
    assert "a-host: queued scan #" in run.err and "Left out 1 disabled host(s): c-off" in run.err


def test_a_host_is_found_by_id_and_a_name_wins_over_an_id(transactional_db, celery_queue, docker_url: str) -> None:
    plain = host("plain", docker_url)
    other = host("other", docker_url)
    named = host(str(other.pk), docker_url)  # a host whose name is the other one's id

    assert Run(str(plain.pk)).code == 0
    assert scanned() == {"plain"}
    assert Run(str(other.pk)).code == 0
    assert scanned() == {"plain", named.name}


def test_an_unknown_host_or_tag_is_an_error_and_nothing_is_queued(transactional_db, celery_queue, docker_url) -> None:
    host("known", docker_url, tags=("prod",))

    run = Run("known", "nope", "also-nope", "99999999999")
    assert run.code == 2, run
    assert run.error == "no host is named (or has the id) 'nope', 'also-nope', '99999999999'. Nothing was queued."

    run = Run("--tag", "prod", "--tag", "staging")
    assert (run.code, run.error) == (2, "no tag is named 'staging'. Nothing was queued.")

    assert Scan.objects.count() == 0
    assert not LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Scan)).exists()


def test_a_disabled_host_named_is_not_scanned_and_exits_2(transactional_db, celery_queue, docker_url: str) -> None:
    host("on", docker_url)
    host("off", docker_url, enabled=False)

    run = Run("on", "off")

    assert run.code == 2, run
    assert scanned() == {"on"}
    assert "off: not scanned: the host is disabled" in run.out
    assert run.error.startswith("1 host(s) could not be scanned: off (the host is disabled")


def test_a_host_already_scanning_gets_no_second_scan_and_the_command_waits_for_it(
    start_worker, gated_docker, tmp_path: Path
) -> None:
    start_worker()
    target = host("busy", gated_docker.url)
    running = services.start_scan(target, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=running.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    out = io.StringIO()
    release_when(lambda: "is already running" in out.getvalue(), gated_docker.release)
    report = tmp_path / "busy.json"

    run = Run("busy", "--wait", "--json", str(report), stdout=out)

    assert run.code == 0, run
    assert list(Scan.objects.filter(host=target).values_list("pk", flat=True)) == [running.pk]
    assert f"busy: scan #{running.pk} is already running (since " in run.out
    assert "trigger User); not queued again" in run.out
    assert f"busy: scan #{running.pk} succeeded: score " in run.out
    (entry,) = json.loads(report.read_text())["hosts"]
    assert (entry["scan_id"], entry["queued"], entry["status"]) == (running.pk, False, "succeeded")


def test_an_unreachable_host_fails_its_scan_and_the_command_exits_2_with_the_error(
    start_worker, docker_url: str
) -> None:
    start_worker()
    host("reachable", docker_url)
    host("unreachable", "tcp://127.0.0.1:1")

    run = Run("reachable", "unreachable", "--wait")

    assert run.code == 2, run
    failed = Scan.objects.get(host__name="unreachable")
    assert failed.status == Scan.Status.FAILED and failed.error
    assert f"unreachable: scan #{failed.pk} failed after " in run.out
    assert failed.error in run.out
    assert run.error == f"1 host(s) could not be scanned: unreachable (scan #{failed.pk} failed)"
    assert Scan.objects.get(host__name="reachable").status == Scan.Status.SUCCEEDED


def test_fail_on_warn_exits_1_on_a_host_with_warn_findings(start_worker, containers, docker_url: str) -> None:
    start_worker()
    containers()  # no memory limit: a WARN
    host("warned", docker_url)

    run = Run("warned", "--wait", "--fail-on", "WARN,ERROR")

    assert run.code == 1, run
    scan = Scan.objects.get(host__name="warned")
    warns = scan.summary["findings"]["WARN"]
    assert run.error.startswith(f"--fail-on ERROR,WARN: warned (scan #{scan.pk}: ")
    assert f"{warns} WARN" in run.error


def test_fail_on_and_timeout_need_wait_and_fail_on_takes_statuses(transactional_db, docker_url: str) -> None:
    host("args", docker_url)
    assert (Run("args", "--fail-on", "WARN").code, Run("args", "--timeout", "5").code) == (2, 2)
    assert Run("args", "--wait", "--timeout", "nan").error == "--timeout takes a number of seconds above 0"
    run = Run("args", "--wait", "--fail-on", "BAD")
    assert (run.code, run.error) == (2, "--fail-on takes statuses among PASS, WARN, INFO, NOTE, SKIP, ERROR")
    assert Run().error == "name the hosts to scan, or use --tag or --all"
    assert Scan.objects.count() == 0


def test_a_scan_unfinished_at_the_timeout_exits_2_and_names_it(
    transactional_db, celery_queue, docker_url: str, tmp_path: Path
) -> None:
    # No worker: the scan stays queued.
    host("slow", docker_url)
    report = tmp_path / "slow.json"

    run = Run("slow", "--wait", "--timeout", "1", "--json", str(report))

    scan = Scan.objects.get(host__name="slow")
    assert run.code == 2, run
    assert run.error == (
        f"still unfinished after 1 s: slow (scan #{scan.pk} queued) (is a worker running?); they keep running"
    )
    summary = json.loads(report.read_text())
    assert (summary["exit_code"], summary["hosts"][0]["status"]) == (2, "queued")


# -- as a real process: the real exit code ----------------------------------------------------------------


def manage(*args: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        # Nothing here should send a task (the scans are running or none is queued); if one were sent, it goes
        # to a broker folder of its own, never to a queue another test session's worker reads.
        "REDIS_URL": "",
        "DOCKERBENCH_BROKER_DIR": str(tmp_path / "broker"),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "scan", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], text: str) -> str:
    assert proc.stderr is not None
    seen = ""
    while text not in seen:
        line = proc.stderr.readline()
        assert line, f"the command ended before printing {text!r}: {seen}"
        seen += line
    return seen


@pytest.mark.django_db(transaction=True)  # the subprocess must see the hosts
def test_the_command_exits_2_for_an_unknown_host(docker_url: str, tmp_path: Path) -> None:
    host("real", docker_url)
    proc = manage("real", "ghost", tmp_path=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "CommandError: no host is named (or has the id) 'ghost'. Nothing was queued." in err
    assert Scan.objects.count() == 0


def test_the_command_exits_1_when_fail_on_matches_and_prints_json_on_stdout(
    start_worker, gated_docker, tmp_path: Path
) -> None:
    start_worker()
    target = host("gated", gated_docker.url)
    running = services.start_scan(target, trigger=Scan.Trigger.USER)
    wait_for(lambda: Scan.objects.filter(pk=running.pk, status=Scan.Status.RUNNING).exists(), what="the claim")
    proc = manage("gated", "--wait", "--fail-on", "WARN", "--json", "-", tmp_path=tmp_path)
    try:
        read_until(proc, "is already running")
    finally:
        gated_docker.release()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, (out, err)
    assert "CommandError: --fail-on WARN: gated" in err
    summary = json.loads(out)
    assert summary["exit_code"] == 1 and summary["hosts"][0]["scan_id"] == running.pk
    assert Scan.objects.filter(host=target).count() == 1


def test_ctrl_c_while_waiting_exits_130_and_leaves_the_scan_running(
    transactional_db, celery_queue, docker_url: str, tmp_path: Path
) -> None:
    target = host("waited", docker_url)
    queued = services.start_scan(target, trigger=Scan.Trigger.USER)  # no worker: it stays queued
    proc = manage("waited", "--wait", "--json", "-", tmp_path=tmp_path)
    read_until(proc, "Waiting for 1 scan(s)")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, (out, err)
    assert f"CommandError: interrupted: scans #{queued.pk} (waited) keep running" in err
    assert json.loads(out)["hosts"][0]["status"] == "queued"
    assert Scan.objects.get(pk=queued.pk).status == Scan.Status.QUEUED


def test_waived_findings_do_not_count_as_warn_for_fail_on() -> None:
    scan = Scan(summary={"findings": {"WARN": 3, "PASS": 9}, "waived": {"findings": 2, "checks": 1}})
    assert _findings(scan) == {"WARN": 1, "PASS": 9, "WAIVED": 2}
    assert _findings(Scan(summary={"findings": {"WARN": 1}})) == {"WARN": 1}
