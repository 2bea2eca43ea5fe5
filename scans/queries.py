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
from datetime import UTC, datetime, timedelta
from typing import cast

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from dockerbench import risk
from dockerbench.catalog import ALL_BY_ID, ALL_SECTIONS, RECOMMENDATIONS, SECTIONS, Recommendation, section_of
from hosts.models import Host, Tag
from scans import charts
from scans.models import (
    DiffSnapshot,
    Episode,
    Finding,
    FleetDay,
    LatestScan,
    Scan,
    Sighting,
    Waiver,
    waived_sections_of,
)
from scans.waivers import EXPIRING_SOON_DAYS

# Scans that carry a score: finished, with results (a failed scan has none).
SCORED_STATUSES = Scan.SCORED_STATUSES
SPARKLINE_SCANS = 30
HISTORY_SCANS = 400  # a year of nightly scans and a few more
HOSTS_PER_PAGE = 50
SCANS_PER_PAGE = 20
OBJECTS_PER_GROUP = 25  # rows shown per check and status; the page links to the rest
OBJECTS_OF_ONE_CHECK = 2000  # rows shown per status when the page is about one check
CHANGES_SHOWN = 1000  # diff lines shown per container

# When a check has several results, the one a reader must see first (dockerbench.report.check_status).
# WAIVED: a WARN check whose every WARN finding is covered by an active waiver (latest scans only).
STATUS_PRECEDENCE = ("WARN", "WAIVED", "ERROR", "SKIP", "NOTE", "INFO", "PASS")
WAIVED = "WAIVED"
_CATALOG_ORDER = {rec.id: i for i, rec in enumerate(RECOMMENDATIONS)}


def _precedence(status: str) -> int:
    return STATUS_PRECEDENCE.index(status) if status in STATUS_PRECEDENCE else len(STATUS_PRECEDENCE)


def verdict(statuses: Iterable[str]) -> str:
    """The verdict of one check from the statuses of its results, in dockerbench.report's precedence."""
    present = set(statuses)
    return next((s for s in STATUS_PRECEDENCE if s in present), "ERROR")


def check_sort_key(check_id: str) -> tuple[int, tuple[int, ...], str]:
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
    """WARN checks per section, from the scan's summary ({"sections": {"5": {"WARN": 3, ...}}}), without the
    checks whose every WARN finding is waived."""
    if scan is None or scan.status not in SCORED_STATUSES:
        return {}
    summary = scan.summary or {}
    sections = summary.get("sections") or {}
    waived = waived_sections_of(summary)
    return {key: int((sections.get(key) or {}).get("WARN", 0)) - waived.get(key, 0) for key in SECTIONS}


def _news(scan: Scan | None, section: str) -> tuple[int | None, int | None]:
    """WARN findings opened and fixed by the scan (summary["news"]); None when it had no scan before it."""
    news = (scan.summary or {}).get("news") if scan is not None else None
    if not isinstance(news, dict) or news.get("first", True):
        return None, None

    def count(key: str) -> int:
        by_section = news.get(key) or {}
        if not isinstance(by_section, dict):
            return 0
        return int(by_section.get(section, 0)) if section else sum(int(n) for n in by_section.values())

    return count("new"), count("fixed")


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
    SPARKLINE_SCANS scores (1); new and fixed are counted in the latest scan's summary. The tag, section
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
            "latest__scan__waived_score",
            "latest__scan__waived_checks",
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
    for row in rows:
        scans = newest_first.get(row.host.pk, [])
        row.sparkline = charts.sparkline([score for _, score in reversed(scans)])
        row.new, row.fixed = _news(row.scan, section)


# -- what to fix first ------------------------------------------------------------------------------

TOP_RISKS = 5  # on the overview and a host page: what one morning can fix


