"""How fast dockerbench audits a host with 0, 50 and 200 running containers, against the floor.

The floor is the time to fetch the same API objects with bare docker SDK calls, one after the
other, in the same run: info, version, the container list and each container's inspect, top and
diff, the image list and each image's inspect and history, the networks. Next to it: dockerbench's
API collection (connect + collect_api), the whole collect_snapshot with --facts local, the
evaluation of every check on that snapshot, and the peak memory of collect + evaluate.

    sudo .venv/bin/python bench/audit_speed.py                 # a private dockerd, made and removed here
    sudo .venv/bin/python bench/audit_speed.py --socket unix:///var/run/docker.sock --sizes 0,50

Goals (issue 2): collection within 1.5x of the floor, evaluation under 50 ms at 200 containers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from benchlib import ROOT, bench_daemon, log, machine, median, populate, remove_ours, timed

from dockerbench.collect import CollectOptions, collect_snapshot
from dockerbench.collect.docker_api import DEFAULT_WORKERS, ApiParts, Target, collect_api, connect
from dockerbench.results import Status
from dockerbench.runner import evaluate


def floor_sequential(url: str, split: dict[str, float] | None = None) -> int:
    """The same API objects as dockerbench fetches, with bare SDK calls in sequence. Returns the call count.

    ``split`` (if given) receives the seconds spent per kind of call.
    """
    split = {} if split is None else split
    client = docker.APIClient(base_url=url, version="auto", timeout=30)
    calls = 0

    def call(kind: str, fn, *args, **kw):
        nonlocal calls
        calls += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            split[kind] = split.get(kind, 0.0) + time.perf_counter() - start

    try:
        call("info+version", client.info)
        call("info+version", client.version)
        for row in call("lists", client.containers, all=True):
            if call("inspect", client.inspect_container, row["Id"])["State"]["Running"]:
                call("top", client.top, row["Id"])
            call("diff", client.diff, row["Id"])
        for row in call("lists", client.images):
            call("images", client.inspect_image, row["Id"])
            call("images", client.history, row["Id"])
        call("lists", client.networks)
    finally:
        client.close()
    return calls


def floor_parallel(url: str, workers: int = DEFAULT_WORKERS) -> int:
    """The same calls on a pool as large as dockerbench's: what concurrency alone buys."""
    client = docker.APIClient(base_url=url, version="auto", timeout=30)

    def container(cid: str) -> None:
        if client.inspect_container(cid)["State"]["Running"]:
            client.top(cid)
        client.diff(cid)

    def image(iid: str) -> None:
        client.inspect_image(iid)
        client.history(iid)

    try:
        client.info()
        client.version()
        with ThreadPoolExecutor(workers) as pool:
            lists = [pool.submit(client.containers, all=True), pool.submit(client.images), pool.submit(client.networks)]
            rows, images, _ = (f.result() for f in lists)
            futs = [pool.submit(container, r["Id"]) for r in rows] + [pool.submit(image, r["Id"]) for r in images]
            for f in futs:
                f.result()
    finally:
        client.close()
    return 0


def dockerbench_api(url: str) -> ApiParts:
    client = connect(Target(url=url))
    try:
        return collect_api(client)
    finally:
        client.close()


def dockerbench_snapshot(url: str):
    return collect_snapshot(Target(url=url), CollectOptions(facts="local"))


def memory_probe(url: str) -> dict[str, float]:
    """Peak memory of one collect_snapshot + evaluate, in this (fresh) process."""
    tracemalloc.start()
    snapshot = dockerbench_snapshot(url)
    results = evaluate(snapshot)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "tracemalloc_peak_mb": peak / 2**20,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "results": len(results),
    }


