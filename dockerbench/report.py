"""Turning results into reports: docker-bench style text, and versioned JSON.

The JSON layout is documented in docs/report-format.md and described by
docs/report.schema.json; bump REPORT_SCHEMA on any incompatible change.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockerbench import __version__
from dockerbench.catalog import BY_ID, SECTIONS, section_of
from dockerbench.results import Result, Status
from dockerbench.snapshot import HostSnapshot

REPORT_SCHEMA = "dockerbench.report/1"
BENCHMARK = {"name": "CIS Docker Benchmark", "version": "1.6.0"}

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


@dataclass(frozen=True)
class Summary:
    checks: int
    by_status: dict[str, int]  # checks per verdict
    findings: dict[str, int]  # results per status (one per offending object)
    sections: dict[str, dict[str, int]]  # section -> verdict -> checks
    score: int | None  # % of judged automated checks that PASS; None if none judged
    judged: int
    passed: int


def summarize(results: Iterable[Result]) -> Summary:
    results = list(results)
    grouped = group_by_check(results)
    by_status: Counter[str] = Counter()
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    judged = passed = 0
    for check_id, rows in grouped.items():
        verdict = check_status(rows)
        by_status[verdict.value] += 1
        sections[section_of(check_id)][verdict.value] += 1
        rec = BY_ID.get(check_id)
        if rec and rec.automated and verdict in (Status.PASS, Status.WARN):
            judged += 1
            passed += verdict is Status.PASS
    score = round(100 * passed / judged) if judged else None
    return Summary(
        checks=len(grouped),
        by_status=dict(by_status),
        findings=dict(Counter(r.status.value for r in results)),
        sections={s: dict(c) for s, c in sorted(sections.items())},
        score=score,
        judged=judged,
        passed=passed,
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


def _printable(text: str) -> str:
    """Untrusted text from a host, made safe for a terminal (no escape sequences)."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def _evidence_text(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        shown = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
        parts.append(f"{key}={shown}")
    return _printable(", ".join(parts))


def render_text(snapshot: HostSnapshot, results: list[Result], *, color: bool = False, verbose: bool = False) -> str:
    """docker-bench-security's familiar layout, one line per offending object."""

    def tag(status: Status) -> str:
        label = f"[{status.value}]"
        return f"{_COLORS[status]}{label}{_RESET}" if color else label

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
    grouped = group_by_check(results)
    current_section = ""
    for check_id, rows in grouped.items():
        rec = BY_ID.get(check_id)
        section = section_of(check_id)
        if section != current_section:
            current_section = section
            lines += ["", f"{tag(Status.INFO)} {section} - {SECTIONS.get(section, '')}"]
        verdict = check_status(rows)
        kind = "" if rec is None else (" (Automated)" if rec.automated else " (Manual)")
        title = rec.title if rec else ""
        lines.append(f"{tag(verdict)} {check_id} - {title}{kind}")
        for r in rows:
            if r.status is Status.PASS and not verbose:
                continue
            subject = f"{r.object.kind} {r.object.name or r.object.id}: " if r.object else ""
            line = f"{tag(r.status)}      * {_printable(subject)}{_printable(r.message)}"
            if verbose and r.evidence:
                line += f" [{_evidence_text(r.evidence)}]"
            lines.append(line)
    summary = summarize(results)
    lines += ["", f"{tag(Status.INFO)} Summary"]
    lines.append(f"{tag(Status.INFO)} Checks: {summary.checks}")
    for status in Status:
        if summary.by_status.get(status.value):
            lines.append(
                f"{tag(status)} {status.value}: {summary.by_status[status.value]} checks, "
                f"{summary.findings.get(status.value, 0)} findings"
            )
    score = "n/a" if summary.score is None else f"{summary.score}%"
    lines.append(f"{tag(Status.INFO)} Score: {score} ({summary.passed} of {summary.judged} automated checks pass)")
    return "\n".join(lines) + "\n"


# -- JSON ---------------------------------------------------------------------


def _result_json(r: Result) -> dict[str, Any]:
    return {
        "status": r.status.value,
        "message": r.message,
        "object": None if r.object is None else {"kind": r.object.kind, "id": r.object.id, "name": r.object.name},
        "evidence": r.evidence,
    }


def render_json(snapshot: HostSnapshot, results: list[Result]) -> dict[str, Any]:
    """The machine-readable report (schema ``dockerbench.report/1``)."""
    summary = summarize(results)
    checks = []
    for check_id, rows in group_by_check(results).items():
        rec = BY_ID.get(check_id)
        checks.append(
            {
                "id": check_id,
                "section": section_of(check_id),
                "title": rec.title if rec else "",
                "automated": bool(rec and rec.automated),
                "level": rec.level if rec else None,
                "status": check_status(rows).value,
                "results": [_result_json(r) for r in rows],
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
        },
        "missing": snapshot.missing,
        "timings": snapshot.timings,
        "checks": checks,
    }
