"""Waivers: accepted risks, read from a YAML or JSON file, and the rules that match them to results.

The CLI (``--waivers FILE``) and the dashboard share these functions, so a waiver covers the same findings
in both: ``object_key`` names an offending object the same way, ``matches`` decides scope, ``active`` decides
expiry. The file format is documented in docs/waivers.md.

A waiver applies to WARN results only, and until the start of its expiry day (UTC): ``expires: 2027-03-01``
covers findings up to 2027-02-28 included.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from dockerbench import catalog
from dockerbench.results import ObjectRef, Result, Status

FIELDS = ("check", "host", "object", "reason", "owner", "ticket", "expires")
_REQUIRED = ("check", "reason", "expires")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class WaiverError(ValueError):
    """The waivers file cannot be used; the message names the file and each bad entry."""


@dataclass(frozen=True)
class Waiver:
    check: str  # the check id, exactly as in the catalog
    host: str | None  # only on the audited host of that name (case-insensitive); None: any host
    object: str | None  # fnmatch pattern (case-sensitive) on the object key; None: every object
    reason: str
    owner: str | None
    ticket: str | None  # an http(s) URL
    expires: date  # the first day the waiver no longer applies (UTC)

    @property
    def specificity(self) -> int:
        """When several waivers cover a result, the most specific wins: host and object > object > host > none."""
        return 2 * (self.object is not None) + (self.host is not None)

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "host": self.host,
            "object": self.object,
            "reason": self.reason,
            "owner": self.owner,
            "ticket": self.ticket,
            "expires": self.expires.isoformat(),
        }


# -- identity and scope ---------------------------------------------------------


def object_key(kind: str, object_id: str, name: str) -> str:
    """The stable key of an offending object, which a waiver's ``object`` pattern is matched against.

    container: its name without Docker's leading "/" (a container recreated with the same name is the same
    finding), else its id; image: its first repo:tag when its name carries one, else its full id; file: its
    path; setting: its name (the value the check is about: "hosts" gives the listening URL, "insecure-registries"
    the registry), else its id; network, node, service, user, host and any other kind: name, else id; "" for a
    verdict on the host as a whole (no object, kind "").
    """
    if not kind:
        return ""
    name = (name or "").strip()
    object_id = (object_id or "").strip()
    if kind == "container":
        return name.lstrip("/") or object_id
    if kind == "image":
        # An untagged image is named after the start of its id (ImageSnapshot.name); key it by the whole id.
        tagged = name and not name.startswith("sha256:") and not object_id.startswith(name)
        return name if tagged else object_id or name
    if kind == "file":
        return object_id or name
    return name or object_id


def finding_detail(evidence: object) -> str:
    """What tells apart two findings of one check on one object, from the result's evidence; "" for most checks.

    S.1 reports each secret variable of a container, S.2 each history line of an image that records one: the
    variable (S.1), or the instruction and its variables (S.2), so a secret removed from a container fixes
    that finding alone and a new one is new, whatever order the engine lists them in. A waiver's object
    pattern matches the object's key, so it covers all of them.
    """
    if not isinstance(evidence, dict):
        return ""
    variable = evidence.get("variable")
    if isinstance(variable, str):
        return variable[:200]
    secrets = evidence.get("secrets")
    if isinstance(secrets, list) and isinstance(evidence.get("instruction"), str):
        names = sorted({str(s.get("variable", "")) for s in secrets if isinstance(s, dict)})
        return f"{evidence['instruction']} {','.join(names)}"[:200]
    return ""


def key_of(ref: ObjectRef | None) -> str:
    """``object_key`` of a result's object; "" when the result is about the host as a whole."""
    return "" if ref is None else object_key(ref.kind, ref.id, ref.name)


def matches(waiver: Waiver, check_id: str, host_name: str, object_key: str) -> bool:
    """Whether the waiver's scope covers this result (expiry aside: see ``active``).

    The check id must be equal; ``host``, when set, equal to the host's name ignoring case (host names are);
    ``object``, when set, match the object key with fnmatchcase ("legacy-*", "/etc/docker/*"). A waiver with no
    ``object`` covers every object of the check, and the verdict on the host as a whole.
    """
    if waiver.check != check_id:
        return False
    if waiver.host is not None and waiver.host.casefold() != (host_name or "").casefold():
        return False
    return waiver.object is None or fnmatchcase(object_key, waiver.object)


def active(waivers: Iterable[Waiver], today: date) -> tuple[list[Waiver], list[Waiver]]:
    """(the waivers in force on ``today``, those expired): one applies while today < expires."""
    now: list[Waiver] = []
    expired: list[Waiver] = []
    for w in waivers:
        (now if today < w.expires else expired).append(w)
    return now, expired


