"""docker-bench-security's JSON log (``docker-bench-security.log.json``), read as one of our audits.

``parse_dockerbench_log`` reads the log docker-bench-security 1.6.x writes next to its text log and returns
an ImportedAudit: its version and times, its verdicts as our Results (one per item it names, where the
items can be told to be containers, images, networks or users), the checks of ours it does not cover,
and every entry it could not map, with the reason. Nothing in the log is dropped: what is not a Result
is in ``unmapped``. Malformed input raises DockerBenchLogError (a ValueError) saying what and where.

The layout is docker-bench's own (functions/output_lib.sh: beginjson, startsectionjson, starttestjson,
logcheckresult, endjson); docs/import.md describes it and the mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockerbench.catalog import BY_ID, RECOMMENDATIONS, section_of
from dockerbench.jsonfile import json_kind, load_untrusted_json
from dockerbench.results import ObjectRef, Result, Status

IMPORTED_FROM = "docker-bench-security"

# A log of a host with thousands of containers, every item listed twice (details and items), is a few MB.
MAX_LOG_BYTES = 20 * 1024 * 1024
# details repeats the whole item list, so it may be long; ids, results and items are short.
MAX_TEXT_CHARS = 2_000_000
MAX_NAME_CHARS = 1_000
MAX_RESULTS = 200_000

# docker-bench 1.6.x numbers its checks as CIS Docker Benchmark 1.6.0 does, which is what our catalog holds.
# Earlier versions follow earlier benchmarks (1.5.0's 5.1 is AppArmor, our 5.2): their ids are not ours.
_SUPPORTED_VERSION = re.compile(r"1\.6(?:\.[0-9]+)*")

# docker-bench's own words; anything else is not guessed at.
_STATUSES = {"PASS": Status.PASS, "WARN": Status.WARN, "INFO": Status.INFO, "NOTE": Status.NOTE}

# What the items of a check are, from what docker-bench 1.6.0 puts in them: 1.1.2 the docker group's
# members, 4.1 the containers running as root, 4.6/4.7/4.9 images (RepoTags or short ids), 7.3 overlay
# networks, section 5 container names.
_ITEM_KINDS = {"1.1.2": "user", "4.1": "container", "4.6": "image", "4.7": "image", "4.9": "image", "7.3": "network"}
_SECTION_ITEM_KINDS = {"5": "container"}

# docker-bench marks a list it cut short (its -n LIMIT) with this word as the last item.
_TRUNCATED = "(truncated)"
# 7.3 writes "NAME (SCOPE)" and the items are split on blanks: the scope arrives as an item of its own.
_SCOPE = re.compile(r"\(([a-z]+)\)")


class DockerBenchLogError(ValueError):
    """The log cannot be read: not docker-bench-security's JSON log, or malformed."""


@dataclass(frozen=True)
class Unmapped:
    """An entry of the log that is not one of our Results, and why."""

    where: str  # its place in the log: "tests[2].results[4]", "...items[3]"
    reason: str
    check_id: str = ""
    result: str = ""  # docker-bench's verdict as written
    desc: str = ""
    details: str = ""
    item: str = ""


@dataclass(frozen=True)
class ImportedAudit:
    """What one docker-bench-security run said about a host, in our terms."""

    version: str  # the log's "dockerbenchsecurity"
    started: datetime | None
    ended: datetime | None
    checks: int | None  # docker-bench's own count and score, as written
    score: int | None
    results: tuple[Result, ...]
    unmapped: tuple[Unmapped, ...]
    # CIS ids of ours that no mapped entry covers: the import says nothing about them, not PASS nor SKIP.
    missing: tuple[str, ...]
    source: str = IMPORTED_FROM


def parse_dockerbench_log(data: bytes | str, *, filename: str = "") -> ImportedAudit:
    """Read a docker-bench-security 1.6.x JSON log; raise DockerBenchLogError when it cannot be read."""
    try:
        return _parse(data)
    except DockerBenchLogError as exc:
        raise DockerBenchLogError(f"{filename}: {exc}" if filename else str(exc)) from None


