"""The API's image vulnerabilities: scanner reports (Trivy, Grype, Clair) as sent, their CVEs, CVE waivers."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import validated
from core.access import Perm
from dockerbench.vulns import MAX_REPORT_BYTES, ReportError, parse_report
from vulns import services
from vulns.forms import CveWaiverForm
from vulns.models import CveWaiver, HostImage, ImageReport, Vulnerability

READ = {"list", "retrieve"}


class ImageReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImageReport
        fields = [
            "id",
            "scanner",
            "scanner_version",
            "image_id",
            "digests",
            "tags",
            "artifact",
            "scanned_at",
            "received",
            "source",
            "critical",
            "high",
            "medium",
            "low",
            "negligible",
            "unknown",
            "fixable_critical",
            "fixable_high",
        ]
        read_only_fields = fields


class VulnerabilitySerializer(serializers.ModelSerializer):
    image = serializers.IntegerField(source="report_id", read_only=True, help_text="The image report it is in.")

    class Meta:
        model = Vulnerability
        fields = [
            "id",
            "image",
            "cve_id",
            "aliases",
            "severity",
            "package",
            "installed",
            "fixed",
            "title",
            "url",
            "cvss",
        ]
        read_only_fields = fields


class CveWaiverSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()
    scope = serializers.CharField(source="scope_text", read_only=True)

    class Meta:
        model = CveWaiver
        fields = [
            "id",
            "cve_id",
            "host",
            "image_pattern",
            "scope",
            "reason",
            "owner",
            "expires",
            "created",
            "revoked",
            "active",
        ]
        read_only_fields = fields

    def get_active(self, waiver: CveWaiver) -> bool:
        return waiver.is_active()


class CveWaiverWriteSerializer(serializers.Serializer):
    cve_id = serializers.CharField()
    host = serializers.IntegerField(required=False, allow_null=True)
    image_pattern = serializers.CharField(required=False, allow_blank=True)
    reason = serializers.CharField()
    owner = serializers.CharField()
    expires = serializers.DateField()


class RawReport(parsers.BaseParser):
    """A scanner's JSON report as the scanner wrote it, sent as the request body."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        data = stream.read(MAX_REPORT_BYTES + 1) if stream is not None else b""
        if len(data) > MAX_REPORT_BYTES:
            raise ValidationError(
                {"report": [f"The report is larger than {MAX_REPORT_BYTES:,} bytes. Nothing was stored."]}
            )
        return data


class VulnerabilityFilter(filters.FilterSet):
    severity = filters.MultipleChoiceFilter(choices=Vulnerability._meta.get_field("severity").choices)
    fixable = filters.BooleanFilter(method="by_fixable", help_text="true: a fixed version is known.")
    cve = filters.CharFilter(field_name="cve_id", lookup_expr="iexact")
    image = filters.NumberFilter(field_name="report_id", help_text="An image report's id.")
    host = filters.NumberFilter(method="by_host", help_text="Only in images of this host's latest scan.")

    class Meta:
        model = Vulnerability
        fields = ["package"]

    def by_fixable(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.exclude(fixed="") if value else queryset.filter(fixed="")

    def by_host(self, queryset: QuerySet, name: str, value: float) -> QuerySet:
        keys = [k for row in HostImage.objects.filter(host_id=int(value)).values_list("keys", flat=True) for k in row]
        return queryset.filter(report__key_rows__key__in=keys).distinct()


@extend_schema_view(
    create=extend_schema(
        request={"application/json": OpenApiTypes.OBJECT, "multipart/form-data": OpenApiTypes.BINARY},
        responses={201: ImageReportSerializer},
        description="Send the scanner's report as it is: `trivy image -f json`, `grype -o json` or a Clair v4 "
        "vulnerability report, as the JSON body or as the file field `report`. It is matched to images by digest.",
    )
)
class ImageReportViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Image vulnerability reports: one current report per image, matched to every host by digest."""

    perms = {**dict.fromkeys(READ, Perm.VIEW_VULNS), "create": Perm.UPLOAD_REPORT}
    serializer_class = ImageReportSerializer
    parser_classes = [RawReport, parsers.MultiPartParser]
    filterset_fields = ["scanner", "source", "image_id"]
    ordering_fields = ["received", "critical", "fixable_critical", "id"]
    ordering = ["-received", "-id"]

    def get_queryset(self) -> QuerySet[ImageReport]:
        return ImageReport.objects.all()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if isinstance(request.data, bytes):
            data, filename = request.data, ""
        else:
            upload = request.data.get("report")
            if upload is None:
                raise ValidationError({"report": ["Send the report as the JSON body, or as the file field report."]})
            if upload.size > MAX_REPORT_BYTES:
                raise ValidationError({"report": [f"The report is larger than {MAX_REPORT_BYTES:,} bytes."]})
            data, filename = upload.read(MAX_REPORT_BYTES + 1), upload.name or ""
        try:
            parsed = parse_report(data, filename=filename)
        except ReportError as exc:
            raise ValidationError({"report": [f"This report cannot be read: {exc}. Nothing was stored."]}) from None
        try:
            stored = services.store_report(parsed, source=ImageReport.Source.API, user=request.user)
        except services.StaleReport as exc:
            return Response({"error": "stale", "detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(stored).data, status=status.HTTP_201_CREATED)


class VulnerabilityViewSet(viewsets.ReadOnlyModelViewSet):
    """The CVEs of the stored image reports, worst first."""

    perms = dict.fromkeys(READ, Perm.VIEW_VULNS)
    serializer_class = VulnerabilitySerializer
    filterset_class = VulnerabilityFilter
    ordering_fields = ["severity_rank", "cve_id", "cvss", "id"]
    ordering = ["severity_rank", "cve_id", "id"]

    def get_queryset(self) -> QuerySet[Vulnerability]:
        return Vulnerability.objects.all()


@extend_schema_view(create=extend_schema(request=CveWaiverWriteSerializer, responses={201: CveWaiverSerializer}))
class CveWaiverViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Accepted vulnerabilities: a CVE id (or alias) everywhere, on a host, or in images matching a pattern."""

    perms = {
        **dict.fromkeys(READ, Perm.VIEW_CVE_WAIVER),
        "create": Perm.ADD_CVE_WAIVER,
        "revoke": Perm.CHANGE_CVE_WAIVER,
    }
    serializer_class = CveWaiverSerializer
    filterset_fields = ["host", "owner"]
    ordering_fields = ["expires", "created", "id"]
    ordering = ["expires", "id"]

    def get_queryset(self) -> QuerySet[CveWaiver]:
        return CveWaiver.objects.all()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = CveWaiverWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = {k: ("" if v is None else v) for k, v in incoming.validated_data.items()}
        form = validated(CveWaiverForm(data))
        assert isinstance(form, CveWaiverForm)  # noqa: S101 - for the type checker
        waiver = services.save_cve_waiver(form.save(commit=False), user=request.user)
        return Response(self.get_serializer(waiver).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=CveWaiverSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Stop this CVE waiver now."""
        waiver = self.get_object()
        services.revoke_cve_waiver(waiver, user=request.user)
        waiver.refresh_from_db()
        return Response(self.get_serializer(waiver).data)
