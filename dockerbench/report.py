"""Turning results into reports: docker-bench style text, and versioned JSON (SARIF, JUnit, CSV: formats.py).

The JSON layout is documented in docs/report-format.md and described by
docs/report.schema.json; bump REPORT_SCHEMA on any incompatible change.

Waived results (docs/waivers.md) keep their WARN status; the functions here take, next to the results,
``waived``: for each result the waiver that covers it or None (``dockerbench.waivers.apply``), and show
those as WAIVED.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dockerbench import __version__, catalog
from dockerbench.catalog import section_of
from dockerbench.results import Result, Status
from dockerbench.snapshot import HostSnapshot
from dockerbench.waivers import Waiver

REPORT_SCHEMA = "dockerbench.report/1"
BENCHMARK = {"name": "CIS Docker Benchmark", "version": "1.6.0"}

# Every check the report may name: the CIS ones and, where the catalog has them, our own ("S.1").
BY_ID = catalog.ALL_BY_ID
SECTIONS = catalog.ALL_SECTIONS


def _scored(rec: catalog.Recommendation | None) -> bool:
    """Whether a check counts in the score: automated CIS recommendations only, never our own extra ones."""
    return bool(rec and rec.automated and getattr(rec, "benchmark", "CIS") == "CIS")


# When a check has several results, the one a reader must see first.
_PRECEDENCE = [Status.WARN, Status.ERROR, Status.SKIP, Status.NOTE, Status.INFO, Status.PASS]


def check_status(results: Iterable[Result]) -> Status:
    """The verdict of one check from its per-object results."""
    statuses = {r.status for r in results}
    for status in _PRECEDENCE:
        if status in statuses:
            return status
    return Status.ERROR


def group_by_check(results: Iterable[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        grouped[r.check_id].append(r)
    return dict(grouped)


Waived = Sequence[Waiver | None]


def pairs_by_check(results: Sequence[Result], waived: Waived | None) -> dict[str, list[tuple[Result, Waiver | None]]]:
    """The results grouped by check, each with the waiver that covers it (None when none does)."""
    if waived is not None and len(waived) != len(results):
        raise ValueError("waived must have one entry per result")
    grouped: dict[str, list[tuple[Result, Waiver | None]]] = defaultdict(list)
    for r, w in zip(results, waived if waived is not None else [None] * len(results), strict=True):
        grouped[r.check_id].append((r, w))
    return dict(grouped)


def fully_waived(rows: Iterable[tuple[Result, Waiver | None]]) -> bool:
    """A check with WARN results, every one of them waived: left out of score_with_waivers, shown WAIVED."""
    warns = [w for r, w in rows if r.status is Status.WARN]
    return bool(warns) and all(w is not None for w in warns)


@dataclass(frozen=True)
class Summary:
    checks: int
    by_status: dict[str, int]  # checks per verdict
    findings: dict[str, int]  # results per status (one per offending object)
    sections: dict[str, dict[str, int]]  # section -> verdict -> checks
    score: int | None  # % of judged automated checks that PASS; None if none judged
    judged: int
    passed: int
    waived: int = 0  # WARN results covered by a waiver
    waived_checks: int = 0  # WARN checks with every WARN result waived
    score_with_waivers: int | None = None  # the score with those checks left out of the judged ones
    judged_with_waivers: int = 0


def summarize(results: Iterable[Result], waived: Waived | None = None) -> Summary:
    """Counts and scores. ``score`` ignores waivers; ``score_with_waivers`` leaves fully waived checks out."""
    results = list(results)
    grouped = pairs_by_check(results, waived)
    by_status: Counter[str] = Counter()
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    judged = passed = waived_checks = judged_with_waivers = 0
    for check_id, pairs in grouped.items():
        verdict = check_status(r for r, _w in pairs)
        by_status[verdict.value] += 1
        sections[section_of(check_id)][verdict.value] += 1
        waived_check = verdict is Status.WARN and fully_waived(pairs)
        waived_checks += waived_check
        rec = BY_ID.get(check_id)
        if _scored(rec) and verdict in (Status.PASS, Status.WARN):
            judged += 1
            passed += verdict is Status.PASS
            judged_with_waivers += not waived_check
    score = round(100 * passed / judged) if judged else None
    return Summary(
        checks=len(grouped),
        by_status=dict(by_status),
        findings=dict(Counter(r.status.value for r in results)),
        sections={s: dict(c) for s, c in sorted(sections.items())},
        score=score,
        judged=judged,
        passed=passed,
        waived=sum(w is not None for w in waived or ()),
        waived_checks=waived_checks,
        score_with_waivers=round(100 * passed / judged_with_waivers) if judged_with_waivers else None,
        judged_with_waivers=judged_with_waivers,
    )


# -- text ---------------------------------------------------------------------

_COLORS = {
    Status.PASS: "\033[1;32m",
    Status.WARN: "\033[1;31m",
    Status.INFO: "\033[1;34m",
    Status.NOTE: "\033[1;33m",
    Status.SKIP: "\033[1;35m",
    Status.ERROR: "\033[1;41m",
}
_RESET = "\033[0m"
WAIVED = "WAIVED"  # shown for a WARN result a waiver covers; the result's status stays WARN
_WAIVED_COLOR = "\033[1;36m"


def _printable(text: str) -> str:
    """Untrusted text from a host, made safe for a terminal (no escape sequences)."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def _evidence_text(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        shown = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
        parts.append(f"{key}={shown}")
    return _printable(", ".join(parts))


