"""Image vulnerability reports, as the scanners write them: Trivy, Grype, Clair v4 and Quay.

``parse_report`` reads one report (``trivy image -f json``, ``grype -o json``, or a Clair v4
VulnerabilityReport), tells the format from its shape, and returns an ImageVulnReport: who scanned which
image, and what it found, with severities in one vocabulary. Anything it cannot read faithfully raises
ReportError (a ValueError) whose message says what is wrong and where; it never raises anything else.

Quay's security document (``GET /api/v1/repository/{repo}/manifest/{digest}/security``) is read by
``parse_quay_security`` instead, which takes the manifest digest from the caller: the document does not
reliably say which manifest it is about, so ``parse_report`` recognises it and refuses it with that reason.

A report is about an image, not a host: ``image_keys`` gives the digests that identify it (the image id
and the repo digests' ``sha256:...`` parts; Clair's manifest hash), and ``matches`` tells whether an
ImageSnapshot from any host is that image. docs/vulnerabilities.md describes the formats and limits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockerbench.jsonfile import load_untrusted_json
from dockerbench.snapshot import ImageSnapshot, ImageVulnReport, Severity, Vuln

# A real report of a large image with every package listed is a few MB; 50 MB leaves room and still
# bounds the memory one upload can take.
MAX_REPORT_BYTES = 50 * 1024 * 1024
# Ids, package names, versions, tags and digests are short; a title or a URL may be longer.
MAX_NAME_CHARS = 1_000
MAX_TEXT_CHARS = 10_000
# A title made from a description (Grype and Clair have no title) is cut to this many characters.
TITLE_CHARS = 200

SCANNERS = ("trivy", "grype", "clair", "quay")

__all__ = [
    "MAX_REPORT_BYTES",
    "SCANNERS",
    "SEVERITIES",
    "ImageVulnReport",
    "QuayNotScanned",
    "ReportError",
    "Severity",
    "Vuln",
    "image_keys",
    "keys_of_image",
    "matches",
    "parse_quay_security",
    "parse_report",
    "read_report_file",
]


class ReportError(ValueError):
    """The report cannot be read: malformed, of an unknown format, or naming no image."""


class QuayNotScanned(ReportError):
    """Quay answered a status other than "scanned" ("queued", "failed", "unsupported", ...): no report yet."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


SEVERITIES = tuple(Severity)  # worst first
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# The scanners' own words (lower-cased) for each severity. Trivy and Grype use our five words and UNKNOWN;
# Clair's normalized_severity does too, and its vendor severity (used only when the normalised one is
# missing) can be a distribution's word.
_SEVERITY_WORDS = {
    "critical": Severity.CRITICAL,
    "defcon1": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "low": Severity.LOW,
    "minor": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,
    "unknown": Severity.UNKNOWN,
    "": Severity.UNKNOWN,
}


def parse_report(data: bytes | str, *, filename: str = "") -> ImageVulnReport:
    """Read one Trivy, Grype or Clair v4 report; raise ReportError when it cannot be read."""
    try:
        return _parse(data)
    except ReportError as exc:
        raise ReportError(f"{filename}: {exc}" if filename else str(exc)) from None


def parse_quay_security(data: bytes | str, *, digest: str, repository: str = "", filename: str = "") -> ImageVulnReport:
    """Read Quay's security document of the manifest ``digest`` (in ``repository``, e.g. quay.io/shop/web).

    The answer of ``GET /api/v1/repository/{repository}/manifest/{digest}/security?vulnerabilities=true``:
    ``{"status": ..., "data": {"Layer": {..., "Features": [...]}}}``. A status other than "scanned" raises
    QuayNotScanned (a ReportError) carrying it; anything malformed raises ReportError.
    """
    try:
        return _parse_quay(data, digest=digest, repository=repository)
    except QuayNotScanned as exc:
        raise QuayNotScanned(f"{filename}: {exc}" if filename else str(exc), exc.status) from None
    except ReportError as exc:
        raise ReportError(f"{filename}: {exc}" if filename else str(exc)) from None


