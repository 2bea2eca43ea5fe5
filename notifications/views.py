from __future__ import annotations

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.access import Perm, get_for_user, require
from core.htmx import HtmxHttpRequest, redirect_to, render_page
from notifications import services
from notifications.forms import ChannelForm
from notifications.models import Channel, Delivery

DELIVERY_LOG_SIZE = 100


@require(Perm.VIEW_CHANNEL)
@require_GET
def channel_list(request: HtmxHttpRequest) -> HttpResponse:
    last = Delivery.objects.filter(channel=OuterRef("pk")).order_by("-created", "-id")
    channels = Channel.objects.annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_code=Subquery(last.values("last_response_code")[:1]),
        last_created=Subquery(last.values("created")[:1]),
    )
    return render_page(request, "notifications/channel_list.html", {"channels": channels}, partials="channel-table")


def _secret_page(request: HtmxHttpRequest, channel: Channel, secret: str) -> HttpResponse:
    # The secret is shown this once, in this response only: never in a redirect, a message or a later page.
    context = {"channel": channel, "secret": secret}
    response = render_page(request, "notifications/channel_secret.html", context, partials="channel-secret")
    patch_cache_control(response, no_store=True)
    return response


@require(Perm.ADD_CHANNEL)
@require_http_methods(["GET", "POST"])
def channel_add(request: HtmxHttpRequest) -> HttpResponse:
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        channel = form.save(commit=False)
        secret = services.save_channel(channel)
        if secret:
            return _secret_page(request, channel, secret)
        messages.success(request, f"Channel {channel.name} added.")
        return redirect_to(request, reverse("notifications:channels"))
    context = {"form": form, "channel": None}
    return render_page(request, "notifications/channel_form.html", context, partials="channel-form")


@require(Perm.CHANGE_CHANNEL)
@require_http_methods(["GET", "POST"])
def channel_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    channel = get_for_user(request.user, Perm.CHANGE_CHANNEL, Channel, pk=pk)
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        channel = form.save(commit=False)
        secret = services.save_channel(channel, regenerate_secret=form.cleaned_data.get("regenerate_secret", False))
        if secret:
            return _secret_page(request, channel, secret)
        messages.success(request, f"Channel {channel.name} saved.")
        return redirect_to(request, reverse("notifications:channels"))
    context = {"form": form, "channel": channel}
    return render_page(request, "notifications/channel_form.html", context, partials="channel-form")


@require(Perm.CHANGE_CHANNEL)
@require_POST
def channel_test(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    channel = get_for_user(request.user, Perm.CHANGE_CHANNEL, Channel, pk=pk)
    services.send_test(channel, user=request.user)
    messages.success(request, f"A test notification to {channel.name} is on its way: see its deliveries.")
    return redirect_to(request, reverse("notifications:deliveries", args=[channel.pk]))


@require(Perm.DELETE_CHANNEL)
@require_http_methods(["GET", "POST"])
def channel_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    channel = get_for_user(request.user, Perm.DELETE_CHANNEL, Channel, pk=pk)
    if request.method == "POST":
        name = channel.name
        channel.delete()  # its deliveries go with it; the audit trail keeps the channel's deletion
        messages.success(request, f"Channel {name} deleted.")
        return redirect_to(request, reverse("notifications:channels"))
    context = {"channel": channel, "deliveries": channel.deliveries.count()}
    return render_page(request, "notifications/channel_confirm_delete.html", context, partials="channel-delete")


@require(Perm.VIEW_CHANNEL)
@require_GET
def delivery_log(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    channel = get_for_user(request.user, Perm.VIEW_CHANNEL, Channel, pk=pk)
    deliveries = list(channel.deliveries.order_by("-created", "-id")[:DELIVERY_LOG_SIZE])
    context = {"channel": channel, "deliveries": deliveries, "size": DELIVERY_LOG_SIZE}
    return render_page(request, "notifications/deliveries.html", context, partials="delivery-table")