# -- reading -------------------------------------------------------------------------------------------


def _parse(data: bytes | str) -> ImportedAudit:
    doc = _load(data)
    if not isinstance(doc, dict):
        raise DockerBenchLogError(f"the top level is {json_kind(doc)}; docker-bench's log is a JSON object")
    if "dockerbenchsecurity" not in doc:
        keys = ", ".join(repr(k[:40]) for k in list(doc)[:6]) or "none"
        raise DockerBenchLogError(
            f'no "dockerbenchsecurity" version: not a docker-bench-security JSON log (its top-level keys: {keys})'
        )
    version = _text(doc["dockerbenchsecurity"], "dockerbenchsecurity", MAX_NAME_CHARS)
    tests = doc.get("tests")
    if not isinstance(tests, list):
        raise DockerBenchLogError(f'"tests" is {json_kind(tests)}; docker-bench writes a list')
    reader = _Reader(mapped=_SUPPORTED_VERSION.fullmatch(version) is not None, version=version)
    for i, entry in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(entry, dict):
            raise DockerBenchLogError(f"{where} is {json_kind(entry)}, not an object")
        if "results" in entry:
            results = entry["results"]
            if not isinstance(results, list):
                raise DockerBenchLogError(f"{where}.results is {json_kind(results)}, not a list")
            for j, result in enumerate(results):
                reader.read(result, f"{where}.results[{j}]")
        else:
            # `docker-bench-security.sh -c check_5_4` runs no section function: its results sit in "tests".
            reader.read(entry, where)
    seen = {r.check_id for r in reader.results}
    return ImportedAudit(
        version=version,
        started=_time(doc.get("start"), "start"),
        ended=_time(doc.get("end"), "end"),
        checks=_int(doc.get("checks"), "checks"),
        score=_int(doc.get("score"), "score"),
        results=tuple(reader.results),
        unmapped=tuple(reader.unmapped),
        missing=tuple(r.id for r in RECOMMENDATIONS if r.id not in seen),
    )


def _load(data: bytes | str) -> Any:
    return load_untrusted_json(
        data,
        what="log",
        limit=MAX_LOG_BYTES,
        error=DockerBenchLogError,
        nested_as="docker-bench's log",
        strict=False,  # printf copies a newline or tab in a value into the string as it is
        invalid_hint="docker-bench writes its log with printf and does not escape quotes or backslashes in "
        "values; an interrupted run leaves it unfinished",
    )