def read_report_file(path: str | Path) -> ImageVulnReport:
    """Read and parse one report file; ReportError (naming the file) when it cannot be read or parsed.

    At most MAX_REPORT_BYTES + 1 bytes are read, so a huge file is refused without being loaded.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return parse_report(data, filename=str(path))


def image_keys(report: ImageVulnReport) -> frozenset[str]:
    """The digests that identify the report's image: its id and its manifest digests."""
    return frozenset(filter(None, (report.image_id, *report.digests)))


def keys_of_image(image: ImageSnapshot) -> frozenset[str]:
    """The same digests for an image as a host reported it (Id and RepoDigests); bad values are ignored."""
    values: list[Any] = [image.id]
    repo_digests = image.inspect.get("RepoDigests") if isinstance(image.inspect, dict) else None
    if isinstance(repo_digests, list):
        values += repo_digests
    keys = set()
    for value in values:
        digest = _digest_of(value) if isinstance(value, str) else None
        if digest:
            keys.add(digest)
    return frozenset(keys)


def matches(report: ImageVulnReport, image: ImageSnapshot) -> bool:
    """Whether the report is about this image: they share the image id or a manifest digest."""
    return not image_keys(report).isdisjoint(keys_of_image(image))


# -- reading -------------------------------------------------------------------------------------------


def _load(data: bytes | str) -> Any:
    return load_untrusted_json(
        data, what="report", limit=MAX_REPORT_BYTES, error=ReportError, nested_as="a scanner's report"
    )


def _parse(data: bytes | str) -> ImageVulnReport:
    doc = _load(data)

    if isinstance(doc, list):
        if doc and all(isinstance(r, dict) and "Target" in r for r in doc):
            raise ReportError(
                "an old Trivy report (a bare list of results, before SchemaVersion 2); "
                "scan again with Trivy 0.20 or later: trivy image -f json"
            )
        raise ReportError("the top level is a list; a vulnerability report is a JSON object")
    if not isinstance(doc, dict):
        raise ReportError(f"the top level is {_kind(doc)}; a vulnerability report is a JSON object")
    if "SchemaVersion" in doc or ("ArtifactName" in doc and "Results" in doc):
        return _trivy(doc)
    if "matches" in doc and ("source" in doc or "descriptor" in doc):
        return _grype(doc)
    if "manifest_hash" in doc and ("vulnerabilities" in doc or "package_vulnerabilities" in doc):
        return _clair(doc)
    if _is_quay(doc):
        raise ReportError(
            "a Quay security report (GET /api/v1/repository/.../manifest/{digest}/security): it does not "
            "say which manifest it is about, so it needs the manifest digest it was asked for; read it with "
            "parse_quay_security(data, digest=...), as the live Quay lookup does"
        )
    keys = ", ".join(_quote(k) for k in list(doc)[:6]) or "none"
    raise ReportError(
        f"not a Trivy, Grype, Clair v4 or Quay vulnerability report (its top-level keys: {keys}); "
        "accepted: trivy image -f json, grype -o json, a Clair v4 vulnerability report"
    )


def _is_quay(doc: dict[str, Any]) -> bool:
    """Quay's security document: ``{"status", "data"}``, or its ``data`` alone (``{"Layer": ...}``)."""
    return ("status" in doc and "data" in doc) or list(doc) == ["Layer"]


