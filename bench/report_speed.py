"""Time and peak memory of the PDF reports, on the fleet bench/seed_fleet.py seeded.

    .venv/bin/python bench/report_speed.py [--reps 1] [--days 365] [--database-url URL] [--keep DIR] [--no-fit]

It measures the fleet report over --days days (every host, every section) and the host report of the host with
the most results in its latest scan. Each render runs in a fresh subprocess (this script with --child), so one
report's memory does not inflate the next: the figures are that process's wall time split by the render's
progress phases (gathering data and the HTML, laying out pages, writing the PDF), its SQL queries, and its peak
resident memory (ru_maxrss from wait4, Python start-up and Django included). The goal (issue 8): the fleet report
of 500 hosts with a year of history in under 60 s, with a peak under 500 MB. Exit status 1 when a goal is missed.

Then (unless --no-fit) it calibrates the row budget, DOCKERBENCH_REPORT_MAX_ROWS: each kind at several sizes,
rows counted as the budget counts them (reports.documents), with peak MB and wall seconds fitted to a line in
rows, and the rows each kind may have before it passes 500 MB or 60 s. Smaller sizes are a tag or some sections;
larger ones than the seed holds are synthetic: every host line (fleet) or every result of the scan (host)
repeated N times ("x N") after the queries, so the same markup is laid out N times over. The fit is of this
machine; the exit status is 1 when the configured limit lets either kind past a goal.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from seed_fleet import DEFAULT_DATABASE_URL, setup_django  # noqa: E402

GOAL_SECONDS = 60.0
GOAL_MB = 500.0


# (label, tag, sections, repeat) of each calibration run; the plain fleet and busiest host runs come first.
FLEET_SIZES = (("tag staging", "staging", "", 1), ("tag prod", "prod", "", 1), ("all x 2", "", "", 2),
               ("all x 3", "", "", 3))  # fmt: skip
HOST_SIZES = (("sections 6,7,S", "", "6,7,S", 1), ("sections 5", "", "5", 1), ("x 4", "", "", 4),
              ("x 8", "", "", 8), ("x 12", "", "", 12))  # fmt: skip


def _repeat(repeat: int) -> None:
    """Make every report `repeat` times as large: the fleet's host lines, the host's results (synthetic)."""
    from dataclasses import replace

    from reports import queries

    fleet_report, count_results, blocks = queries.fleet_report, queries.count_results, queries._blocks

    def many_hosts(**kwargs: Any) -> Any:
        data = fleet_report(**kwargs)
        return replace(data, hosts=data.hosts * repeat)

    def many_blocks(*args: Any, **kwargs: Any) -> Any:
        out = blocks(*args, **kwargs)
        for block in out:
            for check in block.checks:
                check.results = check.results * repeat
        return out

    queries.fleet_report = many_hosts
    queries.count_results = lambda scan, sections: count_results(scan, sections) * repeat
    queries._blocks = many_blocks


def child(
    kind: str, days: int, out: Path, database_url: str, tag: str = "", sections: str = "", repeat: int = 1
) -> None:
    """Render one report and print its figures as JSON (runs in the measured subprocess)."""
    started = time.perf_counter()
    setup_django(database_url)
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from reports import documents
    from reports.documents import ReportRequest, render_report
    from scans.models import Sighting

    counted: list[int] = []
    check_budget = documents._check_budget

    def record_rows(request: ReportRequest, rows: int) -> None:
        counted.append(rows)
        check_budget(request, rows)

    documents._check_budget = record_rows
    if repeat > 1 or tag or sections:
        settings.DOCKERBENCH_REPORT_MAX_ROWS = 10**9  # calibrating: past the limit on purpose
    if repeat > 1:
        _repeat(repeat)

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
    shown = tuple(s for s in sections.split(",") if s)
    since = period.until - timedelta(days=days - 1)
    request = ReportRequest(kind=kind, host_id=host_id, tag=tag, since=since, sections=shown)
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
                "rows": counted[-1] if counted else 0,
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


def measure(
    kind: str, days: int, out: Path, database_url: str, tag: str = "", sections: str = "", repeat: int = 1
) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--days", str(days), "--out", str(out)]
    args += ["--database-url", database_url, "--tag", tag, "--sections", sections, "--repeat", str(repeat)]
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
    parser.add_argument("--no-fit", action="store_true", help="only the two reports, no calibration of the limit")
    parser.add_argument("--child", choices=("fleet", "host"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sections", default="", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.days, args.out, args.database_url, args.tag, args.sections, args.repeat)
        return 0

    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'report':<8} {'rep':>3} {'render s':>9} {'gather':>7} {'layout':>7} {'write':>7} {'wall s':>7} "
          f"{'peak MB':>8} {'pages':>6} {'KiB':>7} {'scans':>6} {'queries':>8}")  # fmt: skip
    worst: dict[str, tuple[float, float]] = {}
    points: dict[str, list[tuple[str, dict]]] = {"fleet": [], "host": []}
    for kind in ("fleet", "host"):
        for rep in range(1, args.reps + 1):
            f = measure(kind, args.days, folder / f"{kind}.pdf", args.database_url)
            points[kind].append(("as seeded" if rep == 1 else f"as seeded, rep {rep}", f))
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
    if not args.no_fit:
        failed |= calibrate(args, folder, points)
    print(f"PDFs in {folder}")
    return 1 if failed else 0


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares: (intercept, slope) of ys against xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - slope * mx, slope


def calibrate(args: argparse.Namespace, folder: Path, points: dict[str, list[tuple[str, dict]]]) -> bool:
    """Each kind at several sizes, the lines through them, and whether the configured limit keeps both kinds under
    the goals. True when it does not."""
    sys.path.insert(0, str(ROOT))
    setup_django(args.database_url)
    from reports.documents import max_rows

    print()
    print(f"{'report':<8} {'size':<16} {'rows':>6} {'wall s':>7} {'layout':>7} {'peak MB':>8} {'pages':>6}")
    for kind, sizes in (("fleet", FLEET_SIZES), ("host", HOST_SIZES)):
        for label, tag, sections, repeat in sizes:
            f = measure(kind, args.days, folder / f"{kind}-fit.pdf", args.database_url, tag, sections, repeat)
            points[kind].append((label, f))
        for label, f in sorted(points[kind], key=lambda p: p[1]["rows"]):
            print(f"{kind:<8} {label:<16} {f['rows']:>6} {f['wall']:>7.1f} {f['layout']:>7.1f} {f['rss_mb']:>8.0f} "
                  f"{f['pages']:>6}", flush=True)  # fmt: skip
    limit = max_rows()
    print()
    print(f"{'report':<8} {'MB at 0':>8} {'MB/1000 rows':>13} {'s at 0':>7} {'s/1000 rows':>12} {'rows to 500 MB':>15} "
          f"{'rows to 60 s':>13} {'at the limit':>13}")  # fmt: skip
    over = False
    for kind, measured in points.items():
        rows = [float(f["rows"]) for _, f in measured]
        mb0, mb_per = fit(rows, [f["rss_mb"] for _, f in measured])
        s0, s_per = fit(rows, [f["wall"] for _, f in measured])
        to_mb = (GOAL_MB - mb0) / mb_per if mb_per > 0 else float("inf")
        to_s = (GOAL_SECONDS - s0) / s_per if s_per > 0 else float("inf")
        at_limit = f"{mb0 + mb_per * limit:.0f} MB {s0 + s_per * limit:.0f} s"
        over |= limit > min(to_mb, to_s)
        print(f"{kind:<8} {mb0:>8.0f} {mb_per * 1000:>13.0f} {s0:>7.1f} {s_per * 1000:>12.1f} {to_mb:>15.0f} "
              f"{to_s:>13.0f} {at_limit:>13}")  # fmt: skip
    verdict = "keeps both kinds under the goals" if not over else "lets a report past a goal: FAIL"
    print(f"DOCKERBENCH_REPORT_MAX_ROWS = {limit:,}: {verdict}")
    return over


if __name__ == "__main__":
    sys.exit(main())
