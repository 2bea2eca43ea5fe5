"""POST /api/v1/push/: a host sends its own audit (``python -m dockerbench --push``) with its push token.

A plain Django view, not DRF: it serves no account, takes no session or CSRF token, and reads the body itself
so that the size limit holds before anything else reads it. ``Authorization: Bearer <push token>``; the
body is the snapshot JSON, gzip allowed (scans.ingest). Every answer is JSON:

- 201 ``{"scan": id, "url": ..., "created": true, ...}`` a new scan; 200 the same snapshot was recorded before
- 400 not a snapshot this dashboard reads; 401 no token, or not a token; 403 a revoked or expired token
- 405 not a POST; 409 a scan of the host is queued or running; 413 too large; 415 not JSON or gzip
- 429 the token pushed DOCKERBENCH_PUSH_RATE_PER_HOUR times this hour

Errors are ``{"error": code, "detail": text}``, as the rest of the API's.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from core.access import push_token
from hosts.models import PushToken
from hosts.services import PushTokenRefused, check_push_token
from scans import ingest

log = logging.getLogger(__name__)

RATE_WINDOW = 3600  # seconds
_STATUS = {"invalid": 400, "busy": 409, "too_large": 413, "unsupported_media_type": 415}


def _error(status: int, error: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": error, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _bearer(request: HttpRequest) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def _rate_limited(token: PushToken) -> int:
    """Count this push against the token's hour; the seconds until the hour is over when it is one too many."""
    window = int(time.time() // RATE_WINDOW)
    # By the token's digest, not its id: ids repeat across databases (tests) sharing one cache.
    key = f"dockerbench:push-rate:{token.digest[:32]}:{window}"
    cache.add(key, 0, timeout=RATE_WINDOW + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RATE_WINDOW + 60)
        count = 1
    if count > settings.DOCKERBENCH_PUSH_RATE_PER_HOUR:
        return max(1, (window + 1) * RATE_WINDOW - int(time.time()))
    return 0


@push_token
@csrf_exempt  # a machine with a token, no session and no cookie: nothing for CSRF to protect
@never_cache
def receive(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Push a snapshot with POST.", Allow="POST")
    try:
        token = check_push_token(_bearer(request))
    except PushTokenRefused as exc:
        if exc.reason == "unknown":
            return _error(
                401,
                "unauthorized",
                "Send the host's push token as 'Authorization: Bearer <token>' (make one on the host's Push tokens "
                "page).",
                WWW_Authenticate='Bearer realm="dockerbench push"',
            )
        return _error(403, f"token_{exc.reason}", f"This push token is {exc.reason}: make a new one for the host.")
    wait = _rate_limited(token)
    if wait:
        limit = settings.DOCKERBENCH_PUSH_RATE_PER_HOUR
        return _error(
            429,
            "rate_limited",
            f"This token pushed {limit} times this hour; try again in {wait} s.",
            Retry_After=str(wait),
        )
    limit = ingest.max_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "invalid", "The Content-Length is not a number.")
    if declared > limit:  # refused before a byte of it is read
        return _error(413, "too_large", f"the push is too large: {declared:,} bytes; the limit is {limit:,}")
    body = request.read(limit + 1)
    try:
        scan, created = ingest.record_push(
            token,
            body,
            content_type=request.content_type or "",
            content_encoding=request.headers.get("Content-Encoding", ""),
        )
    except ingest.PushRejected as exc:
        log.info("push with token %s for host %s refused: %s", token.prefix, token.host_id, exc)
        return _error(_STATUS[exc.kind], exc.kind, str(exc))
    return _answer(request, scan, created)


def _answer(request: HttpRequest, scan: Any, created: bool) -> JsonResponse:
    url = request.build_absolute_uri(reverse("scans:scan", args=[scan.pk]))
    data = {
        "scan": scan.pk,
        "url": url,
        "created": created,
        "host": scan.host.name,
        "status": scan.status,
        "score": scan.score,
        "warn": scan.warn_count,
    }
    response = JsonResponse(data, status=201 if created else 200)
    if created:
        response["Location"] = url
    return response