def _trivy(doc: dict[str, Any]) -> ImageVulnReport:
    schema = doc.get("SchemaVersion")
    if schema != 2 or isinstance(schema, bool):
        raise ReportError(
            f"Trivy report SchemaVersion {_quote(schema)}: only SchemaVersion 2 is understood "
            "(what `trivy image -f json` writes since Trivy 0.20)"
        )
    kind = _text(doc.get("ArtifactType"), "ArtifactType")
    if kind and kind != "container_image":
        raise ReportError(f"a Trivy report of a {_quote(kind)}, not of a container image: no image to match it to")
    meta = _obj(doc.get("Metadata", {}), "Metadata")
    trivy = _obj(doc.get("Trivy", {}), "Trivy")
    image_id = _optional_digest(meta.get("ImageID"), "Metadata.ImageID")
    digests = [
        _digest(d, f"Metadata.RepoDigests[{i}]") for i, d in _items(meta.get("RepoDigests"), "Metadata.RepoDigests")
    ]
    tags = [_text(t, f"Metadata.RepoTags[{i}]") for i, t in _items(meta.get("RepoTags"), "Metadata.RepoTags")]
    _require_identity(image_id, digests, "Metadata.ImageID nor Metadata.RepoDigests")

    def vulns() -> Iterator[Vuln]:
        for i, result in _items(doc.get("Results"), "Results"):
            where = f"Results[{i}]"
            result = _obj(result, where)
            for j, v in _items(result.get("Vulnerabilities"), f"{where}.Vulnerabilities"):
                yield _trivy_vuln(_obj(v, f"{where}.Vulnerabilities[{j}]"), f"{where}.Vulnerabilities[{j}]")

    return ImageVulnReport(
        scanner="trivy",
        scanner_version=_text(trivy.get("Version"), "Trivy.Version"),
        image_id=image_id,
        digests=_unique(digests),
        tags=_unique(tags),
        artifact=_text(doc.get("ArtifactName"), "ArtifactName", MAX_TEXT_CHARS),
        scanned_at=_text(doc.get("CreatedAt"), "CreatedAt"),
        vulns=_dedupe(vulns()),
    )


def _trivy_vuln(v: dict[str, Any], where: str) -> Vuln:
    title = _text(v.get("Title"), f"{where}.Title", MAX_TEXT_CHARS)
    if not title:
        title = _title_from(_text(v.get("Description"), f"{where}.Description", MAX_REPORT_BYTES))
    urls = [(v.get("PrimaryURL"), f"{where}.PrimaryURL")]
    urls += [(r, f"{where}.References[{i}]") for i, r in _items(v.get("References"), f"{where}.References")]
    aliases = [_text(a, f"{where}.VendorIDs[{i}]") for i, a in _items(v.get("VendorIDs"), f"{where}.VendorIDs")]
    return Vuln(
        id=_required(v, "VulnerabilityID", where),
        aliases=_unique(aliases),
        severity=_severity(v.get("Severity"), f"{where}.Severity"),
        package=_text(v.get("PkgName"), f"{where}.PkgName"),
        installed=_text(v.get("InstalledVersion"), f"{where}.InstalledVersion"),
        fixed=_text(v.get("FixedVersion"), f"{where}.FixedVersion") or None,
        title=title,
        url=_first_url(urls),
        cvss_score=_trivy_cvss(v, where),
    )


def _trivy_cvss(v: dict[str, Any], where: str) -> float | None:
    """The score of the source Trivy took the severity from, else NVD's, else the first; v3 before v4 and v2."""
    cvss = _obj(v.get("CVSS", {}), f"{where}.CVSS")
    if not cvss:
        return None
    source = v.get("SeveritySource")
    name = source if isinstance(source, str) and source in cvss else "nvd" if "nvd" in cvss else next(iter(cvss))
    scores = _obj(cvss[name], f"{where}.CVSS.{name}")
    for field in ("V3Score", "V40Score", "V2Score"):
        score = _score(scores.get(field), f"{where}.CVSS.{name}.{field}")
        if score is not None:
            return score
    return None


def _grype(doc: dict[str, Any]) -> ImageVulnReport:
    source = _obj(doc.get("source", {}), "source")
    kind = _text(source.get("type"), "source.type")
    if kind != "image":
        raise ReportError(
            f"a Grype report of a {_quote(kind or 'source of unknown type')}, not of an image: no image to match it to"
        )
    target = _obj(source.get("target", {}), "source.target")
    descriptor = _obj(doc.get("descriptor", {}), "descriptor")
    image_id = _optional_digest(target.get("imageID"), "source.target.imageID")
    digests = [
        _digest(d, f"source.target.repoDigests[{i}]")
        for i, d in _items(target.get("repoDigests"), "source.target.repoDigests")
    ]
    # The digest of the manifest Grype read: a registry's when it pulled the image, so a RepoDigest.
    manifest = _optional_digest(target.get("manifestDigest"), "source.target.manifestDigest")
    digests += [manifest] if manifest else []
    tags = [_text(t, f"source.target.tags[{i}]") for i, t in _items(target.get("tags"), "source.target.tags")]
    _require_identity(image_id, digests, "source.target.imageID nor source.target.repoDigests")

    def vulns() -> Iterator[Vuln]:
        for i, m in _items(doc.get("matches"), "matches"):
            yield _grype_vuln(_obj(m, f"matches[{i}]"), f"matches[{i}]")

    return ImageVulnReport(
        scanner="grype",
        scanner_version=_text(descriptor.get("version"), "descriptor.version"),
        image_id=image_id,
        digests=_unique(digests),
        tags=_unique(tags),
        artifact=_text(target.get("userInput"), "source.target.userInput", MAX_TEXT_CHARS),
        scanned_at=_text(descriptor.get("timestamp"), "descriptor.timestamp"),
        vulns=_dedupe(vulns()),
    )


