from __future__ import annotations

from django import template

register = template.Library()

# A badge per severity, in the status colours (docs/design.md): the word is always shown too.
_CLASSES = {"CRITICAL": "status-error", "HIGH": "status-warn", "MEDIUM": "status-note", "LOW": "status-info"}


@register.filter
def severity_class(severity: str) -> str:
    """The CSS class of a severity badge; only known severities, never report text."""
    return _CLASSES.get(severity, "status-skip")
