"""Hosts scanned per minute by one Celery worker, prefork against threads, when the engines are far away.

    .venv/bin/python bench/worker_pool.py [--hosts 32] [--delay-ms 100] [--pools prefork:4,threads:4,...]

Scans are I/O-bound: a scan spends its time waiting for the remote daemon's answers. To measure that without a
fleet, every host is the local dockerd behind a unix-socket proxy that holds each request --delay-ms before passing
it on (a round trip to a daemon across a WAN; connections are delayed in parallel, as on a network). The hosts
are registered with facts "none", so each scan is the Docker API alone; the engine runs --containers of the bench's
busybox containers.

For each pool (``-P prefork|threads``, ``-c N``) a worker is started as docker-compose starts it, on a queue of
its own; all --hosts scans are queued at once (trigger API, the interactive queue), and the time until the last is
finished gives hosts per minute. The worker's memory is the sum of its processes' RSS, read while it is busy.

Everything it makes it removes: a PostgreSQL database (dockerbench_workerpool_<pid>), the Redis queue, the proxy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker
from benchlib import HOST_SOCKET, ROOT, CeleryWorker, log, machine, populate, remove_ours
from scan_speed import (
    DEFAULT_REDIS_URL,
    DEFAULT_SERVER_URL,
    _delete_queue,
    create_database,
    drop_database,
    setup_django,
)

from dockerbench.tests.daemons import DockerSocketProxy

WORKER_START_TIMEOUT = 60.0
RUN_TIMEOUT = 900.0


class LatencyProxy(DockerSocketProxy):
    """A unix socket in front of dockerd that holds every chunk a client sends for ``delay`` seconds."""

    def __init__(self, path: Path, delay: float, upstream: str = HOST_SOCKET.removeprefix("unix://")) -> None:
        super().__init__(path, upstream, lambda: time.sleep(delay))


def start_worker(pool: str, concurrency: int, queue: str, database_url: str, redis_url: str, log_path: Path):
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    argv = ["-m", "celery", "-A", "config", "worker", "--loglevel=INFO", f"-P{pool}", f"-c{concurrency}"]
    argv += ["-Q", queue, "-n", f"worker-pool-{os.getpid()}@%h", "--without-gossip"]
    return CeleryWorker(argv, env, log_path, timeout=WORKER_START_TIMEOUT)


def run(hosts: list, pool: str, concurrency: int, queue: str, database_url: str, redis_url: str) -> dict:
    from scans.models import Scan
    from scans.services import start_scan

    log_path = ROOT / "var" / "log" / f"worker-pool-{pool}-{concurrency}-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    worker = start_worker(pool, concurrency, queue, database_url, redis_url, log_path)
    try:
        t0 = time.monotonic()
        ids = [start_scan(host, trigger=Scan.Trigger.API).pk for host in hosts]
        rss = 0.0
        deadline = t0 + RUN_TIMEOUT
        while True:
            statuses = list(Scan.objects.filter(pk__in=ids).values_list("status", flat=True))
            if all(s in Scan.FINISHED_STATUSES for s in statuses):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{pool}:{concurrency}: scans still running after {RUN_TIMEOUT:.0f} s; {log_path}")
            rss = max(rss, worker.rss_mb())
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        scans = Scan.objects.filter(pk__in=ids)
        failed = scans.exclude(status=Scan.Status.SUCCEEDED).count()
        collect = sorted(float((s.progress or {}).get("timings", {}).get("collect", 0)) for s in scans)
    finally:
        worker.stop()
    return {
        "pool": f"{pool} -c{concurrency}",
        "hosts": len(hosts),
        "seconds": elapsed,
        "per_minute": len(hosts) / elapsed * 60,
        "collect_median": collect[len(collect) // 2] if collect else 0.0,
        "rss_mb": rss,
        "failed": failed,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=32, help="hosts scanned per pool (default 32)")
    p.add_argument("--delay-ms", type=float, default=100.0, help="added to each request to the engine (default 100)")
    p.add_argument("--containers", type=int, default=10, help="bench containers running on the engine (default 10)")
    p.add_argument("--pools", default="prefork:4,threads:4,prefork:16,threads:16", help="pool:concurrency, ...")
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server (a database is made there)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"Redis for the queue (default {DEFAULT_REDIS_URL})")
    args = p.parse_args()
    pools = [(name, int(c)) for name, c in (item.split(":") for item in args.pools.split(","))]
    database_url = urlunsplit(urlsplit(args.server_url)._replace(path=f"/dockerbench_workerpool_{os.getpid()}"))
    queue = f"dockerbench-workerpool-{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="dockerbench-latency-"))
    proxy = LatencyProxy(folder / "docker.sock", args.delay_ms / 1000)
    rows = []
    engine = docker.APIClient(base_url=HOST_SOCKET, version="auto", timeout=120)
    populate(engine, args.containers)
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
        settings.DOCKERBENCH_INTERACTIVE_QUEUE = queue
        hosts = [create_host(f"far-{i}", f"unix://{proxy.path}", facts_method="none") for i in range(args.hosts)]
        for pool, concurrency in pools:
            log(f"{pool} -c{concurrency}: {args.hosts} hosts, {args.delay_ms:g} ms per request")
            rows.append(run(hosts, pool, concurrency, queue, database_url, args.redis_url))
            log(f"  {rows[-1]['per_minute']:.1f} hosts/min")
        connections.close_all()
    finally:
        proxy.close()
        remove_ours(engine)
        engine.close()
        shutil.rmtree(folder, ignore_errors=True)
        _delete_queue(args.redis_url, queue)
        drop_database(database_url)
    print(
        f"dockerbench worker pools, {args.hosts} hosts of {args.containers} containers, +{args.delay_ms:g} ms per"
        f" engine request, {machine()}"
    )
    print(f"{'pool':<14} {'seconds':>8} {'hosts/min':>10} {'collect p50':>12} {'RSS MB':>8} {'failed':>7}")
    for r in rows:
        print(
            f"{r['pool']:<14} {r['seconds']:>8.1f} {r['per_minute']:>10.1f} {r['collect_median']:>11.2f}s"
            f" {r['rss_mb']:>8.0f} {r['failed']:>7}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
