"""The waiver form: a scope, a reason, an owner, an optional ticket and an expiry within the Admin's limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms

from dockerbench.catalog import ALL_BY_ID
from scans import waivers
from scans.models import Waiver


class WaiverForm(forms.ModelForm):
    ticket = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="A link to the ticket that tracks it (optional).",
    )

    class Meta:
        model = Waiver
        fields = ["check_id", "host", "tag", "object_pattern", "reason", "owner", "ticket", "expires"]
        labels = {
            "check_id": "Check",
            "object_pattern": "Objects",
            "expires": "Expires on",
        }
        help_texts = {
            "host": "Only on this host (leave both host and tag empty for every host).",
            "tag": "…or only on hosts with this tag.",
            "object_pattern": "Only objects whose name matches this pattern (* and ?), on the host above; "
            "empty for every object.",
            "reason": "Why this risk is accepted: it is shown next to every finding the waiver covers.",
            "owner": "Who answers for it: a person or a team.",
            "ticket": "A link to the ticket that tracks it (optional).",
            "expires": "The waiver stops applying at the start of this day (UTC); the findings come back as WARN.",
        }
        widgets = {
            "expires": forms.DateInput(attrs={"type": "date"}),
            "reason": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["check_id"].widget = forms.Select(
            choices=[(check_id, f"{check_id} {rec.title}") for check_id, rec in ALL_BY_ID.items()]
        )
        self.fields["expires"].widget.attrs["max"] = waivers.max_expiry().isoformat()
        self.fields["expires"].widget.attrs["min"] = (waivers.today() + timedelta(days=1)).isoformat()

    def clean_check_id(self) -> str:
        check_id = str(self.cleaned_data.get("check_id") or "")
        if check_id not in ALL_BY_ID:
            raise forms.ValidationError("Choose a check of the catalog.")
        return check_id

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data.get("reason") or "").strip()
        if not reason:
            raise forms.ValidationError("Say why this risk is accepted.")
        return reason

    def clean_expires(self) -> Any:
        expires = self.cleaned_data.get("expires")
        if expires is None:
            return expires
        if expires <= waivers.today():
            raise forms.ValidationError("The expiry must be a day after today.")
        latest = waivers.max_expiry()
        if expires > latest:
            raise forms.ValidationError(f"Waivers may run at most until {latest.isoformat()} (the Admin's limit).")
        return expires

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("host") and cleaned.get("tag"):
            self.add_error("tag", "Choose a host or a tag, not both.")
        if cleaned.get("object_pattern") and not cleaned.get("host"):
            self.add_error("object_pattern", "A waiver for some objects needs the host they are on.")
        return cleaned
