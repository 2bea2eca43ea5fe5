from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from core.access import Perm, get_for_user, require
from core.htmx import HtmxHttpRequest, redirect_to, render_page
from hosts import services
from hosts.forms import HostForm, PushTokenForm
from hosts.models import CREDENTIAL_FIELDS, ConnectionTest, Host, PushToken, Tag

HOSTS_PER_PAGE = 50


@require(Perm.VIEW_HOST)
@require_GET
def host_list(request: HtmxHttpRequest) -> HttpResponse:
    hosts = Host.objects.prefetch_related("tags")
    tag = request.GET.get("tag", "")
    if tag:
        hosts = hosts.filter(tags__name=tag)
    page = Paginator(hosts, HOSTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "tag": tag, "tags": Tag.objects.filter(hosts__isnull=False).distinct()}
    return render_page(request, "hosts/host_list.html", context, partials="host-table")


@require(Perm.ADD_HOST)
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*CREDENTIAL_FIELDS)  # masked in error reports
def host_add(request: HtmxHttpRequest) -> HttpResponse:
    form = HostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        host = services.create_host(**form.host_fields(), tags=form.tag_objects())
        messages.success(request, f"Host {host.name} added, with the nightly default schedule.")
        return redirect_to(request, reverse("hosts:edit", args=[host.pk]))
    return render_page(request, "hosts/host_form.html", {"form": form, "host": None}, partials="host-form")


@require(Perm.CHANGE_HOST)
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*CREDENTIAL_FIELDS)  # masked in error reports
def host_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.CHANGE_HOST, Host.objects.prefetch_related("tags"), pk=pk)
    form = HostForm(request.POST or None, instance=host)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
        messages.success(request, f"Host {host.name} saved.")
        return redirect_to(request, reverse("hosts:edit", args=[host.pk]))
    context = {"form": form, "host": host, "unreadable": host.unreadable_credentials()}
    return render_page(request, "hosts/host_form.html", context, partials="host-form")


@require(Perm.DELETE_HOST)
@require_http_methods(["GET", "POST"])
def host_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.DELETE_HOST, Host, pk=pk)
    if request.method == "POST":
        name = host.name
        services.delete_host(host)
        messages.success(request, f"Host {name} deleted, with its scans and schedules.")
        return redirect_to(request, reverse("hosts:list"))
    return render_page(request, "hosts/host_confirm_delete.html", {"host": host}, partials="host-delete")


@require(Perm.CHANGE_HOST)
@require_POST
def host_test_connection(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.CHANGE_HOST, Host, pk=pk)
    try:
        test = services.start_connection_test(host, user=request.user)
    except services.RateLimited as exc:
        if request.htmx:
            context = {"host": host, "refused": str(exc)}
            return render_page(request, "hosts/host_form.html", context, partials="connection-result", status=429)
        messages.error(request, str(exc))
        return redirect_to(request, reverse("hosts:edit", args=[host.pk]))
    if request.htmx:
        return render_page(request, "hosts/host_form.html", {"host": host, "test": test}, partials="connection-result")
    return redirect("hosts:connection-test", test_id=test.pk)


@require(Perm.CHANGE_HOST)
@require_GET
def connection_test(request: HtmxHttpRequest, test_id: uuid.UUID) -> HttpResponse:
    test = get_for_user(request.user, Perm.CHANGE_HOST, ConnectionTest.objects.select_related("host"), pk=test_id)
    context = {"host": test.host, "test": test}
    response = render_page(request, "hosts/connection_test.html", context, partials="connection-result")
    if request.htmx and test.is_finished:
        response.status_code = HttpResponseStopPolling.status_code  # 286: htmx stops polling
    return response


def _push_tokens_page(
    request: HtmxHttpRequest, host: Host, form: PushTokenForm, *, created: tuple[PushToken, str] | None = None
) -> HttpResponse:
    context = {
        "host": host,
        "tokens": PushToken.objects.filter(host=host).select_related("created_by", "revoked_by"),
        "form": form,
        "created": created[0] if created else None,
        "plaintext": created[1] if created else "",
        "push_url": request.build_absolute_uri(reverse("api:push")),
    }
    response = render(request, "hosts/push_tokens.html", context)
    if created:
        add_never_cache_headers(response)  # the one page that shows the token: no cache keeps a copy
    return response


@require(Perm.CHANGE_HOST)
@require_GET
def push_tokens(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.CHANGE_HOST, Host.objects.defer(*CREDENTIAL_FIELDS), pk=pk)
    return _push_tokens_page(request, host, PushTokenForm())


@require(Perm.CHANGE_HOST)
@require_POST
def push_token_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.CHANGE_HOST, Host.objects.defer(*CREDENTIAL_FIELDS), pk=pk)
    form = PushTokenForm(request.POST)
    if not form.is_valid():
        return _push_tokens_page(request, host, form)
    created = services.create_push_token(
        host, name=form.cleaned_data["name"], expires=form.cleaned_data["expires"], user=request.user
    )
    # Rendered, not redirected: the plaintext is shown in this one response and kept nowhere.
    return _push_tokens_page(request, host, PushTokenForm(), created=created)


@require(Perm.CHANGE_HOST)
@require_POST
def push_token_revoke(request: HtmxHttpRequest, pk: int, token_id: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.CHANGE_HOST, Host.objects.defer(*CREDENTIAL_FIELDS), pk=pk)
    token = get_object_or_404(PushToken, pk=token_id, host=host)
    if services.revoke_push_token(token, user=request.user):
        messages.success(request, f"Push token {token.prefix}… ({token.name}) revoked: it opens nothing any more.")
    else:
        messages.info(request, f"Push token {token.prefix}… was revoked already.")
    return redirect_to(request, reverse("hosts:push-tokens", args=[host.pk]))
