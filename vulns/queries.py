"""The fleet's vulnerabilities by image, in a fixed number of queries whatever the fleet size.

``image_cves`` answers the fleet page, a host's and a container's: which images (by report) carry which
CVEs, on which hosts, in which running containers, with the fixes known and the CVE waivers in force.
Five queries: the hosts' images, the report keys, the reports, their vulnerabilities, the waivers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from hosts.models import CREDENTIAL_FIELDS
from vulns.models import SEVERITY_RANK, CveWaiver, HostImage, ImageReport, ImageReportKey, Vulnerability
from vulns.services import image_names, is_waived

# The fleet page shows these by default: what to act on.
DEFAULT_SEVERITIES = ("CRITICAL", "HIGH")
# At most this many vulnerabilities per image on a page (the report's own page lists them all).
VULNS_PER_IMAGE = 200


@dataclass
class Place:
    """An image on one host: the running containers using it."""

    host_id: int
    host_name: str
    image_id: str
    tags: list[str]
    containers: list[dict[str, str]]


@dataclass
class CveRow:
    cve_id: str
    aliases: list[str]
    severity: str
    package: str
    installed: str
    fixed: str
    title: str
    url: str
    cvss: float | None
    places: int = 0  # how many places (host, image) the image has
    waived_on: int = 0  # on how many of them a CVE waiver covers it

    @property
    def waived_everywhere(self) -> bool:
        return 0 < self.places == self.waived_on


@dataclass
class ImageCves:
    """One stored report and where its image runs, with its vulnerabilities of the chosen severities."""

    report: ImageReport
    places: list[Place] = field(default_factory=list)
    cves: list[CveRow] = field(default_factory=list)
    more: int = 0  # vulnerabilities matched but not listed (over VULNS_PER_IMAGE)

    @property
    def running(self) -> int:
        return sum(len(p.containers) for p in self.places)

    @property
    def hosts(self) -> int:
        return len({p.host_id for p in self.places})


@dataclass
class FleetCves:
    images: list[ImageCves]
    unreported: list[Place]  # images on hosts that no stored report covers
    places: int  # every image on the hosts asked about


def image_cves(
    *,
    severities: tuple[str, ...] = DEFAULT_SEVERITIES,
    fixable_only: bool = False,
    host_id: int | None = None,
    container_id: str | None = None,
) -> FleetCves:
    """The reported images on the fleet (or one host, or one container's image) and their CVEs.

    Images are ordered by their worst listed CVE, then how many containers run them; CVEs worst first.
    """
    rows = HostImage.objects.select_related("host").defer(*(f"host__{f}" for f in CREDENTIAL_FIELDS))
    if host_id is not None:
        rows = rows.filter(host_id=host_id)
    places: list[tuple[Place, list[str]]] = []
    for row in rows:
        containers = row.containers if isinstance(row.containers, list) else []
        if container_id is not None:
            containers = [c for c in containers if c.get("id") == container_id]
            if not containers:
                continue
        place = Place(row.host_id, row.host.name, row.image_id, list(row.tags), containers)
        places.append((place, [str(k) for k in row.keys]))

    report_of = dict(ImageReportKey.objects.values_list("key", "report_id"))
    by_report: dict[int, list[Place]] = defaultdict(list)
    unreported = []
    for place, keys in places:
        ids = sorted({report_of[k] for k in keys if k in report_of})
        if not ids:
            unreported.append(place)
        for rid in ids:
            by_report[rid].append(place)

    reports = {r.pk: r for r in ImageReport.objects.filter(pk__in=list(by_report))}
    vulns = Vulnerability.objects.filter(report_id__in=list(reports), severity__in=list(severities))
    if fixable_only:
        vulns = vulns.exclude(fixed="")
    listed: dict[int, list[Vulnerability]] = defaultdict(list)
    for v in vulns.order_by("report_id", "severity_rank", "cve_id", "package"):
        listed[v.report_id].append(v)
    today = timezone.now().date()
    waivers = list(CveWaiver.objects.filter(revoked__isnull=True, expires__gt=today))

    images = []
    for rid, report in reports.items():
        found = listed.get(rid, [])
        if not found:
            continue
        image = ImageCves(report=report, places=sorted(by_report[rid], key=lambda p: (p.host_name, p.image_id)))
        for v in found[:VULNS_PER_IMAGE]:
            cve = CveRow(
                v.cve_id, list(v.aliases or []), v.severity, v.package, v.installed, v.fixed, v.title, v.url, v.cvss
            )
            cve.places = len(image.places)
            cve.waived_on = sum(
                is_waived(
                    waivers,
                    cve_id=v.cve_id,
                    aliases=cve.aliases,
                    host_id=p.host_id,
                    names=image_names(p.image_id, p.tags),
                )
                for p in image.places
            )
            image.cves.append(cve)
        image.more = max(len(found) - VULNS_PER_IMAGE, 0)
        images.append(image)
    images.sort(key=lambda i: (SEVERITY_RANK[i.cves[0].severity], -i.running, -len(i.cves), i.report.name))
    unreported.sort(key=lambda p: (p.host_name, p.image_id))
    return FleetCves(images=images, unreported=unreported, places=len(places))


def report_places(report: ImageReport) -> list[dict[str, Any]]:
    """Where a report's image runs: its host images sharing a key (two queries)."""
    keys = set(report.key_rows.values_list("key", flat=True))
    rows = HostImage.objects.select_related("host").defer(*(f"host__{f}" for f in CREDENTIAL_FIELDS))
    return [
        {"host": row.host, "image_id": row.image_id, "tags": row.tags, "containers": row.containers}
        for row in rows.order_by("host__name")
        if keys.intersection(row.keys or [])
    ]
