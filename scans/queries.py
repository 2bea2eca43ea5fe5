"""Read-side aggregations for the dashboard pages.

Each function runs a fixed, small number of queries whatever the size of the fleet or the history
(the tests pin the counts): per-host data comes from LatestScan and Scan.summary, and where
result rows are needed they are fetched for the hosts or checks on screen only, at most
OBJECTS_PER_GROUP rows per group, with a window function.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils.safestring import SafeString

from dockerbench.catalog import BY_ID, RECOMMENDATIONS, SECTIONS, Recommendation, section_of
from hosts.models import Host, Tag
from scans import charts
from scans.models import CheckResult, DiffSnapshot, LatestScan, Scan

# Scans that carry a score: finished, with results (a failed scan has none).
SCORED_STATUSES = (Scan.Status.SUCCEEDED, Scan.Status.PARTIAL)
SPARKLINE_SCANS = 30
HISTORY_SCANS = 400  # a year of nightly scans and a few more
HOSTS_PER_PAGE = 50
SCANS_PER_PAGE = 20
OBJECTS_PER_GROUP = 25  # rows shown per check and status; the page links to the rest
OBJECTS_OF_ONE_CHECK = 2000  # rows shown per status when the page is about one check
CHANGES_SHOWN = 1000  # diff lines shown per container

# When a check has several results, the one a reader must see first (dockerbench.report.check_status).
STATUS_PRECEDENCE = ("WARN", "ERROR", "SKIP", "NOTE", "INFO", "PASS")
_CATALOG_ORDER = {rec.id: i for i, rec in enumerate(RECOMMENDATIONS)}


def _precedence(status: str) -> int:
    return STATUS_PRECEDENCE.index(status) if status in STATUS_PRECEDENCE else len(STATUS_PRECEDENCE)


def verdict(statuses: Iterable[str]) -> str:
    """The verdict of one check from the statuses of its results, in dockerbench.report's precedence."""
    present = set(statuses)
    return next((s for s in STATUS_PRECEDENCE if s in present), "ERROR")


def _check_sort_key(check_id: str) -> tuple[int, tuple[int, ...], str]:
    if check_id in _CATALOG_ORDER:
        return (_CATALOG_ORDER[check_id], (), "")
    numbers = tuple(int(n) for n in re.findall(r"\d+", check_id))
    return (len(_CATALOG_ORDER), numbers, check_id)


def _ranked(qs: QuerySet, partition: list[str], order: list, limit: int) -> QuerySet:
    """The first ``limit`` rows of each partition, in one query (ROW_NUMBER() OVER (PARTITION BY ...))."""
    return qs.annotate(row_rank=Window(RowNumber(), partition_by=[F(p) for p in partition], order_by=order)).filter(
        row_rank__lte=limit
    )


def _section_warns(scan: Scan | None) -> dict[str, int]:
    """WARN checks per section, from the scan's summary ({"sections": {"5": {"WARN": 3, ...}}})."""
    if scan is None or scan.status not in SCORED_STATUSES:
        return {}
    sections = (scan.summary or {}).get("sections") or {}
    return {key: int((sections.get(key) or {}).get("WARN", 0)) for key in SECTIONS}


def _object_key(check_id: str, kind: str, name: str, object_id: str) -> tuple[str, str, str]:
    # By name where there is one: a container recreated from the same spec is the same finding.
    return (check_id, kind, name or object_id)


# -- fleet overview --------------------------------------------------------------------------------

OVERVIEW_STATUSES = {
    "warn": "with WARN",
    "clean": "without WARN",
    "failed": "newest scan failed",
    "never": "never scanned",
}


@dataclass(frozen=True)
class HeatCell:
    section: str
    warn: int | None  # None: no scored scan
    colour: str
    text_colour: str


@dataclass
class HostRow:
    host: Host
    scan: Scan | None
    url: str  # the host page
    cells: list[HeatCell] = field(default_factory=list)
    heat: SafeString = SafeString("")  # the cells' <td>s (charts.heat_row)
    tags: list[str] = field(default_factory=list)
    sparkline: SafeString = SafeString("")
    new: int | None = None  # WARN findings new since the previous scored scan; None: nothing to compare
    fixed: int | None = None