class _Reader:
    """Turns the log's result entries into Results and Unmapped entries, in the log's order."""

    def __init__(self, *, mapped: bool, version: str) -> None:
        self.mapped = mapped
        self.version = version
        self.results: list[Result] = []
        self.unmapped: list[Unmapped] = []
        self.seen: set[str] = set()

    def read(self, entry: Any, where: str) -> None:
        if not isinstance(entry, dict):
            raise DockerBenchLogError(f"{where} is {json_kind(entry)}, not an object")
        check_id = _text(entry.get("id"), f"{where}.id", MAX_NAME_CHARS)
        desc = _text(entry.get("desc"), f"{where}.desc", MAX_TEXT_CHARS)
        if "result" not in entry:
            raise DockerBenchLogError(f'{where} ({check_id or "no id"}) has no "result"')
        result = _text(entry["result"], f"{where}.result", MAX_NAME_CHARS)
        details = _text(entry.get("details"), f"{where}.details", MAX_TEXT_CHARS)
        items = entry.get("items")
        if items is not None and not isinstance(items, list):
            raise DockerBenchLogError(f"{where}.items is {json_kind(items)}, not a list")

        def unmapped(reason: str) -> None:
            self.unmapped.append(Unmapped(where, reason, check_id, result, desc, details))

        if not self.mapped:
            return unmapped(
                f"docker-bench {self.version} does not number its checks as CIS Docker Benchmark 1.6.0 "
                "does; only logs of docker-bench 1.6.x are mapped"
            )
        if check_id not in BY_ID:
            return unmapped(f"{check_id or 'an empty id'} is not a CIS Docker Benchmark 1.6.0 recommendation")
        status = _STATUSES.get(result)
        if status is None:
            return unmapped(f"result {result!r} is not one of docker-bench's PASS, WARN, INFO, NOTE")
        if check_id in self.seen:
            return unmapped(f"a second verdict for {check_id}; the first one in the log is kept")
        self.seen.add(check_id)

        evidence: dict[str, Any] = {"imported_from": IMPORTED_FROM, "docker_bench_desc": desc}
        for key in ("remediation", "remediation-impact"):
            if key in entry:
                evidence[key.replace("-", "_")] = _text(entry[key], f"{where}.{key}", MAX_TEXT_CHARS)
        objects = self._objects(check_id, items or [], f"{where}.items", result, desc, details)
        if not objects:
            self._add(Result(check_id, status, details, None, evidence))
        for obj, extra in objects:
            self._add(Result(check_id, status, details, obj, {**evidence, **extra}))
        return None

    def _objects(
        self, check_id: str, items: list[Any], where: str, result: str, desc: str, details: str
    ) -> list[tuple[ObjectRef | None, dict[str, Any]]]:
        kind = _ITEM_KINDS.get(check_id) or _SECTION_ITEM_KINDS.get(section_of(check_id), "")
        names: list[tuple[str, dict[str, Any]]] = []
        for k, item in enumerate(items):
            at = f"{where}[{k}]"

            def unmapped(reason: str, value: str, at: str = at) -> None:
                self.unmapped.append(Unmapped(at, reason, check_id, result, desc, details, value))

            if not isinstance(item, str):
                unmapped(f"an item is {json_kind(item)}, not a name", "")
                continue
            if len(item) > MAX_NAME_CHARS:
                raise DockerBenchLogError(f"{at} is {len(item):,} characters; the limit is {MAX_NAME_CHARS:,}")
            if item == _TRUNCATED:
                unmapped("docker-bench cut the list short here (its -n LIMIT): the log does not name the rest", item)
                continue
            scope = _SCOPE.fullmatch(item)
            if kind == "network" and scope:
                if names:
                    names[-1][1]["scope"] = scope.group(1)
                else:
                    unmapped("a network's scope with no network before it", item)
                continue
            name = item
            if kind == "image":
                # RepoTags as Go prints them, "[app:1 app:latest]", split on the blank.
                name = item.removeprefix("[").removesuffix("]")
            for one in name.split(",") if kind == "user" else [name]:
                if not one.strip():
                    if kind != "user":
                        unmapped("an empty item names no object", item)
                    continue
                if not kind:
                    unmapped(f"docker-bench's items of {check_id} are not known to be any kind of object", item)
                    continue
                if all(one != n for n, _ in names):  # 1.1.2 can name a user twice
                    names.append((one, {}))
        return [(_ref(kind, name), extra) for name, extra in names]

    def _add(self, result: Result) -> None:
        if len(self.results) >= MAX_RESULTS:
            raise DockerBenchLogError(f"more than {MAX_RESULTS:,} results; the limit is {MAX_RESULTS:,}")
        self.results.append(result)


def _ref(kind: str, name: str) -> ObjectRef:
    # docker-bench names an image without tags by its short id (docker images -q).
    if kind == "image" and re.fullmatch(r"(?:sha256:)?[0-9a-f]{12,64}", name):
        return ObjectRef(kind, id=name)
    return ObjectRef(kind, name=name)


def _text(value: Any, where: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DockerBenchLogError(f"{where} is {json_kind(value)}; docker-bench writes a string")
    if len(value) > limit:
        raise DockerBenchLogError(f"{where} is {len(value):,} characters; the limit is {limit:,}")
    return value


def _int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DockerBenchLogError(f"{where} is {json_kind(value)}; docker-bench writes a whole number")
    return value


def _time(value: Any, where: str) -> datetime | None:
    seconds = _int(value, where)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise DockerBenchLogError(f"{where} is {seconds}, not a time in seconds since 1970") from None
