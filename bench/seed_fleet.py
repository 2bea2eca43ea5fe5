"""Seed a PostgreSQL database with a fleet: 500 hosts and a year of nightly scans (about 180,000 Scan rows).

    .venv/bin/python bench/seed_fleet.py [--hosts 500] [--days 365] [--results-scans 2] [--database-url URL]

The database (default: dockerbench_bench on the PostgreSQL scripts/services.sh starts) is created when missing,
migrated, and emptied of hosts and scans first: run it as often as you like, it never touches another database.

Where the numbers come from: the three real snapshots in dockerbench/tests/fixtures/hosts (hardened, default,
misconfigured) are evaluated by the engine once. Each host takes one of them as its profile and a year of
history around it: on some nights a WARN check gets fixed, on others a PASS check regresses (for a while or for
good), about 1 scan in 200 fails to reach its engine. Every scan's summary, score and warn_count is what
scans.services.record_results would store for that set of verdicts. Scan rows go in with COPY; the latest
--results-scans scans of each host also get their CheckResult and DiffSnapshot rows (built by the same code
record_results uses), and the latest one its compressed raw ScanSnapshot. bench/README.md says why.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://dockerbench:{password}@127.0.0.1:5432/dockerbench_bench".format(
    password=os.environ.get("DOCKERBENCH_PG_PASSWORD", "dockerbench-local-only")
)
PROFILES = {"hardened": 0.3, "default": 0.5, "misconfigured": 0.2}
TAGS = ["prod", "staging", "dev", "eu-west", "us-east", "ap-south", "pci", "edge"]
HOST_PREFIX = "bench-host-"
FAILED_SCAN_RATE = 0.005
SCAN_COLUMNS = (
    "host_id, status, trigger, created, started, finished, error, worker, attempts, progress, summary, score, "
    "warn_count, warn_sections, engine_version, claim, sends"
)
TABLES = ("scans_scan", "scans_checkresult", "scans_diffsnapshot", "scans_scansnapshot", "hosts_host")


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("DOCKERBENCH_ENCRYPTION_KEY", "P-b9vWccwYB14lgHE1Rkv10ukWcdgYpK15hxQUfKB6g=")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    """Create the bench database when missing (the dockerbench role has CREATEDB), through the postgres db."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


@dataclass(frozen=True)
class Profile:
    """One real snapshot, evaluated: the verdict per check and what each check contributes to the summary."""

    name: str
    snapshot: Any  # dockerbench.snapshot.HostSnapshot (imported after django.setup())
    results: list
    verdicts: dict[str, str]  # check id -> verdict
    rows_per_check: dict[str, Counter]  # check id -> results per status
    automated: frozenset[str]
    missing: dict[str, str]
    failed_parts: list[str]
    engine_version: str


def load_profiles() -> dict[str, Profile]:
    from dockerbench.catalog import BY_ID
    from dockerbench.report import check_status, group_by_check
    from dockerbench.runner import evaluate
    from dockerbench.snapshot import HostSnapshot
    from scans.services import _failed_parts

    profiles = {}
    for name in PROFILES:
        snapshot = HostSnapshot.from_json((ROOT / "dockerbench/tests/fixtures/hosts" / f"{name}.json").read_text())
        results = evaluate(snapshot)
        grouped = group_by_check(results)
        profiles[name] = Profile(
            name=name,
            snapshot=snapshot,
            results=results,
            verdicts={check_id: check_status(rows).value for check_id, rows in grouped.items()},
            rows_per_check={check_id: Counter(r.status.value for r in rows) for check_id, rows in grouped.items()},
            automated=frozenset(check_id for check_id in grouped if BY_ID.get(check_id) and BY_ID[check_id].automated),
            missing=dict(snapshot.missing),
            failed_parts=_failed_parts(snapshot),
            engine_version=snapshot.engine_version,
        )
    return profiles


def summary_for(profile: Profile, verdicts: dict[str, str]) -> tuple[dict, int | None, int]:
    """The summary record_results stores for these verdicts (the profile's rows, flipped checks adjusted)."""
    by_status: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    judged = passed = 0
    for check_id, verdict in verdicts.items():
        by_status[verdict] += 1
        sections[check_id.split(".", 1)[0]][verdict] += 1
        if verdict == profile.verdicts[check_id]:
            findings.update(profile.rows_per_check[check_id])
        else:
            findings[verdict] += 1 if verdict == "PASS" else 2  # a regression usually names an object or two
        if check_id in profile.automated and verdict in ("PASS", "WARN"):
            judged += 1
            passed += verdict == "PASS"
    score = round(100 * passed / judged) if judged else None
    summary = {
        "checks": len(verdicts),
        "by_status": dict(by_status),
        "findings": dict(findings),
        "sections": {s: dict(c) for s, c in sorted(sections.items())},
        "judged": judged,
        "passed": passed,
        "missing": profile.missing,
        "failed_parts": profile.failed_parts,
    }
    return summary, score, by_status.get("WARN", 0)