def _waiver_text(w: Waiver, verbose: bool) -> str:
    text = f"waived until {w.expires.isoformat()}: {w.reason}"
    if verbose:
        text += "".join(f", {label} {value}" for label, value in (("owner", w.owner), ("ticket", w.ticket)) if value)
    return _printable(text)


def render_text(
    snapshot: HostSnapshot,
    results: list[Result],
    *,
    color: bool = False,
    verbose: bool = False,
    waived: Waived | None = None,
) -> str:
    """docker-bench-security's familiar layout, one line per offending object; waived ones tagged [WAIVED]."""

    def tag(status: Status | str) -> str:
        label = f"[{status}]"
        if not color:
            return label
        return f"{_COLORS[status] if isinstance(status, Status) else _WAIVED_COLOR}{label}{_RESET}"

    lines: list[str] = []
    version = (snapshot.version or {}).get("Version", "unknown")
    hostname = (snapshot.info or {}).get("Name", "")
    lines += [
        "# " + "-" * 76,
        f"# dockerbench {__version__} - {BENCHMARK['name']} v{BENCHMARK['version']}",
        f"# Host: {_printable(hostname)} at {_printable(snapshot.target)} (Docker {_printable(version)})",
        f"# Collected: {snapshot.collected_at}",
        "# " + "-" * 76,
    ]
    for part, reason in sorted(snapshot.missing.items()):
        lines.append(f"{tag(Status.INFO)} not collected: {part}: {_printable(reason)}")
    grouped = pairs_by_check(results, waived)
    current_section = ""
    for check_id, pairs in grouped.items():
        rec = BY_ID.get(check_id)
        section = section_of(check_id)
        if section != current_section:
            current_section = section
            lines += ["", f"{tag(Status.INFO)} {section} - {SECTIONS.get(section, '')}"]
        verdict = check_status(r for r, _w in pairs)
        kind = "" if rec is None else (" (Automated)" if rec.automated else " (Manual)")
        title = rec.title if rec else ""
        shown = WAIVED if verdict is Status.WARN and fully_waived(pairs) else verdict
        lines.append(f"{tag(shown)} {check_id} - {title}{kind}")
        for r, w in pairs:
            if r.status is Status.PASS and not verbose:
                continue
            subject = f"{r.object.kind} {r.object.name or r.object.id}: " if r.object else ""
            line = f"{tag(WAIVED if w else r.status)}      * {_printable(subject)}{_printable(r.message)}"
            if w is not None:
                line += f" ({_waiver_text(w, verbose)})"
            if verbose and r.evidence:
                line += f" [{_evidence_text(r.evidence)}]"
            lines.append(line)
    summary = summarize(results, waived)
    lines += ["", f"{tag(Status.INFO)} Summary"]
    lines.append(f"{tag(Status.INFO)} Checks: {summary.checks}")
    for status in Status:
        if summary.by_status.get(status.value):
            lines.append(
                f"{tag(status)} {status.value}: {summary.by_status[status.value]} checks, "
                f"{summary.findings.get(status.value, 0)} findings"
            )
    if summary.waived:
        lines.append(
            f"{tag(WAIVED)} {WAIVED}: {summary.waived} findings; {summary.waived_checks} checks have every WARN "
            "waived (both still counted in WARN above)"
        )
    score = "n/a" if summary.score is None else f"{summary.score}%"
    lines.append(f"{tag(Status.INFO)} Score: {score} ({summary.passed} of {summary.judged} automated checks pass)")
    if summary.waived:
        with_waivers = "n/a" if summary.score_with_waivers is None else f"{summary.score_with_waivers}%"
        lines.append(
            f"{tag(Status.INFO)} Score with waivers: {with_waivers} ({summary.passed} of "
            f"{summary.judged_with_waivers} automated checks pass; fully waived checks left out)"
        )
    return "\n".join(lines) + "\n"


