"""dockerbench against docker-bench-security on the same host, in the same run: time and verdicts.

For 0, 50 and 200 running containers, runs docker-bench-security (its full benchmark, or the
checks given with --checks) and `python -m dockerbench --json` against the same daemon, times
both, and compares the verdict of every check id both report. dockerbench's verdict of a check is
the worst of its per-object results (report.check_status). docker-bench-security is not part of
this repository: get a checkout yourself and pass its path.

    git clone https://github.com/docker/docker-bench-security.git /tmp/docker-bench
    sudo .venv/bin/python bench/vs_docker_bench.py --docker-bench /tmp/docker-bench
    sudo .venv/bin/python bench/vs_docker_bench.py --docker-bench /tmp/docker-bench --sizes 0,50

docker-bench runs as root with DOCKER_HOST set to the measured daemon; it reads the host's files
and the newest dockerd's command line. The goal (issue 2): dockerbench >= 100x faster at 200
containers, with the same verdicts except the deliberate differences in docs/differences.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
from benchlib import ROOT, TEST_IMAGE, bench_daemon, log, machine, median, ours, populate, remove_ours

STATUS_RANK = {"WARN": 0, "ERROR": 1, "SKIP": 2, "NOTE": 3, "INFO": 4, "PASS": 5}
# docker-bench's JSON is printf-built and breaks on quotes in details; its layout is fixed, so fall back to this.
_DB_LINE = re.compile(r"^\[(PASS|WARN|INFO|NOTE)\] ([0-9]+(?:\.[0-9]+)+) - ")
_DB_RESULT = re.compile(r'"id": "([0-9.]+)",\n\s*"desc": ".*",\n\s*"result": "(\w+)"(?:,\n\s*"details": "(.*)")?')


def run_docker_bench(checkout: Path, url: str, log_file: Path, checks: str | None, shell: str) -> float:
    """Run docker-bench once against ``url``; returns the wall-clock seconds. Its JSON lands in log_file.json."""
    cmd = [shell, "docker-bench-security.sh", "-b", "-l", str(log_file)]
    if checks:
        cmd += ["-c", checks]
    env = {**os.environ, "DOCKER_HOST": url}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"docker-bench-security failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return elapsed


def newest_dockerd() -> str:
    """The command line docker-bench reads its daemon flags from: the newest process matching "dockerd"."""
    pid = subprocess.run(["pgrep", "-f", "-n", "dockerd"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "none"
    return f"pid {pid}: " + " ".join(a.decode(errors="replace") for a in argv if a)


def text_verdicts(log_file: Path) -> dict[str, str]:
    """id -> status as docker-bench prints it in its text log, which its JSON does not always repeat."""
    out: dict[str, str] = {}
    for line in log_file.read_text(errors="replace").splitlines():
        m = _DB_LINE.match(line)
        if m:
            out.setdefault(m.group(2), m.group(1))
    return out


def docker_bench_results(log_file: Path) -> dict[str, dict]:
    """id -> {"status", "json_status", "items"}: the verdict docker-bench prints, and what its JSON log says."""
    text = Path(str(log_file) + ".json").read_text(errors="replace")
    out: dict[str, dict] = {}
    try:
        doc = json.loads(text, strict=False)
        for section in doc.get("tests", []):
            for r in section.get("results", []):
                out[r["id"]] = {"status": r["result"], "items": list(r.get("items") or ()), "details": r.get("details")}
    except json.JSONDecodeError:
        for m in _DB_RESULT.finditer(text):
            details = m.group(3) or ""
            items = details.split(": ", 1)[1].split() if ": " in details else []
            out[m.group(1)] = {"status": m.group(2), "items": items, "details": details}
    printed = text_verdicts(log_file)
    for check_id, r in out.items():
        r["json_status"] = r["status"]
        r["status"] = printed.get(check_id, r["status"])
    return out


def run_dockerbench(url: str, json_file: Path, facts: str) -> float:
    cmd = [sys.executable, "-m", "dockerbench", "-H", url, "--json", str(json_file), "-q", "--facts", facts]
    if facts == "probe":
        cmd += ["--probe-image", TEST_IMAGE]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"dockerbench failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def dockerbench_results(json_file: Path) -> dict[str, dict]:
    doc = json.loads(json_file.read_text())
    return {c["id"]: c for c in doc["checks"]}


def compare(db: dict[str, dict], us: dict[str, dict]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(agreements, disagreements) as (id, docker-bench status, dockerbench status), for ids both report."""
    agree: list[tuple[str, str, str]] = []
    differ: list[tuple[str, str, str]] = []
    for check_id in sorted(set(db) & set(us), key=lambda i: [int(p) for p in i.split(".")]):
        row = (check_id, db[check_id]["status"], us[check_id]["status"])
        (agree if row[1] == row[2] else differ).append(row)
    return agree, differ


