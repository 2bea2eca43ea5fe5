"""The page an Operator uploads a docker-bench-security JSON log on, for one host (scans.imports)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.access import Perm, get_for_user, require
from core.htmx import HtmxHttpRequest
from dockerbench.import_dockerbench import DockerBenchLogError
from hosts.models import CREDENTIAL_FIELDS, Host
from scans.imports import ImportRefused, import_dockerbench_log

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class ImportForm(forms.Form):
    file = forms.FileField(
        label="docker-bench-security JSON log",
        help_text="The docker-bench-security.log.json file docker-bench-security 1.6.x writes next to its text "
        "log (at most 5 MB).",
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                "The file is %(size)s bytes; the limit is 5 MB.", params={"size": f"{upload.size:,}"}
            )
        self.filename = str(upload.name or "")[:255]
        data: bytes = upload.read(MAX_UPLOAD_BYTES + 1)
        return data


@require(Perm.RUN_SCAN)
@require_http_methods(["GET", "POST"])
def import_log(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.RUN_SCAN, Host.objects.defer(*CREDENTIAL_FIELDS), pk=pk)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            scan, created = import_dockerbench_log(
                host, form.cleaned_data["file"], user=request.user, filename=form.filename
            )
        except DockerBenchLogError as exc:
            form.add_error("file", f"This is not a docker-bench-security log that can be imported: {exc}")
        except ImportRefused as exc:
            form.add_error(None, str(exc))
        else:
            if created:
                messages.success(request, f"Imported as scan #{scan.pk} of {host.name}.")
            else:
                messages.info(request, f"This file was imported before, as scan #{scan.pk}: nothing new was stored.")
            return redirect("scans:scan", pk=scan.pk)
    return render(request, "scans/import.html", {"host": host, "form": form, "max_mb": 5})
