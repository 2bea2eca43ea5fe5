"""The API's resources. Views only do HTTP: each action names its permission (``perms``, api.permissions),
writes go through the pages' forms and the apps' services, as the pages do."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api import filters, serializers
from api.renderers import AnyContent
from core.access import ANY_ACCOUNT, Perm
from dockerbench import risk
from dockerbench.catalog import ALL_BY_ID
from dockerbench.fixes import bundle
from dockerbench.fixes.model import HostFixes
from dockerbench.formats import csv_cell
from hosts import services as host_services
from hosts.forms import HostForm
from hosts.models import CREDENTIAL_FIELDS, Host, Tag
from reports import services as report_services
from reports.forms import ReportForm
from reports.models import Report
from reports.views import pdf_response
from scans import exports, waivers
from scans import fixes as scan_fixes
from scans import services as scan_services
from scans.forms import WaiverForm
from scans.models import Finding, Scan, Sighting, Waiver
from scans.queries import ALL_SECTIONS, STATUS_PRECEDENCE

READ = {"list", "retrieve"}


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema: for every account (it describes the API, it holds no data)."""

    permission_classes = [permissions.IsAuthenticated]
    required_permission = ANY_ACCOUNT


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI on the schema, from our own static files; its script is a file too (the CSP allows no inline one)."""

    permission_classes = [permissions.IsAuthenticated]
    required_permission = ANY_ACCOUNT
    template_name = "api/docs.html"


def _perms(read: Perm, **others: Perm) -> dict[str, Perm]:
    return {**dict.fromkeys(READ, read), **others}


# -- tags and hosts ----------------------------------------------------------------------------------------


class TagViewSet(viewsets.ReadOnlyModelViewSet):
    """The tags hosts carry. A tag is made by giving it to a host."""

    perms = _perms(Perm.VIEW_HOST)
    serializer_class = serializers.TagSerializer
    filterset_class = filters.TagFilter
    ordering_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Tag]:
        return Tag.objects.annotate(host_count=Count("hosts"))


def _host_form_data(host: Host, data: dict[str, Any]) -> dict[str, Any]:
    """The HostForm submission an API write amounts to: the host's current values (a new host's defaults),
    then what was sent."""
    form_data: dict[str, Any] = {name: getattr(host, name) for name in HostForm.Meta.fields}
    if host.pk is not None:
        form_data["tags"] = ", ".join(t.name for t in host.tags.all())
    for name, value in data.items():
        if name == "tags":
            form_data["tags"] = ", ".join(value)
        elif name in CREDENTIAL_FIELDS:
            if value == "":
                form_data[f"clear_{name}"] = True
            else:
                form_data[name] = value
        else:
            form_data[name] = value
    # A form reads an unticked checkbox as absent: send only the true ones, as a browser would.
    return {k: v for k, v in form_data.items() if v is not False}


@extend_schema_view(
    create=extend_schema(request=serializers.HostWriteSerializer, responses={201: serializers.HostSerializer}),
    update=extend_schema(request=serializers.HostWriteSerializer, responses=serializers.HostSerializer),
    partial_update=extend_schema(request=serializers.HostWriteSerializer, responses=serializers.HostSerializer),
)
class HostViewSet(viewsets.ModelViewSet):
    """The fleet. Credentials are write-only: a host says which are set, never what they are."""

    perms = _perms(
        Perm.VIEW_HOST,
        create=Perm.ADD_HOST,
        update=Perm.CHANGE_HOST,
        partial_update=Perm.CHANGE_HOST,
        destroy=Perm.DELETE_HOST,
        scan=Perm.RUN_SCAN,
        fixes=Perm.VIEW_FINDINGS,
        fixes_bundle=Perm.VIEW_FINDINGS,
    )
    serializer_class = serializers.HostSerializer
    filterset_class = filters.HostFilter
    ordering_fields = ["name", "created", "id"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Host]:
        return Host.objects.select_related("latest__scan").prefetch_related("tags")

    def _save(self, request: Request, host: Host | None) -> Host:
        incoming = serializers.HostWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = _host_form_data(host or Host(), dict(incoming.validated_data))
        form = serializers.validated(HostForm(data, instance=host))
        assert isinstance(form, HostForm)  # noqa: S101 - for the type checker
        with transaction.atomic():
            if host is None:
                return host_services.create_host(**form.host_fields(), tags=form.tag_objects())
            return form.save()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        host = self._save(request, None)
        return Response(self.get_serializer(self.get_queryset().get(pk=host.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        host = self._save(request, self.get_object())
        return Response(self.get_serializer(self.get_queryset().get(pk=host.pk)).data)

    def perform_destroy(self, instance: Host) -> None:
        host_services.delete_host(instance)

    @extend_schema(request=None, responses={202: serializers.ScanSerializer})
    @action(detail=True, methods=["post"])
    def scan(self, request: Request, pk: str | None = None) -> Response:
        """Scan this host now (or get the scan already queued or running)."""
        host = self.get_object()
        scan, _created = scan_services.queue_scan(host, trigger=Scan.Trigger.API, user=request.user)
        return Response(serializers.ScanSerializer(_scans().get(pk=scan.pk)).data, status=status.HTTP_202_ACCEPTED)

    def _fixes(self) -> tuple[HostFixes, int]:
        found = scan_fixes.host_fixes(self.get_object())
        if found.fixes is None or found.scan is None:
            raise NotFound(found.reason)
        return found.fixes, found.scan.pk

    @extend_schema(responses={200: serializers.HostFixesSerializer}, filters=False)
    @action(detail=True, methods=["get"])
    def fixes(self, request: Request, pk: str | None = None) -> Response:
        """The fixes written from the host's latest scan (docs/fixes.md): host files and each container's run
        line and compose file, today's and hardened, with every change. Nothing is applied. 404 when the
        scan's raw snapshot is gone, with the reason."""
        written, scan_id = self._fixes()
        dirs = bundle.container_dirs(written.containers)
        data = {
            "host": written.host,
            "scan": scan_id,
            "files": [
                {"name": name, "what": what, "content": f.content, "changes": f.changes}
                for name, what, f in bundle.host_files(written)
            ],
            "containers": [{**vars(c), "directory": dirs[c.container_id]} for c in written.containers],
        }
        return Response(serializers.HostFixesSerializer(data).data)

    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY}, filters=False)
    @action(detail=True, methods=["get"], url_path="fixes/bundle", content_negotiation_class=AnyContent)
    def fixes_bundle(self, request: Request, pk: str | None = None) -> FileResponse:
        """The same fixes as one .tar.gz, what `python -m dockerbench --fixes DIR` writes."""
        written, _scan_id = self._fixes()
        filename = f"{bundle.bundle_name(written)}.tar.gz"
        data = bundle.tar_gz(written)
        return FileResponse(io.BytesIO(data), as_attachment=True, filename=filename, content_type="application/gzip")


