"""A night over a fleet: one schedule over 1000 hosts through real Celery workers on Redis and PostgreSQL.

    sudo .venv/bin/python bench/fleet_night.py [--hosts 1000] [--daemons 4] [--containers 10]
        [--nights prefork:2,prefork:4,prefork:8] [--window-minutes 0] [--facts none] [--scan-now-every 10]

The fleet: --daemons private dockerd, each in a network namespace of its own joined to this machine by a veth and
listening on tcp://<its veth address>:2376 with mutual TLS (certificates made for the run), each running
--containers of the bench's busybox containers. --hosts hosts are registered round-robin over them, as the host
form registers a remote engine: its TLS address, CA, client certificate and key, facts --facts. All are tagged
"fleet", and one schedule targets the tag (the hosts' own nightly defaults are paused, so only it fires).

Each night is one of --nights, a pool and a concurrency: the workers are started as docker-compose starts them
(`worker`: -P pool -c N on the default, interactive and scheduled queues; `worker-interactive`: prefork -c 1 on the
interactive queue only), on queues of the run's own; then the schedule's task is sent as beat sends it at 02:00, a
worker runs it, and it queues every host's scan (spread over --window-minutes). While the night runs, every --scan-
now-every seconds a person presses "Scan now" (start_scan, trigger "user", as the host page does) on a host,
alternately one whose nightly scan is still waiting and one already scanned, and the bench measures how long until a
worker has started that scan. The first night is each host's first scan (every finding is new); the later ones are
ordinary nights.

Reported per night: hosts per minute, time from the schedule's message to the last scan finished, scans failed,
the database's growth (pg_database_size before and after), the workers' memory (the sum of each worker's process
group RSS, sampled through the night), and the "Scan now" waits. It also checks that no host was scanned twice at
once and that every host has exactly one finished scheduled scan for the night.

Everything it makes it removes: the daemons and namespaces, a PostgreSQL database (dockerbench_fleet_<pid>), the
Redis queues.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

from benchlib import ROOT, CeleryWorker, log, machine, populate
from scan_speed import (
    DEFAULT_REDIS_URL,
    DEFAULT_SERVER_URL,
    _delete_queue,
    create_database,
    drop_database,
    setup_django,
)

from dockerbench.tests.daemons import TEST_IMAGE, copy_image, netns_dockerd_running

WORKER_START_TIMEOUT = 60.0
NIGHT_TIMEOUT = 3600.0
SCAN_NOW_TIMEOUT = 60.0
GOAL_MINUTES = 15.0
GOAL_SCAN_NOW_SECONDS = 5.0

# A worker as compose runs it, but on the run's own queue names (settings the web process reads too).
WORKER_MAIN = """
import sys
from django.conf import settings
from config.celery import app
default, interactive, scheduled = sys.argv[1:4]
app.conf.task_default_queue = default
settings.DOCKERBENCH_INTERACTIVE_QUEUE, settings.DOCKERBENCH_SCHEDULED_QUEUE = interactive, scheduled
app.worker_main(sys.argv[4:])
"""


class Worker(CeleryWorker):
    """A worker on the run's queues, with the peak of its memory sampled through the night."""

    def __init__(self, name: str, queues: tuple[str, str, str], argv: list[str], env: dict[str, str]) -> None:
        log_path = ROOT / "var" / "log" / f"fleet-{name}-{os.getpid()}.log"
        worker = ["worker", "-n", f"{name}-{os.getpid()}@%h", "--loglevel=INFO", *argv]
        super().__init__(["-c", WORKER_MAIN, *queues, *worker], env, log_path, timeout=WORKER_START_TIMEOUT)
        self.peak_mb = 0.0

    def sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self.rss_mb())


