"""The list filters of the API, as query parameters (django-filter); each adds a WHERE, never a query."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from dockerbench import risk
from dockerbench.catalog import ALL_BY_ID
from hosts.models import Host, Tag
from reports.models import Report
from scans.models import Finding, Scan, Status, Waiver
from scans.waivers import today


def _tagged(queryset: QuerySet, name: str, value: str, *, field: str = "host_id") -> QuerySet:
    # A subquery, not a join: a host with several tags would otherwise come back once per tag.
    hosts = Host.objects.filter(tags__name=value).values("pk")
    return queryset.filter(**{f"{field}__in": hosts})


class HostFilter(filters.FilterSet):
    tag = filters.CharFilter(method="by_tag", help_text="Only hosts with this tag.")
    name = filters.CharFilter(lookup_expr="icontains", help_text="Part of the host's name.")

    class Meta:
        model = Host
        fields = ["enabled"]

    def by_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _tagged(queryset, name, value, field="pk")


class TagFilter(filters.FilterSet):
    class Meta:
        model = Tag
        fields = ["name"]


class ScanFilter(filters.FilterSet):
    tag = filters.CharFilter(method="by_tag", help_text="Only scans of hosts with this tag.")
    since = filters.IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = Scan
        fields = ["host", "status", "trigger"]

    def by_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _tagged(queryset, name, value)


class FindingFilter(filters.FilterSet):
    tag = filters.CharFilter(method="by_tag", help_text="Only findings on hosts with this tag.")
    check = filters.CharFilter(field_name="check_id", help_text="A CIS id, e.g. 5.4.")
    status = filters.ChoiceFilter(choices=Status.choices, help_text="The latest verdict.")
    risk = filters.NumberFilter(method="by_risk", help_text="Only checks of at least this risk weight (1 to 10).")
    first_seen_after = filters.IsoDateTimeFilter(field_name="first_seen", lookup_expr="gte")
    first_seen_before = filters.IsoDateTimeFilter(field_name="first_seen", lookup_expr="lt")
    waived = filters.BooleanFilter(method="by_waived", help_text="true: only waived; false: only not waived.")

    class Meta:
        model = Finding
        fields = ["host", "section", "state", "object_kind"]

    def by_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _tagged(queryset, name, value)

    def by_risk(self, queryset: QuerySet, name: str, value: float) -> QuerySet:
        return queryset.filter(check_id__in=[c for c in ALL_BY_ID if risk.weight(c) >= value])

    def by_waived(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        waived = Q(state=Finding.State.OPEN, waiver__isnull=False)  # as Finding.waived says
        return queryset.filter(waived) if value else queryset.exclude(waived)


class WaiverFilter(filters.FilterSet):
    active = filters.BooleanFilter(method="by_active", help_text="true: in force today; false: expired or revoked.")
    check = filters.CharFilter(field_name="check_id")

    class Meta:
        model = Waiver
        fields = ["host", "owner"]

    def by_active(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        live = Q(revoked__isnull=True, expires__gt=today())
        return queryset.filter(live) if value else queryset.exclude(live)


class ReportFilter(filters.FilterSet):
    class Meta:
        model = Report
        fields = ["kind", "status"]
