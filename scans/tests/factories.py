"""Plain model factories for the scans tests: each makes one row (or a few) with sensible defaults."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from dockerbench.catalog import SECTIONS
from dockerbench.waivers import finding_detail, object_key
from hosts.models import Host, Tag
from scans import services, tracking, waivers
from scans.models import DiffSnapshot, Episode, Finding, LatestScan, Scan, Sighting

_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


def make_host(name: str | None = None, *, tags: tuple[str, ...] = (), **fields: Any) -> Host:
    host = Host.objects.create(name=name or f"host-{_next()}", url="unix:///var/run/docker.sock", **fields)
    for tag in tags:
        host.tags.add(Tag.objects.get_or_create(name=tag)[0])
    return host


def summary(warn_by_section: dict[str, int] | None = None, *, passed: int = 10) -> dict[str, Any]:
    """A Scan.summary as scans.services.record_results writes it."""
    warn_by_section = warn_by_section or {}
    sections = {
        s: {"PASS": passed, **({"WARN": warn_by_section[s]} if warn_by_section.get(s) else {})} for s in SECTIONS
    }
    warn = sum(warn_by_section.values())
    return {
        "checks": passed * len(SECTIONS) + warn,
        "by_status": {"PASS": passed * len(SECTIONS), "WARN": warn},
        "findings": {"PASS": passed * len(SECTIONS), "WARN": warn},
        "sections": sections,
        "judged": passed * len(SECTIONS) + warn,
        "passed": passed * len(SECTIONS),
    }


def make_scan(
    host: Host,
    *,
    status: str = Scan.Status.SUCCEEDED,
    score: int | None = 80,
    when: datetime | None = None,
    warn_by_section: dict[str, int] | None = None,
    latest: bool = True,
    **fields: Any,
) -> Scan:
    """A scan; a finished, scored one becomes the host's latest scan (LatestScan) unless latest=False."""
    finished = status in Scan.FINISHED_STATUSES
    scan = Scan.objects.create(
        host=host,
        status=status,
        score=score if finished and status != Scan.Status.FAILED else None,
        summary=summary(warn_by_section) if finished and status != Scan.Status.FAILED else {},
        warn_count=sum((warn_by_section or {}).values()),
        **fields,
    )
    when = when or timezone.now()
    # created is auto_now_add: set the time afterwards, so histories can be seeded in the past.
    Scan.objects.filter(pk=scan.pk).update(
        created=when, started=when, finished=when + timedelta(seconds=3) if finished else None
    )
    scan.refresh_from_db()
    if latest and status in Scan.SCORED_STATUSES:
        # What the previous latest scan reported ends here; this scan reports what it is given (make_result).
        Sighting.objects.filter(host=host, until__isnull=True).update(until=scan.pk)
        LatestScan.objects.update_or_create(host=host, defaults={"scan": scan})
        host.latest = LatestScan(host=host, scan=scan)
    return scan


def make_result(scan: Scan, check_id: str, status: str = "WARN", **fields: Any) -> Sighting:
    """One result of ``scan``: its Finding (made or reused) and a Sighting of that scan only.

    The sighting covers scan ids [scan, scan + 1), or [scan, ...) on the host's latest scan, so a history of
    scans seeded one by one reports exactly what each was given. A WARN result opens an episode at the scan
    when its finding has none open. Histories
    whose findings must live across scans with the real rules go through scans.tracking (record_results).
    """
    kind = fields.pop("object_kind", "")
    object_id = fields.pop("object_id", "")
    name = fields.pop("object_name", "")
    key = object_key(kind, object_id, name)
    when = scan.finished or scan.created
    finding, _ = Finding.objects.get_or_create(
        host_id=scan.host_id,
        check_id=check_id,
        object_kind=kind,
        object_key=key,
        detail=finding_detail(fields.get("evidence")),
        defaults={
            "section": check_id.split(".")[0],
            "status": status,
            "object_name": name,
            "first_seen": when,
            "last_seen": when,
        },
    )
    if status == "WARN" and finding.state != Finding.State.OPEN:
        finding.state, finding.opened, finding.fixed = Finding.State.OPEN, when, None
        Episode.objects.create(
            finding=finding, host_id=scan.host_id, section=finding.section, opened_scan=scan.pk, opened=when
        )
    finding.status, finding.last_seen = status, max(finding.last_seen, when)
    finding.save()
    return Sighting.objects.create(
        host_id=scan.host_id,
        finding=finding,
        since=scan.pk,
        until=None if LatestScan.objects.filter(scan=scan).exists() else scan.pk + 1,
        seq=fields.pop("seq", None) or _next(),
        check_id=check_id,
        section=check_id.split(".")[0],
        status=status,
        object_kind=kind,
        object_id=object_id,
        object_name=name,
        **fields,
    )


def track(scan: Scan, *results: tuple[str, ...]) -> tracking.News:
    """Record (check, status, object kind, object name[, message]) results for ``scan`` with the real tracking
    rules, as record_results does: findings, sightings, episodes, summary["news"] and the waivers."""
    rows = [
        tracking.Row(
            seq=i,
            check_id=r[0],
            status=r[1],
            object_kind=r[2],
            object_id="",
            object_name=r[3],
            message=r[4] if len(r) > 4 else "",
            evidence={},
        )
        for i, r in enumerate(results)
    ]
    news = tracking.track(
        services.TRACKED,
        host_id=scan.host_id,
        scan_id=scan.pk,
        when=scan.finished or scan.created,
        rows=rows,
        first=services.is_first(scan),
    )
    scan.summary = {**scan.summary, "news": news.as_summary()}
    scan.save(update_fields=["summary"])
    waivers.apply_waivers([scan.host_id])
    return news


def make_diff(scan: Scan, name: str = "web", **fields: Any) -> DiffSnapshot:
    fields.setdefault("container_id", f"{_next():064x}")
    return DiffSnapshot.objects.create(scan=scan, container_name=name, **fields)
