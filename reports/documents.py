"""The PDF reports: a fleet report and a host report, made by WeasyPrint from the pages' templates and CSS.

``ReportRequest`` says what to report on (it is what the Reports page stores and a schedule repeats);
``render_report`` gathers the data (reports.queries), checks it against the row budget, renders
templates/reports/pdf/ to HTML and lays it out. WeasyPrint fetches nothing but our own static files
(``StaticFetcher``): a PDF render never reaches the network, whatever a host's strings say.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import CSS, HTML
from weasyprint.html import UA, UA_COUNTER_STYLE, UA_FORM_STYLESHEET
from weasyprint.urls import URLFetcher, URLFetcherResponse

import dockerbench
from dockerbench.catalog import ALL_SECTIONS
from dockerbench.fixes import bundle
from hosts.models import CREDENTIAL_FIELDS, Host
from reports import queries
from scans import charts
from scans import fixes as scan_fixes

logger = logging.getLogger(__name__)

KINDS = ("fleet", "host")
DEFAULT_DAYS = 30
TAG_MAX = 100
Progress = Callable[[str, int, int], None]


def _parse_date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date as YYYY-MM-DD, not {value!r}")


def _today() -> date:
    return timezone.now().astimezone(UTC).date()


@dataclass(frozen=True)
class ReportRequest:
    """What a report is about. Dates are UTC days, both ends included; ``sections`` empty means every section."""

    kind: str  # "fleet" | "host"
    host_id: int | None = None  # required for "host"
    tag: str = ""  # fleet: only hosts with this tag
    since: date | None = None  # default: DEFAULT_DAYS days before `until`
    until: date | None = None  # default: today (UTC)
    sections: tuple[str, ...] = ()  # catalog section keys ("1".."7", "S")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be 'fleet' or 'host', not {self.kind!r}")
        if self.kind == "host":
            if isinstance(self.host_id, bool) or not isinstance(self.host_id, int) or self.host_id <= 0:
                raise ValueError("a host report needs the host's id (host_id)")
            if self.tag:
                raise ValueError("a host report takes no tag: it is about one host")
        elif self.host_id is not None:
            raise ValueError("a fleet report takes no host_id; ask for a host report instead")
        if not isinstance(self.tag, str) or len(self.tag) > TAG_MAX:
            raise ValueError(f"tag must be text of at most {TAG_MAX} characters")
        object.__setattr__(self, "tag", self.tag.strip())
        object.__setattr__(self, "since", _parse_date(self.since, "since"))
        object.__setattr__(self, "until", _parse_date(self.until, "until"))
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        if isinstance(self.sections, str):
            raise ValueError("sections must be a list of section keys, such as ['1', '5', 'S']")
        unknown = [s for s in self.sections if s not in ALL_SECTIONS]
        if unknown:
            known = ", ".join(ALL_SECTIONS)
            raise ValueError(f"unknown section {', '.join(map(str, unknown))}: the sections are {known}")
        # Catalog order, each once: two requests for the same sections are the same request.
        object.__setattr__(self, "sections", tuple(k for k in ALL_SECTIONS if k in self.sections))

    def params(self) -> dict[str, Any]:
        """JSON-safe, to store; from_params(params()) is an equal request. Unset dates stay unset, so a stored
        request means "the last 30 days" whenever it is made again."""
        return {
            "kind": self.kind,
            "host_id": self.host_id,
            "tag": self.tag,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "sections": list(self.sections),
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ReportRequest:
        """A request from stored or submitted params; ValueError says what is wrong with them."""
        if not isinstance(params, dict):
            raise ValueError("report parameters must be a mapping")
        allowed = {"kind", "host_id", "tag", "since", "until", "sections"}
        extra = sorted(set(params) - allowed)
        if extra:
            raise ValueError(f"unknown report parameter {', '.join(map(str, extra))}")
        host_id = params.get("host_id")
        if isinstance(host_id, str) and host_id.isdigit():
            host_id = int(host_id)
        sections = params.get("sections") or ()
        if not isinstance(sections, list | tuple):
            raise ValueError("sections must be a list of section keys, such as ['1', '5', 'S']")
        return cls(
            kind=params.get("kind", ""),
            host_id=host_id,
            tag=params.get("tag") or "",
            since=params.get("since"),
            until=params.get("until"),
            sections=tuple(str(s) for s in sections),
        )

    def period(self, today: date | None = None) -> queries.Period:
        until = self.until or today or _today()
        since = self.since or until - timedelta(days=DEFAULT_DAYS)
        if since > until:  # only `since` given, and it is in the future
            raise ValueError(f"since ({since}) is after until ({until})")
        return queries.Period(since=since, until=until)

    @property
    def shown_sections(self) -> list[str]:
        return list(self.sections or ALL_SECTIONS)

    def title(self, host_name: str | None = None) -> str:
        """E.g. "Fleet report, tag prod, 2026-11-01 to 2026-12-01" (a host report reads its host's name)."""
        if self.kind == "host":
            if host_name is None:
                host_name = Host.objects.filter(pk=self.host_id or 0).values_list("name", flat=True).first()
            scope = host_name if host_name is not None else f"host #{self.host_id}"
            parts = [f"Host report, {scope}"]
        else:
            parts = ["Fleet report" + (f", tag {self.tag}" if self.tag else "")]
        if self.sections:
            parts.append(f"section{'s' if len(self.sections) > 1 else ''} {', '.join(self.sections)}")
        period = self.period()
        parts.append(f"{period.since} to {period.until}")
        return ", ".join(parts)


class ReportTooLarge(Exception):
    """The report would exceed the limits; str() says how big, the limit, and how to narrow it."""


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int
    scan_ids: list[int]
    title: str


# -- limits -----------------------------------------------------------------------------------------


def max_rows() -> int:
    return int(getattr(settings, "DOCKERBENCH_REPORT_MAX_ROWS", 1200))


def fleet_rows(data: queries.Common) -> int:
    """Rows the fleet report lays out: every host's line, and the capped lists."""
    return (
        len(data.hosts)
        + len(data.section_lines)
        + len(data.risks)
        + len(data.changes)
        + len(data.waivers)
        + sum(1 + len(d.suspicious) for d in data.drift)
    )


def _check_budget(request: ReportRequest, rows: int) -> None:
    limit = max_rows()
    if rows <= limit:
        return
    if request.kind == "fleet":
        how = "a tag, fewer sections" if not request.tag else "a narrower tag, fewer sections"
        what = "rows (a row per host, plus the ranked lists)"
    else:
        how = "fewer sections, or a period that ends before the host's containers multiplied"
        what = "rows (a row per finding of the host's scan, plus the lists)"
    raise ReportTooLarge(
        f"This report would have {rows:,} {what}; the limit is {limit:,} (DOCKERBENCH_REPORT_MAX_ROWS). "
        f"Narrow it: {how}, or a shorter period."
    )


# -- fetching static files, and nothing else --------------------------------------------------------


def base_url() -> str:
    """What relative links in the PDF resolve against: the dashboard when DOCKERBENCH_BASE_URL says where it
    is (the report's links then open its pages), else a name that resolves nowhere (.invalid, RFC 2606)."""
    return (getattr(settings, "DOCKERBENCH_BASE_URL", "") or "https://dockerbench.invalid") + "/"


class StaticFetcher(URLFetcher):
    """Serves /static/... from the staticfiles finders and refuses every other URL: no file, no data: URL, no
    network. The page's own stylesheets are all a report needs; anything else would come from a host's text."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=())
        base = urlsplit(base_url())
        self._origin = (base.scheme, base.netloc)
        self._static = "/" + settings.STATIC_URL.strip("/") + "/"
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        path = parts.path
        if (parts.scheme, parts.netloc) == self._origin and path.startswith(self._static) and ".." not in path:
            found = finders.find(path[len(self._static) :])
            if isinstance(found, str):
                mime = mimetypes.guess_type(found)[0] or "application/octet-stream"
                with open(found, "rb") as f:
                    body = f.read()
                headers_out = {"Content-Type": f"{mime}; charset=utf-8" if mime.startswith("text/") else mime}
                return URLFetcherResponse(url, body, headers_out)
        self.refused.append(url)
        raise ValueError(f"a report fetches only its own static files, not {url!r}")


# -- rendering --------------------------------------------------------------------------------------

# WeasyPrint 70's user-agent sheet gives every element six pseudo-element styles: `::marker` and the five
# footnote and note pseudo-elements match any element. Each is a ComputedStyle kept until the PDF is written:
# 77 MB of the fleet report's 254 MB of layout on the bench fleet (bench/README.md). A report has markers
# only on list items and no footnotes or notes, so its UA sheet scopes the one and drops the others.
_UA_PSEUDO = ("marker", "footnote-call", "footnote-marker", "note-call", "note-marker", "note-callback")
_UA_EVERY_ELEMENT = re.compile(rf"^::({'|'.join(_UA_PSEUDO)}) \{{.*\}}$", re.M)


def report_ua() -> str:
    """WeasyPrint's UA stylesheet with ``::marker`` for list items only and no footnote or note rules."""
    found = _UA_EVERY_ELEMENT.findall(UA)
    if sorted(found) != sorted(_UA_PSEUDO):
        # Another WeasyPrint: measure again (bench/report_speed.py) before adapting this.
        raise RuntimeError(f"WeasyPrint's UA stylesheet changed: its per-element pseudo-element rules are {found}")
    return _UA_EVERY_ELEMENT.sub(lambda m: "li" + m.group(0) if m.group(1) == "marker" else "", UA)


@cache
def _report_ua_sheet() -> CSS:
    return CSS(string=report_ua(), counter_style=UA_COUNTER_STYLE)


class _ReportHTML(HTML):
    """HTML with the report's UA sheet (above); everything else is WeasyPrint's."""

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        return [_report_ua_sheet(), UA_FORM_STYLESHEET] if forms else [_report_ua_sheet()]


@dataclass
class _Prepared:
    html: str
    scan_ids: list[int]
    title: str
    extra: dict[str, Any] = field(default_factory=dict)


def _host(request: ReportRequest) -> Host:
    host = Host.objects.select_related("latest").defer(*CREDENTIAL_FIELDS).filter(pk=request.host_id or 0).first()
    if host is None:
        raise ValueError(f"host #{request.host_id} does not exist (any more)")
    return host


TOC_FLEET = (
    ("summary", "Executive summary"),
    ("trends", "Score trends"),
    ("risks", "Risks ranked"),
    ("sections", "Results per section"),
    ("changes", "New and fixed in the period"),
    ("waivers", "Waivers in force"),
    ("drift", "Drift highlights"),
    ("hosts", "Every host"),
    ("colophon", "Scans this report was made from"),
)
TOC_HOST = (
    ("summary", "Executive summary"),
    ("trends", "Score history"),
    ("risks", "Risks ranked"),
    ("sections", "Results per section"),
    ("changes", "New and fixed in the period"),
    ("waivers", "Waivers in force"),
    ("drift", "Drift highlights"),
    ("fixes", "Fixes to review"),
    ("findings", "Every finding"),
    ("colophon", "Scans this report was made from"),
)


def _prepare(request: ReportRequest, made_by: str, progress: Progress | None) -> _Prepared:
    period = request.period()
    sections = request.shown_sections
    made = timezone.now()
    if progress:
        progress("Gathering data", 0, 1)
    context: dict[str, Any] = {
        "req": request,
        "period": period,
        "sections": [(k, ALL_SECTIONS[k]) for k in sections],
        "made": made,
        "made_by": made_by,
        "version": dockerbench.__version__,
    }
    if request.kind == "fleet":
        data = queries.fleet_report(period=period, tag=request.tag, sections=sections)
        _check_budget(request, fleet_rows(data))
        title = request.title()
        context |= {"data": data, "toc": TOC_FLEET}
        template = "reports/pdf/fleet.html"
    else:
        host = _host(request)

        def budget(common: queries.Common, results: int) -> None:
            _check_budget(request, fleet_rows(common) + results)

        report = queries.host_report(host, period=period, sections=sections, budget=budget)
        data = report.common
        title = request.title(host.name)
        context |= {"data": data, "report": report, "host": host, "toc": TOC_HOST, "fixes": _fixes(host)}
        template = "reports/pdf/host.html"
    if progress:
        progress("Gathering data", 1, 1)
    context |= _charts(request, context)
    context["title"] = title
    html = render_to_string(template, context)
    return _Prepared(html=html, scan_ids=data.scan_ids, title=title)


def _fixes(host: Host) -> dict[str, Any]:
    """What the host report says of the host's generated fixes (scans.fixes): how many containers have one,
    which host files there are, or why there are none. Three queries, whatever the size of the scan."""
    found = scan_fixes.host_fixes(host)
    if found.fixes is None:
        return {"scan": found.scan, "reason": found.reason, "containers": 0, "files": []}
    return {
        "scan": found.scan,
        "reason": "",
        "containers": len(found.fixes.containers),
        "changes": sum(len(c.changes) for c in found.fixes.containers),
        "files": [name for name, _what, _f in bundle.host_files(found.fixes)],
    }


def _charts(request: ReportRequest, context: dict[str, Any]) -> dict[str, Any]:
    """The SVG charts and heat cells, drawn by the same code as the pages' (scans.charts)."""
    data: queries.Common = context["data"]
    out: dict[str, Any] = {}
    if request.kind == "fleet":
        out["score_svg"] = charts.score_history(data.score_points)
        out["warn_svg"] = charts.series_lines(data.warn_series(), title="WARN checks per host and section")
    else:
        report: queries.HostReport = context["report"]
        out["score_svg"] = charts.score_history(report.history)
        out["warn_svg"] = ""
        out["page_flags"] = {"current": report.current}
    highest = max((n for line in data.hosts for n in line.warns.values()), default=0)
    out["host_rows"] = [
        (line, charts.heat_row([(key, _warns(line, key)) for key in data.sections], highest, None))
        for line in data.hosts
    ]
    return out


def _warns(line: queries.HostLine, key: str) -> int | None:
    """A host table cell's WARN count: None without a scan in the period. The cells carry no link: each
    inline box costs WeasyPrint memory until the PDF is written, and the eight links of a row were 0.12 MB of
    its 0.47 (bench/README.md); the host's name still links to its page."""
    return line.warns.get(key) if line.scan is not None else None


def render_html(request: ReportRequest, *, made_by: str = "") -> tuple[str, list[int]]:
    """The report's HTML, as WeasyPrint gets it, and the scan ids it was made from."""
    prepared = _prepare(request, made_by, None)
    return prepared.html, prepared.scan_ids


def render_report(request: ReportRequest, *, made_by: str = "", progress: Progress | None = None) -> Rendered:
    """The report as a PDF. Raises ReportTooLarge before laying anything out when it is over the limits, and
    ValueError when its host no longer exists."""
    prepared = _prepare(request, made_by, progress)
    if progress:
        progress("Laying out pages", 0, 1)
    fetcher = StaticFetcher()
    document = _ReportHTML(string=prepared.html, base_url=base_url(), url_fetcher=fetcher).render()
    pages = len(document.pages)
    for url in fetcher.refused:
        logger.warning("report %r: refused to fetch %s", prepared.title, url)
    if progress:
        progress("Laying out pages", 1, 1)
        progress("Writing the PDF", 0, 1)
    pdf = document.write_pdf()
    if progress:
        progress("Writing the PDF", 1, 1)
    return Rendered(pdf=pdf or b"", pages=pages, scan_ids=prepared.scan_ids, title=prepared.title)