def _grype_vuln(m: dict[str, Any], where: str) -> Vuln:
    vuln = _obj(m.get("vulnerability"), f"{where}.vulnerability")
    artifact = _obj(m.get("artifact"), f"{where}.artifact")
    related = [
        _obj(r, f"{where}.relatedVulnerabilities[{i}]")
        for i, r in _items(m.get("relatedVulnerabilities"), f"{where}.relatedVulnerabilities")
    ]
    vid = _required(vuln, "id", f"{where}.vulnerability")
    fix = _obj(vuln.get("fix", {}), f"{where}.vulnerability.fix")
    state = _text(fix.get("state"), f"{where}.vulnerability.fix.state")
    versions = [
        _text(x, f"{where}.vulnerability.fix.versions[{i}]")
        for i, x in _items(fix.get("versions"), f"{where}.vulnerability.fix.versions")
    ]
    fixed = ", ".join(x for x in versions if x) if state not in ("not-fixed", "wont-fix") else ""
    # A distribution's record (debian:distro:...) often has no CVSS or description; the NVD record
    # Grype relates to it does.
    records = [(vuln, f"{where}.vulnerability")] + [
        (r, f"{where}.relatedVulnerabilities[{i}]") for i, r in enumerate(related)
    ]
    description = ""
    urls: list[tuple[Any, str]] = []
    score = None
    for record, at in records:
        description = description or _text(record.get("description"), f"{at}.description", MAX_REPORT_BYTES)
        urls.append((record.get("dataSource"), f"{at}.dataSource"))
        urls += [(u, f"{at}.urls[{i}]") for i, u in _items(record.get("urls"), f"{at}.urls")]
        if score is None:
            score = _grype_cvss(record, at)
    aliases = [_required(r, "id", f"{where}.relatedVulnerabilities[{i}]") for i, r in enumerate(related)]
    return Vuln(
        id=vid,
        aliases=_unique(a for a in aliases if a != vid),
        severity=_severity(vuln.get("severity"), f"{where}.vulnerability.severity"),
        package=_text(artifact.get("name"), f"{where}.artifact.name"),
        installed=_text(artifact.get("version"), f"{where}.artifact.version"),
        fixed=fixed or None,
        title=_title_from(description),
        url=_first_url(urls),
        cvss_score=score,
    )


def _grype_cvss(record: dict[str, Any], where: str) -> float | None:
    """The base score of the first CVSS v3 entry, else v4, else any."""
    entries = [(i, _obj(c, f"{where}.cvss[{i}]")) for i, c in _items(record.get("cvss"), f"{where}.cvss")]

    def preference(entry: tuple[int, dict[str, Any]]) -> int:
        version = entry[1].get("version")
        version = version if isinstance(version, str) else ""
        return 0 if version.startswith("3") else 1 if version.startswith("4") else 2

    for i, entry in sorted(entries, key=preference):
        metrics = _obj(entry.get("metrics", {}), f"{where}.cvss[{i}].metrics")
        score = _score(metrics.get("baseScore"), f"{where}.cvss[{i}].metrics.baseScore")
        if score is not None:
            return score
    return None


