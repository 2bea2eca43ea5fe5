"""The database's size over a simulated two years, with the retention rules on and off, month by month.

    .venv/bin/python bench/retention.py [--hosts 100] [--months 24] [--scan-days 400] [--audit-days 365]
        [--database-url URL] [--json FILE]

The database (default: dockerbench_retention, never the one seed_fleet.py or the tests use) is seeded once by
seed_fleet.seed with the fleet's whole span of nightly scans and findings history, which is then set aside in
hold_* tables. Each run (off, then on) starts from empty tables and lets time pass a month (30 days) at a time:
it moves that month's scans, findings, sightings, episodes and fleet days in from the hold tables, writes one
audit entry per scan ("scan queued", as start_scan records it), points LatestScan at each host's newest scored
scan, and then, with pruning on, runs what beat runs nightly (scans.retention.prune_scans and
core.retention.prune_audit_entries, with ``now`` at the month's end). Both runs VACUUM the tables after each
month, as autovacuum would: space freed by deleted rows is reused by the next month's, never given back to the
system, so a steady size is the claim to check, not a shrinking one. Raw snapshots and container diffs are left
out: prune_snapshots already keeps only their last DOCKERBENCH_SNAPSHOT_RETENTION_DAYS in both runs.

Sizes are pg_total_relation_size (heap, indexes, TOAST) of the tables the rules touch, in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed_fleet  # noqa: E402 - after the path is set

MONTH = timedelta(days=30)
TABLES = ("scans_scan", "scans_sighting", "scans_finding", "scans_episode", "scans_fleetday", "auditlog_logentry")
HELD = {"scans_scan": "hold_scan", "scans_finding": "hold_finding", "scans_sighting": "hold_sighting",
        "scans_episode": "hold_episode", "scans_fleetday": "hold_fleetday"}  # fmt: skip


def bench_url() -> str:
    parts = urlsplit(seed_fleet.DEFAULT_DATABASE_URL)
    return urlunsplit(parts._replace(path="/dockerbench_retention"))


def seed_and_hold(hosts: int, months: int) -> datetime:
    """Seed the whole span, move it into hold_* tables; returns the first night."""
    from django.db import connection

    args = argparse.Namespace(hosts=hosts, days=months * MONTH.days, diff_scans=1, seed=1, verify=0)
    seed_fleet.seed(args)
    with connection.cursor() as cursor:
        for table, hold in HELD.items():
            cursor.execute(f"DROP TABLE IF EXISTS {hold}")
            cursor.execute(f"CREATE TABLE {hold} AS SELECT * FROM {table}")  # noqa: S608 - constant names
        cursor.execute("CREATE INDEX ON hold_scan (created)")
        cursor.execute("SELECT min(created) FROM hold_scan")
        (first,) = cursor.fetchone()
    return first


def empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE scans_sighting, scans_episode, scans_diffsnapshot, scans_scansnapshot, scans_latestscan,"
            " scans_scan, scans_fleetday, auditlog_logentry"
        )
        cursor.execute("TRUNCATE scans_finding CASCADE")


def add_month(start: datetime, end: datetime) -> int:
    """Move the scans made in [start, end) and the history they wrote in; returns how many scans."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from scans.models import Scan

    scan_type = ContentType.objects.get_for_model(Scan).pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), count(*) FROM hold_scan WHERE created >= %s AND created < %s",
                       [start, end])  # fmt: skip
        low, high, n = cursor.fetchone()
        if not n:
            return 0
        cursor.execute("INSERT INTO scans_scan SELECT * FROM hold_scan WHERE id BETWEEN %s AND %s", [low, high])
        # A finding comes in with its first sighting (first_seen is its scan's finish, maybe past ``end``).
        cursor.execute("INSERT INTO scans_finding SELECT * FROM hold_finding WHERE id IN (SELECT finding_id FROM"
                       " hold_sighting WHERE since BETWEEN %s AND %s) ON CONFLICT DO NOTHING", [low, high])  # fmt: skip
        cursor.execute("INSERT INTO scans_sighting SELECT * FROM hold_sighting WHERE since BETWEEN %s AND %s",
                       [low, high])  # fmt: skip
        cursor.execute("INSERT INTO scans_episode SELECT * FROM hold_episode WHERE opened_scan BETWEEN %s AND %s",
                       [low, high])  # fmt: skip
        cursor.execute("INSERT INTO scans_fleetday SELECT * FROM hold_fleetday WHERE day >= %s AND day < %s",
                       [start.date(), end.date()])  # fmt: skip
        # start_scan records "scan queued" for every scan, scheduled ones too (no actor).
        cursor.execute(
            "INSERT INTO auditlog_logentry (content_type_id, object_pk, object_id, object_repr, action, changes_text,"
            " changes, timestamp, additional_data)"
            " SELECT %s, id::text, id, 'scan #' || id, 3, '', '{\"trigger\": [null, \"schedule\"]}'::jsonb, created,"
            ' \'{"event": "scan queued"}\'::jsonb FROM hold_scan WHERE id BETWEEN %s AND %s',
            [scan_type, low, high],
        )
        cursor.execute(
            "INSERT INTO scans_latestscan (host_id, scan_id) SELECT DISTINCT ON (host_id) host_id, id FROM scans_scan"
            " WHERE status IN ('succeeded', 'partial') ORDER BY host_id, id DESC"
            " ON CONFLICT (host_id) DO UPDATE SET scan_id = EXCLUDED.scan_id"
        )
    return n


