"""Server time, query count and memory of the REST API's lists, on the fleet bench/seed_fleet.py seeded.

    .venv/bin/python bench/api_speed.py [--reps 10] [--database-url URL]

Migrates the bench database first (the API's tables are newer than a seeded fleet may be), then asks, with a
Viewer's read-only API token through Django's test client:

- the findings list (open findings of the fleet) at page sizes 50 and 500, and its last page: the median and
  worst time, the SQL queries of one request, and the time per row of 500 against 50 side by side (the goal:
  the queries stay the same, the time grows with the rows, not faster);
- the scans list and the hosts list at 500;
- every open finding of the fleet as CSV (/api/v1/findings/csv/?state=open), streamed: rows, time, and the
  peak Python memory while it streams, against the same rows read into a list at once, side by side.

A list that does not answer 200 is reported as FAILED and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from seed_fleet import DEFAULT_DATABASE_URL, setup_django  # noqa: E402


def measure(client, path: str, reps: int) -> tuple[int, list[float], int, int]:
    """(status, times in ms, queries of one request, rows on the page)."""
    from django.db import connection

    response = client.get(path)  # warm-up, and the token's last_used write
    if response.status_code != 200:
        return response.status_code, [], 0, 0
    executed: list[str] = []

    def count(execute, sql, params, many, context):  # a wrapper sees every query, whatever resets the log
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        rows = len(client.get(path).json()["results"])
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - start) * 1000)
    return 200, times, len(executed), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.test import APIClient

    from api import services
    from hosts.models import Host
    from scans.models import Finding

    call_command("migrate", verbosity=0)
    hosts, open_findings = Host.objects.count(), Finding.objects.filter(state="open").count()
    print(f"database: {hosts} hosts, {open_findings} open findings")
    if hosts == 0:
        print("MISSING: no hosts; seed first: .venv/bin/python bench/seed_fleet.py")
        return 1
    user, _ = get_user_model().objects.get_or_create(username="bench-viewer")
    user.groups.set([Group.objects.get(name="Viewers")])
    _token, plaintext = services.create_token(
        user, name=f"bench {time.time()}", scope="read", expires=timezone.now().date() + timedelta(days=1)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    last = max(1, -(-open_findings // 500))
    targets = [
        ("findings, open, page size 50", "/api/v1/findings/?state=open&page_size=50"),
        ("findings, open, page size 500", "/api/v1/findings/?state=open&page_size=500"),
        (f"findings, open, last page ({last})", f"/api/v1/findings/?state=open&page_size=500&page={last}"),
        ("findings, tag prod, risk >= 8", "/api/v1/findings/?tag=prod&risk=8&page_size=500"),
        ("scans, page size 500", "/api/v1/scans/?page_size=500"),
        ("hosts, page size 500", "/api/v1/hosts/?page_size=500"),
    ]
    status = 0
    per_row: dict[int, float] = {}
    print(f"\n{'list':<40} {'median':>9} {'worst':>9} {'queries':>8} {'rows':>6}")
    for label, path in targets:
        code, times, queries, rows = measure(client, path, args.reps)
        if code != 200:
            print(f"{label:<40} FAILED: {path} answered {code}")
            status = 1
            continue
        median = statistics.median(times)
        print(f"{label:<40} {median:>7.1f}ms {max(times):>7.1f}ms {queries:>8} {rows:>6}")
        if label.startswith("findings, open, page size"):
            per_row[rows] = median / max(rows, 1)
    if len(per_row) == 2:
        small, big = sorted(per_row)
        print(f"\ntime per row, page size {big} vs {small}: {per_row[big] / per_row[small]:.2f}x")

    # The CSV of every open finding: streamed, against the same rows in a list.
    tracemalloc.start()
    start = time.perf_counter()
    response = client.get("/api/v1/findings/csv/?state=open")
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
    streamed = time.perf_counter() - start
    _now, streamed_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    from django.db.models import F

    from api.views import _csv_lines

    start = time.perf_counter()
    rows_in_memory = list(
        Finding.objects.filter(state="open").annotate(host_name=F("host__name")).order_by("host_name", "check_id")
    )
    text = "".join(_csv_lines(iter(rows_in_memory)))
    listed = time.perf_counter() - start
    _now, listed_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del text
    print(
        f"\nCSV of every open finding: {lines - 1} rows, streamed in {streamed:.2f} s with a peak of "
        f"{streamed_peak / 1e6:.1f} MB; read into a list first: {listed:.2f} s, {listed_peak / 1e6:.1f} MB "
        f"({listed_peak / max(streamed_peak, 1):.1f}x the memory)"
    )
    if response.status_code != 200 or lines - 1 != open_findings:
        print(f"FAILED: the CSV has {lines - 1} rows for {open_findings} open findings")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