def _clair(doc: dict[str, Any]) -> ImageVulnReport:
    manifest = _optional_digest(doc.get("manifest_hash"), "manifest_hash")
    _require_identity("", [manifest] if manifest else [], "a manifest_hash")
    packages = _obj(doc.get("packages", {}), "packages")
    records = _obj(doc.get("vulnerabilities", {}), "vulnerabilities")
    by_package = _obj(doc.get("package_vulnerabilities", {}), "package_vulnerabilities")

    def vulns() -> Iterator[Vuln]:
        for package_id, ids in by_package.items():
            where = f"package_vulnerabilities[{_quote(package_id)}]"
            if package_id not in packages:
                raise ReportError(f"{where} names a package that packages does not list")
            package = _obj(packages[package_id], f"packages[{_quote(package_id)}]")
            for i, vuln_id in _items(ids, where):
                if not isinstance(vuln_id, str) or vuln_id not in records:
                    raise ReportError(f"{where}[{i}] names {_quote(vuln_id)}, which vulnerabilities does not list")
                at = f"vulnerabilities[{_quote(vuln_id)}]"
                yield _clair_vuln(_obj(records[vuln_id], at), package, at, f"packages[{_quote(package_id)}]")

    return ImageVulnReport(scanner="clair", digests=(manifest,), vulns=_dedupe(vulns()))


def _clair_vuln(v: dict[str, Any], package: dict[str, Any], where: str, package_at: str) -> Vuln:
    name = _text(v.get("name"), f"{where}.name", MAX_TEXT_CHARS) or _required(v, "id", where)
    # A name is usually the id itself (CVE-2009-5155); some updaters add words after it.
    vid, _, rest = name.strip().partition(" ")
    vid = vid.rstrip(":")
    if not vid:
        raise ReportError(f"{where} has no name")
    if len(vid) > MAX_NAME_CHARS:
        raise ReportError(f"{where}.name is {len(vid):,} characters; the limit is {MAX_NAME_CHARS:,}")
    description = _text(v.get("description"), f"{where}.description", MAX_REPORT_BYTES)
    links = _text(v.get("links"), f"{where}.links", MAX_REPORT_BYTES).split()
    severity = v.get("normalized_severity")
    if severity in (None, "", "Unknown"):
        severity = v.get("severity", severity)
    return Vuln(
        id=vid,
        severity=_severity(severity, f"{where}.normalized_severity"),
        package=_text(package.get("name"), f"{package_at}.name"),
        installed=_text(package.get("version"), f"{package_at}.version"),
        fixed=_text(v.get("fixed_in_version"), f"{where}.fixed_in_version") or None,
        title=rest.strip() or _title_from(description),
        url=_first_url((link, f"{where}.links") for link in links),
    )


# Quay's statuses other than "scanned" (endpoints/api/secscan.py, SecurityScanStatus), and what they mean.
_QUAY_STATUSES = {
    "queued": "Quay has not scanned this manifest yet (queued)",
    "failed": "Quay failed to scan this manifest",
    "unsupported": "Quay's scanner does not support this manifest (a manifest list, an artifact, no layers)",
    "manifest_layer_too_large": "a layer of this manifest is too large for Quay's scanner",
}
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b")
_CVE_GROUP = re.compile(r"\(\s*CVE-\d{4}-\d{4,}(?:[\s,]+CVE-\d{4}-\d{4,})*\s*\)")


