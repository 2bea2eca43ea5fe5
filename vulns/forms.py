from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.utils import timezone

from dockerbench.vulns import MAX_REPORT_BYTES, ImageVulnReport, ReportError, parse_report
from hosts.models import CREDENTIAL_FIELDS, Host
from vulns.models import CveWaiver

# The longest a CVE waiver may run. (The Admin's waiver policy is the scans app's, above this one.)
MAX_WAIVER_DAYS = 365
_CVE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{2,199}")


class ReportUploadForm(forms.Form):
    report = forms.FileField(
        label="Report file",
        help_text="JSON from trivy image -f json, grype -o json, or a Clair v4 vulnerability report; "
        f"at most {MAX_REPORT_BYTES // (1024 * 1024)} MB.",
    )

    def clean_report(self) -> ImageVulnReport:
        upload = self.cleaned_data["report"]
        if upload.size > MAX_REPORT_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {MAX_REPORT_BYTES:,}. Nothing was stored."
            )
        data = upload.read(MAX_REPORT_BYTES + 1)
        try:
            return parse_report(data, filename=upload.name or "")
        except ReportError as exc:
            raise forms.ValidationError(f"This report cannot be read: {exc}. Nothing was stored.") from None


class CveWaiverForm(forms.ModelForm):
    class Meta:
        model = CveWaiver
        fields = ["cve_id", "host", "image_pattern", "reason", "owner", "expires"]
        labels = {"cve_id": "CVE", "image_pattern": "Images", "expires": "Expires on"}
        help_texts = {
            "cve_id": "The vulnerability's id or one of its aliases, e.g. CVE-2023-5363 or GHSA-….",
            "host": "Only on this host; empty for every host.",
            "image_pattern": "Only images whose tag (repo:tag) or id matches this pattern (* and ?); empty for "
            "every image.",
            "reason": "Why this vulnerability is accepted: it is shown where the waiver applies.",
            "owner": "Who answers for it: a person or a team.",
            "expires": "The waiver stops applying at the start of this day (UTC).",
        }
        widgets = {"expires": forms.DateInput(attrs={"type": "date"}), "reason": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        host_field = cast(forms.ModelChoiceField, self.fields["host"])
        host_field.queryset = Host.objects.defer(*CREDENTIAL_FIELDS).order_by("name")
        today = timezone.now().date()
        self.fields["expires"].widget.attrs["min"] = (today + timedelta(days=1)).isoformat()
        self.fields["expires"].widget.attrs["max"] = (today + timedelta(days=MAX_WAIVER_DAYS)).isoformat()

    def clean_cve_id(self) -> str:
        value = str(self.cleaned_data.get("cve_id") or "").strip()
        if not _CVE_ID.fullmatch(value):
            raise forms.ValidationError("Give a vulnerability id such as CVE-2023-5363 (letters, digits, - . : _).")
        return value.upper()

    def clean_expires(self) -> Any:
        expires = self.cleaned_data["expires"]
        today = timezone.now().date()
        if expires <= today:
            raise forms.ValidationError("The expiry must be after today.")
        if expires > today + timedelta(days=MAX_WAIVER_DAYS):
            raise forms.ValidationError(f"A CVE waiver runs at most {MAX_WAIVER_DAYS} days.")
        return expires