def database_size() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def register_fleet(daemons: list, count: int, facts: str):
    """``count`` hosts over the daemons' TLS addresses, tagged "fleet", and one schedule over the tag."""
    from hosts.models import Tag
    from hosts.services import create_host
    from schedules.models import Schedule

    fleet = Tag.objects.create(name="fleet")
    pems = [
        {
            "tls_ca_cert": d.pki.ca.read_text(),
            "tls_client_cert": d.pki.client_cert.read_text(),
            "tls_client_key": d.pki.client_key.read_text(),
        }
        for d in daemons
    ]
    started = time.monotonic()
    for i in range(count):
        d = i % len(daemons)
        create_host(
            f"fleet-{i:04d}", daemons[d].tcp_url, tags=[fleet], facts_method=facts, probe_image=TEST_IMAGE, **pems[d]
        )
    Schedule.objects.filter(host__isnull=False).update(enabled=False)  # only the fleet's schedule fires
    log(f"registered {count} hosts in {time.monotonic() - started:.1f} s")
    return fleet


def scan_now(hosts: dict, night_started, waiting: bool) -> dict | None:
    """Press "Scan now" on a host whose nightly scan is waiting (``waiting``) or already done; time its start."""
    from scans.models import Scan
    from scans.services import start_scan

    night = Scan.objects.filter(trigger=Scan.Trigger.SCHEDULE, created__gte=night_started)
    if waiting:
        ids = list(night.filter(status=Scan.Status.QUEUED).values_list("host_id", flat=True)[:200])
    else:
        ids = list(night.filter(status__in=Scan.FINISHED_STATUSES).values_list("host_id", flat=True)[:200])
    if not ids:
        return None
    host = hosts[random.choice(ids)]  # noqa: S311 - not for security
    pressed = time.monotonic()
    scan = start_scan(host, trigger=Scan.Trigger.USER)
    deadline = pressed + SCAN_NOW_TIMEOUT
    while not Scan.objects.filter(pk=scan.pk, started__isnull=False).exists():
        if time.monotonic() > deadline:
            return {"wait": SCAN_NOW_TIMEOUT, "waiting": waiting, "started": False}
        time.sleep(0.02)
    return {"wait": time.monotonic() - pressed, "waiting": waiting, "started": True}


