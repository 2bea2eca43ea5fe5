"""Reading Quay's security document (dockerbench.vulns.parse_quay_security), from the quay-ubi.json fixture."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dockerbench.snapshot import ImageSnapshot
from dockerbench.vulns import (
    QuayNotScanned,
    ReportError,
    Severity,
    Vuln,
    image_keys,
    matches,
    parse_quay_security,
    parse_report,
)

FIXTURE = Path(__file__).parent / "fixtures" / "vulns" / "quay-ubi.json"
MANIFEST = "sha256:36eecd7663aa628574150556a32c42b890afdc62835d0566f81f283f049d6768"  # the fixture's Layer.Name
OTHER = "sha256:" + "7" * 64


def _doc() -> dict[str, Any]:
    return copy.deepcopy(json.loads(FIXTURE.read_bytes()))


def _parse(doc: Any = None, *, digest: str = MANIFEST, **kwargs: str) -> Any:
    data = FIXTURE.read_bytes() if doc is None else json.dumps(doc)
    return parse_quay_security(data, digest=digest, repository="quay.io/shop/api", **kwargs)


def _error(doc: Any, *, digest: str = MANIFEST, **kwargs: str) -> str:
    with pytest.raises(ReportError) as info:
        _parse(doc, digest=digest, **kwargs)
    return str(info.value)


def _vuln(vulns: tuple[Vuln, ...], vid: str, package: str) -> Vuln:
    (found,) = [v for v in vulns if v.id == vid and v.package == package]
    return found


def _features(doc: dict[str, Any]) -> list[Any]:
    features: list[Any] = doc["data"]["Layer"]["Features"]
    return features


def test_it_reads_quays_security_document_with_the_digest_it_was_asked_for() -> None:
    report = _parse()
    assert (report.scanner, report.scanner_version, report.image_id, report.scanned_at) == ("quay", "", "", "")
    assert report.digests == (MANIFEST,)
    assert report.artifact == f"quay.io/shop/api@{MANIFEST}"
    assert {str(s): n for s, n in report.counts().items()} == {
        "CRITICAL": 2, "HIGH": 3, "MEDIUM": 0, "LOW": 1, "NEGLIGIBLE": 1, "UNKNOWN": 1,
    }  # fmt: skip

    libxml2 = _vuln(report.vulns, "CVE-2024-25062", "libxml2")
    assert (libxml2.severity, libxml2.installed, libxml2.fixed) == (
        Severity.CRITICAL,
        "2.9.13-3.el9_2.1",
        "2.9.13-6.el9_4",
    )
    assert libxml2.cvss_score == 9.8  # Metadata.NVD.CVSSv3.Score
    assert libxml2.url == "https://access.redhat.com/security/cve/CVE-2024-25062"
    assert libxml2.title.startswith("An issue was discovered in libxml2") and len(libxml2.title) == 200


def test_a_name_with_more_words_gives_its_first_word_as_the_id() -> None:
    report = _parse()
    glibc = _vuln(report.vulns, "RHSA-2023:5455", "glibc")
    assert glibc.title == "glibc security update (Important)"
    assert glibc.url == "https://access.redhat.com/errata/RHSA-2023:5455"  # the first of the space-separated Link
    pip = _vuln(report.vulns, "pyup.io-38765", "pip")
    assert pip.aliases == ("CVE-2019-20916",)  # "pyup.io-38765 (CVE-2019-20916)"
    assert pip.title.startswith("The pip package before 19.2")  # the CVE in brackets is no title
    assert (pip.url, pip.fixed, pip.cvss_score) == ("", "19.2", 7.5)


def test_severities_scores_and_absent_metadata() -> None:
    report = _parse()
    hostile = _vuln(report.vulns, "CVE-2099-1003", '<script>alert("quay")</script>')
    assert hostile.severity == Severity.CRITICAL  # "Defcon1"
    assert hostile.cvss_score is None  # Score ""
    assert hostile.url == "https://access.redhat.com/security/cve/CVE-2099-1003"  # javascript: skipped
    assert hostile.title == '<script>alert("quay")</script> Robert\'); DROP TABLE vulns;-- «\xa0guillemets\xa0» Защита'
    ncurses = _vuln(report.vulns, "CVE-2022-29458", "ncurses-base")
    assert (ncurses.severity, ncurses.cvss_score) == (Severity.NEGLIGIBLE, None)  # Metadata null
    unknown = _vuln(report.vulns, "pyup.io-62044", "pip")
    assert (unknown.severity, unknown.cvss_score) == (Severity.UNKNOWN, None)  # Score ""


def test_two_updaters_records_of_one_package_are_one_vulnerability() -> None:
    # Red Hat's record (Medium, fixed in 1:3.0.7-24.el9) and OSV's (High, no fix) of one package.
    openssl = _vuln(_parse().vulns, "CVE-2023-5363", "openssl-libs")
    assert (openssl.severity, openssl.fixed) == (Severity.HIGH, "1:3.0.7-24.el9")


def test_the_report_matches_images_by_the_digest_given() -> None:
    report = _parse()
    assert image_keys(report) == {MANIFEST}
    image = ImageSnapshot(id="sha256:" + "c" * 64, tags=(), inspect={"RepoDigests": [f"quay.io/shop/api@{MANIFEST}"]})
    assert matches(report, image)


def test_the_data_part_alone_is_read_too() -> None:
    bare = {"Layer": _doc()["data"]["Layer"]}
    assert _parse(bare).counts() == _parse().counts()


def test_an_empty_scan_is_a_report_with_no_vulnerabilities() -> None:
    doc = _doc()
    doc["data"]["Layer"]["Features"] = []
    assert _parse(doc).vulns == ()
    del doc["data"]["Layer"]["Features"]
    assert _parse(doc).vulns == ()


# -- parse_report and the digest ------------------------------------------------------------------------


@pytest.mark.parametrize("bare", [False, True])
def test_parse_report_recognises_a_quay_document_and_asks_for_its_digest(bare: bool) -> None:
    doc: dict[str, Any] = _doc()
    doc = {"Layer": doc["data"]["Layer"]} if bare else doc
    with pytest.raises(ReportError) as info:
        parse_report(json.dumps(doc), filename="security.json")
    message = str(info.value)
    assert message.startswith("security.json: a Quay security report (GET /api/v1/repository/")
    assert "needs the manifest digest it was asked for" in message
    assert "parse_quay_security(data, digest=...)" in message


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("", "a Quay security report needs the manifest digest it was asked for; none was given"),
        ("latest", 'the digest given is not an image digest (sha256:<64 hex digits>, or repo@sha256:...): "latest"'),
    ],
)
def test_without_a_usable_digest_it_is_refused(digest: str, message: str) -> None:
    assert _error(None, digest=digest) == message


def test_a_digest_given_as_repo_at_digest_is_fine() -> None:
    assert _parse(digest=f"quay.io/shop/api@{MANIFEST}").digests == (MANIFEST,)


def test_an_answer_about_another_manifest_is_refused() -> None:
    message = _error(None, digest=OTHER)
    assert message == f"data.Layer.Name is {MANIFEST}: the report is about another manifest than {OTHER}"


def test_a_layer_name_that_is_not_a_digest_is_not_an_identity() -> None:
    doc = _doc()
    doc["data"]["Layer"]["Name"] = "6d2d0ab3f2f4.c1f6d7e0-5e9a-4d7c"  # what Quay before Clair v4 put there
    assert _parse(doc, digest=OTHER).digests == (OTHER,)


# -- statuses and malformed documents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("queued", "Quay has not scanned this manifest yet (queued)"),
        ("failed", "Quay failed to scan this manifest"),
        ("unsupported", "Quay's scanner does not support this manifest"),
        ("manifest_layer_too_large", "a layer of this manifest is too large for Quay's scanner"),
        ("indexing", 'Quay has no report of this manifest (status "indexing")'),
    ],
)
def test_a_status_other_than_scanned_is_no_report(status: str, message: str) -> None:
    with pytest.raises(QuayNotScanned) as info:
        parse_quay_security(json.dumps({"status": status, "data": None}), digest=MANIFEST, filename="quay")
    assert info.value.status == status
    assert str(info.value).startswith(f"quay: {message}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(data=None), 'status is "scanned" but data is null'),
        (lambda d: d.update(data=[]), "data should be an object, not a list"),
        (lambda d: d["data"].pop("Layer"), "data.Layer should be an object, not null"),
        (lambda d: d.update(status=5), "status should be a string, not a number"),
        (lambda d: d["data"]["Layer"].update(Features={}), "data.Layer.Features should be a list, not an object"),
        (lambda d: _features(d).append("glibc"), "data.Layer.Features[7] should be an object, not a string"),
        (
            lambda d: _features(d)[1].update(Vulnerabilities={}),
            "data.Layer.Features[1].Vulnerabilities should be a list, not an object",
        ),
        (
            lambda d: _features(d)[1]["Vulnerabilities"][0].update(Name="  "),
            "Features[1].Vulnerabilities[0] has no Name",
        ),
        (lambda d: _features(d)[1].update(Version=2.34), "data.Layer.Features[1].Version should be a string"),
        (
            lambda d: _features(d)[1]["Vulnerabilities"][0]["Metadata"]["NVD"]["CVSSv3"].update(Score=78),
            "data.Layer.Features[1].Vulnerabilities[0].Metadata.NVD.CVSSv3.Score is 78; a CVSS score is between 0",
        ),
        (
            lambda d: _features(d)[1]["Vulnerabilities"][0]["Metadata"]["NVD"]["CVSSv3"].update(Score="7.8"),
            "Metadata.NVD.CVSSv3.Score should be a number, not a string",
        ),
        (
            lambda d: _features(d)[1]["Vulnerabilities"][0].update(Metadata=[]),
            "Vulnerabilities[0].Metadata should be an object, not a list",
        ),
        (lambda d: _features(d)[1]["Vulnerabilities"][0].update(Link=["x"]), "Link should be a string, not a list"),
    ],
)
def test_a_malformed_document_is_refused_with_where(change: Any, message: str) -> None:
    doc = _doc()
    change(doc)
    assert message in _error(doc)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the report is empty"),
        (b'{"status": "scanned", "data": {', "not valid JSON"),
        (b"[]", "the top level is a list; Quay's security report is a JSON object"),
        (
            b'{"manifest_hash": "x"}',
            'not Quay\'s security report: it has no status and data (its top-level keys: "manifest_hash")',
        ),
    ],
)
def test_what_is_not_a_quay_document_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ReportError) as info:
        parse_quay_security(data, digest=MANIFEST, filename="answer")
    assert str(info.value).startswith("answer: ") and message in str(info.value)
    assert not isinstance(info.value, QuayNotScanned)
