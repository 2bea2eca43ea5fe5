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


def _tick_anchor(i: int, n: int) -> str:
    """A date label's text-anchor: the last one ends at its tick, so it is not cut off at the right edge."""
    return "end" if n > 1 and i == n - 1 else "middle"


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
                    '<text x="{}" y="{}" text-anchor="{}" font-size="10" fill="#59636e">{}</text>',
                    x,
                    top + plot_h,
                    x,
                    top + plot_h + 4,
                    x,
                    top + plot_h + 16,
                    _tick_anchor(i, len(points)),
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


# From "nothing to fix" to "much to fix": a neutral cell for zero, then light to dark red in HEAT_LEVELS steps.
# The cells are coloured by class (heat-none, heat-0 .. heat-6 in static/css/app.css), never by a style
# attribute: the Content-Security-Policy allows no inline style. scans/tests/test_charts.py checks that the
# stylesheet has exactly these colours.
HEAT_LEVELS = 6
_NONE = "#f0f0f0"
_ZERO = "#eef6ee"
# Light orange to deep red, one colour per level. Picked, not interpolated: a straight line between the ends
# left level 4 at 3.9:1 with either text colour, under WCAG AA's 4.5:1 (axe-core flagged it).
_STEPS = ("#f2c8b2", "#e5a597", "#d8827c", "#b9474c", "#a8303c", "#8f1d2c")
_DARK_TEXT = "#1f2328"
_LIGHT_TEXT = "#ffffff"