def _parse_quay(data: bytes | str, *, digest: str, repository: str) -> ImageVulnReport:
    manifest = _optional_digest(digest, "the digest given")
    if not manifest:
        raise ReportError("a Quay security report needs the manifest digest it was asked for; none was given")
    repository = _text(repository, "the repository given", MAX_TEXT_CHARS).strip()
    doc = _load(data)
    if not isinstance(doc, dict):
        raise ReportError(f"the top level is {_kind(doc)}; Quay's security report is a JSON object")
    if not _is_quay(doc):
        keys = ", ".join(_quote(k) for k in list(doc)[:6]) or "none"
        raise ReportError(f"not Quay's security report: it has no status and data (its top-level keys: {keys})")
    if "status" in doc:
        status = _text(doc.get("status"), "status")
        if status != "scanned":
            reason = _QUAY_STATUSES.get(status, f"Quay has no report of this manifest (status {_quote(status)})")
            raise QuayNotScanned(reason, status)
        if doc.get("data") is None:
            raise ReportError('status is "scanned" but data is null: the report holds nothing to read')
        at = "data.Layer"
        layer = _obj(_obj(doc["data"], "data").get("Layer"), at)
    else:
        at = "Layer"
        layer = _obj(doc["Layer"], at)
    # Quay with Clair v4 puts Clair's manifest_hash in Layer.Name; older Quay put a layer's name there. So
    # the caller's digest is the identity, and a Layer.Name that is a different digest is a wrong answer.
    named = _digest_of(_text(layer.get("Name"), f"{at}.Name"))
    if named and named != manifest:
        raise ReportError(f"{at}.Name is {named}: the report is about another manifest than {manifest}")

    def vulns() -> Iterator[Vuln]:
        for i, feature in _items(layer.get("Features"), f"{at}.Features"):
            where = f"{at}.Features[{i}]"
            feature = _obj(feature, where)
            for j, v in _items(feature.get("Vulnerabilities"), f"{where}.Vulnerabilities"):
                yield _quay_vuln(
                    _obj(v, f"{where}.Vulnerabilities[{j}]"), feature, f"{where}.Vulnerabilities[{j}]", where
                )

    return ImageVulnReport(
        scanner="quay",
        digests=(manifest,),
        artifact=f"{repository}@{manifest}" if repository else "",
        vulns=_dedupe(vulns()),
    )


def _quay_vuln(v: dict[str, Any], feature: dict[str, Any], where: str, feature_at: str) -> Vuln:
    # Clair's name as Quay passes it on: an id (CVE-2019-15903), or an id and more words
    # ("pyup.io-38765 (CVE-2019-20916)", "RHSA-2023:5455: glibc security update (Important)").
    name = _text(v.get("Name"), f"{where}.Name", MAX_TEXT_CHARS)
    vid, _, rest = name.strip().partition(" ")
    vid = vid.rstrip(":")
    if not vid:
        raise ReportError(f"{where} has no Name")
    if len(vid) > MAX_NAME_CHARS:
        raise ReportError(f"{where}.Name is {len(vid):,} characters; the limit is {MAX_NAME_CHARS:,}")
    aliases = [a for a in _CVE.findall(rest) if a != vid]
    title = _CVE_GROUP.sub("", rest).strip()
    title = title if _CVE.sub("", title).strip(" ,") else ""  # nothing but the aliases
    description = _text(v.get("Description"), f"{where}.Description", MAX_REPORT_BYTES)
    links = _text(v.get("Link"), f"{where}.Link", MAX_REPORT_BYTES).split()
    return Vuln(
        id=vid,
        aliases=_unique(aliases),
        severity=_severity(v.get("Severity"), f"{where}.Severity"),
        package=_text(feature.get("Name"), f"{feature_at}.Name"),
        installed=_text(feature.get("Version"), f"{feature_at}.Version"),
        fixed=_text(v.get("FixedBy"), f"{where}.FixedBy") or None,
        title=title or _title_from(description),
        url=_first_url((link, f"{where}.Link") for link in links),
        cvss_score=_quay_cvss(v, where),
    )


def _quay_cvss(v: dict[str, Any], where: str) -> float | None:
    """``Metadata.NVD.CVSSv3.Score``: the enrichment's base score Quay adds; "" or absent when it has none."""
    meta = v.get("Metadata")
    if meta is None:
        return None
    at = f"{where}.Metadata"
    nvd = _obj(meta, at).get("NVD")
    if nvd is None:
        return None
    cvss = _obj(nvd, f"{at}.NVD").get("CVSSv3")
    if cvss is None:
        return None
    score = _obj(cvss, f"{at}.NVD.CVSSv3").get("Score")
    return None if score == "" else _score(score, f"{at}.NVD.CVSSv3.Score")


# -- pieces --------------------------------------------------------------------------------------------

_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})")
_BARE_SHA256 = re.compile(r"[0-9a-f]{64}")