@dataclass(frozen=True)
class Risk:
    """One open WARN check, ranked: weight x objects x age (dockerbench.risk.rank)."""

    check_id: str
    rec: Recommendation | None
    weight: int
    objects: int  # open, unwaived WARN findings
    age_days: int  # of the oldest of them
    rank: float
    hosts: int = 1

    @property
    def title(self) -> str:
        return self.rec.title if self.rec else self.check_id


def rank_checks(
    items: Iterable[tuple[str, int, datetime | None]], *, hosts: dict[str, int] | None = None, limit: int = TOP_RISKS
) -> list[Risk]:
    """(check id, open objects, oldest opened) ranked by risk, highest first, at most ``limit``."""
    now = timezone.now()
    out = []
    for check_id, objects, opened in items:
        if objects <= 0:
            continue
        age = max(0, (now - opened).days) if opened is not None else 0
        weight = risk.weight(check_id)
        out.append(
            Risk(
                check_id=check_id,
                rec=ALL_BY_ID.get(check_id),
                weight=weight,
                objects=objects,
                age_days=age,
                rank=risk.rank(weight, objects, age),
                hosts=(hosts or {}).get(check_id, 1),
            )
        )
    out.sort(key=lambda r: (-r.rank, check_sort_key(r.check_id)))
    return out[:limit]


def top_risks(*, tag: str = "", limit: int = TOP_RISKS) -> list[Risk]:
    """The fleet's open, unwaived WARN findings grouped by check and ranked (1 query)."""
    open_findings = Finding.objects.filter(state=Finding.State.OPEN, waiver__isnull=True)
    if tag:
        open_findings = open_findings.filter(host__tags__name=tag)
    grouped = (
        open_findings.values("check_id")
        .annotate(n_objects=Count("id"), hosts=Count("host_id", distinct=True), oldest=Min("opened"))
        .order_by()
    )
    rows = list(grouped)
    return rank_checks(
        ((r["check_id"], r["n_objects"], r["oldest"]) for r in rows),
        hosts={r["check_id"]: r["hosts"] for r in rows},
        limit=limit,
    )


# -- ages and time to remediate -------------------------------------------------------------------

REMEDIATION_WINDOWS = (30, 90, 365)


@dataclass(frozen=True)
class RemediationRow:
    key: str  # a host's name or a section key
    label: str
    url: str
    fixed: int  # episodes fixed in the window
    mean_days: float | None
    p90_days: float | None
    open: int  # findings open now
    oldest_open_days: int | None


def _days(seconds: float) -> float:
    return round(seconds / 86400, 1)