def heat_level(count: int | None, highest: int) -> int | None:
    """The step of a heat map cell with ``count`` WARN checks; ``highest`` is the map's maximum.

    None: no data; 0: no WARN; otherwise 1 to HEAT_LEVELS, the share of the highest count rounded up, so any
    WARN shows and the highest is always the darkest, in a fleet with few warnings as in one with many.
    """
    if count is None:
        return None
    if count <= 0:
        return 0
    if highest <= 0 or count >= highest:
        return HEAT_LEVELS
    return -(-count * HEAT_LEVELS // highest)  # ceil in integers: 1/3 of 6 must be 2, not 3


def heat_class(count: int | None, highest: int) -> str:
    """The CSS class of that cell: heat-none, heat-0 .. heat-6."""
    level = heat_level(count, highest)
    return "heat-none" if level is None else f"heat-{level}"


def level_colours(level: int | None) -> tuple[str, str]:
    """(background, text) of a heat level: grey for no data, calm green for 0, light orange to deep red."""
    if level is None:
        return _NONE, _DARK_TEXT
    if level <= 0:
        return _ZERO, _DARK_TEXT
    level = min(level, HEAT_LEVELS)
    # Whichever of black and white reads better: white from just past the middle of the scale.
    return _STEPS[level - 1], _LIGHT_TEXT if level / HEAT_LEVELS > 0.5 else _DARK_TEXT


def heat_colour(count: int | None, highest: int) -> str:
    """The background colour a cell with ``count`` WARN checks is drawn in (its level's)."""
    return level_colours(heat_level(count, highest))[0]


def heat_text_colour(count: int | None, highest: int) -> str:
    """Black or white, whichever reads better on heat_colour(count, highest)."""
    return level_colours(heat_level(count, highest))[1]


def heat_row(warns: Sequence[tuple[str, int | None]], highest: int, href: str | None) -> SafeString:
    """The heat map cells of one host: a ``<td>`` per (section, WARN checks), linked to ``href`` filtered
    to that section's WARN checks (``href`` None: the bare count, as the PDF's host table has it, since each
    link is an inline box WeasyPrint keeps until the end); None (no scored scan) is a grey dash.

    Built here rather than in the template: the overview draws seven cells for each of its rows, and the
    template engine's per-variable cost made them most of the page's rendering time. ``href`` and the
    section keys are escaped once each; counts are ints and the classes are ours.
    """
    link = escape(href) if href is not None else None
    cells = []
    for section, count in warns:
        key = escape(section)
        css = heat_class(count, highest)
        if count is None:
            inner = "–"
        elif link is None:
            inner = str(int(count))
        else:
            count = int(count)
            title = f"section {key}: {count} WARN check{'' if count == 1 else 's'}"
            inner = f'<a href="{link}?section={key}&amp;status=WARN" title="{title}">{count}</a>'
        cells.append(f'<td class="heat {css}">{inner}</td>')
    return mark_safe("".join(cells))  # noqa: S308 - host text (href, section) escaped above, the rest is ours


# One look per section, told apart by dash pattern as well as colour (readable in grey and on paper).
_SERIES_STYLES = (
    ("#0969da", ""),
    ("#cf222e", "6 3"),
    ("#1a7f37", "2 2"),
    ("#9a6700", "8 3 2 3"),
    ("#8250df", "1 3"),
    ("#bc4c00", "10 2"),
    ("#57606a", "4 4"),
    ("#1b7c83", "3 1"),
)


LEGEND_COLUMN = 200  # px per legend entry
LEGEND_ROW = 14
LEGEND_CHARS = 30  # a longer name is cut in the legend (its line's title keeps it whole)


def series_lines(
    series: dict[str, Sequence[tuple[datetime, float]]],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
    date_format: str = "%Y-%m-%d",
) -> SafeString:
    """Several lines over the same days (a key per line, its points oldest first) with a y axis from 0 to the
    highest value, dated x ticks and a legend; the title and a text summary of each line are its alternative."""
    days = sorted({d for points in series.values() for d, _ in points})
    highest = max((v for points in series.values() for _, v in points), default=0)
    if not days:
        return format_html(
            '<svg xmlns="{}" class="series" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
            "<title>{}</title></svg>",
            SVG_NS, width, height, width, height, f"{title}: no data yet", f"{title}: no data yet",
        )  # fmt: skip
    top_value = max(1.0, float(highest))
    left, right, top, bottom = 36, 12, 10, 28
    columns = max(1, (width - left - right) // LEGEND_COLUMN)
    rows = -(-len(series) // columns)
    height += rows * LEGEND_ROW  # the legend goes below the plot, a row per `columns` lines
    plot_w, plot_h = width - left - right, height - top - bottom - rows * LEGEND_ROW
    index = {d: i for i, d in enumerate(days)}

    def y(value: float) -> float:
        return round(top + plot_h * (1 - value / top_value), 2)

    parts: list[SafeString] = []
    for step in range(5):
        value = top_value * step / 4
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d1d9e0" stroke-width="1"/>'
                '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="currentColor">{}</text>',
                left,
                y(value),
                left + plot_w,
                y(value),
                left - 4,
                y(value) + 3,
                f"{value:.1f}".rstrip("0").rstrip("."),
            )  # fmt: skip
        )
    for i in _date_ticks(len(days)):
        x = _x(i, len(days), left, plot_w)
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="10" text-anchor="{}" fill="currentColor">{}</text>',
                x,
                top + plot_h + 14,
                _tick_anchor(i, len(days)),
                days[i].strftime(date_format),
            )  # fmt: skip
        )
    summary = []
    for n, (key, points) in enumerate(series.items()):
        colour, dash = _SERIES_STYLES[n % len(_SERIES_STYLES)]
        coords = " ".join(f"{_x(index[d], len(days), left, plot_w)},{y(v)}" for d, v in points)
        parts.append(
            format_html(
                '<polyline fill="none" stroke="{}" stroke-width="1.5" stroke-dasharray="{}" points="{}">'
                "<title>{}</title></polyline>",
                colour,
                dash or "none",
                coords,
                key,
            )  # fmt: skip
        )
        lx = left + (n % columns) * LEGEND_COLUMN
        ly = top + plot_h + bottom + (n // columns) * LEGEND_ROW + 10
        name = key if len(key) <= LEGEND_CHARS else key[: LEGEND_CHARS - 1] + "…"
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2" stroke-dasharray="{}"/>'
                '<text x="{}" y="{}" font-size="10" fill="currentColor"><title>{}</title>{}</text>',
                lx,
                ly - 3,
                lx + 16,
                ly - 3,
                colour,
                dash or "none",
                lx + 19,
                ly,
                key,
                name,
            )  # fmt: skip
        )
        if points:
            summary.append(f"{key}: {points[0][1]:g} to {points[-1][1]:g}")
    label = f"{title}, {days[0].strftime(date_format)} to {days[-1].strftime(date_format)}: " + "; ".join(summary)
    return format_html(
        '<svg xmlns="{}" class="series" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}</svg>",
        SVG_NS, width, height, width, height, label, label, SafeString("".join(parts)),
    )  # fmt: skip
