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
    known = {"PASS", "WARN", "INFO", "NOTE", "SKIP", "ERROR"}
    return f"status-{status.lower()}" if status in known else "status-unknown"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key, 0)
    except AttributeError:
        return 0


@register.simple_tag(takes_context=True)
def query(context: Any, **changes: Any) -> str:
    """The current query string with some parameters changed (empty removes them), for links that keep filters."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
