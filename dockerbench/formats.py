"""Reports for machines: SARIF 2.1.0 for code-scanning tools, JUnit XML for CI, CSV for spreadsheets.

Each ``render_*`` takes what report.render_text takes (the snapshot, the results in run order and, for each
result, the waiver that covers it or None) and returns the whole document as text. ``render`` picks one by
its name in FORMATS. Every document is deterministic: the same audit gives the same bytes, so reports can be
compared and committed; no time appears in them except the snapshot's own ``collected_at`` (SARIF keeps it in
the invocation's properties). docs/report-format.md describes each layout.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - we only write XML here, never parse it
from collections.abc import Sequence
from typing import Any

from dockerbench import __version__, catalog, risk
from dockerbench.catalog import Recommendation, section_of
from dockerbench.report import (
    BENCHMARK,
    BY_ID,
    SECTIONS,
    Waived,
    check_status,
    fully_waived,
    pairs_by_check,
    render_json,
    render_text,
    summarize,
)
from dockerbench.results import Result, Status
from dockerbench.snapshot import HostSnapshot
from dockerbench.waivers import Waiver, finding_detail, key_of

FORMATS = ("text", "json", "sarif", "junit", "csv")

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# dockerbench has no public home page yet; the benchmark it audits against is what a reader of a rule needs.
INFORMATION_URI = "https://www.cisecurity.org/benchmark/docker"


def render(
    fmt: str,
    snapshot: HostSnapshot,
    results: list[Result],
    waived: Waived | None = None,
    *,
    color: bool = False,
    verbose: bool = False,
) -> str:
    """The report in format ``fmt`` (one of FORMATS); ``color`` and ``verbose`` apply to text only."""
    if fmt == "text":
        return render_text(snapshot, results, color=color, verbose=verbose, waived=waived)
    if fmt == "json":
        return json.dumps(render_json(snapshot, results, waived), indent=2, default=str) + "\n"
    if fmt == "sarif":
        return json.dumps(render_sarif(snapshot, results, waived), indent=2) + "\n"
    if fmt == "junit":
        return render_junit(snapshot, results, waived)
    if fmt == "csv":
        return render_csv(snapshot, results, waived)
    raise ValueError(f"unknown report format {fmt!r}; formats: {', '.join(FORMATS)}")


def _subject(r: Result) -> str:
    """How a result names its object in one line: "container web", or "" for the host as a whole."""
    return f"{r.object.kind} {r.object.name or r.object.id}" if r.object else ""


def _one_line(r: Result) -> str:
    subject = _subject(r)
    return f"{subject}: {r.message}" if subject else r.message


def _waiver_note(w: Waiver) -> str:
    extra = "".join(f", {label} {value}" for label, value in (("owner", w.owner), ("ticket", w.ticket)) if value)
    return f"waived until {w.expires.isoformat()}: {w.reason}{extra}"


# -- SARIF ----------------------------------------------------------------------


def _rule_name(title: str) -> str:
    """SARIF's rule name is an identifier: the title in PascalCase, letters and digits only."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def _rule(check_id: str, rec: Recommendation | None) -> dict[str, Any]:
    section = section_of(check_id)
    weight = risk.weight(check_id)
    if rec is None:  # a result from a check the catalog does not know: still a rule, so ruleIndex holds
        return {
            "id": check_id,
            "shortDescription": {"text": check_id},
            "properties": {"section": section, "security-severity": f"{weight:.1f}", "risk_weight": weight},
        }
    kind = "Automated" if rec.automated else "Manual"
    if rec.benchmark == "CIS":
        profile = f"Level {rec.level}, " if rec.level else ""
        origin = f"CIS Docker Benchmark v{BENCHMARK['version']} recommendation {rec.id} ({profile}{kind})"
    else:
        origin = f"dockerbench check {rec.id}, beyond the CIS benchmark ({kind})"
    fixes_text = "".join(f"\n- {fix.kind}: {fix.text}" for fix in rec.fixes)
    fixes_md = "".join(f"\n\n{fix.kind}:\n\n```\n{fix.text}\n```" for fix in rec.fixes)
    docs_md = "".join(f"\n- <{link}>" for link in rec.docs)
    rule: dict[str, Any] = {
        "id": rec.id,
        "name": _rule_name(rec.title),
        "shortDescription": {"text": rec.title},
        "fullDescription": {"text": f"{rec.title}: {origin}."},
        "help": {
            "text": rec.remediation + (f"\n\nFixes:{fixes_text}" if rec.fixes else ""),
            "markdown": rec.remediation
            + (f"\n\n**Fixes**{fixes_md}" if rec.fixes else "")
            + (f"\n\n**Documentation**\n{docs_md}" if rec.docs else ""),
        },
        "defaultConfiguration": {"level": "error" if rec.automated else "note"},
        "properties": {
            "section": section,
            "section_title": SECTIONS.get(section, ""),
            "benchmark": rec.benchmark,
            "level": rec.level,  # the benchmark's profile, Level 1 or 2; None where the catalog does not know it
            "automated": rec.automated,
            # GitHub reads this string as a CVSS-like score: 9.0+ critical, 7.0+ high, 4.0+ medium, else low.
            "security-severity": f"{weight:.1f}",
            "risk_weight": weight,
            "tags": ["security", "docker", "cis-docker-benchmark" if rec.benchmark == "CIS" else "dockerbench"],
        },
    }
    if rec.docs:
        rule["helpUri"] = rec.docs[0]
    return rule


