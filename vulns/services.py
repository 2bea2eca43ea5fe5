"""Vulnerability workflows: store a report, record a host's images, attach reports to a snapshot, waive CVEs.

A report replaces the older reports of the same image (any shared digest): one current report per image
key. The images a host runs are recorded after each scan (``record_host_images``), and the reports that
match them go into the snapshot the engine judges (``attach_known_reports``), so 4.4 sees them.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from auditlog.models import LogEntry
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import record_event
from dockerbench.checks.images import audited_images
from dockerbench.snapshot import HostSnapshot, ImageSnapshot, ImageVulnReport, Severity, Vuln
from dockerbench.vulns import image_keys, keys_of_image
from hosts.models import Host
from vulns.models import SEVERITY_RANK, CveWaiver, HostImage, ImageReport, ImageReportKey, Vulnerability

log = logging.getLogger(__name__)
SOURCES = {s.value for s in ImageReport.Source}
# By name: the tasks module imports this one.
LOOKUP_TASK = "vulns.tasks.lookup_images"


class StaleReport(ValueError):
    """A newer report of the same image is stored already: the one given would not be current."""


# -- reports ----------------------------------------------------------------------------------------


def parse_when(text: str) -> datetime | None:
    """A report's ISO 8601 time (Trivy writes nanoseconds, Grype a zone offset) as an aware datetime."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", (text or "").strip())
    if not m:
        return None
    zone = m.group(3) or "Z"
    zone = "+00:00" if zone == "Z" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    micro = (m.group(2) or ".0")[1:7].ljust(6, "0")
    try:
        return datetime.fromisoformat(f"{m.group(1)}.{micro}{zone}").astimezone(UTC)
    except ValueError:
        return None


def store_report(report: ImageVulnReport, *, source: str, user: Any = None) -> ImageReport:
    """Store a parsed report as the current one of its image, replacing older reports sharing a digest.

    Raises StaleReport (and stores nothing) when a report of the same image scanned later is stored
    already. ``source`` is an ImageReport.Source value; ``user`` who uploaded it (None for a machine).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    keys = sorted(image_keys(report))
    scanned_at = parse_when(report.scanned_at)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _store(report, keys, scanned_at, source=source, user=user)
        except IntegrityError:
            # Another report of the same image was stored between our read and our insert: read again.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _store(
    report: ImageVulnReport, keys: list[str], scanned_at: datetime | None, *, source: str, user: Any
) -> ImageReport:
    older_ids = set(ImageReportKey.objects.select_for_update().filter(key__in=keys).values_list("report_id", flat=True))
    older = list(ImageReport.objects.filter(pk__in=older_ids).only("pk", "scanned_at", "received"))
    for old in older:
        if scanned_at is not None and old.scanned_at is not None and old.scanned_at > scanned_at:
            raise StaleReport(
                f"a newer report of this image is stored already (report #{old.pk}, scanned at "
                f"{old.scanned_at.isoformat()}); this one was scanned at {scanned_at.isoformat()}"
            )
    ImageReport.objects.filter(pk__in=[o.pk for o in older]).delete()
    counts = report.counts()
    stored = ImageReport.objects.create(
        scanner=report.scanner,
        scanner_version=report.scanner_version,
        image_id=report.image_id,
        digests=list(report.digests),
        tags=list(report.tags),
        artifact=report.artifact,
        scanned_at=scanned_at,
        source=source,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
        critical=counts[Severity.CRITICAL],
        high=counts[Severity.HIGH],
        medium=counts[Severity.MEDIUM],
        low=counts[Severity.LOW],
        negligible=counts[Severity.NEGLIGIBLE],
        unknown=counts[Severity.UNKNOWN],
        fixable_critical=sum(1 for v in report.vulns if v.severity == Severity.CRITICAL and v.fixed),
        fixable_high=sum(1 for v in report.vulns if v.severity == Severity.HIGH and v.fixed),
    )
    ImageReportKey.objects.bulk_create([ImageReportKey(report=stored, key=k) for k in keys])
    Vulnerability.objects.bulk_create(
        (
            Vulnerability(
                report=stored,
                cve_id=v.id,
                aliases=list(v.aliases),
                severity=v.severity.value,
                severity_rank=SEVERITY_RANK[v.severity.value],
                package=v.package,
                installed=v.installed,
                fixed=v.fixed or "",
                title=v.title,
                url=v.url,
                cvss=v.cvss_score,
            )
            for v in report.vulns
        ),
        batch_size=1000,
    )
    record_event(
        stored,
        "image report stored",
        actor=user,
        changes={"source": [None, source], "replaced": [None, sorted(o.pk for o in older)]},
        action=LogEntry.Action.CREATE,
    )
    return stored


# -- the images of a host ------------------------------------------------------------------------------


def _running_by_image(snapshot: HostSnapshot) -> dict[str, list[dict[str, str]]]:
    users: dict[str, list[dict[str, str]]] = defaultdict(list)
    for c in snapshot.audited_containers:
        users[str(c.inspect.get("Image", ""))].append({"id": c.id, "name": c.name})
    return users


def record_host_images(host_id: int, scan_id: int, snapshot: HostSnapshot) -> int:
    """Replace the host's HostImage rows with the images of this scan's snapshot; returns how many.

    Images only our probe container uses are left out, as the checks leave them out. When the snapshot
    could not list images, the rows of the previous scan stay (what we knew is better than nothing).
    """
    if snapshot.images is None:
        return 0
    users = _running_by_image(snapshot)
    now = timezone.now()
    rows = []
    for image in audited_images(snapshot):
        digests = image.inspect.get("RepoDigests") if isinstance(image.inspect, dict) else None
        rows.append(
            HostImage(
                host_id=host_id,
                scan_id=scan_id,
                image_id=image.id[:200],
                repo_digests=[str(d) for d in digests] if isinstance(digests, list) else [],
                tags=list(image.tags),
                keys=sorted(keys_of_image(image)),
                containers=users.get(image.id, []),
                seen=now,
            )
        )
    HostImage.objects.filter(host_id=host_id).delete()
    HostImage.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    if settings.DOCKERBENCH_CLAIR_URL or settings.DOCKERBENCH_TRIVY_SERVER:
        transaction.on_commit(lambda: _send_lookup(host_id))
    return len(rows)


def _send_lookup(host_id: int) -> None:
    """Ask the live lookup services about the host's images without a report (vulns.lookups), on a worker."""
    try:
        current_app.send_task(LOOKUP_TASK, args=[host_id])
    except Exception as exc:  # the broker is down: the next scan asks again
        log.warning("could not queue the vulnerability lookups of host %s: %s", host_id, exc)


