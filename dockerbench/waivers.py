"""Waivers: accepted risks, read from a YAML or JSON file, and the rules that match them to results.

The CLI (``--waivers FILE``) and the dashboard share these functions, so a waiver covers the same findings
in both: ``object_key`` names an offending object the same way, ``matches`` decides scope, ``active`` decides
expiry. The file format is documented in docs/waivers.md.

A waiver applies to WARN results only, and until the start of its expiry day (UTC): ``expires: 2027-03-01``
covers findings up to 2027-02-28 included.

The file also holds CVE waivers (``cve:`` instead of ``check:``): accepted vulnerabilities, applied to the
image reports attached to a snapshot before it is judged (``waive_cves``), with the dashboard's rules
(vulns.models.CveWaiver.covers): the id or one of its aliases, an optional image pattern, the same expiry.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

from dockerbench import catalog
from dockerbench.results import ObjectRef, Result, Status
from dockerbench.snapshot import HostSnapshot, ImageSnapshot, ImageVulnReport, Vuln
from dockerbench.vulns import matches as report_matches

FIELDS = ("check", "host", "object", "reason", "owner", "ticket", "expires")
CVE_FIELDS = ("cve", "host", "image", "reason", "owner", "ticket", "expires")
_REQUIRED = ("check", "reason", "expires")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The dashboard's rule for a vulnerability id (vulns.forms): CVE-2023-5363, GHSA-..., DSA-5532-1, ...
_VULN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{2,199}")


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


@dataclass(frozen=True)
class CveWaiver:
    """An accepted vulnerability: an entry of the file with ``cve:`` instead of ``check:``."""

    cve: str  # a vulnerability id, upper-case; matched against each vulnerability's id and aliases
    host: str | None  # only on the audited host of that name (case-insensitive); None: any host
    image: str | None  # fnmatch pattern (case-sensitive) on the image's repo:tag names and id; None: every image
    reason: str
    owner: str | None
    ticket: str | None  # an http(s) URL
    expires: date  # the first day the waiver no longer applies (UTC)

    def covers(self, *, ids: set[str], host_name: str, image_names: Sequence[str]) -> bool:
        """Whether it covers a vulnerability known by ``ids`` (its id and aliases, upper-case) in an image called
        ``image_names`` (tags and id) on the host ``host_name``; expiry aside (see ``active``)."""
        if self.cve not in ids:
            return False
        if self.host is not None and self.host.casefold() != (host_name or "").casefold():
            return False
        return self.image is None or any(fnmatchcase(n, self.image) for n in image_names)

    def as_json(self) -> dict[str, Any]:
        return {
            "cve": self.cve,
            "host": self.host,
            "image": self.image,
            "reason": self.reason,
            "owner": self.owner,
            "ticket": self.ticket,
            "expires": self.expires.isoformat(),
        }


_W = TypeVar("_W", Waiver, CveWaiver, Waiver | CveWaiver)


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


def active(waivers: Iterable[_W], today: date) -> tuple[list[_W], list[_W]]:
    """(the waivers in force on ``today``, those expired): one applies while today < expires."""
    now: list[_W] = []
    expired: list[_W] = []
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


# -- CVE waivers on image reports --------------------------------------------------


def image_names(image: ImageSnapshot) -> list[str]:
    """What a CVE waiver's image pattern is matched against: the image's tags, then its id (as the dashboard)."""
    return [*image.tags, image.id]


def _waived(
    vulns: Iterable[Vuln], waivers: Sequence[CveWaiver], host_name: str, images: Sequence[Sequence[str]]
) -> tuple[Vuln, ...]:
    out = []
    for v in vulns:
        ids = {v.id.upper(), *(a.upper() for a in v.aliases)}
        covered = all(any(w.covers(ids=ids, host_name=host_name, image_names=n) for w in waivers) for n in images)
        out.append(dataclasses.replace(v, waived=True) if covered and not v.waived else v)
    return tuple(out)


def waive_cves(snapshot: HostSnapshot, waivers: Sequence[CveWaiver], host_name: str) -> HostSnapshot:
    """``snapshot`` with ``Vuln.waived`` set on every vulnerability of its image reports a CVE waiver covers.

    Pass the waivers in force (``active``). An image pattern is matched against the names of the host's image
    the report is about (by digest, ``dockerbench.vulns.matches``: its tags and id, as the dashboard does), not
    the names the scanner gave it; a report about none of the host's images, against its own tags and id. A
    report about several of them (one image under two ids) is judged the same for each by 4.4, so a
    vulnerability is waived only when a waiver covers it in each. One already waived stays waived.
    """
    if not waivers or not snapshot.image_reports:
        return snapshot
    images = snapshot.images or ()
    reports: list[ImageVulnReport] = []
    for report in snapshot.image_reports:
        names = [image_names(image) for image in images if report_matches(report, image)]
        if not names:
            names = [[*report.tags, *filter(None, [report.image_id])]]
        reports.append(dataclasses.replace(report, vulns=_waived(report.vulns, waivers, host_name, names)))
    return dataclasses.replace(snapshot, image_reports=tuple(reports))


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


def _ticket(ticket: str | None, problems: list[str]) -> None:
    if ticket is not None:
        parts = urlsplit(ticket)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"ticket must be an http(s) URL, not {ticket!r}")


def _expires(entry: dict[str, Any], problems: list[str]) -> date | None:
    if entry.get("expires") is None:
        return None
    try:
        return _date(entry["expires"])
    except ValueError as exc:
        problems.append(str(exc))
        return None


def _entry(entry: Any, known: set[str]) -> tuple[Waiver | CveWaiver | None, list[str]]:
    if not isinstance(entry, dict):
        return None, [
            f"must be a mapping of {', '.join(FIELDS)} (or, for a vulnerability, {', '.join(CVE_FIELDS)}), "
            f"not {type(entry).__name__}"
        ]
    if "cve" in entry:
        return _cve_entry(entry)
    problems: list[str] = []
    if "tag" in entry:
        problems.append("tag scopes waivers in the dashboard only; the CLI audits one host: use host")
    if "image" in entry:
        problems.append("image scopes a CVE waiver (cve:); a check waiver names an image with object")
    unknown = sorted(str(k) for k in entry if k not in FIELDS and k not in ("tag", "image"))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; a waiver has {', '.join(FIELDS)}")
    for key in _REQUIRED:
        if entry.get(key) is None:
            problems.append(f"{key} is required" + (" (or cve, to waive a vulnerability)" if key == "check" else ""))
    values = {key: _text(entry, key, problems) for key in FIELDS if key != "expires"}
    check = values["check"]
    if check is not None and check not in known:
        problems.append(f"unknown check id {check!r}")
    ticket = values["ticket"]
    _ticket(ticket, problems)
    expires = _expires(entry, problems)
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


def _cve_entry(entry: dict[str, Any]) -> tuple[CveWaiver | None, list[str]]:
    problems: list[str] = []
    if "check" in entry:
        problems.append("give check (a CIS check) or cve (a vulnerability), not both")
    if "object" in entry:
        problems.append("object scopes a check waiver; a CVE waiver names its images with image")
    if "tag" in entry:
        problems.append("tag scopes waivers in the dashboard only; the CLI audits one host: use host")
    unknown = sorted(str(k) for k in entry if k not in CVE_FIELDS and k not in ("check", "object", "tag"))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; a CVE waiver has {', '.join(CVE_FIELDS)}")
    for key in ("reason", "expires"):
        if entry.get(key) is None:
            problems.append(f"{key} is required")
    values = {key: _text(entry, key, problems) for key in CVE_FIELDS if key != "expires"}
    cve = values["cve"]
    if cve is not None and not _VULN_ID.fullmatch(cve):
        problems.append(f"cve must be a vulnerability id such as CVE-2023-5363 (letters, digits, - . : _), not {cve!r}")
    if entry.get("cve") is None:
        problems.append("cve is required")
    ticket = values["ticket"]
    _ticket(ticket, problems)
    expires = _expires(entry, problems)
    if problems or cve is None or values["reason"] is None or expires is None:
        return None, problems
    waiver = CveWaiver(
        cve=cve.upper(),
        host=values["host"],
        image=values["image"],
        reason=values["reason"],
        owner=values["owner"],
        ticket=ticket,
        expires=expires,
    )
    return waiver, []


def loads_all(text: str, source: str = "<waivers>") -> list[Waiver | CveWaiver]:
    """Parse a waivers document: every entry, check and CVE waivers, in the file's order (``[i]`` is
    ``waivers[i]``); ``source`` names it in errors and, by its extension, picks JSON or YAML.

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
    waivers: list[Waiver | CveWaiver] = []
    errors: list[str] = []
    for i, entry in enumerate(entries):
        waiver, problems = _entry(entry, known)
        errors += [f"{source}: waivers[{i}]: {p}" for p in problems]
        if waiver is not None:
            waivers.append(waiver)
    if errors:
        raise WaiverError("\n".join(errors))
    return waivers


def loads(text: str, source: str = "<waivers>") -> list[Waiver]:
    """The check waivers of a waivers document (``loads_all`` checks every entry, CVE waivers too)."""
    return [w for w in loads_all(text, source) if isinstance(w, Waiver)]


def load_all(path: str | Path) -> list[Waiver | CveWaiver]:
    """Read and check a waivers file (YAML, or JSON by its .json extension or its content): every entry."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WaiverError(f"cannot read the waivers file {path}: {exc}") from exc
    return loads_all(text, str(path))


def load(path: str | Path) -> list[Waiver]:
    """The check waivers of a waivers file (``load_all`` gives the CVE waivers too)."""
    return [w for w in load_all(path) if isinstance(w, Waiver)]