def offenders(db: dict[str, dict], us: dict[str, dict], agree: list[tuple[str, str, str]]) -> list[str]:
    """For checks both WARN: do both name the same containers/images? Lines for the ones that do not."""
    lines = []
    for check_id, theirs, _ in agree:
        items = {i.strip("[]") for i in db[check_id]["items"]}
        if theirs != "WARN" or not items:
            continue
        mine = {
            str((r.get("object") or {}).get("name") or (r.get("object") or {}).get("id"))
            for r in us[check_id]["results"]
            if r["status"] == "WARN"
        }
        if items != mine:
            only_db, only_us = sorted(items - mine), sorted(mine - items)
            lines.append(
                f"{check_id}: only docker-bench {only_db[:5]} ({len(only_db)}), only us {only_us[:5]} ({len(only_us)})"
            )
    return lines


def foreign_objects(db: dict[str, dict], us: dict[str, dict], bench_names: set[str], image_ids: set[str]) -> list[str]:
    """Containers or images named in a WARN that the benchmark did not create: docker-bench's or our own probes."""
    lines = []
    for check_id, r in db.items():
        if r["status"] != "WARN":
            continue
        for item in r["items"]:
            name = item.strip("[]")
            bare = name.removeprefix("sha256:")
            short_id = len(bare) >= 12 and any(i.startswith(bare) for i in image_ids)
            if name not in bench_names | image_ids and not short_id:
                lines.append(f"docker-bench {check_id} WARN names {item}")
    for check_id, c in us.items():
        for r in c["results"]:
            obj = r.get("object") or {}
            if r["status"] == "WARN" and obj.get("kind") == "container" and obj.get("name") not in bench_names:
                lines.append(f"dockerbench {check_id} WARN names container {obj.get('name') or obj.get('id')}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docker-bench", required=True, type=Path, help="path to a docker-bench-security checkout")
    p.add_argument("--socket", help="use this running daemon instead of a private one (its containers count)")
    p.add_argument("--sizes", default="0,50,200", help="numbers of running containers (default 0,50,200)")
    p.add_argument("--checks", help="docker-bench -c value, e.g. check_5_4,container_runtime (default: all)")
    p.add_argument("--shell", default="sh", help="shell that runs docker-bench, as its README does (default sh)")
    p.add_argument("--reps", type=int, default=3, help="dockerbench runs per size; median reported (default 3)")
    p.add_argument("--keep", type=Path, help="keep both tools' reports in this directory")
    p.add_argument("--json", metavar="FILE", help="also write the figures and the comparison as JSON")
    args = p.parse_args()
    checkout = args.docker_bench.resolve()
    if not (checkout / "docker-bench-security.sh").is_file():
        raise SystemExit(f"{checkout} is not a docker-bench-security checkout (no docker-bench-security.sh)")
    if os.geteuid() != 0:
        raise SystemExit("run as root: docker-bench reads root-only host files and so does dockerbench --facts local")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = dt.datetime.now(dt.UTC)
    work = Path(tempfile.mkdtemp(prefix="vs-docker-bench-"))
    # docker-bench writes a log/ directory where it runs: run a copy, leave the checkout as it was.
    copy = work / "docker-bench"
    shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git", "log"))
    rows, comparisons = [], {}
    try:
        with bench_daemon(args.socket, ROOT / ".bench") as url:
            client = docker.APIClient(base_url=url, version="auto", timeout=120)
            try:
                # The test image, by id and by tag: docker-bench names images either way.
                image_ids = {i["Id"].split(":", 1)[-1] for i in client.images()}
                image_ids |= {t for i in client.images() for t in i.get("RepoTags") or ()}
                for size in sizes:
                    populate(client, size)
                    bench_names = {n.lstrip("/") for c in ours(client) for n in c.get("Names") or ()}
                    db_log = work / f"docker-bench-{size}.log"
                    log(f"{size} containers: docker-bench-security ...")
                    judged = {newest_dockerd()}
                    db_time = run_docker_bench(copy, url, db_log, args.checks, args.shell)
                    judged.add(newest_dockerd())
                    log(f"  docker-bench took {db_time:.1f} s; dockerbench x{args.reps} ...")
                    us_json = work / f"dockerbench-{size}.json"
                    us_times = [run_dockerbench(url, us_json, "local") for _ in range(args.reps)]
                    probe_json = work / f"dockerbench-probe-{size}.json"
                    probe_time = run_dockerbench(url, probe_json, "probe")
                    db, us, probe = (
                        docker_bench_results(db_log),
                        dockerbench_results(us_json),
                        dockerbench_results(probe_json),
                    )
                    agree, differ = compare(db, us)
                    probe_differs = [
                        (i, us[i]["status"], probe[i]["status"])
                        for i in us
                        if i in probe and us[i]["status"] != probe[i]["status"]
                    ]
                    leftovers = [c["Names"][0] for c in client.containers(all=True) if c["Names"] and not ours_name(c)]
                    rows.append(
                        {
                            "containers": size,
                            "docker_bench_s": db_time,
                            "dockerbench_s": median(us_times),
                            "dockerbench_probe_s": probe_time,
                            "common": len(agree) + len(differ),
                            "agree": len(agree),
                            "only_docker_bench": sorted(set(db) - set(us)),
                            # A part dockerbench could not collect makes its time and verdicts incomparable.
                            "missing": {
                                k: v for k, v in json.loads(us_json.read_text())["missing"].items() if k != "swarm"
                            },
                        }
                    )
                    comparisons[size] = {
                        "agree": agree,
                        "differ": differ,
                        "foreign": foreign_objects(db, us, bench_names, image_ids)
                        + [f"dockerbench --facts probe: {i} names the probe {n}" for i, n in probe_warns_probe(probe)],
                        "probe_vs_local": probe_differs,
                        "offenders": offenders(db, us, agree),
                        "leftover_containers": leftovers,
                        "json_vs_text": [
                            (i, r["json_status"], r["status"]) for i, r in db.items() if r["json_status"] != r["status"]
                        ],
                        "newest_dockerd": sorted(judged),
                        "url": url,
                    }
                    if args.keep:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        for f in (Path(str(db_log) + ".json"), db_log, us_json, probe_json):
                            shutil.copy(f, args.keep / f.name)
            finally:
                remove_ours(client)
                client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, comparisons, started, args)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"date": started.isoformat(), "machine": machine(), "rows": rows, "comparisons": comparisons})
        )
    return 0