def host_history(profile: Profile, days: int, settled: int, rng: random.Random) -> list[dict[str, str] | None]:
    """The verdicts of each night (None: the scan failed to reach its engine).

    The year ends in the profile's state: over the year some of its PASS checks were WARN until fixed, some
    of its WARN checks were PASS until they regressed, and some PASS checks regressed for a few weeks. The
    last `settled` nights are exactly the profile, so the result rows seeded for them match their summaries.
    """
    last = days - settled  # every deviation ends before this night
    passing = [c for c, v in profile.verdicts.items() if v == "PASS"]
    warning = [c for c, v in profile.verdicts.items() if v == "WARN" and c in profile.automated]
    spans: list[tuple[int, int, str, str]] = []  # [start, end) nights during which check_id had this verdict
    if last > 0:
        for check_id in rng.sample(passing, k=min(len(passing), rng.randint(0, 6))):
            spans.append((0, rng.randrange(1, last + 1), check_id, "WARN"))  # fixed during the year
        for check_id in rng.sample(warning, k=min(len(warning), rng.randint(0, 3))):
            spans.append((0, rng.randrange(1, last + 1), check_id, "PASS"))  # regressed during the year
        for check_id in rng.sample(passing, k=min(len(passing), rng.randint(0, 4))):
            start = rng.randrange(last)
            spans.append((start, min(last, start + rng.randint(1, 40)), check_id, "WARN"))  # a few bad weeks
    changes = {0} | {start for start, *_ in spans} | {end for _, end, *_ in spans}
    history: list[dict[str, str] | None] = []
    verdicts = profile.verdicts
    for night in range(days):
        if night in changes:  # a new dict only when something changed: unchanged nights share one summary
            verdicts = dict(profile.verdicts)
            for start, end, check_id, verdict in spans:
                if start <= night < end:
                    verdicts[check_id] = verdict
        history.append(None if rng.random() < FAILED_SCAN_RATE and night < last else verdicts)
    return history


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        # TRUNCATE is instant where deleting 180,000 scans and their rows takes minutes. Bench database only.
        cursor.execute(
            "TRUNCATE scans_checkresult, scans_diffsnapshot, scans_scansnapshot, scans_scan, hosts_host_tags,"
            " scans_latestscan, schedules_schedule, hosts_host RESTART IDENTITY CASCADE"
        )


