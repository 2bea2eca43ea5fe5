"""Seed a PostgreSQL database with a fleet: 500 hosts and a year of nightly scans (about 180,000 Scan rows).

    .venv/bin/python bench/seed_fleet.py [--hosts 500] [--days 365] [--diff-scans 2] [--verify 3] [--database-url URL]

The database (default: dockerbench_bench on the PostgreSQL scripts/services.sh starts) is created when missing,
migrated, and emptied of hosts, scans and findings first: run it as often as you like, it never touches another
database.

Where the numbers come from: the three real snapshots in dockerbench/tests/fixtures/hosts (hardened, default,
misconfigured) are evaluated by the engine once. Each host takes one of them as its profile and a year of
history around it: on some nights a WARN check gets fixed, on others a PASS check regresses (for a while or for
good), about 1 scan in 200 fails to reach its engine. Each night's verdicts become result rows: the profile's
own, except that a check flipped to WARN reports one or two WARN rows on objects of the host (those the profile's
rows of that check name, else its containers for sections 4 and 5, else the host itself) and a check flipped to
PASS one PASS row. Every scan's findings history (Finding, Sighting, Episode) and summary (news included) is what
scans.tracking.track and record_results would store replaying those nights in order; it is computed here with the
same rules and written with COPY, and --verify hosts are replayed through the real tracking.track (in a
transaction that is rolled back) and compared row for row. The latest --diff-scans scans of each host also get
their DiffSnapshot rows (built by the code record_results uses), the latest one its compressed raw ScanSnapshot.
A few waivers are added and applied as the waiver pages would. bench/README.md says why.
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
    "id, host_id, status, trigger, created, started, finished, error, worker, attempts, progress, summary, score, "
    "warn_count, warn_sections, waived_score, waived_checks, engine_version, claim, sends, source_digest, retries"
)
FINDING_COLUMNS = (
    "id, host_id, check_id, section, object_kind, object_key, detail, status, object_name, state, first_seen, "
    "last_seen, opened, fixed, reopened"
)
SIGHTING_COLUMNS = (
    "id, host_id, finding_id, since, until, seq, check_id, section, status, object_kind, object_id, object_name, "
    "message, evidence"
)
EPISODE_COLUMNS = "id, finding_id, host_id, section, opened_scan, opened, fixed_scan, fixed"
TABLES = (
    "scans_scan",
    "scans_finding",
    "scans_sighting",
    "scans_episode",
    "scans_diffsnapshot",
    "scans_scansnapshot",
    "scans_latestscan",
    "scans_waiver",
    "hosts_host",
)
# The figures before findings lived across scans (bench/README.md, 2026-11-28): the result and diff rows of
# one scan, its Scan row, and a year of this fleet with every scan's result rows kept.
BEFORE_RESULTS_PER_SCAN = 37.6 * 1024
BEFORE_SCAN_ROW = 1.2 * 1024
BEFORE_YEAR = 6.8 * 2**30
GOAL_YEAR = 2**30


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
    """One real snapshot, evaluated: the verdict per check, its result rows, and what a check says per object."""

    name: str
    snapshot: Any  # dockerbench.snapshot.HostSnapshot (imported after django.setup())
    results: list
    verdicts: dict[str, str]  # check id -> verdict
    rows_by_check: dict[str, list]  # check id -> its tracking.Row in the engine's order (as record_results has them)
    objects_by_check: dict[str, list[tuple[str, str, str]]]  # check id -> (kind, id, name) its rows name
    containers: list[tuple[str, str, str]]  # the host's containers as result objects
    automated: frozenset[str]
    missing: dict[str, str]
    failed_parts: list[str]
    engine_version: str


def load_profiles() -> dict[str, Profile]:
    from dockerbench.catalog import BY_ID
    from dockerbench.report import check_status, group_by_check
    from dockerbench.runner import evaluate
    from dockerbench.snapshot import HostSnapshot
    from scans.services import _failed_parts, result_rows

    profiles = {}
    for name in PROFILES:
        snapshot = HostSnapshot.from_json((ROOT / "dockerbench/tests/fixtures/hosts" / f"{name}.json").read_text())
        results = evaluate(snapshot)
        grouped = group_by_check(results)
        rows_by_check: dict[str, list] = defaultdict(list)
        objects_by_check: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for row in result_rows(results):  # what record_results hands tracking.track: lengths, NUL, JSON made safe
            rows_by_check[row.check_id].append(row)
            obj = (row.object_kind, row.object_id, row.object_name)
            if row.object_kind and obj not in objects_by_check[row.check_id]:
                objects_by_check[row.check_id].append(obj)
        profiles[name] = Profile(
            name=name,
            snapshot=snapshot,
            results=results,
            verdicts={check_id: check_status(rows).value for check_id, rows in grouped.items()},
            rows_by_check=dict(rows_by_check),
            objects_by_check=dict(objects_by_check),
            containers=[("container", c.id, c.name) for c in snapshot.containers or () if not c.is_probe],
            automated=frozenset(check_id for check_id in grouped if BY_ID.get(check_id) and BY_ID[check_id].automated),
            missing=dict(snapshot.missing),
            failed_parts=_failed_parts(snapshot),
            engine_version=snapshot.engine_version,
        )
    return profiles


def flipped_rows(profile: Profile, check_id: str, verdict: str, rng: random.Random) -> list[tuple]:
    """What a check flipped away from the profile reports, as (status, kind, id, name, message, evidence).

    WARN: one or two WARN rows on objects the check looks at (the objects the profile's rows of that check
    name, else the host's containers for the image and container sections, else the host itself). PASS: one
    PASS row on the host. Drawn once per host and check, so a flip reports the same thing every night it lasts.
    """
    from dockerbench.catalog import BY_ID

    title = BY_ID[check_id].title if check_id in BY_ID else check_id
    if verdict != "WARN":
        return [(verdict, "", "", "", f"{title}: no problem found", {})]
    candidates = profile.objects_by_check.get(check_id) or (
        profile.containers if check_id.split(".", 1)[0] in ("4", "5") else []
    )
    if not candidates:
        return [("WARN", "", "", "", f"{title}: not met on this host", {"seeded": True})]
    chosen = rng.sample(candidates, k=min(len(candidates), rng.randint(1, 2)))
    return [("WARN", kind, oid, name, f"{title}: not met by {name}", {"seeded": True}) for kind, oid, name in chosen]


def night_rows(profile: Profile, verdicts: dict[str, str], flips: dict[tuple[str, str], list[tuple]]) -> list:
    """The tracking.Row list of one night: the profile's rows, flipped checks replaced, numbered in order."""
    from scans.tracking import Row

    rows: list[Row] = []
    for check_id in profile.verdicts:  # the engine's check order
        verdict = verdicts[check_id]
        if verdict == profile.verdicts[check_id]:
            for r in profile.rows_by_check[check_id]:  # the profile's own Row where its place is the same
                seq = len(rows)
                rows.append(r if r.seq == seq else Row(seq, check_id, r.status, r.object_kind, r.object_id,
                                                       r.object_name, r.message, r.evidence))  # fmt: skip
        else:
            for status, kind, oid, name, message, evidence in flips[check_id, verdict]:
                rows.append(Row(len(rows), check_id, status, kind, oid, name, message, evidence))
    return rows


def summary_for(profile: Profile, verdicts: dict[str, str], rows: list) -> tuple[dict, int | None, int]:
    """The summary record_results stores for these verdicts and rows (dockerbench.report.summarize's rules)."""
    by_status: Counter[str] = Counter()
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    judged = passed = 0
    for check_id, verdict in verdicts.items():
        by_status[verdict] += 1
        sections[check_id.split(".", 1)[0]][verdict] += 1
        if check_id in profile.automated and verdict in ("PASS", "WARN"):
            judged += 1
            passed += verdict == "PASS"
    score = round(100 * passed / judged) if judged else None
    summary = {
        "checks": len(verdicts),
        "by_status": dict(by_status),
        "findings": dict(Counter(r.status for r in rows)),
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
    last `settled` nights are exactly the profile, so the diff rows seeded for them match their results.
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


class HostTracker:
    """scans.tracking.track's rules for one host, in memory: the same findings, sightings, episodes and news.

    Records are plain lists; ``order`` is (scan id, n) at creation, which becomes the row id order. Kept in
    step with tracking.track by the --verify replay, which compares the two row for row.
    """

    def __init__(self, host_id: int) -> None:
        self.host_id = host_id
        self.findings: dict[tuple[str, str, str, str], dict] = {}
        self.current: dict[int, dict] = {}  # finding's index -> its sighting with until None
        self.open: dict[int, dict] = {}  # finding's index -> its open episode
        self.sightings: list[dict] = []
        self.episodes: list[dict] = []
        self.last_rows: list | None = None
        self.last_reported: list[dict] = []

    def track(self, scan_id: int, when: datetime, rows: list, first: bool) -> dict:
        from dockerbench.catalog import section_of
        from scans import tracking

        if rows is self.last_rows and not first:
            # The same rows as the host's previous tracked scan: every sighting is the same, every WARN already
            # has its open episode and everything else was fixed then. Only last_seen moves.
            for f in self.last_reported:
                f["last_seen"] = when
            return {"first": False, "new": {}, "fixed": {}}
        opened: Counter[str] = Counter()
        fixed: Counter[str] = Counter()
        reported = tracking.keyed(rows)
        judged = tracking.judged_checks(rows)
        n = 0
        for identity, row in reported.items():
            if identity not in self.findings:
                self.findings[identity] = {
                    "index": len(self.findings), "order": (scan_id, n), "host_id": self.host_id,
                    "check_id": row.check_id, "section": section_of(row.check_id)[:2],
                    "object_kind": row.object_kind, "object_key": identity[2], "detail": identity[3],
                    "status": row.status, "object_name": row.object_name, "state": "clean", "first_seen": when,
                    "last_seen": when, "opened": None, "fixed": None, "reopened": 0,
                }  # fmt: skip
                n += 1
        reported_ids = set()
        last_reported = []
        for identity, row in reported.items():
            f = self.findings[identity]
            reported_ids.add(f["index"])
            last_reported.append(f)
            s = self.current.get(f["index"])
            if s is None or not _same(s, row):
                if s is not None:
                    s["until"] = scan_id
                s = {
                    "order": (scan_id, len(self.sightings)), "finding": f, "since": scan_id, "until": None,
                    "seq": row.seq, "check_id": row.check_id, "section": f["section"], "status": row.status,
                    "object_kind": row.object_kind, "object_id": row.object_id, "object_name": row.object_name,
                    "message": row.message, "evidence": row.evidence,
                }  # fmt: skip
                self.sightings.append(s)
                self.current[f["index"]] = s
            f["status"], f["object_name"] = row.status, row.object_name
            if row.status == tracking.WARN and f["index"] not in self.open:
                if f["state"] == "fixed":
                    f["reopened"] += 1
                f["state"], f["opened"], f["fixed"] = "open", when, None
                e = {"order": (scan_id, len(self.episodes)), "finding": f, "section": f["section"],
                     "opened_scan": scan_id, "opened": when, "fixed_scan": None, "fixed": None}  # fmt: skip
                self.episodes.append(e)
                self.open[f["index"]] = e
                opened[f["section"]] += 1
            f["last_seen"] = when
        for index in [i for i in self.current if i not in reported_ids]:
            self.current.pop(index)["until"] = scan_id
        by_index = {f["index"]: f for f in self.findings.values()}
        for index, e in list(self.open.items()):
            if e["opened_scan"] == scan_id:
                continue  # opened by this scan: track() decides fixes on the episodes open before it
            f = by_index[index]
            if f["check_id"] not in judged or (index in reported_ids and f["status"] == tracking.WARN):
                continue
            e["fixed_scan"], e["fixed"] = scan_id, when
            del self.open[index]
            f["state"], f["fixed"] = "fixed", when
            fixed[f["section"]] += 1
        self.last_rows, self.last_reported = rows, last_reported
        return {"first": first, "new": dict(sorted(opened.items())), "fixed": dict(sorted(fixed.items()))}


def _same(sighting: dict, row: Any) -> bool:
    return (
        sighting["status"] == row.status
        and sighting["message"] == row.message
        and sighting["object_id"] == row.object_id
        and sighting["object_name"] == row.object_name
        and sighting["evidence"] == row.evidence
    )


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        # TRUNCATE is instant where deleting 180,000 scans and their rows takes minutes. Bench database only.
        cursor.execute(
            "TRUNCATE scans_sighting, scans_episode, scans_finding, scans_waiver, scans_diffsnapshot,"
            " scans_scansnapshot, scans_latestscan, scans_scan, scans_fleetday, hosts_host_tags, schedules_schedule,"
            " hosts_host"
            " RESTART IDENTITY CASCADE"
        )


def _copy(cursor: Any, table: str, columns: str, rows: Any) -> int:
    n = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(%s, 1))", [table, n])
    return n


@dataclass
class Seeded:
    """What seed() made, for verify(): each host's tracked nights and its tracker."""

    host_profile: dict[int, Profile]
    nights: dict[int, list[tuple[int, datetime, list]]]  # host id -> [(scan id, when, rows)] of tracked scans
    trackers: dict[int, HostTracker]
    news: dict[int, dict]  # scan id -> summary["news"]


def seed(args: argparse.Namespace) -> Seeded:
    from django.db import connection, transaction

    from dockerbench.runner import select
    from hosts.models import Host, Tag
    from scans import rollups
    from scans.models import DiffSnapshot, FleetDay, LatestScan, Scan, ScanSnapshot, warn_sections_of

    # The row builder record_results uses, so the seeded diff rows are exactly what a real scan stores.
    from scans.services import _diff_rows

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
    first_night = today - timedelta(days=args.days - 1)
    checks_total = len(select())
    progress_done = json.dumps({"phase": "done", "checks_done": checks_total, "checks_total": checks_total})
    no_waivers = {"sections": {}, "checks": 0, "findings": 0}  # what apply_waivers stores with none in force

    # Each host's year, then the scans night by night across the fleet, as a scheduler makes them: scan ids
    # grow with time (tracking's intervals rely on that per host), and a host's scans are spread over the table.
    histories = {host.pk: host_history(host_profile[host.pk], args.days, args.diff_scans, rng) for host in hosts}
    jitter = {host.pk: timedelta(seconds=rng.randrange(0, 900)) for host in hosts}  # beat starts them at 02:00
    trackers = {host.pk: HostTracker(host.pk) for host in hosts}
    nights: dict[int, list[tuple[int, datetime, list]]] = defaultdict(list)
    news_of: dict[int, dict] = {}
    cache: dict[int, tuple] = {}  # id(verdicts) -> (rows, summary, score, warn_count); a host's dicts stay alive
    flips: dict[int, dict] = {host.pk: {} for host in hosts}
    t1 = time.perf_counter()

    def scan_rows():
        scan_id = 0
        for day in range(args.days):
            for host in hosts:
                scan_id += 1
                profile, verdicts = host_profile[host.pk], histories[host.pk][day]
                created = first_night + timedelta(days=day) + jitter[host.pk]
                started = created + timedelta(seconds=rng.uniform(0.1, 3))
                finished = started + timedelta(seconds=rng.uniform(1.5, 25))
                if verdicts is None:
                    yield (scan_id, host.pk, "failed", "schedule", created, started, finished,
                           f"cannot connect to {host.url}: connection timed out", "celery@worker-1", 1,
                           json.dumps({"phase": "failed"}), "{}", None, 0, "", None, 0, "", "", 1, "", 0)  # fmt: skip
                    continue
                key = id(verdicts)
                if key not in cache:
                    host_flips = flips[host.pk]
                    for check_id, verdict in verdicts.items():
                        if verdict != profile.verdicts[check_id] and (check_id, verdict) not in host_flips:
                            host_flips[check_id, verdict] = flipped_rows(profile, check_id, verdict, rng)
                    rows = night_rows(profile, verdicts, host_flips)
                    cache[key] = (rows, *summary_for(profile, verdicts, rows))
                rows, summary, score, warn_count = cache[key]
                news = trackers[host.pk].track(scan_id, finished, rows, first=not nights[host.pk])
                nights[host.pk].append((scan_id, finished, rows))
                news_of[scan_id] = news
                summary = {**summary, "news": news, "waived": no_waivers}
                status = "partial" if profile.failed_parts else "succeeded"
                yield (scan_id, host.pk, status, "schedule", created, started, finished, "", "celery@worker-1", 1,
                       progress_done, json.dumps(summary), score, warn_count, warn_sections_of(summary), score, 0,
                       profile.engine_version, "", 1, "", 0)  # fmt: skip

    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        scans = _copy(raw, "scans_scan", SCAN_COLUMNS, scan_rows())
        t2 = time.perf_counter()
        print(f"{scans} scans tracked and copied in {t2 - t1:.1f}s")
        findings = sorted((f for t in trackers.values() for f in t.findings.values()), key=lambda f: f["order"])
        for i, f in enumerate(findings, 1):
            f["id"] = i
        counts = {
            "findings": _copy(raw, "scans_finding", FINDING_COLUMNS, (
                (f["id"], f["host_id"], f["check_id"], f["section"], f["object_kind"], f["object_key"], f["detail"],
                 f["status"], f["object_name"], f["state"], f["first_seen"], f["last_seen"], f["opened"], f["fixed"],
                 f["reopened"]) for f in findings)),
            "sightings": _copy(raw, "scans_sighting", SIGHTING_COLUMNS, (
                (i, s["finding"]["host_id"], s["finding"]["id"], s["since"], s["until"], s["seq"], s["check_id"],
                 s["section"], s["status"], s["object_kind"], s["object_id"], s["object_name"], s["message"],
                 json.dumps(s["evidence"]))
                for i, s in enumerate(sorted((s for t in trackers.values() for s in t.sightings),
                                             key=lambda s: s["order"]), 1))),
            "episodes": _copy(raw, "scans_episode", EPISODE_COLUMNS, (
                (i, e["finding"]["id"], e["finding"]["host_id"], e["section"], e["opened_scan"], e["opened"],
                 e["fixed_scan"], e["fixed"])
                for i, e in enumerate(sorted((e for t in trackers.values() for e in t.episodes),
                                             key=lambda e: e["order"]), 1))),
        }  # fmt: skip
    t3 = time.perf_counter()
    print(f"{', '.join(f'{n:,} {what}' for what, n in counts.items())} copied in {t3 - t2:.1f}s")

    # Each host's latest scans get their diff rows, the latest its raw snapshot; hosts point at the latest.
    latest: dict[int, list[Scan]] = defaultdict(list)
    for scan in Scan.objects.raw(
        "SELECT id, host_id FROM (SELECT id, host_id, row_number() OVER (PARTITION BY host_id ORDER BY created DESC)"
        " AS n FROM scans_scan WHERE status <> 'failed') s WHERE n <= %s ORDER BY host_id, id",
        [args.diff_scans],
    ):
        latest[scan.host_id].append(scan)
    diffs = 0
    with transaction.atomic():
        for host_id, host_scans in latest.items():
            profile = host_profile[host_id]
            for scan in host_scans:  # oldest first, so drift compares with the previous one
                diffs += len(DiffSnapshot.objects.bulk_create(_diff_rows(scan, profile.snapshot), batch_size=2000))
            ScanSnapshot.pack(host_scans[-1], profile.snapshot.to_json()).save(force_insert=True)
        LatestScan.objects.bulk_create(LatestScan(host_id=h, scan=s[-1]) for h, s in latest.items())
        seed_waivers(hosts, tags, rng)
    t4 = time.perf_counter()
    print(f"{diffs} diff snapshots, {len(latest)} raw snapshots, waivers in {t4 - t3:.1f}s")
    # The fleet's daily totals, as migration 0005 backfills them and beat keeps them (scans.rollups).
    with transaction.atomic():
        days = rollups.rollup(Scan, FleetDay, [(first_night + timedelta(days=d)).date() for d in range(args.days)])
    print(f"{days} fleet days rolled up in {time.perf_counter() - t4:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - t0:.1f}s")
    return Seeded(host_profile, nights, trackers, news_of)


def seed_waivers(hosts: list, tags: list, rng: random.Random) -> None:
    """A handful of waivers of each scope, applied as saving one in the UI does (scans.waivers)."""
    from scans import waivers
    from scans.models import Finding, Waiver

    expires = waivers.today() + timedelta(days=90)
    common = Finding.objects.filter(state="open").values_list("check_id", flat=True).distinct().order_by("check_id")
    checks = list(common)[:8]
    if not checks:
        return
    some = rng.sample(hosts, k=min(len(hosts), 4))
    scoped = [
        {"check_id": checks[0]},
        {"check_id": checks[1 % len(checks)], "tag": tags[0]},
        {"check_id": checks[2 % len(checks)], "tag": tags[3]},
        *({"check_id": checks[(3 + i) % len(checks)], "host": host} for i, host in enumerate(some)),
    ]
    for i, scope in enumerate(scoped):
        Waiver.objects.create(**scope, reason="accepted for the bench fleet", owner=f"team-{i % 3}", expires=expires)
    waivers.apply_waivers()


def verify(seeded: Seeded, sample: int, rng: random.Random) -> bool:
    """Replay ``sample`` hosts' nights through the real tracking.track and compare with what was seeded.

    In one transaction that is rolled back: the seeded rows of those hosts are read, deleted, rebuilt scan by
    scan by tracking.track, read again and compared (findings by identity; sightings and episodes by their
    finding's identity, without ids), and each scan's news with the seeded summary's.
    """
    from django.db import connection, transaction

    from scans import tracking
    from scans.models import Episode, Finding, Scan, Sighting
    from scans.services import TRACKED

    by_profile: dict[str, list[int]] = defaultdict(list)
    for host_id, profile in seeded.host_profile.items():
        by_profile[profile.name].append(host_id)
    hosts = [rng.choice(ids) for ids in by_profile.values()]
    hosts = (hosts + rng.sample(list(seeded.host_profile), k=max(0, sample - len(hosts))))[:sample]

    def state(host_id: int) -> tuple:
        ident = {
            f.pk: (f.check_id, f.object_kind, f.object_key, f.detail) for f in Finding.objects.filter(host_id=host_id)
        }
        findings = sorted(
            (ident[f.pk], f.section, f.status, f.object_name, f.state, f.first_seen, f.last_seen, f.opened, f.fixed,
             f.reopened) for f in Finding.objects.filter(host_id=host_id)
        )  # fmt: skip
        sightings = sorted(
            (ident[s.finding_id], s.since, s.until, s.seq, s.check_id, s.section, s.status, s.object_kind, s.object_id,
             s.object_name, s.message, json.dumps(s.evidence, sort_keys=True))
            for s in Sighting.objects.filter(host_id=host_id)
        )  # fmt: skip
        episodes = sorted(
            (ident[e.finding_id], e.section, e.opened_scan, e.opened, e.fixed_scan, e.fixed)
            for e in Episode.objects.filter(host_id=host_id)
        )
        return findings, sightings, episodes

    ok = True
    t0 = time.perf_counter()
    with transaction.atomic():
        for host_id in hosts:
            news_seeded = {
                pk: summary.get("news")
                for pk, summary in Scan.objects.filter(host_id=host_id)
                .exclude(status="failed")
                .values_list("pk", "summary")
            }
            before = state(host_id)
            with connection.cursor() as cursor:
                for table in ("scans_sighting", "scans_episode"):
                    cursor.execute(f"DELETE FROM {table} WHERE host_id = %s", [host_id])  # noqa: S608
                cursor.execute("UPDATE scans_finding SET waiver_id = NULL WHERE host_id = %s", [host_id])
                cursor.execute("DELETE FROM scans_finding WHERE host_id = %s", [host_id])
            news_replayed = {}
            for i, (scan_id, when, rows) in enumerate(seeded.nights[host_id]):
                news = tracking.track(TRACKED, host_id=host_id, scan_id=scan_id, when=when, rows=rows, first=i == 0)
                news_replayed[scan_id] = news.as_summary()
            after = state(host_id)
            same = [a == b for a, b in zip(before, after, strict=True)] + [news_seeded == news_replayed]
            counts = ", ".join(
                f"{len(x)} {what}" for x, what in zip(before, ("findings", "sightings", "episodes"), strict=True)
            )
            print(
                f"verify host #{host_id} ({seeded.host_profile[host_id].name}, {len(seeded.nights[host_id])} scans,"
                f" {counts}): findings {_ok(same[0])}, sightings {_ok(same[1])}, episodes {_ok(same[2])},"
                f" news {_ok(same[3])}"
            )
            if not all(same):
                ok = False
                for what, a, b in zip(("findings", "sightings", "episodes"), before, after, strict=True):
                    for row in sorted(set(a) ^ set(b))[:5]:
                        print(f"  {what} {'seeded only' if row in a else 'replay only'}: {row}")
        transaction.set_rollback(True)
    print(f"equivalence with tracking.track on {len(hosts)} hosts: {_ok(ok)} ({time.perf_counter() - t0:.1f}s)")
    return ok


def _ok(flag: bool) -> str:
    return "same" if flag else "DIFFERENT"


def report_sizes() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        sizes = {}
        for table in TABLES:
            cursor.execute(f"SELECT pg_total_relation_size(%s), count(*) FROM {table}", [table])  # noqa: S608
            sizes[table] = cursor.fetchone()
        cursor.execute("SELECT count(DISTINCT scan_id) FROM scans_diffsnapshot")
        (with_diffs,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM scans_scan WHERE status <> 'failed'")
        (tracked,) = cursor.fetchone()
        cursor.execute("SELECT pg_database_size(current_database())")
        (database,) = cursor.fetchone()
    scans = sizes["scans_scan"][1] or 1
    print("\ntable                  rows        total size (with indexes and TOAST)")
    for table, (size, count) in sizes.items():
        print(f"{table:<22} {count:>10,}  {size / 2**20:>9.1f} MiB")
    print(f"database               {'':>10}  {database / 2**20:>9.1f} MiB")
    scan_row = sizes["scans_scan"][0] / scans
    history = sum(sizes[t][0] for t in ("scans_finding", "scans_sighting", "scans_episode"))
    per_history = history / scans
    per_diff = sizes["scans_diffsnapshot"][0] / max(with_diffs, 1)
    per_raw = sizes["scans_scansnapshot"][0] / max(sizes["scans_scansnapshot"][1], 1)
    print(f"\nper scan ({scans:,} scans, {tracked:,} with results), before -> after:")
    print(f"  Scan row (summary included)       {BEFORE_SCAN_ROW / 1024:6.2f} KiB -> {scan_row / 1024:.2f} KiB")
    print(
        f"  results / findings history        {BEFORE_RESULTS_PER_SCAN / 1024:6.1f} KiB -> {per_history / 1024:.2f} KiB"
        f" (Finding + Sighting + Episode, {history / 2**20:.1f} MiB for every scan's history)"
    )
    print(f"  (before, that figure included the diff rows; a scan's DiffSnapshot rows: {per_diff / 1024:.1f} KiB,")
    print(f"   measured on {with_diffs} scans; a raw snapshot {per_raw / 1024:.1f} KiB compressed)")
    print(f"database size / scans: {database / scans / 1024:.2f} KiB")
    year = database
    print(
        f"a year of this fleet with every finding's history: {year / 2**30:.2f} GiB (goal <= 1 GiB:"
        f" {'met' if year <= GOAL_YEAR else 'NOT met'}); before: about {BEFORE_YEAR / 2**30:.1f} GiB"
    )
    from django.conf import settings

    hosts = sizes["hosts_host"][1] or 1
    retention = settings.DOCKERBENCH_SNAPSHOT_RETENTION_DAYS
    # prune_snapshots keeps the raw snapshot and the diffs of the last `retention` days (and each host's latest).
    diffs_kept = max(hosts * retention - with_diffs, 0) * per_diff
    raw_kept = max(hosts * retention * per_raw - sizes["scans_scansnapshot"][0], 0)
    print(
        f"in production, on top, for the last {retention} days (DOCKERBENCH_SNAPSHOT_RETENTION_DAYS): DiffSnapshot rows"
        f" + {diffs_kept / 2**30:.2f} GiB, raw snapshots + {raw_kept / 2**30:.2f} GiB:"
        f" {(year + diffs_kept + raw_kept) / 2**30:.2f} GiB in all"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--diff-scans", "--results-scans", type=int, default=2, help="latest scans per host with DiffSnapshot rows"
    )
    parser.add_argument("--verify", type=int, default=3, help="hosts replayed through tracking.track (0: none)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes-only", action="store_true", help="only report the sizes of what is there")
    args = parser.parse_args()
    if not urlsplit(args.database_url).scheme.startswith("postg"):
        parser.error("the bench seeds PostgreSQL: --database-url postgres://...")
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    if args.sizes_only:
        report_sizes()
        return
    seeded = seed(args)
    report_sizes()  # before the replay, whose rolled-back rows leave dead tuples behind until VACUUM
    if args.verify:
        ok = verify(seeded, args.verify, random.Random(args.seed + 1))  # noqa: S311 - a sample, not security
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE scans_finding, scans_sighting, scans_episode")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