def sizes() -> dict[str, tuple[int, int]]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        for table in TABLES:
            cursor.execute(f"SELECT pg_total_relation_size(%s), count(*) FROM {table}", [table])  # noqa: S608
            out[table] = cursor.fetchone()
    return out


def run(first: datetime, months: int, prune: bool) -> list[dict]:
    from core.retention import prune_audit_entries
    from scans.retention import prune_scans

    rows: list[dict] = []
    for m in range(1, months + 1):
        start, end = first + (m - 1) * MONTH, first + m * MONTH
        added = add_month(start, end)
        t0 = time.perf_counter()
        pruned = {"scans": 0, "sightings": 0, "audit": 0}
        if prune:
            pruned.update(prune_scans(now=end))
            pruned["audit"] = prune_audit_entries(now=end)
        seconds = time.perf_counter() - t0
        measured = sizes()
        rows.append({"month": m, "added": added, "pruned": pruned, "prune_s": round(seconds, 2),
                     "bytes": {t: s for t, (s, _) in measured.items()},
                     "rows": {t: n for t, (_, n) in measured.items()}})  # fmt: skip
        total = sum(size for size, _ in measured.values())
        print(f"  {'on ' if prune else 'off'} month {m:>2}: +{added:,} scans, {total / 2**20:7.1f} MiB"
              f"{f', pruned {pruned} in {seconds:.1f}s' if prune else ''}", flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--scan-days", type=int, default=400, help="DOCKERBENCH_SCAN_RETENTION_DAYS")
    parser.add_argument("--audit-days", type=int, default=365, help="DOCKERBENCH_AUDIT_RETENTION_DAYS")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_RETENTION_DATABASE_URL", bench_url()))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if urlsplit(args.database_url).path.lstrip("/") in ("dockerbench", "dockerbench_bench"):
        parser.error("use a database of its own: the bench empties its tables")
    seed_fleet.ensure_database(args.database_url)
    os.environ["DOCKERBENCH_SCAN_RETENTION_DAYS"] = str(args.scan_days)
    os.environ["DOCKERBENCH_AUDIT_RETENTION_DAYS"] = str(args.audit_days)
    seed_fleet.setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    t0 = time.perf_counter()
    first = seed_and_hold(args.hosts, args.months)
    print(f"seeded {args.hosts} hosts x {args.months * MONTH.days} nights from {first:%Y-%m-%d}"
          f" in {time.perf_counter() - t0:.0f}s")  # fmt: skip
    results = {}
    for mode, prune in (("off", False), ("on", True)):
        empty()
        results[mode] = run(first, args.months, prune)

    print(f"\nscan retention {args.scan_days} days, audit retention {args.audit_days} days, {args.hosts} hosts;"
          f" MiB (pg_total_relation_size of {', '.join(TABLES)}), after VACUUM")  # fmt: skip
    print("| month | scans off | scans on | MiB off | MiB on | scans MiB on | sightings on | audit MiB on | prune s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for off, on in zip(results["off"], results["on"], strict=True):
        print(
            f"| {on['month']} | {off['rows']['scans_scan']:,} | {on['rows']['scans_scan']:,}"
            f" | {sum(off['bytes'].values()) / 2**20:.1f} | {sum(on['bytes'].values()) / 2**20:.1f}"
            f" | {on['bytes']['scans_scan'] / 2**20:.1f} | {on['rows']['scans_sighting']:,}"
            f" | {on['bytes']['auditlog_logentry'] / 2**20:.1f} | {on['prune_s']:.1f} |"
        )
    if args.json:
        meta = {"hosts": args.hosts, "months": args.months, "scan_days": args.scan_days,
                "audit_days": args.audit_days, "at": datetime.now(tz=UTC).isoformat()}  # fmt: skip
        args.json.write_text(json.dumps({"meta": meta, **results}, indent=1))


if __name__ == "__main__":
    main()