def _digest_of(value: str) -> str | None:
    """``sha256:<hex>`` from ``sha256:<hex>``, ``repo@sha256:<hex>`` or a bare 64-hex image id; else None."""
    digest = value.rpartition("@")[2].strip().lower()
    if _BARE_SHA256.fullmatch(digest):
        return f"sha256:{digest}"
    return digest if _DIGEST.fullmatch(digest) else None


def _digest(value: Any, where: str) -> str:
    text = _text(value, where)
    digest = _digest_of(text)
    if digest is None:
        raise ReportError(
            f"{where} is not an image digest (sha256:<64 hex digits>, or repo@sha256:...): {_quote(text)}"
        )
    return digest


def _optional_digest(value: Any, where: str) -> str:
    return _digest(value, where) if value not in (None, "") else ""


def _require_identity(image_id: str, digests: list[str], fields: str) -> None:
    if not image_id and not digests:
        raise ReportError(
            f"the report names no image: it has neither {fields}, so it cannot be matched to any host's image"
        )


def _text(value: Any, where: str, limit: int = MAX_NAME_CHARS) -> str:
    """A string field ("" when absent), checked for type and length, safe to store."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(f"{where} should be a string, not {_kind(value)}")
    if len(value) > limit:
        raise ReportError(f"{where} is {len(value):,} characters; the limit is {limit:,}")
    # Kept as data, whatever it says; but PostgreSQL text cannot hold NUL, and lone surrogates (which
    # JSON's \\ud800 escapes allow) are not UTF-8.
    value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _first_url(candidates: Iterable[tuple[Any, str]]) -> str:
    """The first http(s) URL: a page links to it, so javascript: and friends are never kept."""
    for value, where in candidates:
        url = _text(value, where, MAX_TEXT_CHARS)
        if url.lower().startswith(("https://", "http://")):
            return url
    return ""


def _required(obj: dict[str, Any], key: str, where: str) -> str:
    value = _text(obj.get(key), f"{where}.{key}")
    if not value.strip():
        raise ReportError(f"{where} has no {key}")
    return value


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{where} should be an object, not {_kind(value)}")
    return value


def _items(value: Any, where: str) -> Iterable[tuple[int, Any]]:
    """The entries of a list field; an absent or null list is empty."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ReportError(f"{where} should be a list, not {_kind(value)}")
    return enumerate(value)


def _severity(value: Any, where: str) -> Severity:
    word = _text(value, where)
    # A word we do not know is the scanner's news, not a broken report.
    return _SEVERITY_WORDS.get(word.strip().lower(), Severity.UNKNOWN)


def _score(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"{where} should be a number, not {_kind(value)}")
    if not (math.isfinite(value) and 0 <= value <= 10):
        raise ReportError(f"{where} is {value}; a CVSS score is between 0 and 10")
    return float(value)


def _title_from(description: str) -> str:
    line = description.strip().split("\n", 1)[0].strip()
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _dedupe(vulns: Iterable[Vuln]) -> tuple[Vuln, ...]:
    """One Vuln per (id, package, installed): the worst severity, every alias, the first of the rest.

    Scanners list the same flaw of the same package more than once when the package is found at two
    paths (two copies of a jar, two targets); to the image it is one vulnerability.
    """
    merged: dict[tuple[str, str, str], Vuln] = {}
    for v in vulns:
        seen = merged.get(v.key)
        if seen is None:
            merged[v.key] = v
            continue
        merged[v.key] = replace(
            seen,
            aliases=_unique((*seen.aliases, *v.aliases)),
            severity=min(seen.severity, v.severity, key=_RANK.__getitem__),
            fixed=seen.fixed or v.fixed,
            title=seen.title or v.title,
            url=seen.url or v.url,
            cvss_score=seen.cvss_score if seen.cvss_score is not None else v.cvss_score,
        )
    return tuple(sorted(merged.values(), key=lambda v: (_RANK[v.severity], v.id, v.package, v.installed)))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _quote(value: Any) -> str:
    """A value for an error message: short, and quoted so a reader sees where it starts and ends."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str | int | float | bool | None) else _kind(value)
    return text if len(text) <= 60 else text[:59] + "…"
