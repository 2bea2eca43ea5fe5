"""What the PDF reports hold, gathered in a fixed, small number of queries whatever the fleet or the period.

"Now" is each host's latest scored scan created within the period (not LatestScan: a report of last month says
what last month ended with). Trends come from FleetDay when the whole fleet is shown, else from the scans of the
tagged hosts added up per day in SQL; new and fixed from Episode; waivers in force from Waiver; drift from the
DiffSnapshot rows of the "now" scans. The tests pin the counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Func, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from dockerbench.catalog import ALL_BY_ID, ALL_SECTIONS, Recommendation, section_of
from hosts.models import Host
from scans.models import DiffSnapshot, Episode, FleetDay, Scan, Sighting, Waiver, waived_sections_of
from scans.queries import (
    WAIVED,
    CheckRow,
    Risk,
    SectionBlock,
    check_sort_key,
    grade,
    rank_checks,
    verdict,
)

RISKS_LISTED = 15  # checks in "risks ranked"; the rest are counted
CHANGES_LISTED = 40  # checks (fleet) or findings (host) in "new and fixed"
WAIVERS_LISTED = 100
DRIFT_LISTED = 40  # containers with suspicious or new changes
PATHS_PER_CONTAINER = 8
HISTORY_POINTS = 1000  # a host's score history in the period: the newest this many scans


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, datetime.min.time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Midnight (UTC) after ``until``: the period is [start, end)."""
        return datetime.combine(self.until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def _score(scan: Scan | None) -> int | None:
    if scan is None:
        return None
    return scan.waived_score if scan.waived_score is not None else scan.score


def section_warns(summary: Any, keys: list[str]) -> dict[str, int]:
    """WARN checks per section in a scan's summary, without the checks whose every WARN finding is waived."""
    sections = summary.get("sections") if isinstance(summary, dict) else None
    waived = waived_sections_of(summary)
    out = {}
    for key in keys:
        counts = sections.get(key) if isinstance(sections, dict) else None
        try:
            warn = int(counts.get("WARN") or 0) if isinstance(counts, dict) else 0
        except (TypeError, ValueError):
            warn = 0
        out[key] = max(0, warn - waived.get(key, 0))
    return out


def _section_counts(summary: Any, key: str) -> dict[str, int]:
    sections = summary.get("sections") if isinstance(summary, dict) else None
    counts = sections.get(key) if isinstance(sections, dict) else None
    out = {}
    for status, n in (counts or {}).items() if isinstance(counts, dict) else ():
        try:
            out[str(status)] = int(n)
        except (TypeError, ValueError):
            continue
    return out


class _SummaryWarn(Func):
    """summary["sections"][key]["WARN"] as an integer, in SQL.

    Django's key transforms read a numeric key ("5") as an array index on PostgreSQL, so the path is written
    out here for the two databases we run on; ``key`` is one of the catalog's section keys, never user text.
    """

    output_field = IntegerField()

    def __init__(self, key: str) -> None:
        if key not in ALL_SECTIONS:
            raise ValueError(f"unknown section {key!r}")
        super().__init__(F("summary"))
        self.key = key

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(({sql} -> 'sections' -> %s ->> 'WARN')::integer, 0)", [*params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(CAST(json_extract({sql}, %s) AS INTEGER), 0)", [*params, f'$.sections."{self.key}".WARN']


# -- the parts both reports share ------------------------------------------------------------------


@dataclass(frozen=True)
class HostLine:
    """One host of the report: its scan at the end of the period (None: not scanned in it)."""

    host_id: int
    name: str
    enabled: bool
    tags: list[str]
    scan: Scan | None
    warns: dict[str, int]  # WARN checks per shown section, waived ones left out
    first_scan_id: int | None = None  # the host's first scored scan ever: what it opened is not news

    @property
    def score(self) -> int | None:
        return _score(self.scan)

    @property
    def raw_score(self) -> int | None:
        return self.scan.score if self.scan is not None else None

    @property
    def grade(self) -> str:
        return grade(self.score)

    @property
    def warn_cells(self) -> list[int | None]:
        return [self.warns.get(k) if self.scan is not None else None for k in self.warns]

    @property
    def warn_total(self) -> int:
        return sum(self.warns.values())


@dataclass(frozen=True)
class SectionLine:
    """One section across the report's hosts, from their scans' summaries."""

    key: str
    name: str
    hosts_with_warn: int
    warn: int  # WARN checks summed over the hosts, waived ones left out
    passed: int
    waived: int
    other: int  # INFO, NOTE, SKIP, ERROR checks
    new: int = 0  # WARN findings opened in the period
    fixed: int = 0


@dataclass(frozen=True)
class TrendDay:
    day: date
    scans: int
    score_sum: int
    warn: dict[str, int]

    @property
    def mean(self) -> int | None:
        return round(self.score_sum / self.scans) if self.scans else None


@dataclass(frozen=True)
class Change:
    """New and fixed WARN findings of one check in the period (fleet), or one finding (host)."""

    check_id: str
    rec: Recommendation | None
    new: int
    fixed: int
    hosts: int = 0
    object_kind: str = ""
    object_name: str = ""
    when: datetime | None = None
    fixed_when: datetime | None = None

    @property
    def title(self) -> str:
        return self.rec.title if self.rec else self.check_id


@dataclass(frozen=True)
class WaiverLine:
    waiver: Waiver
    covers: int  # open findings it covers now


@dataclass(frozen=True)
class DriftLine:
    host_id: int
    host_name: str
    container_name: str
    image: str
    suspicious: list[dict[str, str]]
    new: int  # changes new since the container's previous scan
    more_paths: int  # suspicious paths beyond PATHS_PER_CONTAINER


@dataclass
class Capped:
    """A list cut at its limit, and how many more there were ("and N more")."""

    items: list[Any]
    more: int = 0

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def total(self) -> int:
        return len(self.items) + self.more


def _capped(items: list[Any], limit: int) -> Capped:
    return Capped(items[:limit], max(0, len(items) - limit))


@dataclass
class Common:
    period: Period
    sections: list[str]  # the shown sections' keys, catalog order
    hosts: list[HostLine]
    section_lines: list[SectionLine]
    trend: list[TrendDay]
    risks: Capped
    changes: Capped
    new_total: int
    fixed_total: int
    waivers: Capped
    drift: Capped
    containers: int  # containers in the "now" scans (DiffSnapshot rows)
    drift_suspicious: int  # of them, with suspicious changes
    drift_new: int  # with changes since their previous scan
    queries: int = 0  # for the row budget's message, filled by the caller
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scan_ids(self) -> list[int]:
        return sorted(h.scan.pk for h in self.hosts if h.scan is not None)

    @property
    def scanned(self) -> list[HostLine]:
        return [h for h in self.hosts if h.scan is not None]

    @property
    def unscanned(self) -> int:
        return len(self.hosts) - len(self.scanned)

    @property
    def mean_score(self) -> int | None:
        scores = [s for h in self.hosts if (s := h.score) is not None]
        return round(sum(scores) / len(scores)) if scores else None

    @property
    def grades(self) -> dict[str, int]:
        out = dict.fromkeys(("A", "B", "C", "D", "F", "–"), 0)
        for h in self.hosts:
            out[h.grade] += 1
        return out

    @property
    def warn_total(self) -> int:
        return sum(line.warn for line in self.section_lines)

    @property
    def score_points(self) -> list[tuple[datetime, int]]:
        return [(_midnight(d.day), mean) for d in self.trend if (mean := d.mean) is not None]

    @property
    def score_change(self) -> tuple[int, int] | None:
        """(first, last) mean score of the period's trend, when it has two days or more."""
        points = self.score_points
        return (points[0][1], points[-1][1]) if len(points) >= 2 else None

    def warn_series(self) -> dict[str, Sequence[tuple[datetime, float]]]:
        """WARN checks per scanned host, per shown section and day."""
        series: dict[str, Sequence[tuple[datetime, float]]] = {}
        for key in self.sections:
            points = [(_midnight(d.day), round(d.warn.get(key, 0) / d.scans, 2)) for d in self.trend if d.scans]
            series[f"{key}. {ALL_SECTIONS[key]}"] = points
        return series


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


_SCAN_FIELDS = (
    "host_id",
    "status",
    "created",
    "finished",
    "score",
    "waived_score",
    "waived_checks",
    "warn_count",
    "summary",
    "engine_version",
)


def _scored_in(period: Period) -> QuerySet[Scan]:
    return Scan.objects.filter(status__in=Scan.SCORED_STATUSES, created__gte=period.start, created__lt=period.end)


def _host_lines(hosts: QuerySet[Host], period: Period, sections: list[str]) -> list[HostLine]:
    """The hosts with their scan at the end of the period and their tags (3 queries; 2 without a scan)."""
    last = _scored_in(period).filter(host=OuterRef("pk")).order_by("-created", "-id").values("id")[:1]
    first = Scan.objects.filter(host=OuterRef("pk"), status__in=Scan.SCORED_STATUSES).order_by("created", "id")
    rows = list(
        hosts.annotate(report_scan=Subquery(last), first_scan=Subquery(first.values("id")[:1]))
        .order_by("name")
        .values_list("pk", "name", "enabled", "report_scan", "first_scan")
    )
    ids = [scan_id for _, _, _, scan_id, _ in rows if scan_id is not None]
    scans = {s.pk: s for s in Scan.objects.filter(pk__in=ids).only(*_SCAN_FIELDS)} if ids else {}
    tags: dict[int, list[str]] = defaultdict(list)
    through = Host.tags.through.objects.filter(host_id__in=hosts.values("pk")).order_by("tag__name")
    for host_id, name in through.values_list("host_id", "tag__name"):
        tags[host_id].append(name)
    out = []
    for pk, name, enabled, scan_id, first_scan in rows:
        scan = scans.get(scan_id) if scan_id is not None else None
        warns = section_warns(scan.summary, sections) if scan is not None else dict.fromkeys(sections, 0)
        out.append(HostLine(pk, name, enabled, tags.get(pk, []), scan, warns, first_scan))
    return out


def _section_lines(lines: list[HostLine], sections: list[str], news: dict[str, tuple[int, int]]) -> list[SectionLine]:
    out = []
    for key in sections:
        hosts_with_warn = warn = passed = waived = other = 0
        for line in lines:
            if line.scan is None:
                continue
            counts = _section_counts(line.scan.summary, key)
            w = waived_sections_of(line.scan.summary).get(key, 0)
            unwaived = max(0, counts.get("WARN", 0) - w)
            hosts_with_warn += 1 if unwaived else 0
            warn += unwaived
            waived += w
            passed += counts.get("PASS", 0)
            other += sum(n for s, n in counts.items() if s not in ("WARN", "PASS"))
        new, fixed = news.get(key, (0, 0))
        out.append(SectionLine(key, ALL_SECTIONS[key], hosts_with_warn, warn, passed, waived, other, new, fixed))
    return out


def _trend(period: Period, hosts: QuerySet[Host] | None, sections: list[str]) -> list[TrendDay]:
    """The period's days: FleetDay rows for the whole fleet (1 query), else the hosts' scans added up per day
    in SQL (1 query, a row a day)."""
    if hosts is None:
        days = FleetDay.objects.filter(day__gte=period.since, day__lte=period.until).order_by("day")
        return [
            TrendDay(d.day, d.scans, d.score_sum, {k: int((d.warn or {}).get(k) or 0) for k in sections}) for d in days
        ]
    keys = [k for k in sections if k in ALL_SECTIONS]
    rows = (
        _scored_in(period)
        .filter(host__in=hosts.values("pk"), score__isnull=False)
        .annotate(day=TruncDate("created", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"), total=Sum("score"), **{f"w{k}": Sum(_SummaryWarn(k)) for k in keys})
        .order_by("day")
    )
    return [TrendDay(r["day"], r["n"], int(r["total"] or 0), {k: int(r[f"w{k}"] or 0) for k in keys}) for r in rows]


def _open_at_end(period: Period) -> Q:
    return Q(opened__lt=period.end) & (Q(fixed__isnull=True) | Q(fixed__gte=period.end))


def _age_shift(period: Period) -> timedelta:
    """rank_checks measures ages up to now; a report of an earlier period measures them up to its end."""
    return max(timedelta(0), timezone.now() - period.end)


def _risks(episodes: QuerySet[Episode], period: Period) -> list[Risk]:
    """The checks with open, unwaived WARN findings at the end of the period, ranked (1 query)."""
    rows = list(
        episodes.filter(_open_at_end(period), finding__waiver__isnull=True)
        .values("finding__check_id")
        .annotate(n=Count("finding_id", distinct=True), hosts=Count("host_id", distinct=True), oldest=Min("opened"))
        .order_by()
    )
    shift = _age_shift(period)
    return rank_checks(
        ((r["finding__check_id"], r["n"], r["oldest"] + shift) for r in rows),
        hosts={r["finding__check_id"]: r["hosts"] for r in rows},
        limit=len(rows),
    )


def _news(first_scans: list[int]) -> Q:
    """The episodes a host's later scans opened: what its first scan opened is its backlog, not news
    (docs/findings.md); fixing it later is. Scan ids are unique, so the hosts' first scans as one IN list do
    (an EXISTS of an earlier scan per episode read a year of scans for each: 15 s on the bench fleet)."""
    return ~Q(opened_scan__in=first_scans)


def _waivers(hosts: QuerySet[Host] | None, period: Period, sections: list[str]) -> list[WaiverLine]:
    """The waivers in force at the end of the period that reach the report's hosts (1 query)."""
    waivers = Waiver.objects.filter(created__lt=period.end, expires__gt=period.until).filter(
        Q(revoked__isnull=True) | Q(revoked__gte=period.end)
    )
    if hosts is not None:
        tags = Host.tags.through.objects.filter(host_id__in=hosts.values("pk")).values("tag_id")
        waivers = waivers.filter(
            Q(host__in=hosts.values("pk")) | Q(tag__in=tags) | Q(host__isnull=True, tag__isnull=True)
        )
    rows = (
        waivers.select_related("host", "tag")
        .only(
            "check_id", "object_pattern", "reason", "owner", "ticket", "expires", "created", "host__name", "tag__name"
        )
        .annotate(covers=Count("findings", filter=Q(findings__state="open")))
        .order_by("expires", "id")
    )
    return [WaiverLine(w, getattr(w, "covers")) for w in rows if section_of(w.check_id) in sections]  # noqa: B009


def _drift(
    scan_ids: list[int], names: dict[int, str], hosts_of: dict[int, int]
) -> tuple[list[DriftLine], int, int, int]:
    """The containers of the "now" scans whose diff has suspicious changes or changes since the previous
    scan, suspicious first (1 query; the full change lists stay in the database)."""
    if not scan_ids:
        return [], 0, 0, 0
    lines = []
    containers = suspicious_n = new_n = 0
    rows = DiffSnapshot.objects.filter(scan_id__in=scan_ids).values_list(
        "scan_id", "container_name", "image", "suspicious", "new_since_previous"
    )
    for scan_id, name, image, suspicious, new in rows:
        containers += 1
        items = [{k: str(v) for k, v in s.items()} for s in (suspicious or []) if isinstance(s, dict)]
        new_count = len(new) if isinstance(new, list) else 0
        suspicious_n += 1 if items else 0
        new_n += 1 if new_count else 0
        if items or new_count:
            host_id = hosts_of[scan_id]
            lines.append(
                DriftLine(
                    host_id=host_id,
                    host_name=names[host_id],
                    container_name=name.lstrip("/"),
                    image=image,
                    suspicious=items[:PATHS_PER_CONTAINER],
                    new=new_count,
                    more_paths=max(0, len(items) - PATHS_PER_CONTAINER),
                )
            )
    lines.sort(key=lambda d: (-len(d.suspicious) - d.more_paths, -d.new, d.host_name, d.container_name))
    return lines, containers, suspicious_n, new_n


# -- the fleet report ------------------------------------------------------------------------------


def fleet_report(*, period: Period, tag: str = "", sections: list[str]) -> Common:
    """Everything the fleet report shows (8 queries; 7 without any scan in the period)."""
    hosts = Host.objects.all()
    if tag:
        hosts = hosts.filter(tags__name=tag)
    lines = _host_lines(hosts, period, sections)
    scoped = hosts if tag else None
    trend = _trend(period, scoped, sections)
    episodes = Episode.objects.filter(section__in=sections)
    if tag:
        episodes = episodes.filter(host__in=hosts.values("pk"))
    risks = _risks(episodes, period)
    in_period = Q(opened__gte=period.start, opened__lt=period.end)
    fixed_in = Q(fixed__gte=period.start, fixed__lt=period.end)
    news = _news([h.first_scan_id for h in lines if h.first_scan_id is not None])
    news_rows = list(
        episodes.filter(in_period | fixed_in)
        .values("section", "finding__check_id")
        .annotate(
            # Not "new" and "fixed": the hosts' filter reads the fields of those names.
            n_new=Count("id", filter=in_period & news),
            n_fixed=Count("id", filter=fixed_in),
            n_hosts=Count("host_id", distinct=True, filter=(in_period & news) | fixed_in),
        )
        .order_by()
    )
    by_section: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    changes = []
    for r in news_rows:
        if not (r["n_new"] or r["n_fixed"]):  # opened in the period by a host's first scan, and still open
            continue
        by_section[r["section"]][0] += r["n_new"]
        by_section[r["section"]][1] += r["n_fixed"]
        check_id = r["finding__check_id"]
        changes.append(Change(check_id, ALL_BY_ID.get(check_id), r["n_new"], r["n_fixed"], hosts=r["n_hosts"]))
    changes.sort(key=lambda c: (-(c.new + c.fixed), check_sort_key(c.check_id)))
    waivers = _waivers(scoped, period, sections)
    names = {h.host_id: h.name for h in lines}
    hosts_of = {h.scan.pk: h.host_id for h in lines if h.scan is not None}
    return _common(period, sections, lines, trend, risks, changes, by_section, waivers, names, hosts_of)


def _common(
    period: Period,
    sections: list[str],
    lines: list[HostLine],
    trend: list[TrendDay],
    risks: list[Any],
    changes: list[Change],
    by_section: dict[str, list[int]],
    waivers: list[Any],
    names: dict[int, str],
    hosts_of: dict[int, int],
) -> Common:
    """What both reports hold, from what each gathered its own way: the lists capped, the section lines and
    the new and fixed totals from ``by_section`` (section -> [new, fixed]), and the drift of the "now" scans
    (``hosts_of``: scan id -> host id)."""
    drift, containers, suspicious, new = _drift(sorted(hosts_of), names, hosts_of)
    return Common(
        period=period,
        sections=sections,
        hosts=lines,
        section_lines=_section_lines(lines, sections, {k: (v[0], v[1]) for k, v in by_section.items()}),
        trend=trend,
        risks=_capped(risks, RISKS_LISTED),
        changes=_capped(changes, CHANGES_LISTED),
        new_total=sum(v[0] for v in by_section.values()),
        fixed_total=sum(v[1] for v in by_section.values()),
        waivers=_capped(waivers, WAIVERS_LISTED),
        drift=_capped(drift, DRIFT_LISTED),
        containers=containers,
        drift_suspicious=suspicious,
        drift_new=new,
    )


# -- the host report -------------------------------------------------------------------------------


@dataclass
class HostReport:
    common: Common
    host: Host
    history: list[tuple[datetime, int]]
    blocks: list[SectionBlock]  # every check of the shown sections with every result (no cap)
    results: int  # result rows in blocks
    current: bool = False  # the scan is the host's latest: waivers apply to what it reported

    @property
    def line(self) -> HostLine:
        return self.common.hosts[0]

    @property
    def checks(self) -> int:
        return sum(len(b.checks) for b in self.blocks)

    @property
    def attention(self) -> list[CheckRow]:
        return [c for b in self.blocks for c in b.attention]

    @property
    def passing(self) -> list[CheckRow]:
        return [c for b in self.blocks for c in b.passing]


def count_results(scan: Scan, sections: list[str]) -> int:
    """How many results the host report would list (1 query), for the row budget before anything is read."""
    return Sighting.at(scan).filter(section__in=sections).count()


def host_report(host: Host, *, period: Period, sections: list[str], budget: Any = None) -> HostReport:
    """Everything the host report shows (10 queries; 5 without a scan in the period).

    ``budget(common, results)`` is called once the result rows are counted and before they are read, so a
    report too large stops there.
    """
    hosts = Host.objects.filter(pk=host.pk)
    lines = _host_lines(hosts, period, sections)
    line = lines[0]
    scan = line.scan
    history: list[tuple[datetime, int]] = []
    if scan is not None:
        history = [
            (created, score)
            for created, score in _scored_in(period)
            .filter(host=host, score__isnull=False)
            .order_by("-created", "-id")
            .values_list("created", "score")[:HISTORY_POINTS]
            if score is not None
        ]
        history.reverse()
    trend = [
        TrendDay(created.date(), 1, score, {}) for created, score in history
    ]  # one point per scan: the same chart as the host page's history
    episodes = Episode.objects.filter(host=host, section__in=sections)
    risks = _risks(episodes, period)
    in_period = Q(opened__gte=period.start, opened__lt=period.end)
    fixed_in = Q(fixed__gte=period.start, fixed__lt=period.end)
    first_scan = line.first_scan_id
    change_rows = list(
        episodes.filter(in_period | fixed_in)
        .select_related("finding")
        .only(
            "opened",
            "opened_scan",
            "fixed",
            "section",
            "finding__check_id",
            "finding__object_kind",
            "finding__object_name",
            "finding__object_key",
        )
        .order_by("-opened", "-id")
    )
    by_section: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    changes = []
    for e in change_rows:
        new = 1 if e.opened_scan != first_scan and period.start <= e.opened < period.end else 0
        fixed = 1 if e.fixed is not None and period.start <= e.fixed < period.end else 0
        if not (new or fixed):
            continue
        by_section[e.section][0] += new
        by_section[e.section][1] += fixed
        f = e.finding
        changes.append(
            Change(
                f.check_id,
                ALL_BY_ID.get(f.check_id),
                new,
                fixed,
                object_kind=f.object_kind,
                object_name=f.object_name or f.object_key,
                when=e.opened,
                fixed_when=e.fixed,
            )
        )
    waivers = [
        w
        for w in _waivers(hosts, period, sections)
        if w.waiver.host_id in (None, host.pk) and (w.waiver.tag is None or w.waiver.tag.name in line.tags)
    ]
    hosts_of = {scan.pk: host.pk} if scan is not None else {}
    common = _common(
        period, sections, lines, trend, risks, changes, by_section, waivers, {host.pk: host.name}, hosts_of
    )
    blocks: list[SectionBlock] = []
    results = 0
    current = scan is not None and _is_latest(host, scan)
    if scan is not None:
        results = count_results(scan, sections)
        if budget is not None:
            budget(common, results)
        blocks = _blocks(scan, sections, current=current)
    elif budget is not None:
        budget(common, 0)
    return HostReport(common=common, host=host, history=history, blocks=blocks, results=results, current=current)


def _is_latest(host: Host, scan: Scan) -> bool:
    """Whether the report's scan is the host's latest, so waivers apply to what it reported (no query: the
    host was read with its LatestScan)."""
    latest = getattr(getattr(host, "latest", None), "scan_id", None)
    return latest == scan.pk


def _blocks(scan: Scan, sections: list[str], *, current: bool) -> list[SectionBlock]:
    """Every check of the scan in the shown sections with every result, as the host page groups them (1 query)."""
    rows = list(Sighting.at(scan).filter(section__in=sections).select_related("finding__waiver").order_by("seq"))
    by_check: dict[str, list[Sighting]] = defaultdict(list)
    for row in rows:
        waived = current and row.status == "WARN" and row.finding.waiver_id is not None
        row.shown_status = WAIVED if waived else row.status  # type: ignore[attr-defined]  # for _check.html
        by_check[row.check_id].append(row)
    blocks = {key: SectionBlock(key=key, name=ALL_SECTIONS[key], counts={}, checks=[]) for key in sections}
    for check_id in sorted(by_check, key=check_sort_key):
        results = by_check[check_id]
        counts: dict[str, int] = defaultdict(int)
        oldest: datetime | None = None
        for r in results:
            counts[r.shown_status] += 1  # type: ignore[attr-defined]
            if r.shown_status == "WARN" and r.finding.opened is not None:  # type: ignore[attr-defined]
                oldest = r.finding.opened if oldest is None else min(oldest, r.finding.opened)
        v = verdict(counts)
        order = {s: i for i, s in enumerate(("WARN", WAIVED, "ERROR", "SKIP", "NOTE", "INFO", "PASS"))}
        results.sort(key=lambda r: (order.get(r.shown_status, 9), r.seq))  # type: ignore[attr-defined]
        key = section_of(check_id)
        block = blocks.get(key)
        if block is None:
            continue
        block.counts[v] = block.counts.get(v, 0) + 1
        block.checks.append(
            CheckRow(
                check_id=check_id,
                verdict=v,
                counts=dict(counts),
                results=results,
                rec=ALL_BY_ID.get(check_id),
                oldest=oldest,
            )
        )
    return list(blocks.values())
