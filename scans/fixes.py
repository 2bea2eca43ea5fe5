"""A host's generated fixes (dockerbench.fixes), written from its latest scan: for the fix pages, the API and the PDF.

The engine writes fixes from a snapshot and its results. The dashboard has both for a scan while its raw
snapshot is kept (ScanSnapshot, pruned after DOCKERBENCH_SNAPSHOT_RETENTION_DAYS but for each host's latest
scan), and the results are what the scan reported, its Sightings made engine Results again (scans.exports), so
the fixes are those of what the host page shows, not of today's checks. Nothing is ever applied: the fixes are
text for a person to review.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from dockerbench.fixes import fixes_for
from dockerbench.fixes.model import ContainerFix, HostFixes
from dockerbench.snapshot import HostSnapshot
from hosts.models import Host
from scans import exports
from scans.models import LatestScan, Scan, ScanSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fixes:
    """The answer of host_fixes: the fixes of ``scan``, or None and the reason why there are none."""

    scan: Scan | None
    fixes: HostFixes | None
    reason: str = ""

    def container(self, container_id: str) -> ContainerFix | None:
        if self.fixes is None:
            return None
        return next((c for c in self.fixes.containers if c.container_id == container_id), None)


def host_fixes(host: Host) -> Fixes:
    """The fixes of ``host``'s latest scan: its stored raw snapshot and what it reported.

    ``fixes`` is None, with ``reason`` in words, when the host has no scan with results, or its latest scan's
    raw snapshot is gone (pruned) or never was (an imported docker-bench-security log). Three queries at most,
    whatever the size of the scan (the latest scan, its snapshot, its sightings), two when the host came with
    select_related("latest__scan").
    """
    scan = LatestScan.of(host)
    if scan is None:
        return Fixes(None, None, f"{host.name} has no scan with results yet: scan it, and its fixes are written.")
    try:
        raw = ScanSnapshot.objects.get(scan=scan)
    except ScanSnapshot.DoesNotExist:
        if scan.trigger == Scan.Trigger.IMPORT:
            why = "it was imported from a docker-bench-security log, which holds no snapshot of the host"
        else:
            why = "its snapshot is no longer kept"
        return Fixes(
            scan,
            None,
            f"The fixes are written from the latest scan's snapshot (#{scan.pk}), and {why}: "
            "scan the host again to get them.",
        )
    try:
        fixes = fixes_for(HostSnapshot.from_json(raw.unpack()), exports.scan_results(scan))
    except Exception:
        # A page, a download or a PDF report must not fail with the fixes: they say why there are none.
        logger.exception("the fixes of scan #%s could not be written", scan.pk)
        return Fixes(scan, None, f"The fixes of scan #{scan.pk} could not be written: an error in dockerbench, logged.")
    # The dashboard's name for the host, as on every page and in the download's name.
    return Fixes(scan, dataclasses.replace(fixes, host=host.name))
