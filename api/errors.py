"""Every API error is JSON of one shape: {"error": code, "detail": text or per-field messages}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.access import public


def handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # DRF re-raises what it does not know: a 500, logged like any other
    codes = exc.get_codes()
    if isinstance(response.data, dict) and set(response.data) == {"detail"}:
        response.data = {"error": codes if isinstance(codes, str) else "error", "detail": response.data["detail"]}
    else:
        response.data = {"error": "invalid", "detail": response.data}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response.data["retry_after"] = int(exc.wait)
    return response


@public
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """A path under /api/ that names nothing: a JSON 404, not the HTML page."""
    return JsonResponse({"error": "not_found", "detail": f"No API endpoint at {request.path}."}, status=404)
