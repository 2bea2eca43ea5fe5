from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scans import charts

NS = {"svg": charts.SVG_NS}


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own markup, parsed to prove it is well-formed
    assert root.tag == f"{{{charts.SVG_NS}}}svg"
    return root


def _points(root: ET.Element) -> list[tuple[float, float]]:
    line = root.find("svg:polyline", NS)
    assert line is not None
    pairs = [point.split(",") for point in line.get("points", "").split()]
    return [(float(x), float(y)) for x, y in pairs]


def test_sparkline_is_valid_svg_and_maps_scores_to_heights() -> None:
    root = _parse(charts.sparkline([0, 50, 100], width=100, height=24))
    points = _points(root)

    assert [x for x, _ in points] == [2.0, 50.0, 98.0]  # spread over the width inside a 2px pad
    assert [y for _, y in points] == [22.0, 12.0, 2.0]  # 0 at the bottom, 100 at the top
    assert "0 to 100" in root.get("aria-label", "")


def test_sparkline_leaves_out_scans_without_score_and_clamps() -> None:
    points = _points(_parse(charts.sparkline([None, 150, -5], width=100, height=24)))

    assert [y for _, y in points] == [2.0, 22.0]


def test_sparkline_of_nothing_is_an_empty_svg() -> None:
    root = _parse(charts.sparkline([]))

    assert root.find("svg:polyline", NS) is None
    assert root.get("aria-label") == "no scores yet"


def test_sparkline_of_one_score_is_a_point_in_the_middle() -> None:
    assert _points(_parse(charts.sparkline([40], width=100, height=24))) == [(50.0, 14.0)]


def test_score_history_has_axes_dated_ticks_and_a_point_per_scan() -> None:
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    history = [(start + timedelta(days=i), score) for i, score in enumerate([20, 40, 60, 80, 100, 90, 70, 50])]

    root = _parse(charts.score_history(history, width=640, height=200))

    texts = [t.text for t in root.iter(f"{{{charts.SVG_NS}}}text")]
    assert {"0", "25", "50", "75", "100"} <= set(texts)  # the y axis
    assert "2026-01-01" in texts and "2026-01-08" in texts  # first and last dates on the x axis
    assert len([t for t in texts if t and t.startswith("2026-")]) == 6  # at most six date ticks
    anchors = {t.text: t.get("text-anchor") for t in root.iter(f"{{{charts.SVG_NS}}}text")}
    assert anchors["2026-01-08"] == "end" and anchors["2026-01-01"] == "middle"  # the last one is not cut off
    circles = root.findall("svg:circle", NS)
    assert len(circles) == 8
    title = circles[0].find("svg:title", NS)
    assert title is not None and title.text == "2026-01-01: 20"
    points = _points(root)
    # Left 36, right 12, top 10, bottom 28: x from 36 to 628, score 100 at y=10 and 0 at y=172.
    assert points[0] == (36.0, round(10 + 162 * 0.8, 2))
    assert points[4][1] == 10.0
    assert points[-1][0] == 628.0


def test_score_history_of_nothing_says_so() -> None:
    root = _parse(charts.score_history([]))

    assert root.find("svg:polyline", NS) is None
    assert any(t.text == "no finished scans yet" for t in root.iter(f"{{{charts.SVG_NS}}}text"))


def test_heat_colours_go_from_calm_to_red() -> None:
    assert charts.heat_colour(None, 10) == "#f0f0f0"
    assert charts.heat_colour(0, 10) == "#eef6ee"
    assert charts.heat_colour(10, 10) == "#8f1d2c"  # the highest count is the darkest red
    low, high = charts.heat_colour(1, 10), charts.heat_colour(9, 10)
    assert int(low[3:5], 16) > int(high[3:5], 16)  # less green as the count grows
    assert charts.heat_text_colour(10, 10) == "#ffffff"
    assert charts.heat_text_colour(1, 10) == "#1f2328"


