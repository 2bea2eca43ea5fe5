from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class Pages(PageNumberPagination):
    """``?page=N&page_size=M`` (at most 500). Each list costs its count and its page, whatever M is."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
