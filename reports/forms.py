from __future__ import annotations

from typing import Any

from django import forms

from dockerbench.catalog import ALL_SECTIONS
from hosts.models import CREDENTIAL_FIELDS, Host, Tag
from notifications.models import Channel, recipient_list
from reports.documents import ReportRequest
from reports.models import Report, ReportSchedule

SECTION_CHOICES = [(key, f"{key} {title}") for key, title in ALL_SECTIONS.items()]


class ReportForm(forms.Form):
    """What to put in a report. Valid means the renderer accepts it too: ``params`` holds its ReportRequest's."""

    kind = forms.ChoiceField(label="Report of", choices=Report.Kind.choices, initial=Report.Kind.FLEET)
    host = forms.ModelChoiceField(
        label="Host",
        queryset=Host.objects.defer(*CREDENTIAL_FIELDS).order_by("name"),
        required=False,
        help_text="For a report of one host.",
    )
    tag = forms.ModelChoiceField(
        label="Tag",
        queryset=Tag.objects.order_by("name"),
        to_field_name="name",
        required=False,
        help_text="For a fleet report: only the hosts with this tag.",
    )
    since = forms.DateField(
        label="Since",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Default: 30 days before the end.",
    )
    until = forms.DateField(
        label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Default: today."
    )
    sections = forms.MultipleChoiceField(
        label="Sections",
        choices=SECTION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every section.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, host = cleaned.get("kind"), cleaned.get("host")
        if kind == Report.Kind.HOST and host is None and "host" not in self.errors:
            self.add_error("host", "Choose the host to report on.")
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end comes before the start.")
        if self.errors:
            return cleaned
        tag = cleaned.get("tag")
        try:
            wanted = ReportRequest(
                kind=str(kind),
                host_id=host.pk if kind == Report.Kind.HOST and host is not None else None,
                tag=tag.name if kind == Report.Kind.FLEET and tag is not None else "",
                since=since,
                until=until,
                sections=tuple(cleaned.get("sections") or ()),
            )
            # The renderer's own check, as the worker will read the stored params.
            cleaned["params"] = ReportRequest.from_params(wanted.params()).params()
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="request") from exc
        return cleaned


class ReportScheduleForm(forms.ModelForm):
    """A report mailed on a crontab: whole fleet or one tag, which sections, how many days, to whom."""

    sections = forms.MultipleChoiceField(
        label="Sections",
        choices=SECTION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every section.",
    )

    class Meta:
        model = ReportSchedule
        fields = ["name", "tag", "sections", "period_days", "crontab", "recipients", "channel", "enabled"]
        widgets = {"recipients": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ModelChoiceField)  # noqa: S101 - for the type checker: a ForeignKey's field
        channel.queryset = Channel.objects.filter(kind=Channel.Kind.EMAIL).order_by("name")

    def clean_recipients(self) -> str:
        addresses = recipient_list(self.cleaned_data.get("recipients") or "")
        if not addresses:
            raise forms.ValidationError("At least one address.", code="required")
        return ", ".join(addresses)

    def clean_crontab(self) -> str:
        return " ".join((self.cleaned_data.get("crontab") or "").split())