@dataclass
class Overview:
    rows: list[HostRow]
    page: Page
    sections: list[tuple[str, str]]
    tags: list[Tag]
    tag: str
    section: str
    status: str
    total_hosts: int


def _status_filter(status: str, section: str) -> Q:
    """Hosts whose latest scan matches the status filter, in SQL (Scan.warn_sections: the sections with WARN)."""
    if status == "never":
        return Q(latest__isnull=True)
    if status == "failed":
        return Q(newest_status=Scan.Status.FAILED)
    if status in ("warn", "clean"):
        has_warn = ~Q(latest__scan__warn_sections="")
        if section:
            has_warn = Q(latest__scan__warn_sections__contains=f",{section},")
        return Q(latest__scan__status__in=SCORED_STATUSES) & (has_warn if status == "warn" else ~has_warn)
    return Q()


def fleet_overview(*, tag: str = "", section: str = "", status: str = "", page: int | str = 1) -> Overview:
    """One page of hosts with their latest scan, a WARN heat map per section, a sparkline and new/fixed counts.

    Queries: the number of matching hosts (1) and the page's hosts with their latest scan and newest scan
    status (1), the tags for the filter (1) and, for the hosts on the page only, their tags (1), their last
    SPARKLINE_SCANS scores (1) and the WARN rows of their latest and previous scans (1). The tag, section
    and status filters and the pagination run in SQL, so the time does not grow with the fleet either.
    """
    section = section if section in SECTIONS else ""
    status = status if status in OVERVIEW_STATUSES else ""
    # The newest scan of any status, so the table can say "running" or "failed" (an index lookup per host).
    newest_status = Subquery(Scan.objects.filter(host=OuterRef("pk")).order_by("-created", "-id").values("status")[:1])
    matching = Host.objects.all()
    if status == "failed":
        matching = matching.annotate(newest_status=newest_status)
    matching = matching.filter(_status_filter(status, section))
    if tag:
        matching = matching.filter(tags__name=tag)
    paginator = Paginator(matching.order_by("name").only("pk"), HOSTS_PER_PAGE)
    page_obj = paginator.get_page(page)
    scored = Scan.objects.filter(host=OuterRef("pk"), status__in=SCORED_STATUSES, score__isnull=False)
    # The page's hosts in a subquery (LIMIT/OFFSET), so the annotations below are computed for them only.
    hosts = (
        Host.objects.filter(pk__in=cast("QuerySet[Host]", page_obj.object_list).values("pk"))
        .select_related("latest__scan")
        .only(
            "name",
            "enabled",
            "latest__scan__host_id",
            "latest__scan__status",
            "latest__scan__created",
            "latest__scan__finished",
            "latest__scan__score",
            "latest__scan__warn_count",
            "latest__scan__summary",
        )
        .annotate(
            newest_status=newest_status,
            # When the host's SPARKLINE_SCANS-th newest scored scan was created (None: it has fewer), so that
            # the sparkline query reads those scans only, through the (host, -created) index.
            sparkline_from=Subquery(
                scored.order_by("-created", "-id").values("created")[SPARKLINE_SCANS - 1 : SPARKLINE_SCANS]
            ),
        )
        .order_by("name")
    )
    on_page: list[Host] = list(hosts) if paginator.count else []
    all_tags = list(Tag.objects.only("name"))
    shown_sections = [section] if section else list(SECTIONS)
    warns_of = {host.pk: _section_warns(LatestScan.of(host)) for host in on_page}
    highest = max((warns.get(s, 0) for warns in warns_of.values() for s in shown_sections), default=0)

    host_rows = []
    for host in on_page:
        warns = warns_of[host.pk]
        counts = [(s, warns.get(s) if warns else None) for s in shown_sections]
        url = reverse("scans:host", args=[host.pk])
        host_rows.append(
            HostRow(
                host=host,
                scan=LatestScan.of(host),
                url=url,
                cells=[
                    HeatCell(
                        section=s,
                        warn=warn,
                        colour=charts.heat_colour(warn, highest),
                        text_colour=charts.heat_text_colour(warn, highest),
                    )
                    for s, warn in counts
                ],
                heat=charts.heat_row(counts, highest, url),
            )
        )
    if host_rows:
        _add_tags_trends_and_changes(host_rows, section)
    return Overview(
        rows=host_rows,
        page=page_obj,
        sections=[(s, SECTIONS[s]) for s in shown_sections],
        tags=all_tags,
        tag=tag,
        section=section,
        status=status,
        total_hosts=paginator.count,
    )


