"""The fleet's days added up (FleetDay): fleet-wide trends read a row per day, not a year of scans.

``day_totals`` is pure, so the migration that backfills the table and the beat task that keeps today and
yesterday in step (scans.tasks.rollup_fleet_days) count the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dockerbench.catalog import SECTIONS

SCORED = ("succeeded", "partial")


def day_totals(rows: Iterable[tuple[int | None, Any]]) -> tuple[int, int, dict[str, int]]:
    """(scans with a score, the sum of their scores, WARN checks per CIS section) of (score, summary) rows."""
    scans = total = 0
    warn: Counter[str] = Counter()
    for score, summary in rows:
        if score is None:
            continue
        scans += 1
        total += int(score)
        sections = summary.get("sections") if isinstance(summary, dict) else None
        for key in SECTIONS:
            counts = sections.get(key) if isinstance(sections, dict) else None
            try:
                warn[key] += int(counts.get("WARN") or 0) if isinstance(counts, dict) else 0
            except (TypeError, ValueError):
                continue
    return scans, total, {key: warn[key] for key in SECTIONS}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def rollup(Scan: Any, FleetDay: Any, days: Iterable[date]) -> int:
    """Recompute the FleetDay rows of these days from their scans (idempotent); returns how many were written."""
    written = 0
    for day in days:
        start, end = day_bounds(day)
        rows = Scan.objects.filter(status__in=SCORED, created__gte=start, created__lt=end).values_list(
            "score", "summary"
        )
        scans, total, warn = day_totals(rows.iterator(chunk_size=2000))
        if scans:
            FleetDay.objects.update_or_create(day=day, defaults={"scans": scans, "score_sum": total, "warn": warn})
            written += 1
        else:
            FleetDay.objects.filter(day=day).delete()
    return written
