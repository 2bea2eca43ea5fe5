"""A database made by the previous release's migrations is upgraded by today's, losing nothing.

The previous release's migrations are kept in tests/legacy_migrations (hosts 0001-0003, scans 0001-0003:
the latest-scan pointer on hosts_host, the schedules in scans_schedule, two persona groups). Each case makes
a fresh database with them (MIGRATION_MODULES pointing there), fills it through that release's models with
what a real install has (hosts with credentials and tags, scans and results, a raw snapshot that still holds
a container's password, schedules with their beat tasks, an operator), then runs today's `manage.py
migrate`, and checks every row is where it now belongs. On PostgreSQL (production) and SQLite (the
embedded default). Each step is a process of its own: Django's app registry is set up once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.workers import database_url

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_IN_ENV = "legacy-pw-" + uuid.uuid4().hex  # noqa: S105 - a marker the scrub must remove
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nLEGACY-KEY-77\n-----END PRIVATE KEY-----"

# Makes the previous release's schema and data. Our post_migrate receiver (today's roles) is disconnected:
# that release had none, and its own migration made the two groups it had.
MAKE_LEGACY = textwrap.dedent(
    """
    import json, sys, zlib
    from django.conf import settings
    settings.MIGRATION_MODULES = {
        "hosts": "tests.legacy_migrations.hosts",
        "scans": "tests.legacy_migrations.scans",
        "schedules": None, "auditlog": None, "axes": None, "reports": None,
        "vulns": None, "api": None,
    }
    import django
    django.setup()
    from django.db.models.signals import post_migrate
    post_migrate.disconnect(dispatch_uid="core.sync_roles")
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    call_command("migrate", interactive=False, verbosity=0)
    apps = MigrationExecutor(connection).loader.project_state().apps
    Host, Tag = apps.get_model("hosts", "Host"), apps.get_model("hosts", "Tag")
    Scan, CheckResult = apps.get_model("scans", "Scan"), apps.get_model("scans", "CheckResult")
    ScanSnapshot, Schedule = apps.get_model("scans", "ScanSnapshot"), apps.get_model("scans", "Schedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    User, Group = apps.get_model("auth", "User"), apps.get_model("auth", "Group")
    password, key_pem = sys.argv[1], sys.argv[2]
    prod = Tag.objects.create(name="prod")
    web = Host.objects.create(name="web-1", url="tcp://web-1.example.invalid:2376",
                              tls_client_cert="CERT", tls_client_key=key_pem)
    web.tags.add(prod)
    db = Host.objects.create(name="db-1", url="unix:///var/run/docker.sock")
    scans = [Scan.objects.create(host=web, status="succeeded", score=70 + i, warn_sections=",5,",
                                 summary={"sections": {"5": {"WARN": 1}}}) for i in range(3)]
    Scan.objects.create(host=db, status="failed", error="unreachable")
    web.latest_scan = scans[1]
    web.save()
    CheckResult.objects.create(scan=scans[1], seq=0, check_id="5.7", section="5", status="WARN",
                               object_kind="container", object_name="app",
                               evidence={"processes": [f"sh -c mysql -p{password} db"]})
    snapshot = {"target": web.url, "collected_at": "2026-11-01T02:00:00+00:00", "containers": [
        {"id": "c" * 64, "name": "app", "running": True,
         "inspect": {"Config": {"Env": [f"DB_PASSWORD={password}", "PATH=/bin"], "Image": "busybox"}}}]}
    raw = json.dumps(snapshot).encode()
    ScanSnapshot.objects.create(scan=scans[1], data=zlib.compress(raw), size=len(raw))
    cron = CrontabSchedule.objects.create(minute="0", hour="2")
    ids = {}
    for name, host, tag in (("Nightly: web-1", web, None), ("Nightly: db-1", db, None), ("tagged", None, prod)):
        task = PeriodicTask.objects.create(name=f"dockerbench schedule: {name}", task="scans.tasks.run_schedule",
                                           crontab=cron, args="[]")
        schedule = Schedule.objects.create(name=name, host=host, tag=tag, minute="0", hour="2",
                                           enabled=name != "tagged", periodic_task=task)
        PeriodicTask.objects.filter(pk=task.pk).update(args=json.dumps([schedule.pk]))
        ids[name] = [schedule.pk, task.pk]
    Schedule.objects.filter(name="Nightly: db-1").delete()  # a gap in the ids, as a real install has
    ids.pop("Nightly: db-1")
    ops = User.objects.create(username="olga", password="!")
    ops.groups.add(Group.objects.get(name="Operators"))
    print(json.dumps({"schedules": ids, "scans": [s.pk for s in scans], "web": web.pk}))
    """
)

CHECK = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.db import connection
    from django.contrib.auth.models import Group, User
    from django_celery_beat.models import PeriodicTask
    from hosts.models import Host
    from scans.models import Episode, Finding, FleetDay, LatestScan, Scan, ScanSnapshot, Sighting
    from schedules.models import Schedule
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        host_columns = [c.name for c in connection.introspection.get_table_description(cursor, "hosts_host")]
    web = Host.objects.get(name="web-1")
    new = Schedule.objects.get_or_create(name="after the upgrade", defaults={"host": web})[0]
    print(json.dumps({
        "tables": sorted(t for t in tables if t.startswith(("scans_", "schedules_", "hosts_"))),
        "host_columns": host_columns,
        "hosts": sorted(Host.objects.values_list("name", flat=True)),
        "tags": list(web.tags.values_list("name", flat=True)),
        "key": web.tls_client_key.reveal(),
        "latest": {h: s for h, s in LatestScan.objects.values_list("host__name", "scan_id")},
        "scans": Scan.objects.count(),
        "scan_fields": list(Scan.objects.order_by().values_list("claim", "sends", "heartbeat").distinct()),
        "schedules": {s.name: [s.pk, s.periodic_task_id, s.host_id, s.tag_id, s.enabled]
                      for s in Schedule.objects.exclude(pk=new.pk)},
        "tasks": sorted(set(PeriodicTask.objects.filter(name__startswith="dockerbench")
                            .values_list("task", flat=True))),
        "new_schedule_id": new.pk,
        "snapshot": ScanSnapshot.objects.get().unpack(),
        "evidence": Sighting.objects.get().evidence,
        "reported": {s.pk: [[r.check_id, r.status, r.object_name] for r in s.reported()] for s in Scan.objects.all()},
        "open": {s.pk: [e.finding.object_key for e in Episode.open_at(s)] for s in Scan.objects.all()},
        "findings": [[f.check_id, f.object_kind, f.object_key, f.state] for f in Finding.objects.all()],
        "news": {s.pk: s.summary.get("news") for s in Scan.objects.all()},
        "days": [[d.scans, d.score_sum, d.warn.get("5")] for d in FleetDay.objects.all()],
        "olga": list(User.objects.get(username="olga").groups.values_list("name", flat=True)),
        "operators": sorted(Group.objects.get(name="Operators").permissions.values_list("codename", flat=True)),
        "groups": sorted(Group.objects.values_list("name", flat=True)),
    }))
    """
)


