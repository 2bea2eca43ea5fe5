"""What the API says about each object, and what it accepts.

Writes go through the pages' own forms (hosts.forms.HostForm, scans.forms.WaiverForm, reports.forms.ReportForm):
one set of rules for a person and a pipeline. The serializers here describe the shapes, for the schema.
"""

from __future__ import annotations

from typing import Any

from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dockerbench import risk
from hosts.forms import HostForm
from hosts.models import CREDENTIAL_FIELDS, Host, Tag
from reports.models import Report
from scans.models import Finding, Scan, Sighting, Waiver
from scans.queries import grade


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    """A form's errors as the API reports them: field -> messages ("non_field_errors" for the whole)."""
    return {
        ("non_field_errors" if field == "__all__" else field): [e["message"] for e in errors]
        for field, errors in form.errors.get_json_data().items()
    }


def validated(form: forms.BaseForm) -> forms.BaseForm:
    if not form.is_valid():
        raise serializers.ValidationError(form_errors(form))
    return form


class TagSerializer(serializers.ModelSerializer):
    hosts = serializers.IntegerField(read_only=True, source="host_count", help_text="How many hosts carry it.")

    class Meta:
        model = Tag
        fields = ["id", "name", "hosts"]


class LatestScanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    grade = serializers.SerializerMethodField()
    warn = serializers.IntegerField(source="warn_count")
    finished = serializers.DateTimeField(allow_null=True)

    def get_grade(self, scan: Scan) -> str:
        return grade(scan.score)


class HostSerializer(serializers.ModelSerializer):
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    credentials = serializers.SerializerMethodField(help_text="Which credentials are stored; never their value.")
    latest_scan = serializers.SerializerMethodField()

    class Meta:
        model = Host
        # What a person sets on the host form, and what the fleet knows of it.
        fields = ["id", *HostForm.Meta.fields, "tags", "created", "credentials", "latest_scan"]

    @extend_schema_field(serializers.DictField(child=serializers.BooleanField()))
    def get_credentials(self, host: Host) -> dict[str, bool]:
        return {name: bool(getattr(host, name)) for name in CREDENTIAL_FIELDS}

    @extend_schema_field(LatestScanSerializer(allow_null=True))
    def get_latest_scan(self, host: Host) -> dict[str, Any] | None:
        latest = getattr(host, "latest", None)
        return LatestScanSerializer(latest.scan).data if latest is not None else None


class HostWriteSerializer(serializers.Serializer):
    """A new host, or the fields to change. Credentials are write-only: "" clears one, leaving it out keeps it."""

    name = serializers.CharField(required=False)
    url = serializers.CharField(required=False, help_text="unix:///var/run/docker.sock, tcp://host:2376, ssh://…")
    enabled = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    facts_method = serializers.ChoiceField(choices=Host.Facts.choices, required=False)
    probe_image = serializers.CharField(required=False, allow_blank=True)
    tls_verify = serializers.BooleanField(required=False)
    ssh_known_hosts = serializers.CharField(required=False, allow_blank=True)
    ssh_accept_unknown_host = serializers.BooleanField(required=False)
    ssh_facts_url = serializers.CharField(required=False, allow_blank=True)
    tls_ca_cert = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    tls_client_cert = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    tls_client_key = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    ssh_private_key = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)


class FixChangeSerializer(serializers.Serializer):
    check_id = serializers.CharField(help_text="The CIS recommendation it fixes, e.g. 5.4.")
    what = serializers.CharField(help_text="The change as written: an option, a setting, a command.")
    why = serializers.CharField()
    may_break = serializers.CharField(help_text="What a reviewer should know before applying it; empty if nothing.")
    review = serializers.CharField(help_text="Not empty: a person must decide it, and why.")


class FixFileSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Its name in the bundle: daemon.json, audit.rules, permissions.sh.")
    what = serializers.CharField()
    content = serializers.CharField()
    changes = FixChangeSerializer(many=True)


class ContainerFixSerializer(serializers.Serializer):
    container_id = serializers.CharField()
    name = serializers.CharField()
    directory = serializers.CharField(help_text="Its folder in the bundle, under containers/.")
    current_run = serializers.CharField(help_text="docker run, as it runs today.")
    fixed_run = serializers.CharField(help_text="docker run, hardened.")
    current_compose = serializers.CharField()
    fixed_compose = serializers.CharField()
    changes = FixChangeSerializer(many=True)