def _add_tags_trends_and_changes(rows: list[HostRow], section: str) -> None:
    # Tag names straight from the join table: a prefetch would build a related manager and queryset per host.
    tags = Host.tags.through.objects.filter(host_id__in=[r.host.pk for r in rows]).order_by("tag__name")
    names: dict[int, list[str]] = defaultdict(list)
    for host_id, name in tags.values_list("host_id", "tag__name"):
        names[host_id].append(name)
    for r in rows:
        r.tags = names.get(r.host.pk, [])
    # Each host's last SPARKLINE_SCANS scored scans: from its sparkline_from on (all of them when it has fewer).
    # An OR of (host, created >= ...) ranges reads ~SPARKLINE_SCANS index entries per host, where a window
    # function over the hosts' whole histories would read and sort a year of scans for each.
    ranges = [
        Q(host_id=r.host.pk, created__gte=getattr(r.host, "sparkline_from"))  # noqa: B009 - an annotation
        for r in rows
        if getattr(r.host, "sparkline_from") is not None  # noqa: B009 - an annotation
    ]
    few = [r.host.pk for r in rows if getattr(r.host, "sparkline_from") is None]  # noqa: B009 - an annotation
    recent = (
        Scan.objects.filter(Q(*ranges, host_id__in=few, _connector=Q.OR))
        .filter(status__in=SCORED_STATUSES, score__isnull=False)
        .order_by("host_id", "-created", "-id")
        .values_list("host_id", "id", "score")
    )
    newest_first: dict[int, list[tuple[int, int]]] = defaultdict(list)  # scores are not null here (filtered)
    for host_id, scan_id, score in recent:
        scans = newest_first[host_id]
        # More than SPARKLINE_SCANS when scans share the cut-off instant: those before it in (created, id) drop.
        if len(scans) < SPARKLINE_SCANS and score is not None:
            scans.append((scan_id, score))
    previous: dict[int, int] = {}  # latest scan id -> the scored scan before it
    for row in rows:
        scans = newest_first.get(row.host.pk, [])
        row.sparkline = charts.sparkline([score for _, score in reversed(scans)])
        ids = [scan_id for scan_id, _ in scans]
        latest = row.scan.pk if row.scan is not None else None
        if latest in ids and ids.index(latest) + 1 < len(ids):
            previous[latest] = ids[ids.index(latest) + 1]
    latest_ids = [row.scan.pk for row in rows if row.scan is not None]
    if not latest_ids:
        return
    # Also for hosts with one scan, so the number of queries does not depend on the history's length.
    warns = CheckResult.objects.filter(
        scan_id__in=[*latest_ids, *previous.values()], status=CheckResult.Status.WARN
    ).order_by()  # CheckResult's default order would join Scan for its "-created"
    if section:
        warns = warns.filter(section=section)
    found: dict[int, set[tuple[str, str, str]]] = defaultdict(set)
    for scan_id, check_id, kind, name, object_id in warns.values_list(
        "scan_id", "check_id", "object_kind", "object_name", "object_id"
    ):
        found[scan_id].add(_object_key(check_id, kind, name, object_id))
    for row in rows:
        if row.scan is not None and row.scan.pk in previous:
            now, before = found[row.scan.pk], found[previous[row.scan.pk]]
            row.new, row.fixed = len(now - before), len(before - now)


# -- host page and a scan's findings ---------------------------------------------------------------


@dataclass
class CheckRow:
    check_id: str
    verdict: str
    counts: dict[str, int]  # results per status
    results: list[CheckResult]  # at most OBJECTS_PER_GROUP per status, the verdict's status first
    rec: Recommendation | None

    @property
    def title(self) -> str:
        return self.rec.title if self.rec else self.check_id

    @property
    def objects(self) -> int:
        return sum(self.counts.values())

    @property
    def shown(self) -> int:
        return len(self.results)


@dataclass
class SectionBlock:
    key: str
    name: str
    counts: dict[str, int]  # checks per verdict
    checks: list[CheckRow]

    @property
    def warn(self) -> int:
        return self.counts.get("WARN", 0)


