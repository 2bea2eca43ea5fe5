"""Waivers: which open findings each active waiver covers, and the score and WARN totals without them.

``apply_waivers`` is idempotent: it computes, for the open findings of the hosts given (all by default),
the most specific active waiver that covers each, writes only what changed, and refreshes the waived score
of those hosts' latest scans. It runs after every scan, after a waiver is created, edited or revoked, and
from beat (scans.tasks.apply_waivers), which is how an expired waiver stops applying on its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from fnmatch import fnmatchcase
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import record_event
from dockerbench.catalog import BY_ID, section_of
from hosts.models import Host
from scans.models import Finding, LatestScan, Scan, Sighting, Waiver, WaiverPolicy, warn_sections_of

EXPIRING_SOON_DAYS = 14
WAIVED = "WAIVED"


def today() -> date:
    return timezone.now().date()


def active_waivers(on: date | None = None) -> list[Waiver]:
    on = on or today()
    return list(Waiver.objects.filter(revoked__isnull=True, expires__gt=on).select_related("host", "tag"))


def covers(waiver: Waiver, *, check_id: str, host_id: int, tag_ids: Iterable[int], key: str) -> bool:
    """Whether ``waiver`` covers the finding of ``check_id`` on ``key`` of host ``host_id`` (with those tags)."""
    if waiver.check_id != check_id:
        return False
    if waiver.host_id is not None and waiver.host_id != host_id:
        return False
    if waiver.tag_id is not None and waiver.tag_id not in set(tag_ids):
        return False
    return not waiver.object_pattern or fnmatchcase(key, waiver.object_pattern)


def best_waiver(waivers: Iterable[Waiver], **finding: Any) -> Waiver | None:
    """The most specific waiver covering the finding (object > host > tag > everywhere; then the longest)."""
    matching = [w for w in waivers if covers(w, **finding)]
    if not matching:
        return None
    return max(matching, key=lambda w: (w.specificity, w.expires, -(w.pk or 0)))


def apply_waivers(host_ids: Iterable[int] | None = None, *, on: date | None = None) -> int:
    """Point each open finding at the waiver that covers it (or none); returns how many findings changed."""
    waivers = active_waivers(on)
    hosts = None if host_ids is None else sorted(set(host_ids))
    findings = Finding.objects.filter(Q(state=Finding.State.OPEN) | Q(waiver__isnull=False))
    if hosts is not None:
        findings = findings.filter(host_id__in=hosts)
    findings = findings.only("host_id", "check_id", "object_key", "state", "waiver_id")
    rows = list(findings)
    tags: dict[int, set[int]] = defaultdict(set)
    if any(w.tag_id for w in waivers):
        through = Host.tags.through.objects.filter(host_id__in={f.host_id for f in rows})
        for host_id, tag_id in through.values_list("host_id", "tag_id"):
            tags[host_id].add(tag_id)
    by_check: dict[str, list[Waiver]] = defaultdict(list)
    for active in waivers:
        by_check[active.check_id].append(active)
    changed = []
    for finding in rows:
        waiver: Waiver | None = None
        if finding.state == Finding.State.OPEN:
            waiver = best_waiver(
                by_check.get(finding.check_id, ()),
                check_id=finding.check_id,
                host_id=finding.host_id,
                tag_ids=tags.get(finding.host_id, ()),
                key=finding.object_key,
            )
        new_id = waiver.pk if waiver else None
        if finding.waiver_id != new_id:
            finding.waiver_id = new_id
            changed.append(finding)
    with transaction.atomic():
        Finding.objects.bulk_update(changed, ["waiver"], batch_size=500)
        refresh_waived_scores(hosts if hosts is not None else None)
    return len(changed)


def refresh_waived_scores(host_ids: Iterable[int] | None = None) -> None:
    """Recompute the waived score, checks and sections of the latest scans of these hosts (all by default)."""
    latest = LatestScan.objects.select_related("scan").only(
        "scan__id", "scan__host_id", "scan__summary", "scan__score", "scan__waived_score", "scan__waived_checks"
    )
    if host_ids is not None:
        latest = latest.filter(host_id__in=list(host_ids))
    scans = {row.host_id: row.scan for row in latest}
    if not scans:
        return
    warn = Sighting.objects.filter(host_id__in=list(scans), until__isnull=True, status="WARN")
    per_check: dict[int, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for host_id, check_id, waiver_id in warn.values_list("host_id", "check_id", "finding__waiver_id").order_by():
        per_check[host_id][check_id].append(waiver_id is not None)
    updated = []
    for host_id, scan in scans.items():
        state = waived_state(scan, per_check.get(host_id, {}))
        if (scan.waived_score, scan.waived_checks, (scan.summary or {}).get("waived")) != state:
            scan.waived_score, scan.waived_checks = state[0], state[1]
            scan.summary = {**(scan.summary or {}), "waived": state[2]}
            scan.warn_sections = warn_sections_of(scan.summary)
            updated.append(scan)
    Scan.objects.bulk_update(updated, ["waived_score", "waived_checks", "summary", "warn_sections"], batch_size=200)


def waived_state(scan: Scan, checks: dict[str, list[bool]]) -> tuple[int | None, int, dict[str, Any]]:
    """(score with waivers, WARN checks fully waived, summary["waived"]) from each WARN check's findings.

    A check whose every WARN finding is waived is left out: neither a pass nor a fail in the score, and not
    a WARN in the totals. A check with one unwaived WARN finding still counts as WARN.
    """
    summary = scan.summary or {}
    sections: dict[str, int] = defaultdict(int)
    waived_automated = 0
    waived_findings = 0
    for check_id, flags in checks.items():
        waived_findings += sum(flags)
        if flags and all(flags):
            sections[section_of(check_id)] += 1
            rec = BY_ID.get(check_id)
            waived_automated += bool(rec and rec.automated)
    fully = sum(sections.values())
    try:
        judged, passed = int(summary.get("judged") or 0), int(summary.get("passed") or 0)
    except (TypeError, ValueError):
        judged = passed = 0
    remaining = judged - waived_automated
    passed = min(passed, max(remaining, 0))  # a waived check was judged and failed: never above 100
    score = scan.score if not fully else (round(100 * passed / remaining) if remaining > 0 else None)
    return score, fully, {"sections": dict(sorted(sections.items())), "checks": fully, "findings": waived_findings}


# -- the waiver's own life ------------------------------------------------------------------------------


def max_expiry(on: date | None = None) -> date:
    return (on or today()) + timedelta(days=WaiverPolicy.current().max_days)


def affected_hosts(waiver: Waiver) -> list[int] | None:
    """The hosts a waiver can change (None: all of them)."""
    if waiver.host_id is not None:
        return [waiver.host_id]
    if waiver.tag_id is not None:
        return list(Host.objects.filter(tags=waiver.tag_id).values_list("pk", flat=True))
    return None


def save_waiver(waiver: Waiver, *, user: Any = None) -> Waiver:
    """Create or update a waiver (the audit trail records its fields) and apply it at once.

    A new waiver is applied to the hosts in its scope; an edited one to every host, since its scope may
    have shrunk.
    """
    created = waiver.pk is None
    with transaction.atomic():
        if created:
            waiver.created_by = user if getattr(user, "is_authenticated", False) else None
        waiver.save()
        apply_waivers(affected_hosts(waiver) if created else None)
    return waiver


def revoke_waiver(waiver: Waiver, *, user: Any = None) -> bool:
    """Revoke an active waiver: its findings come back as WARN at once. False when it was not active."""
    with transaction.atomic():
        updated = Waiver.objects.filter(pk=waiver.pk, revoked__isnull=True).update(
            revoked=timezone.now(), revoked_by=user if getattr(user, "is_authenticated", False) else None
        )
        if not updated:
            return False
        waiver.refresh_from_db()
        record_event(waiver, "waiver revoked", actor=user)
        apply_waivers(affected_hosts(waiver))
    return True


def expire_waivers(on: date | None = None) -> int:
    """Stop expired waivers applying (beat, idempotent): returns how many findings lost their waiver."""
    return apply_waivers(on=on)