class HostFixesSerializer(serializers.Serializer):
    """A host's generated fixes (docs/fixes.md): nothing is applied, these are files to review."""

    host = serializers.CharField()
    scan = serializers.IntegerField(help_text="The scan they are written from: the host's latest.")
    files = FixFileSerializer(many=True)
    containers = ContainerFixSerializer(many=True)


class ScanSerializer(serializers.ModelSerializer):
    host_name = serializers.CharField(source="host.name", read_only=True)
    grade = serializers.SerializerMethodField()
    warn = serializers.IntegerField(source="warn_count", read_only=True)

    class Meta:
        model = Scan
        fields = [
            "id",
            "host",
            "host_name",
            "status",
            "trigger",
            "created",
            "started",
            "finished",
            "error",
            "score",
            "grade",
            "warn",
            "waived_score",
            "engine_version",
        ]
        read_only_fields = fields

    def get_grade(self, scan: Scan) -> str:
        return grade(scan.score)


class ScanDetailSerializer(ScanSerializer):
    class Meta(ScanSerializer.Meta):
        fields = [*ScanSerializer.Meta.fields, "progress", "summary"]
        read_only_fields = fields


class ScanStartSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.defer(*CREDENTIAL_FIELDS))


class ResultSerializer(serializers.ModelSerializer):
    """One verdict of a scan, as the engine gave it: a check on one object, with its evidence."""

    finding = serializers.IntegerField(source="finding_id")

    class Meta:
        model = Sighting
        fields = [
            "check_id",
            "section",
            "status",
            "object_kind",
            "object_id",
            "object_name",
            "message",
            "evidence",
            "finding",
        ]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    host_name = serializers.CharField(read_only=True, help_text="The host's name (annotated: no query per row).")
    risk = serializers.SerializerMethodField(help_text="The check's risk weight (docs/risk.md), 1 to 10.")
    waived = serializers.BooleanField(read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "host",
            "host_name",
            "check_id",
            "section",
            "status",
            "state",
            "object_kind",
            "object_key",
            "object_name",
            "detail",
            "risk",
            "first_seen",
            "last_seen",
            "opened",
            "fixed",
            "reopened",
            "waived",
            "waiver",
        ]
        read_only_fields = fields

    def get_risk(self, finding: Finding) -> int:
        return risk.weight(finding.check_id)


class WaiverSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()
    tag = serializers.SlugRelatedField(slug_field="name", read_only=True)
    scope = serializers.CharField(source="scope_text", read_only=True)

    class Meta:
        model = Waiver
        fields = [
            "id",
            "check_id",
            "host",
            "tag",
            "object_pattern",
            "scope",
            "reason",
            "owner",
            "ticket",
            "expires",
            "created",
            "revoked",
            "active",
        ]
        read_only_fields = fields

    def get_active(self, waiver: Waiver) -> bool:
        return waiver.is_active()


class WaiverWriteSerializer(serializers.Serializer):
    check_id = serializers.CharField(required=False)
    host = serializers.IntegerField(required=False, allow_null=True)
    tag = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text="A tag's name.")
    object_pattern = serializers.CharField(required=False, allow_blank=True)
    reason = serializers.CharField(required=False)
    owner = serializers.CharField(required=False)
    ticket = serializers.URLField(required=False, allow_blank=True)
    expires = serializers.DateField(required=False)


class ReportSerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(help_text="Where the PDF is, once the report is done.")

    class Meta:
        model = Report
        fields = [
            "id",
            "kind",
            "title",
            "params",
            "status",
            "progress",
            "error",
            "size",
            "pages",
            "scan_ids",
            "created",
            "started",
            "finished",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, report: Report) -> str | None:
        if report.status != Report.Status.DONE:
            return None
        request = self.context.get("request")
        path = f"/api/v1/reports/{report.pk}/download/"
        return request.build_absolute_uri(path) if request is not None else path


class ReportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Report.Kind.choices)
    host = serializers.IntegerField(required=False, allow_null=True)
    tag = serializers.CharField(required=False, allow_blank=True)
    since = serializers.DateField(required=False, allow_null=True)
    until = serializers.DateField(required=False, allow_null=True)
    sections = serializers.ListField(child=serializers.CharField(), required=False)
