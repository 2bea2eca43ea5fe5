"""Template tags every page may use."""

from __future__ import annotations

from typing import Any

from django import template

from dockerbench import __version__

register = template.Library()


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


@register.filter
def duration_words(value: Any) -> str:
    """A timedelta as people say it: "15 minutes", "1 hour 30 minutes", "45 seconds"."""
    seconds = int(getattr(value, "total_seconds", lambda: 0)())
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if n
    ]
    return " ".join(parts) or "a moment"


# Which navigation entry a view belongs to, by its URL name (namespace:name); the first prefix that matches wins.
_NAV = (
    ("scans:waiver", "waivers"),
    ("scans:remediation", "remediation"),
    ("scans:", "fleet"),
    ("hosts:", "hosts"),
    ("vulns:", "vulns"),
    ("schedules:", "schedules"),
    ("notifications:", "notifications"),
    ("reports:", "reports"),
    ("audit:", "audit"),
    ("api:", "api"),
)


@register.filter
def nav_section(request: Any) -> str:
    """The navigation entry of the page being shown ("" for none), for the header's aria-current."""
    match = getattr(request, "resolver_match", None)
    view_name = getattr(match, "view_name", "") or ""
    return next((entry for prefix, entry in _NAV if view_name.startswith(prefix)), "")


@register.simple_tag
def product_version() -> str:
    return __version__
