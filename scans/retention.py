"""Retention of scans: what a fleet's history keeps after DOCKERBENCH_SCAN_RETENTION_DAYS, and what goes.

A Scan row (its summary JSON and indexes, 1.4 KiB) is what a year of nightly scans grows by (bench/README.md),
so old Scan rows themselves go, not only their heavy fields: emptying ``summary`` would leave a row whose score
and counts still show on the host's trend but no longer add up, while a deleted scan is simply outside the
history kept. What is kept, and why:

- each host's latest scan with results (LatestScan: the overview, the host page, drift) and its newest scan of
  any kind (a host whose last scans failed still shows when it was last tried), and every queued or running
  scan, whatever their age;
- FleetDay rows, all of them: the fleet's trend over any span reads those, never the scans. Only today's and
  yesterday's are recomputed from scans (rollup_fleet_days), hence a retention of MIN_DAYS at least;
- Finding, all of them (a finding's identity and its first_seen, opened, reopened outlive its old scans:
  a waiver or a ticket names it) and Episode, all of them (one small row per stretch a finding was open: time to
  remediate over any span reads those);
- Sighting rows that cover a kept scan. Sighting rows are scan id ranges [since, until) on one host; a row
  whose until is at or below the host's oldest kept scan describes only deleted scans (Sighting.at of no kept
  scan returns it) and goes. A row that began before and still covers a kept scan is kept as it is.

The raw snapshot and container diffs of a deleted scan go with it (they cascade); most are gone long before,
after DOCKERBENCH_SNAPSHOT_RETENTION_DAYS (scans.services.prune_snapshots).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Max, Min, OuterRef, Subquery

from core.retention import cutoff, delete_in_batches
from scans.models import LatestScan, Scan, Sighting

# rollup_fleet_days recomputes yesterday's FleetDay from its scans: a shorter retention would empty it.
MIN_DAYS = 7


def prune_scans(now: datetime | None = None) -> dict[str, int]:
    """Beat, daily: delete the scans older than DOCKERBENCH_SCAN_RETENTION_DAYS (0 keeps them all) but those
    kept above, then the sightings no kept scan is covered by. Returns how many scans and sightings went."""
    days = settings.DOCKERBENCH_SCAN_RETENTION_DAYS
    before = cutoff(max(days, MIN_DAYS), now) if days > 0 else None
    if before is None:
        return {"scans": 0, "sightings": 0}
    newest = Scan.objects.order_by().values("host_id").annotate(newest=Max("id")).values("newest")
    old = (
        Scan.objects.filter(created__lt=before, status__in=Scan.FINISHED_STATUSES)
        .exclude(pk__in=LatestScan.objects.values("scan_id"))
        .exclude(pk__in=newest)
    )
    scans = delete_in_batches(old)
    return {"scans": scans, "sightings": trim_sightings()}


def trim_sightings() -> int:
    """Delete the sightings that cover none of their host's scans (until at or below its oldest kept scan).

    Idempotent and independent of prune_scans' run: one that was cut off between the two is finished here.
    """
    # Each row against its own host's oldest scan, in one statement per batch rather than one pass per host.
    oldest = Scan.objects.filter(host_id=OuterRef("host_id")).order_by().values("host_id").annotate(first=Min("id"))
    return delete_in_batches(
        Sighting.objects.filter(until__isnull=False, until__lte=Subquery(oldest.values("first")[:1]))
    )
