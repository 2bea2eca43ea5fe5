from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from config.htmx import redirect_to, render_page
from hosts import services
from hosts.forms import CREDENTIAL_FIELDS, HostForm
from hosts.models import Host, Tag
from scans.services import delete_schedule


def _get_host(pk: int) -> Host:
    return get_object_or_404(Host.objects.prefetch_related("tags"), pk=pk)


@login_required
@permission_required("hosts.view_host", raise_exception=True)
def host_list(request: HttpRequest) -> HttpResponse:
    hosts = Host.objects.select_related("latest_scan").prefetch_related("tags")
    tag = request.GET.get("tag", "")
    if tag:
        hosts = hosts.filter(tags__name=tag)
    context = {"hosts": hosts, "tag": tag, "tags": Tag.objects.filter(hosts__isnull=False).distinct()}
    return render_page(request, "hosts/host_list.html", context, partials="host-table")


@login_required
@permission_required("hosts.add_host", raise_exception=True)
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*CREDENTIAL_FIELDS)  # masked in error reports
def host_add(request: HttpRequest) -> HttpResponse:
    form = HostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        host = services.create_host(**form.host_fields(), tags=form.tag_objects())
        messages.success(request, f"Host {host.name} added, with the nightly default schedule.")
        return redirect_to(request, reverse("hosts:edit", args=[host.pk]))
    return render_page(request, "hosts/host_form.html", {"form": form, "host": None}, partials="host-form")


@login_required
@permission_required("hosts.change_host", raise_exception=True)
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*CREDENTIAL_FIELDS)  # masked in error reports
def host_edit(request: HttpRequest, pk: int) -> HttpResponse:
    host = _get_host(pk)
    form = HostForm(request.POST or None, instance=host)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Host {host.name} saved.")
        return redirect_to(request, reverse("hosts:edit", args=[host.pk]))
    return render_page(request, "hosts/host_form.html", {"form": form, "host": host}, partials="host-form")


@login_required
@permission_required("hosts.delete_host", raise_exception=True)
@require_http_methods(["GET", "POST"])
def host_delete(request: HttpRequest, pk: int) -> HttpResponse:
    host = _get_host(pk)
    if request.method == "POST":
        name = host.name
        with transaction.atomic():
            # Through the service, so beat's PeriodicTasks go with the host's schedules.
            for schedule in host.schedules.all():
                delete_schedule(schedule)
            host.delete()
        messages.success(request, f"Host {name} deleted, with its scans.")
        return redirect_to(request, reverse("hosts:list"))
    return render_page(request, "hosts/host_confirm_delete.html", {"host": host}, partials="host-delete")


@login_required
@permission_required("hosts.change_host", raise_exception=True)
@require_POST
def host_test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    host = _get_host(pk)
    result = services.test_connection(host)
    if request.htmx:
        return render_page(
            request, "hosts/host_form.html", {"host": host, "result": result}, partials="connection-result"
        )
    if result.ok:
        messages.success(request, f"Connected to {host.name}: Docker {result.docker_version}.")
    else:
        messages.error(request, f"Cannot connect to {host.name}: {result.message}")
    return redirect_to(request, reverse("hosts:edit", args=[host.pk]))
