from __future__ import annotations

CHECKS: dict = {}
