from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from api import services
from api.models import ApiToken


class TokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "scope", "expires"]
        labels = {"expires": "Expires on"}
        help_texts = {"scope": "Read only: it may read everything your role may, and change nothing."}
        widgets = {"expires": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        today = timezone.now().date()
        self.fields["expires"].initial = today + timedelta(days=90)
        self.fields["expires"].widget.attrs["min"] = (today + timedelta(days=1)).isoformat()
        self.fields["expires"].widget.attrs["max"] = services.max_expiry(today).isoformat()

    def clean_name(self) -> str:
        name = str(self.cleaned_data.get("name") or "").strip()
        if ApiToken.objects.filter(user=self.user, name=name).exists():
            raise forms.ValidationError("You have a token of that name already.")
        return name

    def clean_expires(self) -> Any:
        expires = self.cleaned_data.get("expires")
        today = timezone.now().date()
        if expires is not None and expires <= today:
            raise forms.ValidationError("The expiry must be a day after today.")
        if expires is not None and expires > services.max_expiry(today):
            raise forms.ValidationError(f"Tokens may run at most until {services.max_expiry(today).isoformat()}.")
        return expires
