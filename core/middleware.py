"""Request guards that every page needs before any view reads its parameters."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError


class RejectNulMiddleware:
    """400 for a NUL byte in the query string or a posted form field (names included).

    PostgreSQL cannot store or even compare text holding NUL (psycopg raises before the query runs), so a
    filter like ?tag=%00 would be a 500 on PostgreSQL and a silent miss on SQLite: refuse it the same way on
    both, with a clear answer. Uploaded file contents are not parameters and are left alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            posted = request.method == "POST" and _has_nul(request.POST)
        except MultiPartParserError as exc:
            # A broken multipart body (no boundary, cut short): the same clear 400 the view would have to give.
            return HttpResponseBadRequest(
                f"The form upload could not be read: {exc}", content_type="text/plain; charset=utf-8"
            )
        if _has_nul(request.GET) or posted:
            return HttpResponseBadRequest(
                "A parameter holds a NUL character (%00), which no field here accepts.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _has_nul(params: object) -> bool:
    lists = getattr(params, "lists", None)
    if lists is None:
        return False
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in lists())


class IdleTimeoutMiddleware:
    """Sessions end SESSION_COOKIE_AGE seconds after the last request, not after the login.

    Renewing the expiry means saving the session; doing it on every request (SESSION_SAVE_EVERY_REQUEST) would
    add a write to every page. This renews it when DOCKERBENCH_SESSION_RENEW_SECONDS have passed since the
    last renewal, so the timeout is exact to within that much.
    """

    KEY = "_renewed"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and request.user.is_authenticated:
            now = int(time.time())
            renewed = session.get(self.KEY, 0)
            if not isinstance(renewed, int) or now - renewed >= settings.DOCKERBENCH_SESSION_RENEW_SECONDS:
                session[self.KEY] = now  # modified: SessionMiddleware saves it with a fresh expiry
        return self.get_response(request)


def renewed_at_login(sender: object, request: HttpRequest | None, user: object, **kwargs: object) -> None:
    """user_logged_in: a login saves the session anyway; count it as a renewal."""
    session = getattr(request, "session", None)
    if session is not None:
        session[IdleTimeoutMiddleware.KEY] = int(time.time())
