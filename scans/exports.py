"""A scan's results as the engine's machine reports (dockerbench.formats): JSON, SARIF 2.1.0, JUnit XML, CSV.

The dashboard keeps no engine output: what a scan reported is its Sightings (Scan.reported()). They are turned
back into engine Results (status, object, message, evidence, in the engine's order) and given to the same
renderers the CLI uses, so a report downloaded from a scan page reads like ``python -m dockerbench --format``.

Waivers are the engine's Waived: for each result the waiver that covered it, or None. On the host's latest scan
that is what the page shows, Finding.waiver (kept in step by scans.waivers). An older scan's findings point at
today's waivers, not at those of its time, so for it the waivers in force when it finished are worked out again
from the Waiver rows: created by then, not revoked by then, not yet expired, with the same scope rules
(scans.waivers.best_waiver). A waiver edited since, or a host whose tags changed, may make that differ from
what applied at the time: the audit trail holds the history, the export does not read it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC

from django.db.models import Q

from dockerbench import formats
from dockerbench.results import ObjectRef, Result, Status
from dockerbench.snapshot import HostSnapshot
from dockerbench.waivers import Waiver as EngineWaiver
from dockerbench.waivers import object_key
from hosts.models import Host
from scans import queries, waivers
from scans.models import LatestScan, Scan, Sighting, Waiver

# format -> (content type, file extension)
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "sarif": ("application/sarif+json", "sarif"),
    "junit": ("application/xml; charset=utf-8", "xml"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"[-.]{2,}")  # "-..-" and the like: no dot-dot, no runs of separators
_NAME_LENGTH = 60


class NothingToExport(Exception):
    """The scan has no results to export (it failed, was cancelled, is still running, or reported nothing)."""


def export_filename(host_name: str, scan_id: int, fmt: str) -> str:
    """``dockerbench-<host>-scan-<id>.<ext>``: the host's name folded to ASCII letters, digits, ``.``, ``_`` and
    ``-``, so no quote, slash, newline or dot-dot from a name can reach a header or a file system."""
    ascii_name = unicodedata.normalize("NFKD", host_name).encode("ascii", "ignore").decode("ascii")
    safe = _RUNS.sub("-", _UNSAFE.sub("-", ascii_name)).strip("-._")[:_NAME_LENGTH].strip("-._") or "host"
    return f"dockerbench-{safe}-scan-{scan_id}.{EXPORT_FORMATS[fmt][1]}"


def export_scan(
    scan: Scan, fmt: str, *, status: str = "", section: str = "", check: str = ""
) -> tuple[bytes, str, str]:
    """The report of ``scan`` in ``fmt`` (a key of EXPORT_FORMATS): (the document, its content type, a filename).

    Whatever the size of the scan: two queries on the host's latest scan (is it the latest, the sightings with
    their findings' waivers), three on an older one (the latest check, the sightings, the waivers of that time),
    and one more for the host unless the scan came with it (select_related("host")). Raises ValueError for an
    unknown format and NothingToExport for a scan without results.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")
    if scan.status not in Scan.SCORED_STATUSES:
        raise NothingToExport(f"Scan #{scan.pk} has no results to export: it is {scan.get_status_display().lower()}.")
    host = scan.host
    latest = LatestScan.objects.filter(host_id=scan.host_id, scan_id=scan.pk).exists()
    rows = scan.reported().order_by("seq", "pk")
    if status or section or check:
        # The checks the page shows with these filters (queries.scan_findings decides, as for the page).
        blocks = queries.scan_findings(scan, current=latest, status=status, section=section, check=check)
        rows = rows.filter(check_id__in=[row.check_id for block in blocks for row in block.checks])
    if latest:
        rows = rows.select_related("finding__waiver")
    sightings = list(rows)
    filtered = bool(status or section or check)
    if not sightings and not filtered:  # filters that pick nothing give an empty document: it is their answer
        raise NothingToExport(f"Scan #{scan.pk} reported nothing to export.")
    results = [engine_result(s) for s in sightings]
    waived = [_waiver_now(s, host) for s in sightings] if latest else _waived_then(scan, host, sightings)
    text = formats.render(fmt, _snapshot(scan, host), results, waived)
    content_type = EXPORT_FORMATS[fmt][0]
    return text.encode("utf-8", "backslashreplace"), content_type, export_filename(host.name, scan.pk, fmt)


def scan_results(scan: Scan) -> list[Result]:
    """What ``scan`` reported, as the engine's Results in the engine's order (one query)."""
    return [engine_result(s) for s in scan.reported().order_by("seq", "pk")]


def engine_result(s: Sighting) -> Result:
    """A Sighting as the engine's Result it was recorded from."""
    obj = ObjectRef(kind=s.object_kind, id=s.object_id, name=s.object_name) if s.object_kind else None
    evidence = s.evidence if isinstance(s.evidence, dict) else {}
    return Result(check_id=s.check_id, status=Status(s.status), message=s.message, object=obj, evidence=evidence)


def _snapshot(scan: Scan, host: Host) -> HostSnapshot:
    """What the renderers read of a snapshot: the host (the dashboard's name and URL), when, what was missing."""
    when = scan.finished or scan.started or scan.created
    missing = (scan.summary or {}).get("missing")
    return HostSnapshot(
        target=host.url,
        collected_at=when.astimezone(UTC).isoformat(timespec="seconds"),
        engine_version=scan.engine_version,
        info={"Name": host.name},
        missing={str(k): str(v) for k, v in missing.items()} if isinstance(missing, dict) else {},
    )


def _waiver_now(s: Sighting, host: Host) -> EngineWaiver | None:
    """The waiver the page shows for a result of the latest scan: its finding's, on a WARN only."""
    w = s.finding.waiver
    return _engine_waiver(w, host) if w is not None and s.status == Status.WARN.value else None


def _engine_waiver(w: Waiver, host: Host) -> EngineWaiver:
    """The dashboard's waiver as the engine's: a host or tag scope is this host (the engine knows no tags)."""
    return EngineWaiver(
        check=w.check_id,
        host=host.name if (w.host_id or w.tag_id) else None,
        object=w.object_pattern or None,
        reason=w.reason,
        owner=w.owner or None,
        ticket=w.ticket or None,
        expires=w.expires,
    )


def _waived_then(scan: Scan, host: Host, sightings: list[Sighting]) -> list[EngineWaiver | None]:
    """For an older scan: the waiver in force when it finished that covers each WARN result (one query)."""
    when = scan.finished or scan.created
    host_tags = Host.tags.through.objects.filter(host_id=scan.host_id).values("tag_id")
    in_force = list(
        Waiver.objects.filter(created__lte=when, expires__gt=when.astimezone(UTC).date())
        .filter(Q(revoked__isnull=True) | Q(revoked__gt=when))
        .filter(Q(host_id=scan.host_id) | Q(host__isnull=True, tag__isnull=True) | Q(tag_id__in=host_tags))
    )
    tag_ids = {w.tag_id for w in in_force if w.tag_id is not None}  # the query kept the host's tags only
    out: list[EngineWaiver | None] = []
    for s in sightings:
        found: Waiver | None = None
        if s.status == Status.WARN.value and in_force:
            found = waivers.best_waiver(
                in_force,
                check_id=s.check_id,
                host_id=scan.host_id,
                tag_ids=tag_ids,
                key=object_key(s.object_kind, s.object_id, s.object_name),
            )
        out.append(_engine_waiver(found, host) if found else None)
    return out
