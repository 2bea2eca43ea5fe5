"""Live lookups: ask a Clair v4 matcher (or a Trivy server, through the trivy client) about a host's images
that have no report yet, once per digest, after each scan.

Clair is asked by manifest digest: ``GET {DOCKERBENCH_CLAIR_URL}/matcher/api/v1/vulnerability_report/{digest}``
answers the report of a manifest its indexer has indexed, 404 otherwise. A Trivy server is not asked by digest:
the trivy client analyses the image itself (it must be able to pull it) and sends the layers to the server, so
a lookup runs ``trivy image --server URL`` where that binary is on the worker's PATH.

Each (service, key) has one Lookup row. A worker claims it with a conditional UPDATE (so two workers never
ask twice); a failure (server down, timeout, not indexed) is kept with a retry-after of
DOCKERBENCH_LOOKUP_RETRY_MINUTES, so a down server is asked once per digest per that period, not per scan.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from dockerbench.snapshot import ImageVulnReport
from dockerbench.vulns import MAX_REPORT_BYTES, ReportError, parse_report
from vulns.models import HostImage, ImageReport, ImageReportKey, Lookup
from vulns.services import StaleReport, store_report

log = logging.getLogger(__name__)

# How long a claimed lookup is held before another worker may take it (the claimer died mid-request).
CLAIM_SECONDS = 600
# What may be handed to the trivy client as an image reference: no option-like or odd text from a host.
_REFERENCE = re.compile(r"[a-z0-9][A-Za-z0-9._/:@-]{0,511}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class LookupFailed(Exception):
    """The service could not give a report for this key; the message says why."""


def enabled() -> bool:
    return bool(settings.DOCKERBENCH_CLAIR_URL or trivy_client())


def trivy_client() -> str | None:
    """The trivy binary when DOCKERBENCH_TRIVY_SERVER is set and it is on PATH, else None."""
    return shutil.which("trivy") if settings.DOCKERBENCH_TRIVY_SERVER else None


def fetch_clair(digest: str) -> ImageVulnReport:
    """The Clair v4 matcher's vulnerability report of a manifest digest; LookupFailed when there is none."""
    if not _DIGEST.fullmatch(digest):
        raise LookupFailed(f"{digest!r} is not a manifest digest")
    url = f"{settings.DOCKERBENCH_CLAIR_URL}/matcher/api/v1/vulnerability_report/{digest}"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only (settings)
    try:
        with urllib.request.urlopen(request, timeout=settings.DOCKERBENCH_LOOKUP_TIMEOUT) as response:  # noqa: S310
            body = response.read(MAX_REPORT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise LookupFailed("Clair has not indexed this manifest (its indexer needs it first)") from None
        raise LookupFailed(f"Clair answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LookupFailed(f"Clair could not be reached: {reason}") from None
    try:
        report = parse_report(body, filename="Clair's answer")
    except ReportError as exc:
        raise LookupFailed(str(exc)) from None
    if digest not in report.digests:
        raise LookupFailed(f"Clair answered about another manifest ({', '.join(report.digests)})")
    return report


def fetch_trivy(reference: str) -> ImageVulnReport:
    """Scan an image with the trivy client against DOCKERBENCH_TRIVY_SERVER; LookupFailed when it cannot."""
    if not _REFERENCE.fullmatch(reference):
        raise LookupFailed(f"{reference!r} is not an image reference trivy is given")
    trivy = trivy_client()
    if trivy is None:
        raise LookupFailed("no trivy binary on PATH")
    command = [trivy, "image", "--server", settings.DOCKERBENCH_TRIVY_SERVER, "--format", "json", "--quiet"]
    try:
        done = subprocess.run(  # noqa: S603 - a list, no shell; the reference is checked above
            [*command, "--", reference],
            capture_output=True,
            timeout=settings.DOCKERBENCH_LOOKUP_TIMEOUT * 10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LookupFailed(f"trivy took longer than {settings.DOCKERBENCH_LOOKUP_TIMEOUT * 10} s") from None
    if done.returncode != 0:
        raise LookupFailed(f"trivy exited {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")
    try:
        return parse_report(done.stdout, filename="trivy's output")
    except ReportError as exc:
        raise LookupFailed(str(exc)) from None


def _claim(service: str, key: str) -> bool:
    """Take the lookup of ``key`` at ``service`` if it is due: never tried, or failed and past its retry-after."""
    now = timezone.now()
    hold = now + timedelta(seconds=CLAIM_SECONDS)
    try:
        _, created = Lookup.objects.get_or_create(
            service=service, key=key, defaults={"tried": now, "retry_after": hold}
        )
    except IntegrityError:  # another worker created it between our read and our insert: it has it
        return False
    if created:
        return True
    return bool(
        Lookup.objects.filter(service=service, key=key, ok=False, retry_after__lte=now).update(
            tried=now, retry_after=hold
        )
    )


def _done(service: str, key: str, error: str = "") -> None:
    now = timezone.now()
    rows = Lookup.objects.filter(service=service, key=key)
    if error:
        lookup = rows.first()
        rows.update(
            ok=False,
            error=error[:2000],
            failures=(lookup.failures if lookup else 0) + 1,
            retry_after=now + timedelta(minutes=settings.DOCKERBENCH_LOOKUP_RETRY_MINUTES),
        )
    else:
        rows.update(ok=True, error="", retry_after=None)


def lookup_host_images(host_id: int) -> dict[str, int]:
    """Ask the configured services about the host's images that no stored report covers. Returns counts.

    Clair is asked per manifest digest (the RepoDigests' digests), Trivy per image (by id, scanning its
    first tag). A report found is stored as source "lookup"; a failure is kept with its retry-after.
    """
    done = {"stored": 0, "failed": 0, "skipped": 0}
    reported = set(ImageReportKey.objects.values_list("key", flat=True))
    for image in HostImage.objects.filter(host_id=host_id).order_by("image_id"):
        keys = [str(k) for k in image.keys or []]
        if reported.intersection(keys):
            continue
        asks: list[tuple[str, str, str]] = []  # (service, key, what to ask)
        if settings.DOCKERBENCH_CLAIR_URL:
            asks += [(Lookup.Service.CLAIR, k, k) for k in keys if k != image.image_id]
        if trivy_client() and image.tags:
            asks.append((Lookup.Service.TRIVY, image.image_id, str(image.tags[0])))
        for service, key, ask in asks:
            if reported.intersection(keys) or not _claim(service, key):
                done["skipped"] += 1
                continue
            try:
                report = fetch_clair(ask) if service == Lookup.Service.CLAIR else fetch_trivy(ask)
                stored = store_report(report, source=ImageReport.Source.LOOKUP)
            except (LookupFailed, StaleReport) as exc:
                log.info("%s lookup of %s failed: %s", service, key, exc)
                _done(service, key, str(exc))
                done["failed"] += 1
                continue
            _done(service, key)
            reported.update(stored.keys)
            done["stored"] += 1
    return done