# -- scans -------------------------------------------------------------------------------------------------


def _scans() -> QuerySet[Scan]:
    return Scan.objects.select_related("host").only(
        *[f.name for f in Scan._meta.concrete_fields if f.name not in ("progress", "summary", "claim")], "host__name"
    )


def _one_of(request: Request, name: str, allowed: Any) -> str:
    value = request.query_params.get(name, "")
    if value and value not in allowed:
        raise ValidationError({name: [f"Choose one of: {', '.join(allowed)}."]})
    return value


EXPORT_FILTERS = [
    OpenApiParameter("status", str, enum=list(STATUS_PRECEDENCE), description="Only the checks with this verdict."),
    OpenApiParameter("section", str, enum=list(ALL_SECTIONS), description="Only this section's checks."),
    OpenApiParameter("check", str, description="Only this check, e.g. 5.4."),
]
EXPORT_PARAM = OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=sorted(exports.EXPORT_FORMATS))


@extend_schema_view(
    create=extend_schema(request=serializers.ScanStartSerializer, responses={202: serializers.ScanSerializer})
)
class ScanViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Scans of the fleet: start one, follow it, read what it found, export it."""

    perms = _perms(
        Perm.VIEW_SCAN,
        create=Perm.RUN_SCAN,
        cancel=Perm.CANCEL_SCAN,
        results=Perm.VIEW_FINDINGS,
        export=Perm.VIEW_FINDINGS,
    )
    filterset_class = filters.ScanFilter
    ordering_fields = ["created", "finished", "score", "id"]
    ordering = ["-created", "-id"]

    def get_queryset(self) -> QuerySet[Scan]:
        if self.action == "retrieve":
            return Scan.objects.select_related("host").defer(*[f"host__{c}" for c in CREDENTIAL_FIELDS])
        return _scans()

    def get_serializer_class(self) -> type:
        return serializers.ScanDetailSerializer if self.action == "retrieve" else serializers.ScanSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = serializers.ScanStartSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        host = incoming.validated_data["host"]
        scan, _created = scan_services.queue_scan(host, trigger=Scan.Trigger.API, user=request.user)
        return Response(serializers.ScanSerializer(_scans().get(pk=scan.pk)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None, responses={200: serializers.ScanSerializer, 409: OpenApiResponse(description="Finished already.")}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a queued or running scan."""
        scan = self.get_object()
        if not scan_services.cancel_scan(scan, user=request.user):
            return Response({"error": "finished", "detail": "This scan has finished already."}, status=409)
        return Response(serializers.ScanSerializer(_scans().get(pk=scan.pk)).data)

    @extend_schema(responses=serializers.ResultSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        """Every verdict of this scan, in the engine's order, one per check and object."""
        scan = self.get_object()
        page = self.paginate_queryset(Sighting.at(scan).order_by("seq"))
        return self.get_paginated_response(serializers.ResultSerializer(page, many=True).data)

    @extend_schema(
        parameters=[EXPORT_PARAM, *EXPORT_FILTERS],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path=r"export/(?P<fmt>[a-z]+)", content_negotiation_class=AnyContent)
    def export(self, request: Request, pk: str | None = None, fmt: str = "") -> FileResponse:
        """This scan as SARIF 2.1.0, JUnit XML, CSV, JSON or text (what `python -m dockerbench --format` writes)."""
        scan = self.get_object()
        if fmt not in exports.EXPORT_FORMATS:
            raise Http404("No such export format.")
        try:
            body, content_type, filename = exports.export_scan(
                scan,
                fmt,
                status=_one_of(request, "status", STATUS_PRECEDENCE),
                section=_one_of(request, "section", ALL_SECTIONS),
                check=request.query_params.get("check", "")[:16],
            )
        except exports.NothingToExport as exc:
            raise Http404(str(exc)) from exc
        return FileResponse(io.BytesIO(body), as_attachment=True, filename=filename, content_type=content_type)


# -- findings and waivers ----------------------------------------------------------------------------------


class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    """Findings live across scans: one per host, check and object, open, fixed or never WARN."""

    perms = _perms(Perm.VIEW_FINDINGS, csv=Perm.VIEW_FINDINGS)
    serializer_class = serializers.FindingSerializer
    filterset_class = filters.FindingFilter
    ordering_fields = ["first_seen", "last_seen", "opened", "check_id", "id"]
    ordering = ["-last_seen", "id"]

    def get_queryset(self) -> QuerySet[Finding]:
        return Finding.objects.annotate(host_name=F("host__name"))

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    @action(detail=False, methods=["get"], content_negotiation_class=AnyContent)
    def csv(self, request: Request) -> StreamingHttpResponse:
        """Every finding the filters select (not one page), as CSV for a spreadsheet or a ticket import."""
        rows = self.filter_queryset(self.get_queryset()).order_by("host_name", "check_id", "object_key", "id")
        response = StreamingHttpResponse(
            _csv_lines(rows.iterator(chunk_size=2000)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="dockerbench-findings.csv"'
        return response


FINDING_CSV_COLUMNS = (
    "host",
    "check_id",
    "section",
    "title",
    "status",
    "state",
    "object_kind",
    "object_name",
    "risk_weight",
    "first_seen",
    "last_seen",
    "opened",
    "fixed",
    "waiver",
)


def _csv_lines(findings: Iterator[Finding]) -> Iterator[str]:
    """RFC 4180 lines, one per finding, written as they are read: memory stays flat however many there are."""
    line = _CsvLine()
    yield line(FINDING_CSV_COLUMNS)
    for f in findings:
        rec = ALL_BY_ID.get(f.check_id)
        yield line(
            (
                f.host_name,  # type: ignore[attr-defined]  # annotated by the queryset
                f.check_id,
                f.section,
                rec.title if rec else "",
                f.status,
                f.state,
                f.object_kind,
                f.object_name,
                risk.weight(f.check_id),
                _iso(f.first_seen),
                _iso(f.last_seen),
                _iso(f.opened),
                _iso(f.fixed),
                f"#{f.waiver_id}" if f.waived else "",
            )
        )


class _CsvLine:
    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def __call__(self, row: Iterable[object]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow([csv_cell(v) for v in row])
        return self.buffer.getvalue()


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when else ""


def _waiver_form_data(waiver: Waiver | None, data: dict[str, Any]) -> dict[str, Any]:
    form_data: dict[str, Any] = {}
    if waiver is not None:
        form_data = {name: getattr(waiver, name) for name in WaiverForm.Meta.fields if name not in ("host", "tag")}
        form_data["host"] = waiver.host_id or ""
        form_data["tag"] = waiver.tag_id or ""
    if "tag" in data:
        name = data.pop("tag") or ""
        tag = Tag.objects.filter(name=name).first() if name else None
        if name and tag is None:
            raise ValidationError({"tag": [f"No tag named {name!r}."]})
        form_data["tag"] = tag.pk if tag else ""
    for name, value in data.items():
        form_data[name] = "" if value is None else value
    return form_data


@extend_schema_view(
    create=extend_schema(request=serializers.WaiverWriteSerializer, responses={201: serializers.WaiverSerializer}),
    update=extend_schema(request=serializers.WaiverWriteSerializer, responses=serializers.WaiverSerializer),
    partial_update=extend_schema(request=serializers.WaiverWriteSerializer, responses=serializers.WaiverSerializer),
)
class WaiverViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Accepted risks, with a reason, an owner and an expiry (the Admin's policy caps it)."""

    perms = _perms(
        Perm.VIEW_WAIVER,
        create=Perm.ADD_WAIVER,
        update=Perm.CHANGE_WAIVER,
        partial_update=Perm.CHANGE_WAIVER,
        revoke=Perm.CHANGE_WAIVER,
    )
    serializer_class = serializers.WaiverSerializer
    filterset_class = filters.WaiverFilter
    ordering_fields = ["expires", "created", "id"]
    ordering = ["expires", "id"]

    def get_queryset(self) -> QuerySet[Waiver]:
        return Waiver.objects.select_related("tag", "host").defer(*[f"host__{c}" for c in CREDENTIAL_FIELDS])

    def _save(self, request: Request, waiver: Waiver | None) -> Waiver:
        incoming = serializers.WaiverWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        form = serializers.validated(
            WaiverForm(_waiver_form_data(waiver, dict(incoming.validated_data)), instance=waiver)
        )
        assert isinstance(form, WaiverForm)  # noqa: S101 - for the type checker
        return waivers.save_waiver(form.save(commit=False), user=request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        waiver = self._save(request, None)
        return Response(self.get_serializer(self.get_queryset().get(pk=waiver.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        waiver = self.get_object()
        if waiver.revoked is not None:
            return Response({"error": "revoked", "detail": "A revoked waiver cannot change."}, status=409)
        saved = self._save(request, waiver)
        return Response(self.get_serializer(self.get_queryset().get(pk=saved.pk)).data)

    @extend_schema(request=None, responses=serializers.WaiverSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Stop this waiver now: its findings count again from the next scan on (and on the pages at once)."""
        waiver = self.get_object()
        waivers.revoke_waiver(waiver, user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=waiver.pk)).data)


# -- reports -----------------------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=serializers.ReportRequestSerializer, responses={202: serializers.ReportSerializer})
)
class ReportViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """PDF reports of the fleet, a tag or a host: request one, follow it, download it."""

    perms = _perms(Perm.VIEW_REPORT, create=Perm.REQUEST_REPORT, destroy=Perm.DELETE_REPORT, download=Perm.VIEW_REPORT)
    serializer_class = serializers.ReportSerializer
    filterset_class = filters.ReportFilter
    ordering_fields = ["created", "id"]
    ordering = ["-created", "-id"]

    def get_queryset(self) -> QuerySet[Report]:
        return Report.objects.all()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = serializers.ReportRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = {k: ("" if v is None else v) for k, v in incoming.validated_data.items()}
        form = serializers.validated(ReportForm(data))
        report = report_services.request_report(form.cleaned_data["params"], user=request.user)
        return Response(self.get_serializer(report).data, status=status.HTTP_202_ACCEPTED)

    def perform_destroy(self, instance: Report) -> None:
        report_services.delete_report(instance)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY}, filters=False)
    @action(detail=True, methods=["get"], content_negotiation_class=AnyContent)
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """The report's PDF, once it is done."""
        return pdf_response(self.get_object())
