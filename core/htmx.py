"""The one way every view answers htmx: a full page, or a named partial of the same template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """What a view's request is once django-htmx's middleware has run (for the type checker)."""

    htmx: HtmxDetails


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partials: str | Sequence[str],
    status: int = 200,
) -> HttpResponse:
    """The full page, or one named partial of it for an htmx request.

    The partial is the one named by the request's target (hx-target="#scan-list"
    asks for "scan-list"), else the first. A history-restore request gets the
    full page: htmx puts it in place of the body.
    """
    names = [partials] if isinstance(partials, str) else list(partials)
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        partial = htmx.target if htmx.target in names else names[0]
        template = f"{template}#{partial}"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful POST: a normal redirect, or a full-page navigation when htmx posted."""
    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(url)
    return redirect(url)
