"""How every form renders: one field template for the whole product (templates/forms/field.html)."""

from __future__ import annotations

from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Django's widgets, from the project's template engine, with our field layout: label, field, help, errors."""

    field_template_name = "forms/field.html"