def _luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_every_heat_level_has_text_at_aa_contrast() -> None:
    for level in [None, *range(charts.HEAT_LEVELS + 1)]:
        background, text = charts.level_colours(level)
        light, dark = sorted((_luminance(background), _luminance(text)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (level, background, text)


def test_heat_levels_are_the_share_of_the_highest_count_rounded_up() -> None:
    assert [charts.heat_level(n, 6) for n in (None, 0, 1, 2, 3, 4, 5, 6, 7)] == [None, 0, 1, 2, 3, 4, 5, 6, 6]
    # Any WARN shows, however many the worst host has; exact in integers (2 of 6 is level 2, not 3).
    assert charts.heat_level(1, 1000) == 1
    assert charts.heat_level(2, 6) == 2
    assert charts.heat_level(1, 3) == 2
    assert charts.heat_level(3, 0) == charts.HEAT_LEVELS  # no maximum to scale to
    assert [charts.heat_class(n, 4) for n in (None, 0, 1, 4)] == ["heat-none", "heat-0", "heat-2", "heat-6"]


def test_heat_text_is_white_from_just_past_the_middle_as_before() -> None:
    # The continuous scale made the text white when the share was over one half; the steps keep that line.
    for highest in (1, 2, 5, 7, 10, 33):
        for count in range(1, highest + 1):
            expected = "#ffffff" if count / highest > 0.5 else "#1f2328"
            assert charts.heat_text_colour(count, highest) == expected, (count, highest)


def test_the_stylesheet_draws_every_heat_level_in_the_charts_colours() -> None:
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
    rules = {
        name: (background, colour)
        for name, background, colour in re.findall(
            r"td\.(heat-[a-z0-9]+)\s*\{\s*background:\s*(#[0-9a-f]{6});\s*color:\s*(#[0-9a-f]{6});\s*\}", css
        )
    }
    levels = [None, *range(charts.HEAT_LEVELS + 1)]
    assert rules == {
        ("heat-none" if level is None else f"heat-{level}"): charts.level_colours(level) for level in levels
    }


def test_heat_row_links_each_section_and_escapes_the_link() -> None:
    html = charts.heat_row([("1", None), ("2", 0), ("5", 1), ("7", 4)], 4, '/hosts/1/"><script>')
    cells = ET.fromstring(f"<tr>{html}</tr>".replace("–", "-"))  # noqa: S314 - our own markup

    # Coloured by class only: the Content-Security-Policy refuses style attributes.
    assert [td.get("class") for td in cells] == ["heat heat-none", "heat heat-0", "heat heat-2", "heat heat-6"]
    assert "style=" not in html
    assert cells[0].text == "-" and len(cells[0]) == 0  # no scored scan: nothing to link
    links = [td.find("a") for td in cells[1:]]
    assert [(a.text, a.get("title")) for a in links if a is not None] == [
        ("0", "section 2: 0 WARN checks"),
        ("1", "section 5: 1 WARN check"),
        ("4", "section 7: 4 WARN checks"),
    ]
    assert links[1] is not None and links[1].get("href") == '/hosts/1/"><script>?section=5&status=WARN'
    assert "<script>" not in html


def test_series_lines_are_told_apart_without_colour_and_escape_their_keys() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    svg = charts.series_lines(
        {"a<b>": [(day, 1.0), (day + timedelta(days=1), 3.0)], "c": [(day, 0.0), (day + timedelta(days=1), 2.0)]},
        title="t",
    )
    assert "a<b>" not in svg and "a&lt;b&gt;" in svg
    assert svg.count("<polyline") == 2
    ET.fromstring(svg)  # noqa: S314 - our own markup, parsed to prove it is well-formed
    assert 'stroke-dasharray="none"' in svg and 'stroke-dasharray="6 3"' in svg
    assert 'aria-label="t, 2026-11-01 to 2026-11-02: a&lt;b&gt;: 1 to 3; c: 0 to 2"' in svg
    assert "no data yet" in charts.series_lines({}, title="t")