def _p90(values: list[float]) -> float | None:
    """The 90th percentile, nearest rank (so it is a time that was measured)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


@dataclass
class Remediation:
    days: int
    by_host: list[RemediationRow]
    by_section: list[RemediationRow]
    fleet: RemediationRow


def _stats(durations: list[float]) -> tuple[float | None, float | None]:
    if not durations:
        return None, None
    return _days(sum(durations) / len(durations)), _days(_p90(durations) or 0)


def remediation(*, days: int = 90, tag: str = "") -> Remediation:
    """Per host and per section: how many findings were fixed in the last ``days`` days, the mean and 90th
    percentile time from first seen (the episode's opening) to fixed, and what is open now with its oldest
    age (3 queries, one pass over the window's episodes)."""
    now = timezone.now()
    fixed = Episode.objects.filter(fixed__gte=now - timedelta(days=days))
    open_now = Episode.objects.filter(fixed__isnull=True)
    hosts = Host.objects.all()
    if tag:
        fixed = fixed.filter(host__tags__name=tag)
        open_now = open_now.filter(host__tags__name=tag)
        hosts = hosts.filter(tags__name=tag)
    names = dict(hosts.values_list("pk", "name"))
    durations: dict[str, dict[str, list[float]]] = {"host": defaultdict(list), "section": defaultdict(list)}
    everything: list[float] = []
    for host_id, section, opened, done in fixed.values_list("host_id", "section", "opened", "fixed").order_by():
        if done is None:  # not in this query (fixed__gte), for the type checker
            continue
        seconds = max(0.0, (done - opened).total_seconds())
        durations["host"][str(host_id)].append(seconds)
        durations["section"][section].append(seconds)
        everything.append(seconds)
    opened_now: dict[str, dict[str, list[datetime]]] = {"host": defaultdict(list), "section": defaultdict(list)}
    all_open: list[datetime] = []
    for host_id, section, opened in open_now.values_list("host_id", "section", "opened").order_by():
        opened_now["host"][str(host_id)].append(opened)
        opened_now["section"][section].append(opened)
        all_open.append(opened)

    def row(kind: str, key: str, label: str, url: str) -> RemediationRow:
        mean, p90 = _stats(durations[kind].get(key, []))
        still = opened_now[kind].get(key, [])
        return RemediationRow(
            key=key,
            label=label,
            url=url,
            fixed=len(durations[kind].get(key, [])),
            mean_days=mean,
            p90_days=p90,
            open=len(still),
            oldest_open_days=(now - min(still)).days if still else None,
        )

    host_keys = sorted(set(durations["host"]) | set(opened_now["host"]), key=lambda k: names.get(int(k), ""))
    by_host = [
        row("host", k, names[int(k)], reverse("scans:host", args=[int(k)])) for k in host_keys if int(k) in names
    ]
    order = list(ALL_SECTIONS)  # the catalog's sections, then ours (S)
    section_keys = sorted(
        set(durations["section"]) | set(opened_now["section"]),
        key=lambda k: (order.index(k) if k in order else len(order), k),
    )
    by_section = [
        row("section", k, f"{k}. {ALL_SECTIONS.get(k, k)}", reverse("scans:overview") + f"?section={k}&status=warn")
        for k in section_keys
    ]
    mean, p90 = _stats(everything)
    fleet = RemediationRow(
        key="",
        label="the fleet" + (f" (tag {tag})" if tag else ""),
        url="",
        fixed=len(everything),
        mean_days=mean,
        p90_days=p90,
        open=len(all_open),
        oldest_open_days=(now - min(all_open)).days if all_open else None,
    )
    by_host.sort(key=lambda r: (-(r.p90_days or 0), r.label))
    return Remediation(days=days, by_host=by_host, by_section=by_section, fleet=fleet)


# -- host page and a scan's findings ---------------------------------------------------------------


@dataclass
class CheckRow:
    check_id: str
    verdict: str
    counts: dict[str, int]  # results per status (WARN without the waived ones, which are WAIVED)
    results: list[Sighting]  # at most OBJECTS_PER_GROUP per status, the verdict's status first
    rec: Recommendation | None
    oldest: datetime | None = None  # when the oldest of its open, unwaived WARN findings was opened

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

    @property
    def attention(self) -> list[CheckRow]:
        """The checks a reader must see: WARN, WAIVED, ERROR and SKIP, in catalog order."""
        return [c for c in self.checks if c.verdict not in QUIET_VERDICTS]

    @property
    def passing(self) -> list[CheckRow]:
        """PASS, INFO and NOTE: one click away on the host page."""
        return [c for c in self.checks if c.verdict in QUIET_VERDICTS]

    @property
    def passing_statuses(self) -> str:
        present = {c.verdict for c in self.passing}
        return ", ".join(v for v in STATUS_PRECEDENCE if v in present)


QUIET_VERDICTS = frozenset({"PASS", "INFO", "NOTE"})


def _shown_status(row: Sighting, waivers: bool) -> str:
    """A WARN row is shown WAIVED when its finding's waiver applies (latest scans only)."""
    waived = waivers and row.status == "WARN" and row.finding.waiver_id is not None
    row.shown_status = WAIVED if waived else row.status  # type: ignore[attr-defined]  # for the template
    return row.shown_status  # type: ignore[attr-defined]


def scan_findings(
    scan: Scan | None, *, current: bool = False, status: str = "", section: str = "", check: str = ""
) -> list[SectionBlock]:
    """The scan's checks grouped by section, each with its verdict, counts and first results (2 queries).

    What the scan reported comes from its sightings (Sighting.at). On the host's latest scan, WARN
    findings covered by an active waiver count as WAIVED (``current``), and a check whose every WARN is waived has the
    verdict WAIVED; older scans show what they said. ``status`` keeps the checks with that verdict,
    ``section`` one section and ``check`` one check; the section counts always cover the whole scan.
    """
    if scan is None:
        return []
    waivers = current  # the host's latest scan: waivers apply to what it reports
    reported = Sighting.at(scan)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    oldest: dict[str, datetime] = {}
    unwaived = Q(finding__waiver__isnull=True) if waivers else Q()
    for check_id, result_status, n, waived, opened in (
        reported.values_list("check_id", "status")
        .annotate(
            n=Count("id"),
            waived=Count("id", filter=Q(finding__waiver__isnull=False, status="WARN")),
            oldest=Min("finding__opened", filter=Q(status="WARN") & unwaived),
        )
        .order_by()
    ):
        waived = waived if waivers else 0
        if opened is not None:
            oldest[check_id] = opened
        if n - waived:
            counts[check_id][result_status] = n - waived
        if waived:
            counts[check_id][WAIVED] = counts[check_id].get(WAIVED, 0) + waived
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
        key=check_sort_key,
    )
    results: dict[str, list[Sighting]] = defaultdict(list)
    if wanted:
        rows = _ranked(
            reported.filter(check_id__in=wanted).select_related("finding__waiver"),
            ["check_id", "status"],
            [F("seq").asc()],
            OBJECTS_OF_ONE_CHECK if check else OBJECTS_PER_GROUP,
        )
        for row in sorted(rows, key=lambda r: (_precedence(_shown_status(r, waivers)), r.seq)):
            results[row.check_id].append(row)

    blocks: dict[str, SectionBlock] = {}
    for key, name in SECTIONS.items():
        if not section or key == section:
            blocks[key] = SectionBlock(key=key, name=name, counts=dict(section_counts.get(key, {})), checks=[])
    for check_id in wanted:
        key = section_of(check_id)
        block = blocks.setdefault(
            key,
            SectionBlock(key=key, name=ALL_SECTIONS.get(key, key), counts=dict(section_counts.get(key, {})), checks=[]),
        )
        block.checks.append(
            CheckRow(
                check_id=check_id,
                verdict=verdicts[check_id],
                counts=counts[check_id],
                results=results.get(check_id, []),
                rec=ALL_BY_ID.get(check_id),
                oldest=oldest.get(check_id),
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
    current: bool = False  # the findings are the latest scan's: waivers apply, risks are ranked

    @property
    def verdicts(self) -> list[tuple[str, int]]:
        """Checks per verdict in the shown scan (its summary), WAIVED apart from WARN on the latest scan."""
        summary = (self.scan.summary or {}) if self.scan is not None else {}
        by_status = summary.get("by_status") if isinstance(summary.get("by_status"), dict) else {}
        counts = {str(k): int(v) for k, v in (by_status or {}).items() if isinstance(v, int)}
        waived = self.scan.waived_checks if self.current and self.scan is not None else 0
        if waived:
            counts["WARN"] = max(0, counts.get("WARN", 0) - waived)
            counts[WAIVED] = waived
        return [(v, counts[v]) for v in STATUS_PRECEDENCE if counts.get(v)]

    @property
    def grade(self) -> str:
        if self.scan is None:
            return "–"
        score = self.scan.waived_score if self.current and self.scan.waived_score is not None else self.scan.score
        return grade(score)

    @property
    def sparkline(self) -> SafeString:
        return charts.sparkline([score for _, score in self.history[-SPARKLINE_SCANS:]])

    @property
    def risks(self) -> list[Risk]:
        """The host's open, unwaived WARN checks ranked by risk (from the findings' counts: no query)."""
        if not self.current:
            return []
        return rank_checks(
            (row.check_id, row.counts.get("WARN", 0), row.oldest)
            for block in self.sections
            for row in block.checks
            if row.counts.get("WARN")
        )

    @property
    def active(self) -> Scan | None:
        return self.newest if self.newest is not None and not self.newest.is_finished else None


def host_page(
    host: Host, *, scan: Scan | None = None, status: str = "", section: str = "", check: str = "", page: int | str = 1
) -> HostPage:
    """Everything the host page shows (6 queries): the newest scan, the findings of ``scan`` (the
    latest by default), the score history and one page of the scan list."""
    newest = host.scans.order_by("-created", "-id").first()
    latest = LatestScan.of(host)
    if scan is None:
        scan = latest
    current = scan is not None and latest is not None and scan.pk == latest.pk
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
        sections=scan_findings(scan, current=current, status=status, section=section, check=check),
        current=current,
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
    results: list[Sighting]

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
    """One check on every host's latest scan: the verdict per host and the offending objects (3 queries).

    What each latest scan reported is the hosts' current sightings (until None); waived WARN findings
    count as WAIVED, as on the host page.
    """
    hosts = (
        Host.objects.filter(latest__isnull=False)
        .select_related("latest__scan")
        .only("name", "latest__scan__host_id", "latest__scan__status", "latest__scan__created")
    )
    if tag:
        hosts = hosts.filter(tags__name=tag)
    by_host = {host.pk: host for host in hosts}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    current = Sighting.objects.filter(until__isnull=True, check_id=check_id)
    if by_host:
        for host_id, result_status, n, waived in (
            current.filter(host_id__in=list(by_host))
            .values_list("host_id", "status")
            .annotate(n=Count("id"), waived=Count("id", filter=Q(finding__waiver__isnull=False, status="WARN")))
            .order_by()
        ):
            if n - waived:
                counts[host_id][result_status] = n - waived
            if waived:
                counts[host_id][WAIVED] = waived
    verdicts = {host_id: verdict(c) for host_id, c in counts.items()}
    tally: dict[str, int] = defaultdict(int)
    for v in verdicts.values():
        tally[v] += 1
    wanted = [host_id for host_id, v in verdicts.items() if not status or v == status]
    results: dict[int, list[Sighting]] = defaultdict(list)
    if wanted:
        rows = _ranked(
            current.filter(host_id__in=wanted).select_related("finding__waiver"),
            ["host_id", "status"],
            [F("seq").asc()],
            OBJECTS_PER_GROUP,
        )
        for row in sorted(rows, key=lambda r: (_precedence(_shown_status(r, True)), r.seq)):
            results[row.host_id].append(row)
    rows_out = [
        HostVerdict(
            host=by_host[host_id],
            scan=by_host[host_id].latest.scan,
            verdict=verdicts[host_id],
            counts=counts[host_id],
            results=results.get(host_id, []),
        )
        for host_id in wanted
    ]
    rows_out.sort(key=lambda r: (_precedence(r.verdict), -r.objects, r.host.name))
    return CheckFleet(
        rec=ALL_BY_ID.get(check_id),
        check_id=check_id,
        hosts=rows_out,
        verdicts=dict(tally),
        not_run=len(by_host) - len(counts),
    )


# -- the morning summary ------------------------------------------------------------------------

# A host's grade from its score (with waivers): the same bands everywhere a grade is shown.
GRADES = (("A", 90), ("B", 80), ("C", 70), ("D", 60), ("F", 0))
STALE_AFTER = timedelta(hours=48)  # a host without a scored scan for this long: the overview and notifications
SUMMARY_LIST = 10  # hosts or waivers named in a summary line; the rest are counted
TREND_DAYS = (30, 90)


def grade(score: int | None) -> str:
    """A for 90 and above, B 80, C 70, D 60, F below; "–" without a score."""
    if score is None:
        return "–"
    return next(letter for letter, floor in GRADES if score >= floor)


@dataclass
class MorningSummary:
    hosts: int
    score: int | None  # the mean of the hosts' latest scores, with waivers
    grades: dict[str, int]  # grade -> hosts, in GRADES order, plus "–" for hosts without a score
    new: int  # WARN findings opened by each host's latest scan, when it finished in the last day
    fixed: int
    failed: list[Host]  # hosts whose newest scan failed
    stale: list[Host]  # enabled hosts without a scored scan for STALE_AFTER (or ever)
    failed_count: int
    stale_count: int
    expiring: list[Waiver]  # waivers expiring within EXPIRING_SOON_DAYS
    expiring_count: int
    trend: dict[int, SafeString]  # days -> the fleet's daily mean score over that many days, as SVG
    trend_points: dict[int, list[tuple[datetime, int]]]
    warn_chart: SafeString  # WARN checks per host, per section, per day (FleetDay)


def morning_summary(*, now: datetime | None = None) -> MorningSummary:
    """The top of the fleet overview (3 queries whatever the fleet): the fleet score and grades, new and fixed
    since yesterday, hosts whose newest scan failed or that are stale, waivers expiring soon, and the trend."""
    now = now or timezone.now()
    newest_status = Subquery(Scan.objects.filter(host=OuterRef("pk")).order_by("-created", "-id").values("status")[:1])
    rows = list(
        Host.objects.annotate(newest_status=newest_status)
        .select_related("latest__scan")
        .only(
            "name",
            "enabled",
            "latest__scan__host_id",
            "latest__scan__finished",
            "latest__scan__score",
            "latest__scan__waived_score",
            "latest__scan__summary",
        )
        .order_by("name")
    )
    grades: dict[str, int] = {letter: 0 for letter, _ in GRADES} | {"–": 0}
    scores: list[int] = []
    new = fixed = 0
    failed: list[Host] = []
    stale: list[Host] = []
    for host in rows:
        scan = LatestScan.of(host)
        score = None if scan is None else (scan.waived_score if scan.waived_score is not None else scan.score)
        grades[grade(score)] += 1
        if score is not None:
            scores.append(score)
        if scan is not None and scan.finished is not None and scan.finished >= now - timedelta(days=1):
            n, f = _news(scan, "")
            new, fixed = new + (n or 0), fixed + (f or 0)
        if getattr(host, "newest_status") == Scan.Status.FAILED:  # noqa: B009 - an annotation
            failed.append(host)
        too_old = scan is None or scan.finished is None or scan.finished < now - STALE_AFTER
        if host.enabled and too_old:
            stale.append(host)
    soon = now.date() + timedelta(days=EXPIRING_SOON_DAYS)
    expiring = list(
        Waiver.objects.filter(revoked__isnull=True, expires__gt=now.date(), expires__lte=soon)
        .select_related("host", "tag")
        .only("check_id", "expires", "owner", "object_pattern", "host__name", "tag__name")
        .order_by("expires", "id")
    )
    fleet_days = _fleet_days(now, max(TREND_DAYS))
    points = [(_midnight(d), mean) for d in fleet_days if (mean := d.mean) is not None]
    windows = {days: [(d, v) for d, v in points if d >= now - timedelta(days=days)] for days in TREND_DAYS}
    warn_chart = charts.series_lines(
        {f"{k}. {SECTIONS[k]}": v for k, v in _warn_series(fleet_days).items()},
        title=f"WARN checks per host and section over {max(TREND_DAYS)} days",
    )
    return MorningSummary(
        hosts=len(rows),
        score=round(sum(scores) / len(scores)) if scores else None,
        grades=grades,
        new=new,
        fixed=fixed,
        failed=failed[:SUMMARY_LIST],
        stale=stale[:SUMMARY_LIST],
        failed_count=len(failed),
        stale_count=len(stale),
        expiring=expiring[:SUMMARY_LIST],
        expiring_count=len(expiring),
        trend={days: charts.score_history(w, width=480, height=140) for days, w in windows.items()},
        trend_points=windows,
        warn_chart=warn_chart,
    )


def _fleet_days(now: datetime, days: int) -> list[FleetDay]:
    """The fleet's days over the last ``days`` days (1 query, a row a day; beat keeps today's row within ten
    minutes of its scans: scans.tasks.rollup_fleet_days)."""
    since = (now - timedelta(days=days)).astimezone(UTC).date()
    return list(FleetDay.objects.filter(day__gte=since).order_by("day"))


def _midnight(day: FleetDay) -> datetime:
    return datetime.combine(day.day, datetime.min.time(), tzinfo=UTC)


def _warn_series(days: list[FleetDay]) -> dict[str, list[tuple[datetime, float]]]:
    """WARN checks per scanned host, per CIS section and day: what the fleet's sections owe over time."""
    series: dict[str, list[tuple[datetime, float]]] = {key: [] for key in SECTIONS}
    for day in days:
        if not day.scans:
            continue
        warn = day.warn if isinstance(day.warn, dict) else {}
        for key in SECTIONS:
            try:
                value = float(warn.get(key) or 0) / day.scans
            except (TypeError, ValueError):
                value = 0.0
            series[key].append((_midnight(day), round(value, 2)))
    return series


# -- search across the fleet ---------------------------------------------------------------------

SEARCH_LIMIT = 25  # results shown per kind; the page says when there are more
SEARCH_MIN_LENGTH = 2


@dataclass(frozen=True)
class ContainerHit:
    host_id: int
    host_name: str
    name: str
    image: str
    running: bool


@dataclass(frozen=True)
class ImageHit:
    host_id: int
    host_name: str
    image: str
    containers: int


@dataclass
class SearchResults:
    q: str
    hosts: list[Host] = field(default_factory=list)
    containers: list[ContainerHit] = field(default_factory=list)
    images: list[ImageHit] = field(default_factory=list)
    more: dict[str, bool] = field(default_factory=dict)  # kind -> more than SEARCH_LIMIT matched

    @property
    def empty(self) -> bool:
        return not (self.hosts or self.containers or self.images)


def fleet_search(q: str, *, limit: int = SEARCH_LIMIT) -> SearchResults:
    """Hosts, containers and images whose name contains ``q`` (any case), grouped by kind (3 queries).

    Containers and their images are those of each host's latest scan (its DiffSnapshot rows, one per
    container, running or not), so the answer is what the fleet runs now.
    """
    q = " ".join(q.split())[:100]
    results = SearchResults(q=q)
    if len(q) < SEARCH_MIN_LENGTH:
        return results
    hosts = list(Host.objects.filter(name__icontains=q).only("name", "enabled").order_by("name")[: limit + 1])
    latest = DiffSnapshot.objects.filter(scan_id__in=LatestScan.objects.values("scan_id"))
    containers = list(
        latest.filter(container_name__icontains=q)
        .order_by("container_name", "scan__host__name")
        .values_list("scan__host_id", "scan__host__name", "container_name", "image", "running")[: limit + 1]
    )
    images = list(
        latest.filter(image__icontains=q)
        .values_list("scan__host_id", "scan__host__name", "image")
        .annotate(n=Count("id"))
        .order_by("image", "scan__host__name")[: limit + 1]
    )
    results.hosts = hosts[:limit]
    results.containers = [ContainerHit(h, hn, n.lstrip("/"), i, r) for h, hn, n, i, r in containers[:limit]]
    results.images = [ImageHit(h, hn, i, n) for h, hn, i, n in images[:limit]]
    results.more = {"hosts": len(hosts) > limit, "containers": len(containers) > limit, "images": len(images) > limit}
    return results


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