def _fingerprint(host: str, r: Result) -> str:
    """What identifies one finding across runs: the host, the check, the object and what tells findings apart."""
    key = "\x1f".join((host, r.check_id, r.object.kind if r.object else "", key_of(r.object)))
    key += "\x1f" + finding_detail(r.evidence)
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _location_name(result: dict[str, Any]) -> str:
    locations = result.get("locations") or [{}]
    return str(locations[0].get("logicalLocations", [{}])[0].get("fullyQualifiedName", ""))


def render_sarif(snapshot: HostSnapshot, results: list[Result], waived: Waived | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, a rule per check of the catalog, a result per WARN result.

    Waived WARN results are kept, with an accepted external suppression carrying the waiver. ERROR and SKIP
    results are not findings about the host: they are the run's tool execution notifications. PASS, INFO and
    NOTE results are left out (a code-scanning tool would show every manual review as an alert).
    """
    ids = list(BY_ID)
    extra = sorted({r.check_id for r in results} - set(BY_ID))
    index = {check_id: i for i, check_id in enumerate([*ids, *extra])}
    rules = [_rule(check_id, BY_ID.get(check_id)) for check_id in [*ids, *extra]]
    info = snapshot.info or {}
    host = str(info.get("Name", ""))
    found: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for r, w in ((r, w) for pairs in pairs_by_check(results, waived).values() for r, w in pairs):
        rule_ref = {"id": r.check_id, "index": index[r.check_id]}
        if r.status in (Status.ERROR, Status.SKIP):
            notes.append(
                {
                    "level": "error" if r.status is Status.ERROR else "note",
                    "message": {"text": f"{r.check_id} {r.status.value}: {_one_line(r)}"},
                    "associatedRule": rule_ref,
                }
            )
            continue
        if r.status is not Status.WARN:
            continue
        result: dict[str, Any] = {
            "ruleId": r.check_id,
            "ruleIndex": index[r.check_id],
            "level": "error",
            "message": {"text": _one_line(r)},
            "partialFingerprints": {"dockerbench/v1": _fingerprint(host, r)},
        }
        if r.object is not None:
            name = r.object.name or r.object.id
            result["locations"] = [
                {
                    "logicalLocations": [
                        {
                            "name": name,
                            "fullyQualifiedName": f"{r.object.kind}:{key_of(r.object)}",
                            "kind": r.object.kind,
                        }
                    ]
                }
            ]
        if r.evidence:
            result["properties"] = {"evidence": json.loads(json.dumps(r.evidence, default=str))}
        if w is not None:
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": w.reason,
                    "properties": {"waiver": w.as_json()},
                }
            ]
        found.append(result)
    # Docker lists containers and images in an order of its own: sort, so two audits of one host diff cleanly.
    found.sort(key=lambda x: (x["ruleIndex"], _location_name(x), x["message"]["text"]))
    summary = summarize(results, waived)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "dockerbench",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": notes,
                "properties": {"collected_at": snapshot.collected_at, "missing": snapshot.missing},
            }
        ],
        "results": found,
        "properties": {
            "benchmark": BENCHMARK,
            "host": {
                "target": snapshot.target,
                "name": host,
                "engine_id": info.get("ID", ""),
                "docker_version": (snapshot.version or {}).get("Version", ""),
            },
            "score": summary.score,
            "score_with_waivers": summary.score_with_waivers,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


# -- JUnit XML --------------------------------------------------------------------

# What XML 1.0 forbids, even escaped: control characters but tab, newline and carriage return; surrogates;
# U+FFFE and U+FFFF. (The complement, the allowed ranges, costs 4 ms to compile at every start.)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: object) -> str:
    """Text from a host, made legal in XML 1.0: a forbidden character is shown as \\xNN (ElementTree escapes <, &)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def render_junit(snapshot: HostSnapshot, results: list[Result], waived: Waived | None = None) -> str:
    """JUnit XML: a testsuite per section, a testcase per check ("5.4 Ensure ...").

    A WARN check is a failure listing its offending objects, unless every WARN result is waived: then it
    passes with the waivers in system-out. SKIP is skipped, ERROR is an error; PASS, INFO and NOTE pass
    (INFO and NOTE with their messages in system-out, as they ask for a review).
    """
    by_section: dict[str, list[tuple[str, list[tuple[Result, Waiver | None]]]]] = {}
    for check_id, pairs in pairs_by_check(results, waived).items():
        by_section.setdefault(section_of(check_id), []).append((check_id, pairs))
    root = ET.Element("testsuites", name="dockerbench")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    host = _xml((snapshot.info or {}).get("Name", "") or snapshot.target)
    for section in sorted(by_section, key=_section_order):
        suite_name = f"{section} {SECTIONS.get(section, '')}".strip()
        suite = ET.SubElement(root, "testsuite", name=_xml(suite_name), hostname=host)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for check_id, pairs in by_section[section]:
            rec = BY_ID.get(check_id)
            case = ET.SubElement(
                suite, "testcase", name=_xml(f"{check_id} {rec.title if rec else ''}".strip()), classname=suite_name
            )
            counts["tests"] += 1
            verdict = check_status(r for r, _w in pairs)
            warns = [(r, w) for r, w in pairs if r.status is Status.WARN]
            if verdict is Status.WARN and not fully_waived(pairs):
                open_ = sum(w is None for _r, w in warns)
                lines = [_one_line(r) + (f" ({_waiver_note(w)})" if w else "") for r, w in warns]
                failure = ET.SubElement(case, "failure", type="WARN", message=_xml(f"{open_} offending object(s)"))
                failure.text = _xml("\n".join(lines))
                counts["failures"] += 1
            elif verdict is Status.WARN:
                out = ET.SubElement(case, "system-out")
                out.text = _xml("\n".join(f"WAIVED {_one_line(r)} ({_waiver_note(w)})" for r, w in warns if w))
            elif verdict is Status.ERROR:
                errors = [r for r, _w in pairs if r.status is Status.ERROR]
                error = ET.SubElement(case, "error", type="ERROR", message=_xml(errors[0].message))
                error.text = _xml("\n".join(_one_line(r) for r in errors))
                counts["errors"] += 1
            elif verdict is Status.SKIP:
                skip = next(r for r, _w in pairs if r.status is Status.SKIP)
                ET.SubElement(case, "skipped", message=_xml(skip.message))
                counts["skipped"] += 1
            elif verdict in (Status.INFO, Status.NOTE):
                out = ET.SubElement(case, "system-out")
                out.text = _xml("\n".join(f"{r.status.value} {_one_line(r)}" for r, _w in pairs if r.status is verdict))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _section_order(section: str) -> tuple[int, str]:
    """The benchmark's sections in order ("1".."7"), then ours ("S")."""
    order = list(catalog.ALL_SECTIONS)
    return (order.index(section), section) if section in order else (len(order), section)


# -- CSV ----------------------------------------------------------------------------

CSV_COLUMNS = (
    "check_id",
    "section",
    "title",
    "status",
    "object_kind",
    "object_name",
    "message",
    "risk_weight",
    "waiver",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text: a leading formula character is quoted away."""
    # A lone surrogate (from a \\udXXX escape in the engine's JSON) cannot be written as UTF-8: show it escaped.
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(snapshot: HostSnapshot, results: Sequence[Result], waived: Waived | None = None) -> str:
    """One row per result (one per check and object), RFC 4180, every cell safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for check_id, pairs in pairs_by_check(list(results), waived).items():
        rec = BY_ID.get(check_id)
        for r, w in pairs:
            row = (
                check_id,
                section_of(check_id),
                rec.title if rec else "",
                r.status.value,
                r.object.kind if r.object else "",
                (r.object.name or r.object.id) if r.object else "",
                r.message,
                risk.weight(check_id),
                _waiver_note(w) if w else "",
            )
            writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()