def measure(url: str, size: int, reps: int) -> dict[str, object]:
    # One untimed pass first: the daemon's caches (layer diffs, image store) warm up on the first look.
    floor_sequential(url)
    dockerbench_snapshot(url)
    rows: dict[str, list[float]] = {"floor": [], "floor_par": [], "api": [], "snapshot": [], "facts": []}
    calls = 0
    snapshot: Any = None
    split: dict[str, float] = {}
    for _ in range(reps):
        t, calls = timed(lambda: floor_sequential(url, split))
        rows["floor"].append(t)
        t, _ = timed(lambda: floor_parallel(url))
        rows["floor_par"].append(t)
        t, parts = timed(lambda: dockerbench_api(url))
        rows["api"].append(t)
        if parts.missing.get("containers") or parts.missing.get("images"):
            raise SystemExit(f"collect_api missed parts: {parts.missing}")
        t, snapshot = timed(lambda: dockerbench_snapshot(url))
        rows["snapshot"].append(t)
        rows["facts"].append(snapshot.timings.get("facts", float("nan")))
    assert snapshot is not None  # noqa: S101 - reps >= 1
    if len(snapshot.containers or ()) < size:
        raise SystemExit(f"the snapshot has {len(snapshot.containers or ())} containers, expected {size}")
    eval_times = []
    results: list = []
    for _ in range(max(reps, 10)):
        t, results = timed(lambda: evaluate(snapshot))
        eval_times.append(t)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    probe = subprocess.run(
        [sys.executable, __file__, "--memory-probe", "--socket", url],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    memory = json.loads(probe.stdout)
    return {
        "containers": size,
        "api_calls": calls,
        **{k: median(v) for k, v in rows.items()},
        "evaluate_ms": median(eval_times) * 1000,
        "results": len(results),
        "errors": statuses.get(Status.ERROR.value, 0),
        "skips": statuses.get(Status.SKIP.value, 0),
        "missing": sorted(snapshot.missing),
        "floor_split": {k: v / reps for k, v in split.items()},
        "timings": dict(snapshot.timings),
        **memory,
    }


def print_table(rows: list[dict], reps: int) -> None:
    head = (
        f"{'containers':>10} {'calls':>6} {'floor s':>8} {'floor8 s':>8} {'api s':>7} {'api/fl':>6} "
        f"{'snap s':>7} {'snap/fl':>7} {'facts s':>7} {'eval ms':>8} {'trace MB':>8} {'rss MB':>7}"
    )
    print(f"\nmedian of {reps} runs; floor = bare SDK calls in sequence; floor8: on {DEFAULT_WORKERS} threads")
    print("api = connect + collect_api; snap = collect_snapshot(--facts local); eval = runner.evaluate(snapshot)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['containers']:>10} {r['api_calls']:>6} {r['floor']:>8.3f} {r['floor_par']:>8.3f} {r['api']:>7.3f} "
            f"{r['api'] / r['floor']:>5.2f}x {r['snapshot']:>7.3f} {r['snapshot'] / r['floor']:>6.2f}x "
            f"{r['facts']:>7.3f} {r['evaluate_ms']:>8.1f} {r['tracemalloc_peak_mb']:>8.1f} {r['maxrss_mb']:>7.1f}"
        )
    print("where the floor goes (mean seconds per kind of call):")
    for r in rows:
        print(f"  {r['containers']:>4} containers: " + ", ".join(f"{k} {v:.3f}" for k, v in r["floor_split"].items()))
    print("dockerbench's own timings of the last collect_snapshot (seconds; parts overlap on the thread pool):")
    for r in rows:
        print(f"  {r['containers']:>4} containers: " + ", ".join(f"{k} {v:.3f}" for k, v in r["timings"].items()))
    for r in rows:
        print(
            f"  {r['containers']} containers: {r['results']} results ({r['errors']} ERROR, {r['skips']} SKIP); "
            f"not collected: {', '.join(r['missing']) or 'nothing'}"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", help="measure this running daemon instead of a private one (its containers count)")
    p.add_argument("--sizes", default="0,50,200", help="numbers of running containers (default 0,50,200)")
    p.add_argument("--reps", type=int, default=5, help="repetitions per size; the median is reported (default 5)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(args.socket)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    started = dt.datetime.now(dt.UTC)
    with bench_daemon(args.socket, ROOT / ".bench") as url:
        client = docker.APIClient(base_url=url, version="auto", timeout=120)
        try:
            for size in sizes:
                populate(client, size)
                log(f"measuring {size} containers ({args.reps} runs)")
                t0 = time.perf_counter()
                rows.append(measure(url, size, args.reps))
                log(f"  done in {time.perf_counter() - t0:.0f} s")
        finally:
            remove_ours(client)
            client.close()
    print(f"dockerbench audit speed, {started:%Y-%m-%d %H:%M} UTC, {machine()}")
    print_table(rows, args.reps)
    if args.json:
        Path(args.json).write_text(json.dumps({"date": started.isoformat(), "machine": machine(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