def scan_findings(scan: Scan | None, *, status: str = "", section: str = "", check: str = "") -> list[SectionBlock]:
    """The scan's checks grouped by section, each with its verdict, counts and first results (2 queries).

    ``status`` keeps the checks with that verdict, ``section`` one section and ``check`` one check;
    the section counts always cover the whole scan.
    """
    if scan is None:
        return []
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for check_id, result_status, n in (
        CheckResult.objects.filter(scan=scan).values_list("check_id", "status").annotate(n=Count("id")).order_by()
    ):
        counts[check_id][result_status] = n
    verdicts = {check_id: verdict(by_status) for check_id, by_status in counts.items()}
    section_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for check_id, v in verdicts.items():
        section_counts[section_of(check_id)][v] += 1

    wanted = sorted(
        (
            c
            for c, v in verdicts.items()
            if (not status or v == status) and (not section or section_of(c) == section) and (not check or c == check)
        ),
        key=_check_sort_key,
    )
    results: dict[str, list[CheckResult]] = defaultdict(list)
    if wanted:
        rows = _ranked(
            CheckResult.objects.filter(scan=scan, check_id__in=wanted),
            ["check_id", "status"],
            [F("seq").asc()],
            OBJECTS_OF_ONE_CHECK if check else OBJECTS_PER_GROUP,
        )
        for row in sorted(rows, key=lambda r: (_precedence(r.status), r.seq)):
            results[row.check_id].append(row)

    blocks: dict[str, SectionBlock] = {}
    for key, name in SECTIONS.items():
        if not section or key == section:
            blocks[key] = SectionBlock(key=key, name=name, counts=dict(section_counts.get(key, {})), checks=[])
    for check_id in wanted:
        key = section_of(check_id)
        block = blocks.setdefault(
            key, SectionBlock(key=key, name=SECTIONS.get(key, key), counts=dict(section_counts.get(key, {})), checks=[])
        )
        block.checks.append(
            CheckRow(
                check_id=check_id,
                verdict=verdicts[check_id],
                counts=counts[check_id],
                results=results.get(check_id, []),
                rec=BY_ID.get(check_id),
            )
        )
    return list(blocks.values())


@dataclass
class HostPage:
    host: Host
    scan: Scan | None  # the scan whose findings are shown
    newest: Scan | None  # the host's newest scan of any status: active, failed or the latest
    sections: list[SectionBlock]
    history: list[tuple[datetime, int]]
    history_svg: SafeString
    scans: Page

    @property
    def active(self) -> Scan | None:
        return self.newest if self.newest is not None and not self.newest.is_finished else None


def host_page(
    host: Host, *, scan: Scan | None = None, status: str = "", section: str = "", check: str = "", page: int | str = 1
) -> HostPage:
    """Everything the host page shows (6 queries): the newest scan, the findings of ``scan`` (the
    latest by default), the score history and one page of the scan list."""
    newest = host.scans.order_by("-created", "-id").first()
    if scan is None:
        scan = LatestScan.of(host)
    history = [
        (created, score)
        for created, score in Scan.objects.filter(host=host, status__in=SCORED_STATUSES, score__isnull=False)
        .order_by("-created", "-id")
        .values_list("created", "score")[:HISTORY_SCANS]
        if score is not None
    ]
    history.reverse()
    scan_list = host.scans.order_by("-created", "-id").only(
        "host_id", "status", "trigger", "created", "started", "finished", "score", "warn_count", "error"
    )
    return HostPage(
        host=host,
        scan=scan,
        newest=newest,
        sections=scan_findings(scan, status=status, section=section, check=check),
        history=history,
        history_svg=charts.score_history(history),
        scans=Paginator(scan_list, SCANS_PER_PAGE).get_page(page),
    )


# -- one check across the fleet --------------------------------------------------------------------


@dataclass
class HostVerdict:
    host: Host
    scan: Scan
    verdict: str
    counts: dict[str, int]
    results: list[CheckResult]

    @property
    def objects(self) -> int:
        return sum(self.counts.values())


@dataclass
class CheckFleet:
    rec: Recommendation | None
    check_id: str
    hosts: list[HostVerdict]
    verdicts: dict[str, int]  # hosts per verdict, before the status filter
    not_run: int  # hosts whose latest scan has no result for the check


