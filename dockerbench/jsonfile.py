"""Reading a JSON file someone hands us (a scanner's report, docker-bench's log): bounded, and every failure one
clear ValueError of the caller's kind, never a traceback."""

from __future__ import annotations

import json
from typing import Any


def load_untrusted_json(
    data: bytes | str,
    *,
    what: str,
    limit: int,
    error: type[ValueError],
    nested_as: str,
    strict: bool = True,
    invalid_hint: str = "",
) -> Any:
    """The parsed JSON of ``data``, a ``what`` ("report", "log") of at most ``limit`` bytes; ``error`` with a
    message for what is not bytes or text, too big, not UTF-8 (a BOM is fine), empty, not valid JSON (then
    ``invalid_hint`` is added), nested too deeply to be ``nested_as``, or holding NaN or Infinity.
    ``strict=False`` lets control characters stand inside strings, as json.loads allows."""
    if not isinstance(data, bytes | str):
        raise error(f"a {what} is bytes or text, not {type(data).__name__}")
    if len(data) > limit:
        raise error(f"the {what} is {len(data):,} bytes; the limit is {limit:,}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"not UTF-8 text (byte {exc.start})") from None
    if not data.strip():
        raise error(f"the {what} is empty")

    def reject_constant(name: str) -> Any:
        raise error(f"{name} is not a JSON number")

    try:
        return json.loads(data, strict=strict, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        hint = f" ({invalid_hint})" if invalid_hint else ""
        raise error(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}") from None
    except RecursionError:
        raise error(f"the JSON is nested too deeply to be {nested_as}") from None


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in words for an error message: "a list", "null", "an object"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