def waiver_for(waivers: Sequence[Waiver], check_id: str, host_name: str, key: str) -> Waiver | None:
    """The waiver that covers a WARN: the most specific match, then the one that runs longest, then the first.

    The same order as the dashboard's (scans.waivers.best_waiver), where "first" is the oldest waiver.
    """
    best: Waiver | None = None
    for w in waivers:
        if matches(w, check_id, host_name, key) and (
            best is None or (w.specificity, w.expires) > (best.specificity, best.expires)
        ):
            best = w
    return best


def apply(results: Sequence[Result], waivers: Sequence[Waiver], host_name: str) -> list[Waiver | None]:
    """For each result, in order, the waiver that covers it; None for the others and for every non-WARN."""
    return [
        waiver_for(waivers, r.check_id, host_name, key_of(r.object)) if r.status is Status.WARN else None
        for r in results
    ]


# -- the file -------------------------------------------------------------------


def _known_ids() -> set[str]:
    by_id = catalog.ALL_BY_ID
    return set(by_id)


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text, so a bad one is reported with its entry, and refuses duplicate keys.

    SafeLoader builds a date for 2027-02-30 and fails on the whole file without saying which entry.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_json(source: str, text: str) -> bool:
    suffix = Path(source).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return False
    if suffix == ".json":
        return True
    return text.lstrip()[:1] in ("{", "[")


def _parse(text: str, source: str) -> Any:
    if _is_json(source, text):
        try:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        except ValueError as exc:
            raise WaiverError(f"{source}: not valid JSON: {exc}") from exc
    stream = io.StringIO(text)
    stream.name = source  # PyYAML's messages name the stream: "in w.yaml, line 3"
    try:
        return yaml.load(stream, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader (dates kept as text)
    except yaml.YAMLError as exc:
        raise WaiverError(f"{source}: not valid YAML: {exc}") from exc


def _date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        raise ValueError(f"expires must be a date written YYYY-MM-DD, not {value!r}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"expires {value!r} is not a valid date: {exc}") from exc


def _text(entry: dict[str, Any], key: str, problems: list[str]) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        hint = ' (quote it: check: "5.10"; unquoted, 5.10 is read as the number 5.1)' if key == "check" else ""
        problems.append(f"{key} must be a string, not {value!r}{hint}")
        return None
    if not value.strip():
        problems.append(f"{key} is empty")
        return None
    return value.strip()


def _entry(entry: Any, known: set[str]) -> tuple[Waiver | None, list[str]]:
    if not isinstance(entry, dict):
        return None, [f"must be a mapping of {', '.join(FIELDS)}, not {type(entry).__name__}"]
    problems: list[str] = []
    if "tag" in entry:
        problems.append("tag scopes waivers in the dashboard only; the CLI audits one host: use host")
    unknown = sorted(str(k) for k in entry if k not in FIELDS and k != "tag")
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; a waiver has {', '.join(FIELDS)}")
    for key in _REQUIRED:
        if entry.get(key) is None:
            problems.append(f"{key} is required")
    values = {key: _text(entry, key, problems) for key in FIELDS if key != "expires"}
    check = values["check"]
    if check is not None and check not in known:
        problems.append(f"unknown check id {check!r}")
    ticket = values["ticket"]
    if ticket is not None:
        parts = urlsplit(ticket)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"ticket must be an http(s) URL, not {ticket!r}")
    expires: date | None = None
    if entry.get("expires") is not None:
        try:
            expires = _date(entry["expires"])
        except ValueError as exc:
            problems.append(str(exc))
    if problems or check is None or values["reason"] is None or expires is None:
        return None, problems
    waiver = Waiver(
        check=check,
        host=values["host"],
        object=values["object"],
        reason=values["reason"],
        owner=values["owner"],
        ticket=ticket,
        expires=expires,
    )
    return waiver, []


def loads(text: str, source: str = "<waivers>") -> list[Waiver]:
    """Parse a waivers document; ``source`` names it in errors and, by its extension, picks JSON or YAML.

    Raises WaiverError listing every bad entry as ``source: waivers[i]: problem`` (i counts from 0).
    """
    doc = _parse(text, source)
    if not isinstance(doc, dict) or "waivers" not in doc:
        raise WaiverError(f"{source}: expected a mapping with a 'waivers' list (write 'waivers: []' for none)")
    extra = sorted(str(k) for k in doc if k != "waivers")
    if extra:
        raise WaiverError(f"{source}: unknown top-level key(s) {', '.join(extra)}; only 'waivers' is allowed")
    entries = doc["waivers"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: 'waivers' must be a list, not {type(entries).__name__}")
    known = _known_ids()
    waivers: list[Waiver] = []
    errors: list[str] = []
    for i, entry in enumerate(entries):
        waiver, problems = _entry(entry, known)
        errors += [f"{source}: waivers[{i}]: {p}" for p in problems]
        if waiver is not None:
            waivers.append(waiver)
    if errors:
        raise WaiverError("\n".join(errors))
    return waivers


def load(path: str | Path) -> list[Waiver]:
    """Read and check a waivers file (YAML, or JSON by its .json extension or its content)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WaiverError(f"cannot read the waivers file {path}: {exc}") from exc
    return loads(text, str(path))
