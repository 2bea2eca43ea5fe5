"""Template filters for the scans pages. Each returns plain text, so autoescaping still applies."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """Evidence from a host as indented JSON text; the template escapes it like any other text."""
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def status_class(status: str) -> str:
    """The CSS class of a result status; only known statuses, never host text."""
    known = {"PASS", "WARN", "WAIVED", "INFO", "NOTE", "SKIP", "ERROR"}
    return f"status-{status.lower()}" if status in known else "status-unknown"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key, 0)
    except AttributeError:
        return 0