def _run(code_or_args: list[str], url: str, *extra: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    proc = subprocess.run(
        [sys.executable, *code_or_args, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@pytest.fixture(params=["postgresql", "sqlite"])
def scratch_database(request: pytest.FixtureRequest, tmp_path: Path, django_db_blocker) -> Iterator[str]:
    """An empty database of its own (never the test database), as a DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
        return
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.fail("the PostgreSQL case needs the suite on PostgreSQL (make test sets DATABASE_URL)")
        base = database_url()
    name = f"dockerbench_legacy_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_a_database_made_by_the_previous_release_upgrades_without_losing_anything(scratch_database: str) -> None:
    made = json.loads(_run(["-c", MAKE_LEGACY], scratch_database, PASSWORD_IN_ENV, KEY_PEM).strip().splitlines()[-1])
    _run(["manage.py", "migrate", "--no-input"], scratch_database)
    state = json.loads(_run(["-c", CHECK], scratch_database).strip().splitlines()[-1])

    assert "latest_scan_id" not in state["host_columns"]
    assert "scans_schedule" not in state["tables"] and "schedules_schedule" in state["tables"]
    assert {"scans_latestscan", "hosts_connectiontest"} <= set(state["tables"])
    assert state["hosts"] == ["db-1", "web-1"] and state["tags"] == ["prod"]
    assert state["key"] == KEY_PEM  # credentials still decrypt
    assert state["latest"] == {"web-1": made["scans"][1]}  # the pointer moved, to the same scan
    assert state["scans"] == 4 and state["scan_fields"] == [["", 0, None]]
    web = made["web"]
    nightly, tagged = made["schedules"]["Nightly: web-1"], made["schedules"]["tagged"]
    assert state["schedules"]["Nightly: web-1"] == [nightly[0], nightly[1], web, None, True]
    assert state["schedules"]["tagged"][:2] == tagged and state["schedules"]["tagged"][4] is False
    assert state["tasks"] == ["schedules.tasks.run_schedule"]  # beat runs the moved app's task
    assert state["new_schedule_id"] > max(nightly[0], tagged[0])  # the id sequence moved past the copied ids
    assert PASSWORD_IN_ENV not in state["snapshot"] and "DB_PASSWORD=<redacted:" in state["snapshot"]
    assert (
        PASSWORD_IN_ENV not in json.dumps(state["evidence"])
        and "mysql -p<redacted:" in state["evidence"]["processes"][0]
    )
    # The old result rows became findings: what each scan reported and what was open then, exactly.
    first, latest, after = (str(pk) for pk in made["scans"])
    assert state["findings"] == [["5.7", "container", "app", "open"]]
    assert state["reported"][latest] == [["5.7", "WARN", "app"]] and state["reported"][first] == []
    assert state["open"][latest] == ["app"] and state["open"][first] == []
    assert state["news"][latest] == {"first": True, "new": {"5": 1}, "fixed": {}}
    assert state["news"][first] is None and state["news"][after] is None  # no rows: nothing to replay
    assert "scans_checkresult" not in state["tables"]
    assert state["days"] == [[3, 70 + 71 + 72, 3]]  # the fleet's day, backfilled from the three scored scans
    assert state["olga"] == ["Operators"]
    assert {"run_scan", "cancel_scan", "view_findings", "change_schedule"} <= set(state["operators"])
    assert "add_scan" not in state["operators"]  # the old stand-in for "may scan" is gone from the role
    assert state["groups"] == ["Admins", "Operators", "Viewers"]

    # Nothing is left to do, and running it again changes nothing.
    assert "No migrations to apply" in _run(["manage.py", "migrate", "--no-input"], scratch_database)
    assert json.loads(_run(["-c", CHECK], scratch_database).strip().splitlines()[-1])["latest"] == state["latest"]
