"""Plain model factories for the scans tests: each makes one row (or a few) with sensible defaults."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from dockerbench.catalog import SECTIONS
from hosts.models import Host, Tag
from scans.models import CheckResult, DiffSnapshot, LatestScan, Scan

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
    if latest and status in (Scan.Status.SUCCEEDED, Scan.Status.PARTIAL):
        LatestScan.objects.update_or_create(host=host, defaults={"scan": scan})
        host.latest = LatestScan(host=host, scan=scan)
    return scan


def make_result(scan: Scan, check_id: str, status: str = "WARN", **fields: Any) -> CheckResult:
    return CheckResult.objects.create(
        scan=scan,
        seq=fields.pop("seq", None) or _next(),
        check_id=check_id,
        section=check_id.split(".")[0],
        status=status,
        **fields,
    )


def make_diff(scan: Scan, name: str = "web", **fields: Any) -> DiffSnapshot:
    fields.setdefault("container_id", f"{_next():064x}")
    return DiffSnapshot.objects.create(scan=scan, container_name=name, **fields)