def ours_name(container: dict) -> bool:
    return any(n.lstrip("/").startswith(f"bench-{os.getpid()}-") for n in container.get("Names") or ())


def probe_warns_probe(results: dict[str, dict]) -> list[tuple[str, str]]:
    hits = []
    for check_id, c in results.items():
        for r in c["results"]:
            obj = r.get("object") or {}
            if obj.get("kind") == "container" and "probe" in (obj.get("name") or ""):
                hits.append((check_id, obj["name"]))
    return hits


def report(rows: list[dict], comparisons: dict[int, dict], started: dt.datetime, args: argparse.Namespace) -> None:
    print(f"dockerbench vs docker-bench-security, {started:%Y-%m-%d %H:%M} UTC, {machine()}")
    selection = f"-c {args.checks}" if args.checks else "(all checks)"
    print(f"docker-bench: {args.shell} docker-bench-security.sh -b -l FILE {selection}")
    print(f"dockerbench: python -m dockerbench --json FILE -q --facts local (median of {args.reps}); probe: 1 run\n")
    head = (
        f"{'containers':>10} {'docker-bench s':>14} {'dockerbench s':>13} {'ratio':>7} {'probe s':>8} "
        f"{'same verdict':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = r["docker_bench_s"] / r["dockerbench_s"]
        print(
            f"{r['containers']:>10} {r['docker_bench_s']:>14.2f} {r['dockerbench_s']:>13.2f} {ratio:>6.0f}x "
            f"{r['dockerbench_probe_s']:>8.2f} {r['agree']:>6}/{r['common']:<6}"
        )
    for r in rows:
        for part, why in r["missing"].items():
            print(f"!! {r['containers']} containers: dockerbench did not collect {part}: {why[:150]}")
    for size, comp in comparisons.items():
        print(f"\n== {size} containers: {len(comp['agree'])} agree, {len(comp['differ'])} differ")
        print(f"{'id':<8} {'docker-bench':<13} {'dockerbench':<12}")
        for check_id, theirs, mine in comp["differ"]:
            print(f"{check_id:<8} {theirs:<13} {mine:<12}")
        print("agree: " + " ".join(f"{i}={s}" for i, s, _ in comp["agree"]))
        warned = sum(1 for _, theirs, _ in comp["agree"] if theirs == "WARN")
        print(f"offending objects of the {warned} checks both WARN: " + ("same" if not comp["offenders"] else "differ"))
        for line in comp["offenders"]:
            print(f"  {line}")
        print("WARNs naming a container or image the benchmark did not create:")
        for line in comp["foreign"] or ["  none"]:
            print(f"  {line}")
        if comp["probe_vs_local"]:
            print("verdicts that differ between --facts local and --facts probe:")
            for check_id, local, probe in comp["probe_vs_local"]:
                print(f"  {check_id}: local {local}, probe {probe}")
        else:
            print("--facts probe gives the same verdicts as --facts local")
        if comp["json_vs_text"]:
            print("docker-bench prints one verdict and logs another in its JSON (the printed one is compared):")
            for check_id, in_json, printed in comp["json_vs_text"]:
                print(f"  {check_id}: printed {printed}, JSON {in_json}")
        socket_path = comp["url"].removeprefix("unix://")
        for line in comp["newest_dockerd"]:
            if socket_path not in line:
                print(f"docker-bench read the flags of another dockerd (the newest one): {line}")
        if comp["leftover_containers"]:
            print(f"containers left on the daemon besides ours: {comp['leftover_containers']}")


if __name__ == "__main__":
    sys.exit(main())
