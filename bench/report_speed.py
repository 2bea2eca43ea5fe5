"""Time and peak memory of the PDF reports, on the fleet bench/seed_fleet.py seeded.

    .venv/bin/python bench/report_speed.py [--reps 1] [--days 365] [--database-url URL] [--keep DIR]

It measures the fleet report over --days days (every host, every section) and the host report of the host with
the most results in its latest scan. Each render runs in a fresh subprocess (this script with --child), so one
report's memory does not inflate the next: the figures are that process's wall time split by the render's
progress phases (gathering data and the HTML, laying out pages, writing the PDF), its SQL queries, and its peak
resident memory (ru_maxrss from wait4, Python start-up and Django included). The goal (issue 8): the fleet report
of 500 hosts with a year of history in under 60 s, with a peak under 500 MB. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from seed_fleet import DEFAULT_DATABASE_URL, setup_django  # noqa: E402

GOAL_SECONDS = 60.0
GOAL_MB = 500.0


def child(kind: str, days: int, out: Path, database_url: str) -> None:
    """Render one report and print its figures as JSON (runs in the measured subprocess)."""
    started = time.perf_counter()
    setup_django(database_url)
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from reports.documents import ReportRequest, render_report
    from scans.models import Sighting

    ready = time.perf_counter()
    host_id = None
    if kind == "host":
        busiest = (
            Sighting.objects.filter(until__isnull=True)
            .values("host_id")
            .annotate(n=Count("id"))
            .order_by("-n", "host_id")
            .first()
        )
        if busiest is None:
            raise SystemExit("no host has results; seed first: .venv/bin/python bench/seed_fleet.py")
        host_id = busiest["host_id"]
    request = ReportRequest(kind=kind, host_id=host_id)
    period = request.period()
    request = ReportRequest(kind=kind, host_id=host_id, since=period.until - timedelta(days=days - 1))
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if done == total:
            marks[phase] = time.perf_counter()

    begun = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        rendered = render_report(request, progress=progress)
    done = time.perf_counter()
    out.write_bytes(rendered.pdf)
    gathered = marks.get("Gathering data", begun)
    laid_out = marks.get("Laying out pages", gathered)
    print(
        json.dumps(
            {
                "title": rendered.title,
                "pages": rendered.pages,
                "bytes": len(rendered.pdf),
                "scans": len(rendered.scan_ids),
                "queries": len(queries),
                "startup": ready - started,
                "render": done - begun,
                "gather": gathered - begun,
                "layout": laid_out - gathered,
                "write": done - laid_out,
            }
        )
    )


def measure(kind: str, days: int, out: Path, database_url: str) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--days", str(days), "--out", str(out)]
    args += ["--database-url", database_url]
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stdout = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {kind} report failed (exit {os.waitstatus_to_exitcode(status)})")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["wall"] = wall
    figures["rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", type=Path, help="write the PDFs into this folder, to look at them")
    parser.add_argument("--child", choices=("fleet", "host"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.days, args.out, args.database_url)
        return 0

    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'report':<8} {'rep':>3} {'render s':>9} {'gather':>7} {'layout':>7} {'write':>7} {'wall s':>7} "
          f"{'peak MB':>8} {'pages':>6} {'KiB':>7} {'scans':>6} {'queries':>8}")  # fmt: skip
    worst: dict[str, tuple[float, float]] = {}
    for kind in ("fleet", "host"):
        for rep in range(1, args.reps + 1):
            f = measure(kind, args.days, folder / f"{kind}.pdf", args.database_url)
            print(
                f"{kind:<8} {rep:>3} {f['render']:>9.1f} {f['gather']:>7.1f} {f['layout']:>7.1f} {f['write']:>7.1f} "
                f"{f['wall']:>7.1f} {f['rss_mb']:>8.0f} {f['pages']:>6} {f['bytes'] / 1024:>7.0f} {f['scans']:>6} "
                f"{f['queries']:>8}",
                flush=True,
            )
            if rep == 1:
                print(f"         {f['title']}")
            seconds, mb = worst.get(kind, (0.0, 0.0))
            worst[kind] = (max(seconds, f["wall"]), max(mb, f["rss_mb"]))
    failed = False
    for kind, (seconds, mb) in worst.items():
        ok = seconds < GOAL_SECONDS and mb < GOAL_MB
        failed |= not ok
        goals = f"(goal < {GOAL_SECONDS:.0f} s), peak {mb:.0f} MB (goal < {GOAL_MB:.0f} MB)"
        print(f"{kind}: worst {seconds:.1f} s {goals}: {'PASS' if ok else 'FAIL'}")
    print(f"PDFs in {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