def seed(args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from dockerbench.runner import select
    from hosts.models import Host, Tag
    from scans.models import CheckResult, DiffSnapshot, LatestScan, Scan, ScanSnapshot, warn_sections_of

    # The row builders record_results uses, so the seeded rows are exactly what a real scan stores.
    from scans.services import _check_rows, _diff_rows

    rng = random.Random(args.seed)  # noqa: S311 - reproducible test data, not security
    t0 = time.perf_counter()
    profiles = load_profiles()
    print(f"profiles evaluated: {', '.join(f'{p.name} ({len(p.results)} results)' for p in profiles.values())}")

    reset()
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
    hosts = Host.objects.bulk_create(
        Host(
            name=f"{HOST_PREFIX}{i:04d}",
            url=f"tcp://{HOST_PREFIX}{i:04d}.internal:2376",
            facts_method=Host.Facts.PROBE,
        )
        for i in range(1, args.hosts + 1)
    )
    Through = Host.tags.through
    Through.objects.bulk_create(
        Through(host_id=host.pk, tag_id=tag.pk) for host in hosts for tag in rng.sample(tags, k=rng.randint(1, 3))
    )
    host_profile = {
        host.pk: profiles[rng.choices(list(PROFILES), weights=list(PROFILES.values()))[0]] for host in hosts
    }
    print(f"{len(hosts)} hosts: {dict(Counter(p.name for p in host_profile.values()))}")

    today = datetime.now(tz=UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=args.days - 1)
    checks_total = len(select())
    progress_done = json.dumps({"phase": "done", "checks_done": checks_total, "checks_total": checks_total})
    t1 = time.perf_counter()
    scans = 0
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        with raw.copy(f"COPY scans_scan ({SCAN_COLUMNS}) FROM STDIN") as copy:
            for host in hosts:
                profile = host_profile[host.pk]
                jitter = timedelta(seconds=rng.randrange(0, 900))  # beat starts them all at 02:00
                cache: dict[int, tuple[str, Any, int, str]] = {}
                for day, verdicts in enumerate(host_history(profile, args.days, args.results_scans, rng)):
                    created = first + timedelta(days=day) + jitter
                    started = created + timedelta(seconds=rng.uniform(0.1, 3))
                    finished = started + timedelta(seconds=rng.uniform(1.5, 25))
                    if verdicts is None:
                        row = (host.pk, "failed", "schedule", created, started, finished,
                               f"cannot connect to {host.url}: connection timed out", "celery@worker-1", 1,
                               json.dumps({"phase": "failed"}), "{}", None, 0, "", "", "", 1)  # fmt: skip
                    else:
                        key = id(verdicts)
                        if key not in cache:
                            summary, score, warn_count = summary_for(profile, verdicts)
                            # What Scan.save() derives from the summary; COPY bypasses save().
                            cache[key] = (json.dumps(summary), score, warn_count, warn_sections_of(summary))
                        summary_json, score, warn_count, warn_sections = cache[key]
                        status = "partial" if profile.failed_parts else "succeeded"
                        row = (host.pk, status, "schedule", created, started, finished, "", "celery@worker-1", 1,
                               progress_done, summary_json, score, warn_count, warn_sections,
                               profile.engine_version, "", 1)  # fmt: skip
                    copy.write_row(row)
                    scans += 1
    t2 = time.perf_counter()
    print(f"{scans} scans copied in {t2 - t1:.1f}s")

    # Each host's latest scans get their result rows, the latest its raw snapshot; hosts point at the latest.
    latest = defaultdict(list)
    rows = Scan.objects.raw(
        "SELECT id, host_id FROM (SELECT id, host_id, row_number() OVER (PARTITION BY host_id ORDER BY created DESC)"
        " AS n FROM scans_scan WHERE status <> 'failed') s WHERE n <= %s ORDER BY host_id, id",
        [args.results_scans],
    )
    for scan in rows:
        latest[scan.host_id].append(scan)
    results = diffs = 0
    with transaction.atomic():
        for host_id, host_scans in latest.items():
            profile = host_profile[host_id]
            for scan in host_scans:  # oldest first, so drift compares with the previous one
                check_rows = CheckResult.objects.bulk_create(_check_rows(scan, profile.results), batch_size=2000)
                diff_rows = DiffSnapshot.objects.bulk_create(_diff_rows(scan, profile.snapshot), batch_size=2000)
                results += len(check_rows)
                diffs += len(diff_rows)
            ScanSnapshot.pack(host_scans[-1], profile.snapshot.to_json()).save(force_insert=True)
            LatestScan.objects.update_or_create(host_id=host_id, defaults={"scan": host_scans[-1]})
    t3 = time.perf_counter()
    print(f"{results} check results, {diffs} diff snapshots, {len(latest)} raw snapshots in {t3 - t2:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - t0:.1f}s")


def report_sizes() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        sizes = {}
        for table in TABLES:
            cursor.execute(f"SELECT pg_total_relation_size(%s), count(*) FROM {table}", [table])  # noqa: S608
            sizes[table] = cursor.fetchone()
        cursor.execute("SELECT count(DISTINCT scan_id) FROM scans_checkresult")
        (with_results,) = cursor.fetchone()
        cursor.execute("SELECT pg_database_size(current_database())")
        (database,) = cursor.fetchone()
    scans = sizes["scans_scan"][1] or 1
    print("\ntable                  rows        total size (with indexes and TOAST)")
    for table, (size, count) in sizes.items():
        print(f"{table:<22} {count:>9,}  {size / 2**20:>9.1f} MiB")
    print(f"database               {'':>9}  {database / 2**20:>9.1f} MiB")
    scan_row = sizes["scans_scan"][0] / scans
    per_results = (sizes["scans_checkresult"][0] + sizes["scans_diffsnapshot"][0]) / max(with_results, 1)
    per_raw = sizes["scans_scansnapshot"][0] / max(sizes["scans_scansnapshot"][1], 1)
    print(f"\nper scan: the Scan row (summary included) {scan_row / 1024:.2f} KiB; its result and diff rows")
    print(f"{per_results / 1024:.1f} KiB (measured on {with_results} scans); a raw snapshot {per_raw / 1024:.1f} KiB")
    print(f"database size / scans: {database / scans / 1024:.2f} KiB")
    year = scans * (scan_row + per_results)
    print(f"a year with every scan's results kept: about {year / 2**30:.1f} GiB (+ raw snapshots for the retention)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--results-scans", type=int, default=2, help="latest scans per host with result rows")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes-only", action="store_true", help="only report the sizes of what is there")
    args = parser.parse_args()
    if not urlsplit(args.database_url).scheme.startswith("postg"):
        parser.error("the bench seeds PostgreSQL: --database-url postgres://...")
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if not args.sizes_only:
        seed(args)
    report_sizes()


if __name__ == "__main__":
    main()
