from __future__ import annotations

from typing import Any

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer


class BrowsableAPI(BrowsableAPIRenderer):
    """DRF's browsable pages, for a person with a session; its raw-data forms stay (they post JSON)."""


class AnyContent(BaseContentNegotiation):
    """For the downloads (PDF, SARIF, CSV, ...): they are what they are, whatever Accept says."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: str | None = None) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type