# -- what the engine judges ------------------------------------------------------------------------------


def active_cve_waivers(host_id: int | None = None) -> list[CveWaiver]:
    """CVE waivers in force today; with ``host_id``, those that may apply on that host."""
    qs = CveWaiver.objects.filter(revoked__isnull=True, expires__gt=timezone.now().date())
    if host_id is not None:
        qs = qs.filter(Q(host__isnull=True) | Q(host_id=host_id))
    return list(qs)


def image_names(image_id: str, tags: list[str] | tuple[str, ...]) -> list[str]:
    """What a CVE waiver's image pattern is matched against: the image's tags, then its id."""
    return [*tags, image_id]


def is_waived(waivers: list[CveWaiver], *, cve_id: str, aliases: list[str], host_id: int, names: list[str]) -> bool:
    ids = {cve_id.upper(), *(a.upper() for a in aliases)}
    return any(w.covers(ids=ids, host_id=host_id, image_names=names) for w in waivers)


def attach_known_reports(host: Host, snapshot: HostSnapshot) -> HostSnapshot:
    """``snapshot`` with the stored current reports of its images, CVE waivers in force applied.

    One report per (image, stored report), narrowed to that image's digests, so a waiver scoped to an image
    pattern covers only that image. Vulnerabilities carry what 4.4 judges (id, aliases, severity, package,
    versions), not titles and links: the snapshot is stored with each scan. Three queries; a snapshot
    without images is returned as it is.
    """
    if snapshot.images is None:
        return snapshot
    images = audited_images(snapshot)
    image_key_sets = {image.id: keys_of_image(image) for image in images}
    every_key = set().union(*image_key_sets.values()) if image_key_sets else set()
    by_key = dict(ImageReportKey.objects.filter(key__in=every_key).values_list("key", "report_id"))
    reports = {r.pk: r for r in ImageReport.objects.filter(pk__in=set(by_key.values()))}
    vulns: dict[int, list[dict[str, Any]]] = defaultdict(list)
    fields = ("report_id", "cve_id", "aliases", "severity", "package", "installed", "fixed")
    for row in Vulnerability.objects.filter(report_id__in=list(reports)).values(*fields):
        vulns[row["report_id"]].append(row)
    waivers = active_cve_waivers(host.pk)

    attached: list[ImageVulnReport] = list(snapshot.image_reports or ())
    for image in images:
        keys = image_key_sets[image.id]
        for report_id in sorted({by_key[k] for k in keys if k in by_key}):
            attached.append(_narrowed(reports[report_id], vulns[report_id], image, keys, host.pk, waivers))
    return dataclasses.replace(snapshot, image_reports=tuple(attached))


def _narrowed(
    report: ImageReport,
    rows: list[dict[str, Any]],
    image: ImageSnapshot,
    keys: frozenset[str],
    host_id: int,
    waivers: list[CveWaiver],
) -> ImageVulnReport:
    names = image_names(image.id, image.tags)
    return ImageVulnReport(
        scanner=report.scanner,
        scanner_version=report.scanner_version,
        image_id=report.image_id if report.image_id in keys else "",
        digests=tuple(d for d in report.digests if d in keys),
        tags=tuple(report.tags),
        artifact=report.artifact,
        scanned_at=report.scanned_at.isoformat() if report.scanned_at else "",
        vulns=tuple(
            Vuln(
                id=row["cve_id"],
                aliases=tuple(row["aliases"] or ()),
                severity=Severity(row["severity"]),
                package=row["package"],
                installed=row["installed"],
                fixed=row["fixed"] or None,
                waived=is_waived(
                    waivers, cve_id=row["cve_id"], aliases=row["aliases"] or [], host_id=host_id, names=names
                ),
            )
            for row in rows
        ),
    )


# -- CVE waivers ------------------------------------------------------------------------------------------


def save_cve_waiver(waiver: CveWaiver, *, user: Any = None) -> CveWaiver:
    """Save a new CVE waiver (its id upper-cased), created by ``user``."""
    waiver.cve_id = waiver.cve_id.strip().upper()
    if waiver.pk is None and getattr(user, "is_authenticated", False):
        waiver.created_by = user
    waiver.save()
    return waiver


def revoke_cve_waiver(waiver: CveWaiver, *, user: Any = None) -> bool:
    """Revoke a CVE waiver now; False when it was revoked already. The change is in the audit trail."""
    with transaction.atomic():
        revoked = CveWaiver.objects.filter(pk=waiver.pk, revoked__isnull=True).update(
            revoked=timezone.now(), revoked_by=user if getattr(user, "is_authenticated", False) else None
        )
        if revoked:
            waiver.refresh_from_db()
            record_event(waiver, "CVE waiver revoked", actor=user, changes={"revoked": [None, str(waiver.revoked)]})
    return bool(revoked)
