from __future__ import annotations

from typing import Any

from django import forms

from notifications.models import SECTION_CHOICES, SUBSCRIBABLE, Channel, recipient_list


class ChannelForm(forms.ModelForm):
    """A channel: email needs recipients, a webhook its URL. The secret is never a field: it is generated."""

    events = forms.MultipleChoiceField(
        label="Events", choices=SUBSCRIBABLE, widget=forms.CheckboxSelectMultiple, required=False
    )
    sections = forms.MultipleChoiceField(
        label="Sections",
        choices=SECTION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Only findings and waivers of these CIS sections; none ticked: every section.",
    )
    regenerate_secret = forms.BooleanField(
        label="Make a new webhook secret", required=False, help_text="The old one stops working at once."
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "enabled", "recipients", "url", "format", "events", "sections", "min_weight"]
        fields += ["include_first_scan"]
        widgets = {"recipients": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None or self.instance.kind != Channel.Kind.WEBHOOK:
            del self.fields["regenerate_secret"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if (
            kind == Channel.Kind.EMAIL
            and "recipients" not in self.errors
            and not recipient_list(cleaned.get("recipients") or "")
        ):
            self.add_error("recipients", "An email channel needs at least one address.")
        if kind == Channel.Kind.WEBHOOK and "url" not in self.errors and not cleaned.get("url"):
            self.add_error("url", "A webhook channel needs its URL.")
        if "recipients" in cleaned:
            cleaned["recipients"] = ", ".join(recipient_list(cleaned["recipients"] or ""))
        return cleaned