def overlapping_scans() -> int:
    """Pairs of scans of one host whose started..finished overlap: none may."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM scans_scan a JOIN scans_scan b ON a.host_id = b.host_id AND a.id < b.id"
            " WHERE a.started IS NOT NULL AND b.started IS NOT NULL"
            " AND a.started < coalesce(b.finished, now()) AND b.started < coalesce(a.finished, now())"
        )
        return int(cursor.fetchone()[0])


def night(
    hosts: list, schedule, pool: str, concurrency: int, queues: tuple[str, str, str], env: dict[str, str], every: float
) -> dict:
    from django.db.models import Count
    from django.utils import timezone

    from config.celery import app
    from scans.models import Scan
    from schedules.services import RUN_SCHEDULE_TASK

    default, interactive, scheduled = queues
    worker = Worker("worker", queues, [f"-Q{default},{interactive},{scheduled}", f"-P{pool}", f"-c{concurrency}"], env)
    reserved = Worker("interactive", queues, [f"-Q{interactive}", "-c1"], env)
    size_before = database_size()
    try:
        started_at = timezone.now()
        t0 = time.monotonic()
        app.send_task(RUN_SCHEDULE_TASK, args=[schedule.pk], queue=default)
        waits: list[dict] = []
        presses = 0
        by_id = {h.pk: h for h in hosts}
        next_press = t0 + every
        deadline = t0 + NIGHT_TIMEOUT
        tonight = Scan.objects.filter(trigger=Scan.Trigger.SCHEDULE, created__gte=started_at)
        while True:
            worker.sample()
            reserved.sample()
            done = tonight.filter(status__in=Scan.FINISHED_STATUSES).count()
            if done >= len(hosts) and not Scan.objects.filter(status__in=Scan.ACTIVE_STATUSES).exists():
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{pool} -c{concurrency}: {done} of {len(hosts)} scans finished after {NIGHT_TIMEOUT:.0f} s"
                )
            if every and time.monotonic() >= next_press:
                presses += 1
                wait = scan_now(by_id, started_at, waiting=presses % 2 == 1)
                if wait is not None:
                    waits.append(wait)
                next_press = time.monotonic() + every
            time.sleep(0.25)
        last = tonight.order_by("-finished").values_list("finished", flat=True).first()
        elapsed = (last - started_at).total_seconds() if last else time.monotonic() - t0
    finally:
        worker.stop()
        reserved.stop()
    statuses = dict(tonight.values_list("status").annotate(n=Count("pk")))
    per_host = tonight.values("host_id").annotate(n=Count("pk"))
    errors = Counter(
        f"{status}: {error or (summary or {}).get('missing', {})}"
        for status, error, summary in tonight.exclude(status=Scan.Status.SUCCEEDED).values_list(
            "status", "error", "summary"
        )
    )
    grown = database_size() - size_before
    collect = sorted(
        float((s or {}).get("timings", {}).get("collect", 0)) for s in tonight.values_list("progress", flat=True)
    )
    # How long each scan waited for a worker after it was due (its place in the window, or the schedule's start).
    pairs = tonight.filter(started__isnull=False, sent_at__isnull=False).values_list("started", "sent_at")
    late = sorted(max(0.0, (started - due).total_seconds()) for started, due in pairs if started and due)
    return {
        "late": (late[len(late) // 2], late[-1]) if late else (0.0, 0.0),
        "pool": f"{pool} -c{concurrency}",
        "hosts": len(hosts),
        "seconds": elapsed,
        "per_minute": len(hosts) / elapsed * 60,
        "succeeded": statuses.get(Scan.Status.SUCCEEDED, 0),
        "failed": sum(n for s, n in statuses.items() if s != Scan.Status.SUCCEEDED),
        "hosts_not_once": sum(1 for row in per_host if row["n"] != 1) + (len(hosts) - len(per_host)),
        "overlapping": overlapping_scans(),
        "grown_mb": grown / 2**20,
        "per_scan_kb": grown / 1024 / max(1, len(hosts)),
        "worker_mb": worker.peak_mb,
        "interactive_mb": reserved.peak_mb,
        "collect_p50": collect[len(collect) // 2] if collect else 0.0,
        "waits": waits,
        "errors": errors.most_common(3),
    }


def print_rows(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"dockerbench fleet night: {args.hosts} hosts on {args.daemons} dockerd over mutual TLS ({args.containers}"
        f" containers each), facts {args.facts}, window {args.window_minutes} min, {machine()}"
    )
    head = f"{'night':<8} {'pool':>12} {'minutes':>8} {'hosts/min':>10} {'ok':>5} {'failed':>6} {'collect p50':>11}"
    head += f" {'DB +MB':>7} {'KiB/scan':>8} {'worker MB':>9} {'inter. MB':>9} {'scan-now p50/max (n)':>21}"
    print(head)
    for i, r in enumerate(rows):
        waits = [w["wait"] for w in r["waits"]]
        now = f"{statistics.median(waits):.2f}/{max(waits):.2f} s ({len(waits)})" if waits else "-"
        print(
            f"{'first' if i == 0 else 'next':<8} {r['pool']:>12} {r['seconds'] / 60:>8.2f} {r['per_minute']:>10.1f}"
            f" {r['succeeded']:>5} {r['failed']:>6} {r['collect_p50']:>10.2f}s {r['grown_mb']:>7.1f}"
            f" {r['per_scan_kb']:>8.1f} {r['worker_mb']:>9.0f} {r['interactive_mb']:>9.0f} {now:>21}"
        )
    for r in rows:
        print(
            f"{r['pool']}: a scan started {r['late'][0]:.2f} s after it was due (median), {r['late'][1]:.2f} s at most"
        )
        for error, n in r["errors"]:
            print(f"{r['pool']}: {n} scans not succeeded: {error[:200]}")
        if r["hosts_not_once"] or r["overlapping"]:
            print(f"{r['pool']}: {r['hosts_not_once']} hosts not scanned exactly once, {r['overlapping']} overlaps")
    for r in rows:
        verdict = "met" if r["seconds"] / 60 < GOAL_MINUTES else "NOT met"
        print(
            f"goal: {args.hosts} hosts < {GOAL_MINUTES:.0f} min, {r['pool']}: {verdict} ({r['seconds'] / 60:.1f} min)"
        )
    waits = [w["wait"] for r in rows for w in r["waits"]]
    if waits:
        worst = max(waits)
        verdict = "met" if worst < GOAL_SCAN_NOW_SECONDS else "NOT met"
        print(f"goal: every Scan now started within {GOAL_SCAN_NOW_SECONDS:.0f} s: {verdict} (worst {worst:.2f} s)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=1000, help="hosts registered (default 1000)")
    p.add_argument("--daemons", type=int, default=4, help="private dockerd the hosts are spread over (default 4)")
    p.add_argument("--containers", type=int, default=10, help="busybox containers running on each (default 10)")
    p.add_argument("--nights", default="prefork:2,prefork:4,prefork:8", help="pool:concurrency of each night")
    p.add_argument("--window-minutes", type=int, default=0, help="the schedule's window (default 0: all at once)")
    p.add_argument("--facts", default="none", choices=("none", "probe"), help="the hosts' facts method")
    p.add_argument("--scan-now-every", type=float, default=10.0, help="seconds between two Scan now (0: none)")
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server (a database is made there)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"Redis for the queues (default {DEFAULT_REDIS_URL})")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the private daemons need root")
    nights = [(pool, int(c)) for pool, c in (item.split(":") for item in args.nights.split(","))]
    database_url = urlunsplit(urlsplit(args.server_url)._replace(path=f"/dockerbench_fleet_{os.getpid()}"))
    base = f"dockerbench-fleet-{uuid.uuid4().hex[:8]}"
    queues = (base, f"{base}.interactive", f"{base}.scheduled")
    rows: list[dict] = []
    create_database(database_url)
    try:
        with contextlib.ExitStack() as stack:
            daemons = [stack.enter_context(netns_dockerd_running(tls=True)) for _ in range(args.daemons)]
            for d in daemons:
                copy_image(d)
                client = d.client(timeout=120)
                populate(client, args.containers, network_mode="none")
                client.close()
            log(f"{args.daemons} daemons up: {', '.join(str(d.tcp_url) for d in daemons)}")
            setup_django(database_url, args.redis_url)  # also sets the environment the workers get
            env = dict(os.environ)
            from django.conf import settings
            from django.core.management import call_command
            from django.db import connections

            from config.celery import app
            from hosts.models import Host
            from schedules.models import Schedule
            from schedules.services import save_schedule

            call_command("migrate", interactive=False, verbosity=0)
            app.conf.task_default_queue = queues[0]
            settings.DOCKERBENCH_INTERACTIVE_QUEUE, settings.DOCKERBENCH_SCHEDULED_QUEUE = queues[1:]
            fleet = register_fleet(daemons, args.hosts, args.facts)
            schedule = save_schedule(Schedule(name="fleet nightly", tag=fleet, window_minutes=args.window_minutes))
            hosts = list(Host.objects.filter(tags=fleet))
            for pool, c in nights:
                log(f"night on {pool} -c{c}: {len(hosts)} hosts")
                rows.append(night(hosts, schedule, pool, c, queues, env, args.scan_now_every))
                r = rows[-1]
                log(f"  {r['seconds'] / 60:.2f} min, {r['per_minute']:.0f} hosts/min, {r['failed']} failed")
            connections.close_all()
    finally:
        for queue in queues:
            _delete_queue(args.redis_url, queue)
        drop_database(database_url)
    print_rows(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
