"""Snapshots a host pushes (``python -m dockerbench --push``): checked, evaluated and recorded as its scans.

A push carries the HostSnapshot the host collected itself, as JSON, gzip-compressed or not. Nothing in it is
trusted: the body is bounded before and after decompression (DOCKERBENCH_PUSH_MAX_BYTES), must be UTF-8
JSON, and must be a snapshot of the schema this engine reads, every field of its type
(dockerbench.validate). Only then is it evaluated by this dashboard's checks, the verdicts the host may have
computed itself are not asked for, and recorded like a scan the dashboard ran (scans.services.record_results),
as trigger PUSH. Whatever is refused stores nothing: no Scan, no row anywhere.

The same snapshot pushed twice makes one scan: ``source_digest`` is the sha256 of the snapshot's canonical
JSON (keys sorted, no whitespace), and the database's unique (host, source_digest) settles two pushes racing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import zlib
from typing import Any

from django.conf import settings

from core.audit import record_event
from dockerbench.jsonfile import load_untrusted_json
from dockerbench.redact import redact_snapshot
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import HostSnapshot
from dockerbench.validate import SnapshotInvalid, validate_snapshot
from hosts.models import PushToken
from hosts.services import redaction_key
from scans.models import Scan
from scans.services import record_once, record_results, running_scan
from vulns.services import StaleReport, attach_known_reports, store_report

log = logging.getLogger(__name__)

JSON_TYPES = frozenset({"application/json"})
GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})
_GZIP_MAGIC = b"\x1f\x8b"
# zlib's window bits for a gzip stream (with its header and trailer), not a raw or zlib one.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class PushRejected(Exception):
    """A push that is not recorded, and why. ``kind`` names the reason for the HTTP layer: "too_large",
    "unsupported_media_type", "invalid" or "busy"."""

    def __init__(self, kind: str, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.kind = kind
        self.error = error
        self.detail = detail


def max_bytes() -> int:
    return int(settings.DOCKERBENCH_PUSH_MAX_BYTES)


def _invalid(detail: str) -> PushRejected:
    return PushRejected("invalid", "not a snapshot this dashboard can record", detail)


def _busy() -> PushRejected:
    # One scan at a time per host (the scan_one_active_per_host constraint), pushed or not.
    return PushRejected("busy", "a scan of this host is queued or running", "push again once it has finished")


def snapshot_text(body: bytes, *, content_type: str, content_encoding: str = "") -> bytes:
    """The snapshot JSON a push body holds, decompressed, within DOCKERBENCH_PUSH_MAX_BYTES both ways.

    ``content_type`` is application/json (with Content-Encoding gzip, or not) or application/gzip.
    Raises PushRejected.
    """
    limit = max_bytes()
    media = content_type.split(";", 1)[0].strip().lower()
    encoding = content_encoding.strip().lower()
    if media not in JSON_TYPES | GZIP_TYPES:
        raise PushRejected(
            "unsupported_media_type",
            "a push is application/json (gzip Content-Encoding allowed) or application/gzip",
            f"not {media or 'no Content-Type'}",
        )
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise PushRejected("unsupported_media_type", "the only Content-Encoding taken is gzip", f"not {encoding}")
    if len(body) > limit:
        raise PushRejected("too_large", "the push is too large", f"{len(body):,} bytes; the limit is {limit:,}")
    if media in GZIP_TYPES or encoding in ("gzip", "x-gzip"):
        return _gunzip(body, limit)
    if body[:2] == _GZIP_MAGIC:
        raise _invalid("the body is gzip data sent as application/json without Content-Encoding: gzip")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress one gzip member, never holding more than ``limit`` + 1 bytes of it (a gzip bomb stops there)."""
    if body[:2] != _GZIP_MAGIC:
        raise _invalid("the body is said to be gzip but is not gzip data")
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _invalid(f"the gzip data is damaged ({exc})") from None
    if len(out) > limit:
        raise PushRejected(
            "too_large", "the snapshot is too large", f"more than {limit:,} bytes once decompressed; the limit"
        )
    if not inflater.eof:
        raise _invalid("the gzip data ends before its end (truncated)")
    if inflater.unused_data.strip(b"\0"):
        raise _invalid("there is data after the gzip stream")
    return out


def parse_snapshot(text: bytes) -> tuple[HostSnapshot, str]:
    """The snapshot in ``text`` and its digest (sha256 of its canonical JSON), or PushRejected ("invalid")."""
    try:
        doc = load_untrusted_json(
            text, what="snapshot", limit=max_bytes(), error=ValueError, nested_as="a dockerbench snapshot"
        )
        snapshot = validate_snapshot(doc)
    except SnapshotInvalid as exc:
        raise _invalid("; ".join(exc.problems)) from None
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    canonical = snapshot.to_json().encode("utf-8", "surrogatepass")
    return snapshot, hashlib.sha256(canonical).hexdigest()


def record_push(token: PushToken, body: bytes, *, content_type: str, content_encoding: str = "") -> tuple[Scan, bool]:
    """Record a pushed snapshot as a scan of the token's host. Returns (scan, created): created False when
    the same snapshot was pushed for this host before (that scan is returned, nothing is written).

    The caller has authenticated ``token``. Raises PushRejected, having stored nothing, when the body is
    refused, or when a scan of the host is queued or running ("busy": push again later).
    """
    host = token.host
    snapshot, digest = parse_snapshot(snapshot_text(body, content_type=content_type, content_encoding=content_encoding))
    t0 = time.perf_counter()

    def record() -> Scan:
        # The host's own redaction key hashed what it redacted; anything it left in clear (an older or a hostile
        # client) is redacted here with the dashboard's, before it is judged or stored.
        judged = redact_snapshot(snapshot, redaction_key())
        scan = running_scan(
            host, trigger=Scan.Trigger.PUSH, digest=digest, worker=f"push token {token.prefix}", phase="evaluating"
        )
        judged = _with_image_reports(host, judged)
        t1 = time.perf_counter()
        results = evaluate(judged, select())
        timings = {"receive": round(t1 - t0, 4), "evaluate": round(time.perf_counter() - t1, 4)}
        record_results(scan, judged, results, timings=timings)
        record_event(
            scan,
            "scan pushed",
            changes={"trigger": [None, Scan.Trigger.PUSH], "push_token": [None, f"{token.prefix}… ({token.name})"]},
        )
        return scan

    return record_once(host, digest, busy=_busy(), record=record)


def _with_image_reports(host: Any, snapshot: HostSnapshot) -> HostSnapshot:
    """Store the image vulnerability reports the host sent (the newest report of an image wins), then give
    the snapshot every stored report of its images, CVE waivers applied, as a scan the dashboard ran has."""
    for report in snapshot.image_reports or ():
        try:
            store_report(report, source="push")
        except StaleReport:
            log.info("push for host %s: a newer report of %s is stored already", host.pk, report.artifact)
    return attach_known_reports(host, dataclasses.replace(snapshot, image_reports=None))