def check_fleet(check_id: str, *, tag: str = "", status: str = "") -> CheckFleet:
    """One CIS check on every host's latest scan: the verdict per host and the offending objects (3 queries)."""
    hosts = (
        Host.objects.filter(latest__isnull=False)
        .select_related("latest__scan")
        .only("name", "latest__scan__host_id", "latest__scan__status", "latest__scan__created")
    )
    if tag:
        hosts = hosts.filter(tags__name=tag)
    by_scan = {host.latest.scan_id: host for host in hosts}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if by_scan:
        for scan_id, result_status, n in (
            CheckResult.objects.filter(scan_id__in=list(by_scan), check_id=check_id)
            .values_list("scan_id", "status")
            .annotate(n=Count("id"))
            .order_by()
        ):
            counts[scan_id][result_status] = n
    verdicts = {scan_id: verdict(c) for scan_id, c in counts.items()}
    tally: dict[str, int] = defaultdict(int)
    for v in verdicts.values():
        tally[v] += 1
    wanted = [scan_id for scan_id, v in verdicts.items() if not status or v == status]
    results: dict[int, list[CheckResult]] = defaultdict(list)
    if wanted:
        rows = _ranked(
            CheckResult.objects.filter(scan_id__in=wanted, check_id=check_id),
            ["scan_id", "status"],
            [F("seq").asc()],
            OBJECTS_PER_GROUP,
        )
        for row in sorted(rows, key=lambda r: (_precedence(r.status), r.seq)):
            results[row.scan_id].append(row)
    rows_out = [
        HostVerdict(
            host=by_scan[scan_id],
            scan=by_scan[scan_id].latest.scan,
            verdict=verdicts[scan_id],
            counts=counts[scan_id],
            results=results.get(scan_id, []),
        )
        for scan_id in wanted
    ]
    rows_out.sort(
        key=lambda r: (
            STATUS_PRECEDENCE.index(r.verdict) if r.verdict in STATUS_PRECEDENCE else 9,
            -r.objects,
            r.host.name,
        )
    )
    return CheckFleet(
        rec=BY_ID.get(check_id),
        check_id=check_id,
        hosts=rows_out,
        verdicts=dict(tally),
        not_run=len(by_scan) - len(counts),
    )


# -- container drift -------------------------------------------------------------------------------


@dataclass
class ContainerDrift:
    diff: DiffSnapshot
    changes: list[tuple[str, str]]  # at most CHANGES_SHOWN
    hidden_changes: int
    new: list[tuple[str, str]]
    suspicious: list[dict[str, str]]

    @property
    def why_empty(self) -> str:
        """Why the diff is empty, when it is."""
        if self.diff.error:
            return "The diff could not be collected."
        if self.diff.read_only:
            return "Nothing can change here because the root filesystem is read-only."
        if not self.diff.running:
            return "The container was not running at scan time."
        return "Nothing changed in the container's filesystem since it was created from its image."


DRIFT_FILTERS = {"suspicious": "with suspicious changes", "new": "changed since the previous scan"}


def _pairs(changes: object) -> list[tuple[str, str]]:
    out = []
    for item in changes if isinstance(changes, list) else []:
        if isinstance(item, list | tuple) and len(item) == 2:
            out.append((str(item[0]), str(item[1])))
        elif isinstance(item, dict):
            out.append((str(item.get("kind", "")), str(item.get("path", ""))))
    return out


def container_drift(host: Host, *, show: str = "") -> list[ContainerDrift]:
    """The DiffSnapshot of each container in the host's latest scan (1 query), suspicious ones first."""
    latest = LatestScan.of(host)
    if latest is None:
        return []
    out = []
    for diff in DiffSnapshot.objects.filter(scan_id=latest.pk).order_by("container_name", "container_id"):
        changes = _pairs(diff.changes)
        suspicious = [
            {k: str(v) for k, v in item.items()} for item in (diff.suspicious or []) if isinstance(item, dict)
        ]
        drift = ContainerDrift(
            diff=diff,
            changes=changes[:CHANGES_SHOWN],
            hidden_changes=max(0, len(changes) - CHANGES_SHOWN),
            new=_pairs(diff.new_since_previous),
            suspicious=suspicious,
        )
        if show == "suspicious" and not drift.suspicious:
            continue
        if show == "new" and not drift.new:
            continue
        out.append(drift)
    out.sort(key=lambda d: (not d.suspicious, not d.new))
    return out
