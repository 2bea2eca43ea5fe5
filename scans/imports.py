"""docker-bench-security JSON logs uploaded for a host, recorded as its scans (trigger IMPORT).

The log is read by the engine (dockerbench.import_dockerbench): its verdicts become our Results, and what
cannot be mapped, and the checks it does not cover, are kept. The scan is stored as any scan is
(scans.services.record_results: findings tracked, waivers applied), with a minimal HostSnapshot standing
for the host (docker-bench's log holds no inspect data), and its summary holds the import's own part:
``summary["imported"] = {"tool", "version", "unmapped": [...], "missing": [...], ...}``.

The same file uploaded twice for a host makes one scan: ``source_digest`` is the file's sha256, and the
database's unique (host, source_digest) settles two uploads racing. A file that cannot be read raises
DockerBenchLogError and stores nothing; so does a host with a scan queued or running (ImportRefused).
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC
from typing import Any

from django.utils import timezone

from core.audit import record_event
from dockerbench.import_dockerbench import IMPORTED_FROM, ImportedAudit, Unmapped, parse_dockerbench_log
from dockerbench.snapshot import HostSnapshot
from hosts.models import Host
from scans.models import Scan
from scans.services import record_once, record_results, running_scan, storable

IMPORT_TARGET = "imported from docker-bench-security"
# docker-bench repeats a check's whole item list in each item's details; the summary keeps this much of a text.
_SUMMARY_TEXT_CHARS = 500
# What the log never holds, so the snapshot standing for the host has none of it.
_NOT_IN_LOG = "docker-bench-security's log holds verdicts only, not the engine's or the host's data"


class ImportRefused(Exception):
    """An import that is not recorded, and why (the host is being scanned)."""


def import_dockerbench_log(host: Host, data: bytes, *, user: Any, filename: str = "") -> tuple[Scan, bool]:
    """Record a docker-bench-security JSON log as a scan of ``host``. Returns (scan, created): created False
    when the same file was imported for this host before (that scan is returned, nothing is written).

    Raises DockerBenchLogError (the file cannot be read) or ImportRefused (a scan of the host is queued or
    running), having stored nothing.
    """
    audit = parse_dockerbench_log(data, filename=filename)
    digest = hashlib.sha256(data).hexdigest()

    def record() -> Scan:
        worker = f"import by {getattr(user, 'username', '') or 'unknown'}"
        scan = running_scan(host, trigger=Scan.Trigger.IMPORT, digest=digest, worker=worker, phase="storing", user=user)
        record_results(scan, _snapshot(audit), list(audit.results))
        # record_results wrote the summary; the import's own part is added in the same transaction.
        scan.refresh_from_db(fields=["summary"])
        scan.summary = {**scan.summary, "imported": imported_summary(audit, filename=filename)}
        scan.save(update_fields=["summary"])
        record_event(
            scan,
            "scan imported",
            actor=user,
            changes={"trigger": [None, Scan.Trigger.IMPORT], "docker_bench": [None, audit.version]},
        )
        return scan

    return record_once(host, digest, busy=_busy(), record=record)


def _busy() -> ImportRefused:
    # One scan at a time per host (the scan_one_active_per_host constraint), imported or not.
    return ImportRefused("A scan of this host is queued or running: import the log once it has finished.")


def _snapshot(audit: ImportedAudit) -> HostSnapshot:
    """The snapshot standing for the host: no part of it was collected, and no part failed to be."""
    when = audit.ended or audit.started or timezone.now()
    return HostSnapshot(
        target=IMPORT_TARGET,
        collected_at=when.astimezone(UTC).isoformat(),
        engine_version=f"docker-bench {audit.version}",
        connection={"facts": "none", "imported_from": IMPORTED_FROM, "note": _NOT_IN_LOG},
    )


def imported_summary(audit: ImportedAudit, *, filename: str = "") -> dict[str, Any]:
    """The import's part of a scan's summary: what the log was, and what of it is not among the findings."""
    return storable(
        {
            "tool": audit.source,
            "version": audit.version,
            "filename": filename[:255],
            "started": audit.started.isoformat() if audit.started else None,
            "ended": audit.ended.isoformat() if audit.ended else None,
            "checks": audit.checks,
            "score": audit.score,
            "unmapped": [_unmapped(u) for u in audit.unmapped],
            "missing": list(audit.missing),
        }
    )


def _unmapped(entry: Unmapped) -> dict[str, str]:
    row = dataclasses.asdict(entry)
    for key in ("desc", "details"):
        if len(row[key]) > _SUMMARY_TEXT_CHARS:
            row[key] = row[key][: _SUMMARY_TEXT_CHARS - 1] + "…"
    return row
