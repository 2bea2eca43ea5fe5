"""Server time and query count of the dashboard's pages, on the fleet bench/seed_fleet.py seeded.

    .venv/bin/python bench/dashboard_speed.py [--reps 10] [--url PATH ...] [--database-url URL]

Without --url it measures the fleet overview (scans:overview: its first page, its last page, and page 2 of
the hosts with WARN in section 5), the host page (scans:host) of the first seeded host, the check page
(scans:check) of the check with the most open findings, time to remediate (scans:remediation, default window
and a year) and the waivers (scans:waivers), full page and htmx partial (HX-Request). Each page is requested
once to warm up, then --reps times with Django's test client as a logged-in Viewer (--as superuser: as a
superuser, who skips the permission query every role member's request makes); it prints the median and the
worst time and the number of SQL queries of one request. The goal (issue 3) is under 300 ms each with a number
of queries that does not grow with the fleet; --compare-hosts N repeats the count with only N hosts visible.

A page that does not exist yet (its URL name does not reverse, or it answers 404/500) is reported as
MISSING or FAILED, never skipped silently, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from seed_fleet import DEFAULT_DATABASE_URL, HOST_PREFIX, setup_django  # noqa: E402

GOAL_MS = 300.0


def default_targets() -> list[tuple[str, str | None]]:
    """(label, path or None when the URL name does not reverse yet)."""
    from django.db.models import Count
    from django.urls import NoReverseMatch, reverse

    from hosts.models import Host
    from scans.models import Finding
    from scans.queries import HOSTS_PER_PAGE

    host = Host.objects.filter(name__startswith=HOST_PREFIX).order_by("name").first()
    last_page = max(1, -(-Host.objects.count() // HOSTS_PER_PAGE))
    # The check page of the check with the most open findings: the one that reads the most rows.
    busiest = (
        Finding.objects.filter(state=Finding.State.OPEN)
        .values("check_id")
        .annotate(n=Count("id"))
        .order_by("-n", "check_id")
        .first()
    )
    targets: list[tuple[str, str | None]] = []
    for label, name, args, query in (
        ("fleet overview", "scans:overview", (), ""),
        # The last page and a filtered one: pagination and filters must not read the hosts before the page.
        (f"overview, last page ({last_page})", "scans:overview", (), f"?page={last_page}"),
        ("overview, 5 WARN, page 2", "scans:overview", (), "?section=5&status=warn&page=2"),
        ("host page", "scans:host", (host.pk,) if host else (), ""),
        (f"check page ({busiest['check_id'] if busiest else '-'})", "scans:check",
         (busiest["check_id"],) if busiest else (), ""),
        ("time to remediate", "scans:remediation", (), ""),
        ("time to remediate, a year", "scans:remediation", (), "?days=365"),
        ("waivers", "scans:waivers", (), ""),
        # Every host's name matches: the fleet-wide search at its widest (each kind cut at its limit).
        ("search, every host", "scans:search", (), "?q=bench-host"),
        ("search, containers and images", "scans:search", (), "?q=bu"),
    ):  # fmt: skip
        try:
            targets.append((f"{label} ({name})", reverse(name, args=args) + query))
        except NoReverseMatch:
            targets.append((f"{label} ({name})", None))
    return targets


def measure(client, path: str, reps: int, htmx: bool) -> tuple[int, list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(path, headers=headers)  # warm-up: connections, template loading, caches
    if response.status_code != 200:
        return response.status_code, [], 0
    with CaptureQueriesContext(connection) as captured:
        client.get(path, headers=headers)
    queries = len(captured)  # now: the next request's request_started signal empties the connection's log
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            return response.status_code, [], 0
    return 200, times, queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--url", action="append", default=[], help="a path to measure (repeatable)")
    parser.add_argument(
        "--compare-hosts", type=int, default=0, help="also count queries with only this many hosts enabled"
    )
    parser.add_argument("--as", dest="persona", choices=("viewer", "superuser"), default="viewer")
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.contrib.auth import get_user_model
    from django.test import Client

    from hosts.models import Host
    from scans.models import Scan

    hosts, scans = Host.objects.count(), Scan.objects.count()
    print(f"database: {hosts} hosts, {scans} scans")
    if hosts == 0:
        print("MISSING: no hosts; seed first: .venv/bin/python bench/seed_fleet.py")
        return 1
    if args.persona == "superuser":
        user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})
        if not user.is_superuser or not user.is_staff:
            user.is_superuser = user.is_staff = True
            user.save()
    else:
        from django.contrib.auth.models import Group

        user, _ = get_user_model().objects.get_or_create(username="bench-viewer")
        user.groups.set([Group.objects.get(name="Viewers")])
    print(f"as: {user.get_username()} ({args.persona})")
    client = Client()
    client.force_login(user)

    targets = [(path, path) for path in args.url] or default_targets()
    status = 0
    print(f"\n{'page':<44} {'mode':<8} {'median':>9} {'worst':>9} {'queries':>8}")
    for label, path in targets:
        if path is None:
            print(f"{label:<44} MISSING: the URL name does not reverse (page not written yet)")
            status = 1
            continue
        for htmx in (False, True):
            mode = "htmx" if htmx else "full"
            code, times, queries = measure(client, path, args.reps, htmx)
            if code != 200:
                print(f"{label:<44} {mode:<8} FAILED: {path} answered {code}")
                status = 1
                continue
            median, worst = statistics.median(times), max(times)
            flag = "" if median < GOAL_MS else f"  over the {GOAL_MS:.0f} ms goal"
            print(f"{label:<44} {mode:<8} {median:>7.1f}ms {worst:>7.1f}ms {queries:>8}{flag}")
            if median >= GOAL_MS:
                status = 1
    if args.compare_hosts and targets:
        compare_query_counts(client, targets, args.compare_hosts)
    return status


def compare_query_counts(client, targets, keep: int) -> None:
    """The same pages with only `keep` hosts, inside a transaction that is rolled back."""
    from django.db import connection, transaction

    print(f"\nquery counts with {keep} hosts instead of the whole fleet (rolled back afterwards):")
    with transaction.atomic(), connection.cursor() as cursor:
        # Plain SQL: the ORM's cascade would load 180,000 scans into Python first. Django's foreign keys are
        # DEFERRABLE INITIALLY DEFERRED and this transaction is rolled back, so the order is only for clarity.
        cursor.execute(
            "CREATE TEMP TABLE bench_gone ON COMMIT DROP AS SELECT id FROM hosts_host ORDER BY name OFFSET %s", [keep]
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_gone_scans ON COMMIT DROP AS"
            " SELECT id FROM scans_scan WHERE host_id IN (SELECT id FROM bench_gone)"
        )
        for table in ("scans_diffsnapshot", "scans_scansnapshot"):
            cursor.execute(f"DELETE FROM {table} WHERE scan_id IN (SELECT id FROM bench_gone_scans)")  # noqa: S608
        for table in ("scans_sighting", "scans_episode", "scans_finding", "scans_waiver"):
            cursor.execute(f"DELETE FROM {table} WHERE host_id IN (SELECT id FROM bench_gone)")  # noqa: S608
        cursor.execute("DELETE FROM scans_latestscan WHERE host_id IN (SELECT id FROM bench_gone)")
        cursor.execute("DELETE FROM scans_scan WHERE id IN (SELECT id FROM bench_gone_scans)")
        for table in ("hosts_host_tags", "schedules_schedule"):
            cursor.execute(f"DELETE FROM {table} WHERE host_id IN (SELECT id FROM bench_gone)")  # noqa: S608
        cursor.execute("DELETE FROM hosts_host WHERE id IN (SELECT id FROM bench_gone)")
        for label, path in targets:
            if path is not None:
                code, _times, queries = measure(client, path, 1, htmx=False)
                print(f"{label:<44} {queries if code == 200 else f'answered {code}'}")
        transaction.set_rollback(True)


if __name__ == "__main__":
    sys.exit(main())
