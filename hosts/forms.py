from __future__ import annotations

from datetime import UTC, date
from typing import Any

from django import forms
from django.core.validators import validate_slug
from django.utils import timezone

from hosts.models import CREDENTIAL_FIELDS, Host, Tag, credential_label


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value, not even the one just submitted (like PasswordInput's default)."""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        return super().get_context(name, None, attrs)


class TagListField(forms.CharField):
    """Comma-separated tag names, each a slug: "prod, eu-west"."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list of names, not a str
        text = super().to_python(value) or ""
        names: list[str] = []
        for raw in text.split(","):
            name = raw.strip().lower()
            if name and name not in names:
                names.append(name)
        return names

    def validate(self, value: Any) -> None:
        super().validate(",".join(value))
        for name in value:
            if len(name) > 64:
                raise forms.ValidationError(f"The tag {name!r} is longer than 64 characters.", code="tag_length")
            try:
                validate_slug(name)
            except forms.ValidationError:
                raise forms.ValidationError(
                    f"The tag {name!r} may only hold letters, digits, hyphens and underscores.", code="tag_slug"
                ) from None

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value


class HostForm(forms.ModelForm):
    """Host settings; the credentials are write-only.

    An empty credential box keeps what is stored; its "clear" box removes it. The stored value is never rendered,
    only whether one is set.
    """

    tags = TagListField(required=False, help_text="Comma separated, e.g. prod, eu-west.")

    class Meta:
        model = Host
        fields = [
            "name",
            "url",
            "enabled",
            "facts_method",
            "probe_image",
            "tls_verify",
            "ssh_known_hosts",
            "ssh_accept_unknown_host",
            "ssh_facts_url",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["tags"] = [tag.name for tag in self.instance.tags.all()]
        for name in CREDENTIAL_FIELDS:
            label = credential_label(name)
            self.fields[name] = forms.CharField(
                label=label[:1].upper() + label[1:],
                required=False,
                strip=True,
                widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
                help_text="Leave empty to keep the stored value.",
            )
            self.fields[f"clear_{name}"] = forms.BooleanField(label="clear", required=False)

    def host_fields(self) -> dict[str, Any]:
        """The Host's field values from this form (credentials included, tags not), for services.create_host."""
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields.update(self.credential_values())
        return fields

    def credential_rows(self) -> list[tuple[forms.BoundField, forms.BoundField, str]]:
        """(input, clear checkbox, state) for each credential, for the template; state is "set", "not set" or
        "unreadable" (stored, but no configured key decrypts it)."""
        rows = []
        for name in CREDENTIAL_FIELDS:
            stored = getattr(self.instance, name)
            state = "not set" if not stored else ("set" if stored.readable else "unreadable")
            rows.append((self[name], self[f"clear_{name}"], state))
        return rows

    def credential_values(self) -> dict[str, object]:
        """The credentials to store after this submission: new text, "" when cleared, else the stored (sealed)
        value as it is."""
        values: dict[str, object] = {}
        for name in CREDENTIAL_FIELDS:
            if self.cleaned_data.get(f"clear_{name}"):
                values[name] = ""
            elif self.cleaned_data.get(name):
                values[name] = self.cleaned_data[name]
            else:
                values[name] = getattr(self.instance, name)
        return values

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in CREDENTIAL_FIELDS:
            if cleaned.get(name) and cleaned.get(f"clear_{name}"):
                self.add_error(f"clear_{name}", "Either paste a new value or clear it, not both.")
        if not self.errors:
            values = self.credential_values()
            if bool(values["tls_client_cert"]) != bool(values["tls_client_key"]):
                self.add_error(
                    "tls_client_key", "A TLS client certificate and its key go together: set both or neither."
                )
        return cleaned

    def _save_m2m(self) -> None:
        # Tags are names here, not primary keys: create the missing Tag rows, then set the relation.
        super()._save_m2m()  # type: ignore[misc]  # BaseModelForm's private hook, missing from django-stubs
        self.instance.tags.set(self.tag_objects())

    def tag_objects(self) -> list[Tag]:
        return [Tag.objects.get_or_create(name=name)[0] for name in self.cleaned_data.get("tags", [])]

    def save(self, commit: bool = True) -> Host:
        for name, value in self.credential_values().items():
            setattr(self.instance, name, value)
        return super().save(commit=commit)


class PushTokenForm(forms.Form):
    """A new push token: what it is for, and optionally the day it stops working."""

    name = forms.CharField(max_length=100, help_text="What it is for, e.g. the nightly cron job of this host.")
    expires = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: it stops working at the start of this day (UTC). Empty: until it is revoked.",
    )

    def clean_expires(self) -> date | None:
        expires = self.cleaned_data.get("expires")
        if expires is not None and expires <= timezone.now().astimezone(UTC).date():
            raise forms.ValidationError("The expiry day must be after today (UTC).", code="past")
        return expires
