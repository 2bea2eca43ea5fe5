"""How long a scan takes end to end through a real Celery worker, with 0, 50 and 200 running containers.

    sudo .venv/bin/python bench/scan_speed.py [--sizes 0,50,200] [--reps 5] [--socket URL] [--json FILE]

Everything it needs it makes, and removes at the end: a private dockerd (benchlib.BenchDaemon, in a network
namespace of its own) with the bench's busybox containers, a PostgreSQL database of its own
(dockerbench_scanspeed_<pid>, created, migrated and dropped), a queue of its own on Redis, and a Celery worker
subprocess started as docker-compose starts it (``celery -A config worker``, the prefork pool), reading that queue.
The private daemon is registered as a Host with facts ``local``: it runs on this machine.

Each run is one ``start_scan`` (the task is sent when it returns), then this process polls the Scan row until the
scan is finished, as a page would, only faster (every POLL_INTERVAL s). Per size there is one warm-up scan (not
counted; it also gives every container a previous diff, as on the second night), then ``--reps`` measured scans.

The phases come from what the scan records:

- queue: Scan.created -> Scan.started (the worker claimed it);
- collect, evaluate, store: Scan.progress["timings"], which run_scan and record_results leave on a finished scan
  (store: record_results up to its last write). Before they did, collect came from the snapshot's own
  ``timings["total"]`` in the stored raw snapshot, and evaluate and store from the moments this process saw the
  progress phase turn to "evaluating" and "storing" (poll resolution); that is still the fallback;
- rest: started -> finished minus collect, evaluate and store (claim, credentials, progress writes);
- seen: Scan.finished -> the moment the poll saw it (commit and poll latency).

Goal (issue 3): 200 containers end to end in under 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker
from benchlib import ROOT, CeleryWorker, bench_daemon, log, machine, median, populate, remove_ours

PG_PASSWORD = os.environ.get("DOCKERBENCH_PG_PASSWORD", "dockerbench-local-only")
DEFAULT_SERVER_URL = f"postgres://dockerbench:{PG_PASSWORD}@127.0.0.1:5432/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
POLL_INTERVAL = 0.005
SCAN_TIMEOUT = 120.0
WORKER_START_TIMEOUT = 60.0
GOAL_SECONDS = 3.0
PHASES = ("queue", "collect", "evaluate", "store", "rest", "seen")


def setup_django(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("DOCKERBENCH_ENCRYPTION_KEY", "P-b9vWccwYB14lgHE1Rkv10ukWcdgYpK15hxQUfKB6g=")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _maintenance(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def create_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_maintenance(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"created database {name}")


def drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_maintenance(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    log(f"dropped database {name}")


class Worker(CeleryWorker):
    """``celery -A config worker`` as docker-compose runs it, on the bench's queue, database and Redis."""

    def __init__(self, queue: str, database_url: str, redis_url: str, log_path: Path) -> None:
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        argv = ["-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "-Q", queue]
        argv += ["-n", f"scan-speed-{os.getpid()}@%h"]
        started = time.perf_counter()
        super().__init__(argv, env, log_path, timeout=WORKER_START_TIMEOUT)
        self.startup = time.perf_counter() - started
        log(f"worker ready in {self.startup:.1f} s (pid {self.proc.pid}, log {log_path})")


def one_scan(host) -> dict:
    """Queue a scan, poll its row until it is finished, and split its time into phases."""
    from scans.models import Scan
    from scans.services import start_scan

    t0 = time.time()
    scan = start_scan(host, trigger=Scan.Trigger.API)
    seen: dict[str, float] = {}
    deadline = time.monotonic() + SCAN_TIMEOUT
    while True:
        status, progress = Scan.objects.filter(pk=scan.pk).values_list("status", "progress").get()
        now = time.time()
        phase = (progress or {}).get("phase", "")
        seen.setdefault(phase, now)
        if status in Scan.FINISHED_STATUSES:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"scan {scan.pk} still {status} after {SCAN_TIMEOUT} s")
        time.sleep(POLL_INTERVAL)
    end_to_end = now - t0
    scan.refresh_from_db()
    if scan.status != Scan.Status.SUCCEEDED:
        raise SystemExit(f"scan {scan.pk} ended {scan.status}: {scan.error or scan.summary.get('failed_parts')}")
    snapshot = json.loads(scan.raw.unpack())
    assert scan.started and scan.finished  # noqa: S101 - a finished scan has both
    run = (scan.finished - scan.started).total_seconds()
    recorded = (scan.progress or {}).get("timings") or {}
    # run_scan's own figure (credentials and connection included) where it records one, else the engine's.
    collect = float(recorded.get("collect", snapshot["timings"]["total"]))
    if "evaluate" in recorded and "store" in recorded:
        evaluate, store = float(recorded["evaluate"]), float(recorded["store"])
    else:  # older services: what the poll saw
        finished = scan.finished.timestamp()
        evaluate = seen.get("storing", finished) - seen.get("evaluating", seen.get("storing", finished))
        store = finished - seen.get("storing", finished)
    finished_at = scan.finished.timestamp()
    return {
        "store_polled": finished_at - seen.get("storing", finished_at),  # the fallback's figure, to compare
        "end_to_end": end_to_end,
        "queue": (scan.started - scan.created).total_seconds(),
        "collect": collect,
        "evaluate": evaluate,
        "store": store,
        "rest": run - collect - evaluate - store,
        "seen": now - scan.finished.timestamp(),
        "run": run,
        "containers": len(snapshot.get("containers") or ()),
        "results": scan.reported().count(),
        "diffs": scan.diffs.count(),
        "snapshot_kb": scan.raw.size / 1024,
    }


