"""The design's promises that a stylesheet edit could quietly break (docs/design.md)."""

from __future__ import annotations

import re
from pathlib import Path

CSS = (Path(__file__).resolve().parents[1] / "static" / "css" / "app.css").read_text(encoding="utf-8")
STATUSES = ("PASS", "WARN", "INFO", "NOTE", "SKIP", "ERROR", "WAIVED")


def _glyph(status: str) -> str:
    found = re.search(rf'\.badge\.status-{status.lower()}::before\s*\{{\s*content:\s*"([^"]+)"', CSS)
    assert found, f"no glyph for {status}"
    return found.group(1)


def test_every_status_badge_has_a_glyph_of_its_own_so_it_reads_without_colour() -> None:
    glyphs = {status: _glyph(status) for status in STATUSES}
    assert len(set(glyphs.values())) == len(STATUSES), glyphs


def test_the_glyphs_are_hidden_from_screen_readers_which_read_the_word() -> None:
    for status in STATUSES:
        glyph = re.escape(_glyph(status))
        assert re.search(rf'content:\s*"{glyph}"\s*/\s*""', CSS), f"{status}: no empty alternative text"


def test_waived_differs_from_warn_in_shape_too() -> None:
    rule = re.search(r"\.badge\.status-waived\s*\{([^}]*)\}", CSS)
    assert rule and "border-style: dashed" in rule.group(1)


def test_the_dark_scheme_redefines_every_colour_token() -> None:
    light, dark = (
        set(re.findall(r"(--[a-z-]+):", block))
        for block in (
            re.search(r":root\s*\{(.*?)\n\}", CSS, re.S).group(1),  # type: ignore[union-attr]
            re.search(r"prefers-color-scheme: dark\)\s*\{\s*:root\s*\{(.*?)\}", CSS, re.S).group(1),  # type: ignore[union-attr]
        )
    )
    colours = {token for token in light if not token.startswith(("--space", "--radius", "--mono", "--sans"))}
    assert colours - dark == set()


def test_paper_drops_the_controls_and_opens_every_check() -> None:
    printed = CSS[CSS.index("@media print") :]
    for selector in (".site-header nav", "form", "button", "nav.pages", ".waive"):
        assert selector in printed, selector
    assert "details::details-content" in printed
