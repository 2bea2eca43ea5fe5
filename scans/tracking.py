"""Findings with a life: what one scan's results change in the host's findings, sightings and episodes.

``track`` is called by record_results inside its transaction, and by the migration that turned the old
per-scan result rows into findings (with the migration's historical models), so both follow one set of rules:

- A result is matched to its Finding by (check, object kind, object key, detail); a new one is a new Finding.
- A Sighting is written only when what is reported changes; the one it replaces ends at this scan. A
  finding this scan did not report at all has its sighting ended here too: sightings are what was said.
- WARN opens an episode when none is open (a finding fixed before is then reopened). An open episode is
  closed (fixed) only by a scan that judged the check: a check that gave SKIP or ERROR here, or did not run,
  collected nothing to judge by, and its open findings stay open. A failed scan is never tracked at all.
- A host's first tracked scan opens episodes like any other, but its backlog is not news (News.first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockerbench.catalog import section_of

# The key of a finding's object is the one `python -m dockerbench --waivers` matches: one definition for both.
from dockerbench.waivers import finding_detail, object_key

WARN = "WARN"
NOT_JUDGED = frozenset({"SKIP", "ERROR"})


@dataclass(frozen=True)
class Row:
    """One result as the tracker needs it (from an engine Result or an old stored row)."""

    seq: int
    check_id: str
    status: str
    object_kind: str
    object_id: str
    object_name: str
    message: str
    evidence: Any


@dataclass
class News:
    """What one scan changed: finding ids opened (new or reopened) and fixed, and counts per section."""

    first: bool
    opened: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    fixed: list[int] = field(default_factory=list)
    opened_by_section: Counter[str] = field(default_factory=Counter)
    fixed_by_section: Counter[str] = field(default_factory=Counter)

    def as_summary(self) -> dict[str, Any]:
        """What Scan.summary["news"] keeps: the counts per section, and whether there was a scan before."""
        return {
            "first": self.first,
            "new": dict(sorted(self.opened_by_section.items())),
            "fixed": dict(sorted(self.fixed_by_section.items())),
        }


@dataclass(frozen=True)
class Models:
    """The model classes to write with: the app's own, or a migration's historical ones."""

    Finding: Any
    Sighting: Any
    Episode: Any


Identity = tuple[str, str, str, str]  # check, object kind, object key, detail
KEY_LENGTH = 512  # Finding.object_key's: an identity is what the database can hold, or the next scan misses it


def keyed(rows: Iterable[Row]) -> dict[Identity, Row]:
    """The rows by identity: (check, object kind, object key, detail). Two results that still share one
    (rare: a check naming one object twice, with nothing to tell them apart) get details "#2", "#3"... in order."""
    out: dict[Identity, Row] = {}
    seen: Counter[Identity] = Counter()
    for row in sorted(rows, key=lambda r: r.seq):
        base = (
            row.check_id,
            row.object_kind,
            object_key(row.object_kind, row.object_id, row.object_name)[:KEY_LENGTH],
            finding_detail(row.evidence),
        )
        seen[base] += 1
        n = seen[base]
        out[base if n == 1 else (base[0], base[1], base[2], f"{base[3]}#{n}")] = row
    return out


def judged_checks(rows: Iterable[Row]) -> set[str]:
    """The checks this scan judged: those it ran that gave no SKIP or ERROR."""
    ran: set[str] = set()
    unjudged: set[str] = set()
    for row in rows:
        ran.add(row.check_id)
        if row.status in NOT_JUDGED:
            unjudged.add(row.check_id)
    return ran - unjudged


def track(
    models: Models,
    *,
    host_id: int,
    scan_id: int,
    when: datetime,
    rows: Sequence[Row],
    first: bool,
) -> News:
    """Apply one scan's results to the host's findings (7 queries, plus the writes that something changed)."""
    Finding, Sighting, Episode = models.Finding, models.Sighting, models.Episode
    news = News(first=first)
    reported = keyed(rows)
    judged = judged_checks(rows)

    findings = {(f.check_id, f.object_kind, f.object_key, f.detail): f for f in Finding.objects.filter(host_id=host_id)}
    current = {s.finding_id: s for s in Sighting.objects.filter(host_id=host_id, until__isnull=True)}
    open_episodes = {e.finding_id: e for e in Episode.objects.filter(host_id=host_id, fixed_scan__isnull=True)}

    new_findings = []
    for identity, row in reported.items():
        if identity not in findings:
            finding = Finding(
                host_id=host_id,
                check_id=row.check_id,
                section=section_of(row.check_id)[:2],
                object_kind=row.object_kind,
                object_key=identity[2],
                detail=identity[3],
                status=row.status,
                object_name=row.object_name,
                state="clean",
                first_seen=when,
                last_seen=when,
            )
            findings[identity] = finding
            new_findings.append(finding)
    Finding.objects.bulk_create(new_findings, batch_size=500)

    changed: dict[int, Any] = {}  # findings whose fields below changed (new ones included), by id
    close_sightings: list[int] = []
    new_sightings = []
    new_episodes = []
    fixed_episodes: list[int] = []
    reported_ids: set[int] = set()
    for identity, row in reported.items():
        finding = findings[identity]
        reported_ids.add(finding.pk)
        sighting = current.get(finding.pk)
        if sighting is None or not _same(sighting, row):
            if sighting is not None:
                close_sightings.append(sighting.pk)
            new_sightings.append(
                Sighting(
                    host_id=host_id,
                    finding_id=finding.pk,
                    since=scan_id,
                    seq=row.seq,
                    check_id=row.check_id,
                    section=finding.section,
                    status=row.status,
                    object_kind=row.object_kind,
                    object_id=row.object_id,
                    object_name=row.object_name,
                    message=row.message,
                    evidence=row.evidence,
                )
            )
        dirty = finding.status != row.status or finding.object_name != row.object_name
        finding.status, finding.object_name = row.status, row.object_name
        if row.status == WARN and finding.pk not in open_episodes:
            if finding.state == "fixed":
                finding.reopened += 1
                news.reopened.append(finding.pk)
            finding.state, finding.opened, finding.fixed = "open", when, None
            new_episodes.append(
                Episode(
                    finding_id=finding.pk, host_id=host_id, section=finding.section, opened_scan=scan_id, opened=when
                )
            )
            news.opened.append(finding.pk)
            news.opened_by_section[finding.section] += 1
            dirty = True
        if dirty:
            changed[finding.pk] = finding

    # Sightings of what this scan did not report end here; open findings it judged and did not see as WARN
    # are fixed.
    close_sightings.extend(s.pk for finding_id, s in current.items() if finding_id not in reported_ids)
    by_id = {f.pk: f for f in findings.values()}
    for finding_id, episode in open_episodes.items():
        finding = by_id.get(finding_id)
        if finding is None or finding.check_id not in judged:
            continue
        if finding_id in reported_ids and finding.status == WARN:
            continue
        fixed_episodes.append(episode.pk)
        finding.state, finding.fixed = "fixed", when
        news.fixed.append(finding_id)
        news.fixed_by_section[finding.section] += 1
        changed[finding.pk] = finding

    if close_sightings:
        Sighting.objects.filter(pk__in=close_sightings).update(until=scan_id)
    Sighting.objects.bulk_create(new_sightings, batch_size=500)
    if fixed_episodes:
        Episode.objects.filter(pk__in=fixed_episodes).update(fixed_scan=scan_id, fixed=when)
    Episode.objects.bulk_create(new_episodes, batch_size=500)
    if changed:
        Finding.objects.bulk_update(
            list(changed.values()), ["status", "object_name", "state", "opened", "fixed", "reopened"], batch_size=500
        )
    created = {f.pk for f in new_findings}
    seen = [pk for pk in reported_ids if pk not in created]
    if seen:
        Finding.objects.filter(host_id=host_id, pk__in=seen).update(last_seen=when)
    return news


def _same(sighting: Any, row: Row) -> bool:
    return (
        sighting.status == row.status
        and sighting.message == row.message
        and sighting.object_id == row.object_id
        and sighting.object_name == row.object_name
        and sighting.evidence == row.evidence
    )