# -- JSON ---------------------------------------------------------------------


def _result_json(r: Result, w: Waiver | None = None) -> dict[str, Any]:
    return {
        "status": r.status.value,
        "message": r.message,
        "object": None if r.object is None else {"kind": r.object.kind, "id": r.object.id, "name": r.object.name},
        "evidence": r.evidence,
        "waiver": None if w is None else w.as_json(),
    }


def render_json(snapshot: HostSnapshot, results: list[Result], waived: Waived | None = None) -> dict[str, Any]:
    """The machine-readable report (schema ``dockerbench.report/1``)."""
    summary = summarize(results, waived)
    checks = []
    for check_id, pairs in pairs_by_check(results, waived).items():
        rows = [r for r, _w in pairs]
        rec = BY_ID.get(check_id)
        checks.append(
            {
                "id": check_id,
                "section": section_of(check_id),
                "title": rec.title if rec else "",
                "automated": bool(rec and rec.automated),
                "level": rec.level if rec else None,
                "status": check_status(rows).value,
                "waived": check_status(rows) is Status.WARN and fully_waived(pairs),
                "results": [_result_json(r, w) for r, w in pairs],
                "remediation": rec.remediation if rec else "",
                "fixes": [{"kind": f.kind, "text": f.text} for f in rec.fixes] if rec else [],
                "docs": list(rec.docs) if rec else [],
            }
        )
    info = snapshot.info or {}
    facts = snapshot.facts
    return {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "dockerbench", "version": __version__},
        "benchmark": BENCHMARK,
        "host": {
            "target": snapshot.target,
            "name": info.get("Name", ""),
            "engine_id": info.get("ID", ""),
            "docker_version": (snapshot.version or {}).get("Version", ""),
            "collected_at": snapshot.collected_at,
            "facts_method": facts.method if facts else None,
        },
        "summary": {
            "checks": summary.checks,
            "by_status": summary.by_status,
            "findings": summary.findings,
            "sections": summary.sections,
            "score": summary.score,
            "judged": summary.judged,
            "passed": summary.passed,
            "waived": summary.waived,
            "score_with_waivers": summary.score_with_waivers,
        },
        "missing": snapshot.missing,
        "timings": snapshot.timings,
        "checks": checks,
    }
