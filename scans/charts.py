"""Charts drawn on the server as SVG: no JavaScript, so the same markup can go into PDF reports.

Every function is pure: numbers and dates in, a SafeString of SVG out. Only our own numbers and
date labels end up in the markup; anything else is passed through format_html, so it is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

SVG_NS = "http://www.w3.org/2000/svg"
MAX_SCORE = 100


def _y(score: float, top: float, height: float) -> float:
    """The y coordinate of a score: 100 at the top, 0 at the bottom."""
    return round(top + height * (1 - max(0, min(MAX_SCORE, score)) / MAX_SCORE), 2)


def _x(index: int, count: int, left: float, width: float) -> float:
    if count <= 1:
        return round(left + width / 2, 2)
    return round(left + width * index / (count - 1), 2)


def sparkline(scores: Sequence[int | None], *, width: int = 120, height: int = 24) -> SafeString:
    """A small trend line of scores, oldest first; None (a scan without a score) is left out."""
    values = [s for s in scores if s is not None]
    if not values:
        return format_html(
            '<svg xmlns="{}" class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
            'aria-label="no scores yet"><title>no scores yet</title></svg>',
            SVG_NS,
            width,
            height,
            width,
            height,
        )
    pad = 2
    points = [(_x(i, len(values), pad, width - 2 * pad), _y(v, pad, height - 2 * pad)) for i, v in enumerate(values)]
    label = f"score trend over {len(values)} scans: {values[0]} to {values[-1]}"
    last_x, last_y = points[-1]
    return format_html(
        '<svg xmlns="{}" class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>"
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/>'
        '<circle cx="{}" cy="{}" r="2" fill="currentColor"/></svg>',
        SVG_NS,
        width,
        height,
        width,
        height,
        label,
        label,
        " ".join(f"{x},{y}" for x, y in points),
        last_x,
        last_y,
    )


def _date_ticks(count: int, most: int = 6) -> list[int]:
    """Indexes of the points that get a date label: the first, the last, and evenly spaced ones between."""
    if count <= most:
        return list(range(count))
    step = (count - 1) / (most - 1)
    return sorted({round(i * step) for i in range(most)})


def score_history(
    points: Sequence[tuple[datetime, int]], *, width: int = 640, height: int = 200, date_format: str = "%Y-%m-%d"
) -> SafeString:
    """Score over time, oldest first: a line with a point per scan, a 0-100 y axis and dated x ticks.

    Points are spaced by scan, not by calendar time, so a week of hourly scans and a year of nightly
    ones both fill the width; the date labels say when.
    """
    left, right, top, bottom = 36, 12, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    parts: list[SafeString] = []
    for score in (0, 25, 50, 75, 100):
        y = _y(score, top, plot_h)
        parts.append(
            format_html(
                '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d1d9e0" stroke-width="1"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="10" fill="#59636e">{}</text>',
                left,
                y,
                left + plot_w,
                y,
                left - 4,
                y + 3,
                score,
            )
        )
    parts.append(
        format_html(
            '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#59636e" stroke-width="1"/>',
            left,
            top + plot_h,
            left + plot_w,
            top + plot_h,
        )
    )
    if not points:
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#59636e">no finished scans yet</text>',
                left + plot_w / 2,
                top + plot_h / 2,
            )
        )
        label = "score history: no finished scans yet"
    else:
        coords = [(_x(i, len(points), left, plot_w), _y(score, top, plot_h)) for i, (_, score) in enumerate(points)]
        for i in _date_ticks(len(points)):
            x = coords[i][0]
            parts.append(
                format_html(
                    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#59636e" stroke-width="1"/>'
                    '<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="#59636e">{}</text>',
                    x,
                    top + plot_h,
                    x,
                    top + plot_h + 4,
                    x,
                    top + plot_h + 16,
                    points[i][0].strftime(date_format),
                )
            )
        parts.append(
            format_html(
                '<polyline fill="none" stroke="#0969da" stroke-width="2" points="{}"/>',
                " ".join(f"{x},{y}" for x, y in coords),
            )
        )
        parts.append(
            format_html_join(
                "",
                '<circle cx="{}" cy="{}" r="2.5" fill="#0969da"><title>{}: {}</title></circle>',
                (
                    (x, y, when.strftime(date_format), score)
                    for (x, y), (when, score) in zip(coords, points, strict=True)
                ),
            )
        )
        first, last = points[0], points[-1]
        label = (
            f"score history: {first[1]} on {first[0].strftime(date_format)} "
            f"to {last[1]} on {last[0].strftime(date_format)}"
        )
    return format_html(
        '<svg xmlns="{}" class="score-history" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}</svg>",
        SVG_NS,
        width,
        height,
        width,
        height,
        label,
        label,
        mark_safe("".join(parts)),  # noqa: S308 - every part was built by format_html above
    )


# From "nothing to fix" to "much to fix": a neutral cell for zero, then light to dark red.
_ZERO = "#eef6ee"
_LOW = (255, 235, 205)
_HIGH = (178, 24, 43)


def heat_colour(count: int | None, highest: int) -> str:
    """The background colour of a heat map cell with ``count`` WARN checks; ``highest`` is the map's maximum.

    None (no data) is grey, 0 is a calm green; the rest scale from light orange to deep red,
    relative to the highest count so that a fleet with few warnings still shows where they are.
    """
    if count is None:
        return "#f0f0f0"
    if count <= 0:
        return _ZERO
    share = min(1.0, count / highest) if highest > 0 else 1.0
    rgb = (round(lo + (hi - lo) * share) for lo, hi in zip(_LOW, _HIGH, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heat_text_colour(count: int | None, highest: int) -> str:
    """Black or white, whichever reads better on heat_colour(count, highest)."""
    if not count or count <= 0:
        return "#1f2328"
    share = min(1.0, count / highest) if highest > 0 else 1.0
    return "#ffffff" if share > 0.5 else "#1f2328"


def heat_row(warns: Sequence[tuple[str, int | None]], highest: int, href: str) -> SafeString:
    """The heat map cells of one host: a ``<td>`` per (section, WARN checks), linked to ``href`` filtered
    to that section's WARN checks; None (no scored scan) is a grey dash.

    Built here rather than in the template: the overview draws seven cells for each of its rows, and the
    template engine's per-variable cost made them most of the page's rendering time. ``href`` and the
    section keys are escaped once each; counts are ints and the colours are ours.
    """
    link = escape(href)
    cells = []
    for section, count in warns:
        key = escape(section)
        background, colour = heat_colour(count, highest), heat_text_colour(count, highest)
        if count is None:
            inner = "–"
        else:
            count = int(count)
            title = f"section {key}: {count} WARN check{'' if count == 1 else 's'}"
            inner = f'<a href="{link}?section={key}&amp;status=WARN" title="{title}">{count}</a>'
        cells.append(f'<td class="heat" style="background: {background}; color: {colour}">{inner}</td>')
    return mark_safe("".join(cells))  # noqa: S308 - host text (href, section) escaped above, the rest is ours
