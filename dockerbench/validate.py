"""Is this JSON a HostSnapshot? A strict check of a snapshot someone else made, before anything reads it.

``HostSnapshot.from_json`` trusts its input: it was written for snapshots we collected ourselves. Given a
stranger's JSON it raises on some mistakes (a missing field, a list where an object goes) and keeps others as
they are (a number where a name goes, a string where a list of tags goes), for a check to stumble on later.
``validate_snapshot`` walks the parsed JSON along the dataclasses' own type hints, so the rules follow the
snapshot's definition as it changes, and refuses anything ``from_jsonable`` would not rebuild into exactly
those types: every field of the right JSON type, the required ones present, no field the snapshot does not
have, the schema version this engine reads, and ``collected_at`` an ISO 8601 time. Raw Docker documents
(``JSONDict``) are any JSON object. Each problem is named by its path, ``containers[3].inspect``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

from dockerbench.jsonfile import json_kind
from dockerbench.snapshot import SCHEMA_VERSION, HostSnapshot, from_jsonable

# Enough to see what is wrong, few enough to read.
MAX_PROBLEMS = 10


class SnapshotInvalid(ValueError):
    """The JSON is not a HostSnapshot this engine reads; ``problems`` lists what is wrong, by path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = "" if len(problems) < MAX_PROBLEMS else " (and perhaps more)"
        super().__init__("not a dockerbench snapshot: " + "; ".join(problems) + more)


def validate_snapshot(doc: Any) -> HostSnapshot:
    """The HostSnapshot ``doc`` (parsed JSON) holds, or SnapshotInvalid saying what is wrong with it."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise SnapshotInvalid([f"the top level is {json_kind(doc)}; a snapshot is a JSON object"])
    schema = doc.get("schema", SCHEMA_VERSION)
    if isinstance(schema, bool) or not isinstance(schema, int) or schema != SCHEMA_VERSION:
        # Nothing else is worth checking against rules of another version.
        raise SnapshotInvalid(
            [f"schema is {schema!r}; this dashboard reads snapshot schema {SCHEMA_VERSION} (update one side)"]
        )
    _check(HostSnapshot, doc, "", problems)
    collected_at = doc.get("collected_at")
    if isinstance(collected_at, str) and not problems:
        try:
            datetime.fromisoformat(collected_at)
        except ValueError:
            problems.append(f"collected_at is {collected_at[:40]!r}, not an ISO 8601 time")
    if problems:
        raise SnapshotInvalid(problems[:MAX_PROBLEMS])
    snapshot: HostSnapshot = from_jsonable(HostSnapshot, doc)
    return snapshot


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _check(tp: Any, value: Any, where: str, problems: list[str]) -> None:
    if len(problems) >= MAX_PROBLEMS:
        return
    at = where or "the snapshot"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return
        (inner,) = [a for a in args if a is not type(None)]
        _check(inner, value, where, problems)
        return
    if tp is Any:
        return  # a raw Docker document, any JSON
    if isinstance(tp, type) and issubclass(tp, Enum):
        allowed = [m.value for m in tp]
        if value not in allowed:
            problems.append(f"{at} is {_short(value)}; one of {', '.join(map(str, allowed))}")
        return
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            problems.append(f"{at} is {json_kind(value)}, not an object")
            return
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for key in value:
            if key not in fields:
                problems.append(f"{_join(where, str(key))} is not a field of a snapshot's {tp.__name__}")
        for name, f in fields.items():
            if name in value:
                _check(hints[name], value[name], _join(where, name), problems)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{_join(where, name)} is missing")
        return
    if origin is tuple:
        if not isinstance(value, list):
            problems.append(f"{at} is {json_kind(value)}, not a list")
            return
        (inner, *_rest) = typing.get_args(tp)
        for i, item in enumerate(value):
            _check(inner, item, f"{where}[{i}]", problems)
        return
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{at} is {json_kind(value)}, not an object")
            return
        _key, inner = typing.get_args(tp)
        for key, item in value.items():
            _check(inner, item, f"{where}[{key[:60]!r}]", problems)
        return
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    else:  # a type the snapshot gained that this validator does not know: refuse rather than let it through
        problems.append(f"{at}: this engine cannot check a value of type {tp!r}")
        return
    if not ok:
        problems.append(f"{at} is {json_kind(value)}, not {_NAMES[tp]}")


_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