def measure(host, size: int, reps: int) -> dict:
    warm = one_scan(host)
    if warm["containers"] < size:
        raise SystemExit(f"the scan saw {warm['containers']} containers, expected {size}")
    runs = [one_scan(host) for _ in range(reps)]
    row = {"containers": size, "warmup": warm["end_to_end"], "runs": runs}
    for key in ("end_to_end", "run", "store_polled", *PHASES):
        row[key] = median([r[key] for r in runs])
    row["max"] = max(r["end_to_end"] for r in runs)
    for key in ("results", "diffs", "snapshot_kb"):
        row[key] = runs[-1][key]
    return row


def print_table(rows: list[dict], reps: int, startup: float) -> None:
    print(f"\nmedian of {reps} scans after one warm-up; seconds; worker start-up {startup:.1f} s (not counted)")
    head = (
        f"{'ctrs':>5} {'end2end':>8} {'max':>6} {'queue':>6} {'collect':>8} {'evaluate':>9} {'store':>6} "
        f"{'rest':>6} {'seen':>6} {'warm-up':>8} {'results':>8} {'diffs':>6} {'raw KiB':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['containers']:>5} {r['end_to_end']:>8.3f} {r['max']:>6.3f} {r['queue']:>6.3f} {r['collect']:>8.3f} "
            f"{r['evaluate']:>9.3f} {r['store']:>6.3f} {r['rest']:>6.3f} {r['seen']:>6.3f} {r['warmup']:>8.3f} "
            f"{r['results']:>8} {r['diffs']:>6} {r['snapshot_kb']:>8.0f}"
        )
    for r in rows:
        if r["containers"] == 200:
            verdict = "met" if r["end_to_end"] < GOAL_SECONDS else "NOT met"
            print(f"goal: 200 containers end to end < {GOAL_SECONDS:.0f} s: {verdict} ({r['end_to_end']:.2f} s)")


def _delete_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        client.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", help="scan this running daemon instead of a private one (its containers count)")
    p.add_argument("--sizes", default="0,50,200", help="numbers of running containers (default 0,50,200)")
    p.add_argument("--reps", type=int, default=5, help="measured scans per size; the median is reported (default 5)")
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server (a database is made there)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"Redis for the queue (default {DEFAULT_REDIS_URL})")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    database_url = urlunsplit(urlsplit(args.server_url)._replace(path=f"/dockerbench_scanspeed_{os.getpid()}"))
    # A queue of its own on a Redis database the tests (15) do not use; only its own keys are deleted.
    queue = f"dockerbench-scanspeed-{uuid.uuid4().hex[:8]}"
    started = dt.datetime.now(dt.UTC)
    rows: list[dict] = []
    worker: Worker | None = None
    create_database(database_url)
    try:
        setup_django(database_url, args.redis_url)
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        from config.celery import app
        from hosts.services import create_host

        call_command("migrate", interactive=False, verbosity=0)
        app.conf.task_default_queue = queue
        settings.DOCKERBENCH_INTERACTIVE_QUEUE = queue  # the scans it starts (trigger USER) go to the bench's queue
        with bench_daemon(args.socket, ROOT / ".bench") as url:
            client = docker.APIClient(base_url=url, version="auto", timeout=120)
            try:
                host = create_host("scan-speed", url, facts_method="local")
                log_dir = ROOT / "var" / "log"
                log_dir.mkdir(parents=True, exist_ok=True)
                worker = Worker(queue, database_url, args.redis_url, log_dir / f"scan-speed-{os.getpid()}.log")
                for size in sizes:
                    populate(client, size)
                    log(f"scanning {size} containers (1 warm-up + {args.reps})")
                    rows.append(measure(host, size, args.reps))
                    log(f"  median {rows[-1]['end_to_end']:.3f} s end to end")
            finally:
                if worker is not None:
                    worker.stop()
                remove_ours(client)
                client.close()
        connections.close_all()
    finally:
        if worker is not None:
            worker.stop()
        _delete_queue(args.redis_url, queue)
        drop_database(database_url)
    print(f"dockerbench scan speed through Celery, {started:%Y-%m-%d %H:%M} UTC, {machine()}")
    print_table(rows, args.reps, worker.startup if worker else float("nan"))
    if args.json:
        doc = {"date": started.isoformat(), "machine": machine(), "rows": rows}
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
