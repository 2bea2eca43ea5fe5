"""The pages of a host's generated fixes (scans.fixes), and the bundle's download: files to review, never applied."""

from __future__ import annotations

import io
from typing import Any

from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotFound
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.access import Perm, can, get_for_user, require
from core.htmx import HtmxHttpRequest, render_page
from dockerbench.fixes import bundle
from hosts.models import CREDENTIAL_FIELDS, Host
from scans import fixes as host_fixes

# Credentials are never needed to write a fix: leave them (sealed) in the database.
_HOSTS = Host.objects.select_related("latest__scan").defer(*CREDENTIAL_FIELDS)


def _context(host: Host, found: host_fixes.Fixes) -> dict[str, Any]:
    written = found.fixes
    dirs = bundle.container_dirs(written.containers) if written else {}
    return {
        "host": host,
        "scan": found.scan,
        "fixes": written,
        "reason": found.reason,
        "host_files": bundle.host_files(written) if written else [],
        "dirs": dirs,
        "containers": [
            {"fix": c, "dir": dirs[c.container_id], "review": sum(1 for ch in c.changes if ch.review)}
            for c in (written.containers if written else ())
        ],
    }


@require(Perm.VIEW_FINDINGS)
@require_GET
def fixes(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    host = get_for_user(request.user, Perm.VIEW_FINDINGS, _HOSTS, pk=pk)
    context = _context(host, host_fixes.host_fixes(host))
    context["can_scan"] = can(request.user, Perm.RUN_SCAN)
    return render(request, "scans/fixes.html", context)


@require(Perm.VIEW_FINDINGS)
@require_GET
def container_fix(request: HtmxHttpRequest, pk: int, container_id: str) -> HttpResponse:
    host = get_for_user(request.user, Perm.VIEW_FINDINGS, _HOSTS, pk=pk)
    found = host_fixes.host_fixes(host)
    fix = found.container(container_id)
    if fix is None:
        raise Http404("No fix is written for this container in the host's latest scan.")
    context = {**_context(host, found), "fix": fix}
    context["dir"] = context["dirs"][fix.container_id]
    return render_page(request, "scans/container_fix.html", context, partials=["container-fix"])


@require(Perm.VIEW_FINDINGS)
@require_GET
def fixes_bundle(request: HtmxHttpRequest, pk: int) -> HttpResponse | FileResponse:
    host = get_for_user(request.user, Perm.VIEW_FINDINGS, _HOSTS, pk=pk)
    found = host_fixes.host_fixes(host)
    if found.fixes is None:
        return HttpResponseNotFound(found.reason, content_type="text/plain; charset=utf-8")
    data = bundle.tar_gz(found.fixes)
    filename = f"{bundle.bundle_name(found.fixes)}.tar.gz"
    return FileResponse(io.BytesIO(data), as_attachment=True, filename=filename, content_type="application/gzip")
