"""The one page of the API for people: their own API tokens, made and revoked."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api import services
from api.forms import TokenForm
from api.models import ApiToken
from core.access import any_account


def _owner(request: HttpRequest) -> Any:
    return request.user  # logged in: any_account sent everyone else to the login page


@any_account
@never_cache  # the new token's plaintext is on this response: no cache may keep it
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, user=request.user)
    created = None
    if request.method == "POST" and form.is_valid():
        token, plaintext = services.create_token(
            request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires=form.cleaned_data["expires"],
        )
        created = (token, plaintext)
        form = TokenForm(user=request.user)
    context = {"form": form, "created": created, "tokens": ApiToken.objects.filter(user=_owner(request))}
    return render(request, "api/tokens.html", context)


@any_account
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    # Only one's own: another user's token is a 404, not a 403, so ids of others' tokens stay unknown.
    token = get_object_or_404(ApiToken, pk=pk, user=_owner(request))
    if services.revoke_token(token):
        messages.success(request, f"Token “{token.name}” revoked: it stops working now.")
    return redirect("api:tokens")
