"""Live lookups: ask a Clair v4 matcher, a Quay registry (or a Trivy server, through the trivy client) about a
host's images that have no report yet, once per digest, after each scan.

Clair is asked by manifest digest: ``GET {DOCKERBENCH_CLAIR_URL}/matcher/api/v1/vulnerability_report/{digest}``
answers the report of a manifest its indexer has indexed, 404 otherwise. Quay is asked by repository and
manifest digest, for the RepoDigests that name Quay's own registry host:
``GET {DOCKERBENCH_QUAY_URL}/api/v1/repository/{namespace}/{name}/manifest/{digest}/security?vulnerabilities=true``;
a manifest it has queued but not scanned yet is asked again after QUAY_QUEUED_RETRY_MINUTES, without counting as
a failure. A Trivy server is not asked by digest:
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
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from dockerbench.snapshot import ImageVulnReport
from dockerbench.vulns import MAX_REPORT_BYTES, QuayNotScanned, ReportError, parse_quay_security, parse_report
from vulns.models import HostImage, ImageReport, ImageReportKey, Lookup
from vulns.services import StaleReport, store_report

log = logging.getLogger(__name__)

# How long a claimed lookup is held before another worker may take it (the claimer died mid-request).
CLAIM_SECONDS = 600
# What may be handed to the trivy client as an image reference: no option-like or odd text from a host.
_REFERENCE = re.compile(r"[a-z0-9][A-Za-z0-9._/:@-]{0,511}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A repository path as Docker and Quay write it: namespace/name (Quay's extended names have more parts).
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_PATH_PART}(?:/{_PATH_PART})+")
# A manifest Quay has queued is usually scanned within minutes: it is asked again after this long, not after
# DOCKERBENCH_LOOKUP_RETRY_MINUTES (when that is shorter, that).
QUAY_QUEUED_RETRY_MINUTES = 15


class LookupFailed(Exception):
    """The service could not give a report for this key; the message says why."""


class LookupPending(LookupFailed):
    """The service knows the key but has no report yet (Quay's "queued"): asked again soon, not a failure."""


def enabled() -> bool:
    return bool(settings.DOCKERBENCH_CLAIR_URL or settings.DOCKERBENCH_QUAY_URL or trivy_client())


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


def quay_repository(repo_digest: str) -> tuple[str, str] | None:
    """(repository, digest) of a RepoDigest on DOCKERBENCH_QUAY_URL's registry, else None.

    ``quay.io/shop/api@sha256:...`` gives ``("shop/api", "sha256:...")`` when the Quay URL is
    https://quay.io. The registry is the reference's first part, as Docker reads it (a part with a dot or a
    colon, or "localhost"; without one the registry is docker.io), and must be the Quay URL's host, with its
    port when the URL names one other than the scheme's default. Digests of other registries, mirrors
    included, are never sent to Quay: it would not know them.
    """
    if not settings.DOCKERBENCH_QUAY_URL:
        return None
    name, _, digest = repo_digest.strip().rpartition("@")
    registry, _, repository = name.partition("/")
    if not repository or not ("." in registry or ":" in registry or registry == "localhost"):
        return None
    if registry.lower() not in _quay_registries() or not _DIGEST.fullmatch(digest):
        return None
    return (repository, digest) if _REPOSITORY.fullmatch(repository) else None


def _quay_registries() -> set[str]:
    url = urllib.parse.urlsplit(settings.DOCKERBENCH_QUAY_URL)
    host, port = (url.hostname or "").lower(), url.port
    default = 443 if url.scheme == "https" else 80
    if port is None or port == default:
        return {host, f"{host}:{default}"}
    return {f"{host}:{port}"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would send the Authorization header on to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch_quay(repository: str, digest: str) -> ImageVulnReport:
    """Quay's security report of a manifest in a repository; LookupPending while it is queued, else LookupFailed."""
    if not _DIGEST.fullmatch(digest):
        raise LookupFailed(f"{digest!r} is not a manifest digest")
    if not _REPOSITORY.fullmatch(repository):
        raise LookupFailed(f"{repository!r} is not a Quay repository (namespace/name)")
    base = settings.DOCKERBENCH_QUAY_URL
    url = f"{base}/api/v1/repository/{repository}/manifest/{digest}/security?vulnerabilities=true"
    headers = {"Accept": "application/json"}
    token = settings.DOCKERBENCH_QUAY_TOKEN
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) only (settings)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=settings.DOCKERBENCH_LOOKUP_TIMEOUT) as response:
            body = response.read(MAX_REPORT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise LookupFailed(_quay_refusal(exc, repository, digest, bool(token))) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LookupFailed(f"Quay could not be reached: {reason}") from None
    registry = urllib.parse.urlsplit(base).netloc
    try:
        return parse_quay_security(body, digest=digest, repository=f"{registry}/{repository}", filename="Quay's answer")
    except QuayNotScanned as exc:
        if exc.status == "queued":
            raise LookupPending(str(exc)) from None
        raise LookupFailed(str(exc)) from None
    except ReportError as exc:
        raise LookupFailed(str(exc)) from None


def _quay_refusal(exc: urllib.error.HTTPError, repository: str, digest: str, token: bool) -> str:
    if exc.code == 404:
        return (
            f"Quay has no manifest {digest} in {repository} (no such repository or manifest, "
            "or Quay's security scanner is off)"
        )
    if exc.code == 401:
        if token:
            return "Quay refused DOCKERBENCH_QUAY_TOKEN (HTTP 401): it is not a valid OAuth access token"
        return f"Quay wants a token for {repository} (HTTP 401): set DOCKERBENCH_QUAY_TOKEN (an OAuth token, repo:read)"
    if exc.code == 403:
        return (
            f"Quay denied access to {repository} (HTTP 403): the token needs the repo:read scope, and its user "
            "or robot read permission on the repository"
        )
    if 300 <= exc.code < 400:
        where = exc.headers.get("Location", "") if exc.headers else ""
        return f"Quay answered HTTP {exc.code}, a redirect to {where!r}: not followed; set DOCKERBENCH_QUAY_URL to it"
    if exc.code == 520:
        return "Quay answered HTTP 520: it could not load the report from its security scanner"
    return f"Quay answered HTTP {exc.code}"


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


def _done(service: str, key: str, error: str = "", *, pending: bool = False) -> None:
    now = timezone.now()
    rows = Lookup.objects.filter(service=service, key=key)
    if pending:  # not a failure: asked again soon, and the failure count stays
        minutes = min(QUAY_QUEUED_RETRY_MINUTES, settings.DOCKERBENCH_LOOKUP_RETRY_MINUTES)
        rows.update(ok=False, error=error[:2000], retry_after=now + timedelta(minutes=minutes))
    elif error:
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

    Clair is asked per manifest digest (the RepoDigests' digests), Quay per manifest digest of a RepoDigest on
    its registry, Trivy per image (by id, scanning its first tag). A report found is stored as source
    "lookup"; a failure is kept with its retry-after, and so is a manifest Quay has queued ("pending").
    """
    done = {"stored": 0, "pending": 0, "failed": 0, "skipped": 0}
    reported = set(ImageReportKey.objects.values_list("key", flat=True))
    for image in HostImage.objects.filter(host_id=host_id).order_by("image_id"):
        keys = [str(k) for k in image.keys or []]
        if reported.intersection(keys):
            continue
        for service, key, fetch in _asks(image, keys):
            if reported.intersection(keys) or not _claim(service, key):
                done["skipped"] += 1
                continue
            try:
                report = fetch()
                stored = store_report(report, source=ImageReport.Source.LOOKUP)
            except LookupPending as exc:
                log.info("%s lookup of %s pending: %s", service, key, exc)
                _done(service, key, str(exc), pending=True)
                done["pending"] += 1
                continue
            except (LookupFailed, StaleReport) as exc:
                log.info("%s lookup of %s failed: %s", service, key, exc)
                _done(service, key, str(exc))
                done["failed"] += 1
                continue
            _done(service, key)
            reported.update(stored.keys)
            done["stored"] += 1
    return done


def _asks(image: HostImage, keys: list[str]) -> list[tuple[str, str, Callable[[], ImageVulnReport]]]:
    """(service, key, how to ask) for each lookup of one image, in the order they are tried."""
    asks: list[tuple[str, str, Callable[[], ImageVulnReport]]] = []
    if settings.DOCKERBENCH_CLAIR_URL:
        asks += [(Lookup.Service.CLAIR, k, partial(fetch_clair, k)) for k in keys if k != image.image_id]
    if settings.DOCKERBENCH_QUAY_URL:
        # One ask per digest: a manifest pushed to two repositories is the same scan in each (the first named).
        by_digest: dict[str, str] = {}
        for value in image.repo_digests or []:
            found = quay_repository(str(value))
            if found:
                by_digest.setdefault(found[1], found[0])
        asks += [
            (Lookup.Service.QUAY, digest, partial(fetch_quay, repository, digest))
            for digest, repository in by_digest.items()
        ]
    if trivy_client() and image.tags:
        asks.append((Lookup.Service.TRIVY, image.image_id, partial(fetch_trivy, str(image.tags[0]))))
    return asks
