"""Reading Trivy, Grype and Clair v4 vulnerability reports (dockerbench.vulns), from report files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dockerbench.snapshot import ImageSnapshot
from dockerbench.vulns import (
    MAX_NAME_CHARS,
    MAX_REPORT_BYTES,
    ReportError,
    Severity,
    Vuln,
    image_keys,
    keys_of_image,
    matches,
    parse_report,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vulns"
ROOT = Path(__file__).resolve().parents[2]

WEB_ID = "sha256:8659a963999aab29097bd9d19bcdd3771e64430de7529a266c79a46864f4dffd"
WEB_INDEX = "sha256:4e9d62b02bc05e96a460820405bb2607762573630283b411c8d034e80ddceb54"
API_ID = "sha256:3f5609e3ac2dd86bcfbc2478335c8a1ea2189037b3f225ae705509070333cde2"
API_INDEX = "sha256:5387c48922f6298c01fa656bbf24b77d5a9af240dd97296af8734c3c5fcc717d"
API_MANIFEST = "sha256:331e585dba0d4b6229de0b141eb99c3105cd7b6d308c9b9754b81c6e96a099bf"
WORKER_MANIFEST = "sha256:301cb1cd5cd582d4f26a836bf0cf2a89d968084c322d10f9b4a4cb2d575c9ea1"


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _doc(name: str) -> Any:
    return json.loads(_raw(name))


def _vuln(vulns: tuple[Vuln, ...], vid: str, package: str) -> Vuln:
    (found,) = [v for v in vulns if v.id == vid and v.package == package]
    return found


def _counts(name: str) -> dict[str, int]:
    return {str(s): n for s, n in parse_report(_raw(name)).counts().items()}


def _error(data: Any, filename: str = "") -> str:
    text = data if isinstance(data, bytes | str) else json.dumps(data)
    with pytest.raises(ReportError) as info:
        parse_report(text, filename=filename)
    return str(info.value)


def _image(image_id: str, repo_digests: list[str]) -> ImageSnapshot:
    return ImageSnapshot(id=image_id, tags=(), inspect={"Id": image_id, "RepoDigests": repo_digests})


# -- each format ---------------------------------------------------------------------------------------


def test_it_reads_a_trivy_report() -> None:
    report = parse_report(_raw("trivy-alpine.json"), filename="trivy-alpine.json")
    assert (report.scanner, report.scanner_version) == ("trivy", "0.57.1")
    assert report.image_id == WEB_ID
    assert report.digests == (WEB_INDEX,)
    assert report.tags == ("registry.example.com/shop/web:1.4",)
    assert report.artifact == "registry.example.com/shop/web:1.4"
    assert report.scanned_at == "2026-11-30T06:12:44.418337285Z"
    assert _counts("trivy-alpine.json") == {
        "CRITICAL": 2, "HIGH": 2, "MEDIUM": 3, "LOW": 1, "NEGLIGIBLE": 0, "UNKNOWN": 1,
    }  # fmt: skip

    openssl = _vuln(report.vulns, "CVE-2023-5363", "libcrypto3")
    assert (openssl.installed, openssl.fixed, openssl.cvss_score) == ("3.1.3-r0", "3.1.4-r0", 7.5)
    assert openssl.title == "openssl: Incorrect cipher key and IV length processing"
    assert openssl.url == "https://avd.aquasec.com/nvd/cve-2023-5363"
    assert _vuln(report.vulns, "CVE-2023-42363", "busybox").fixed is None


def test_it_takes_trivys_score_from_the_severity_source() -> None:
    vulns = parse_report(_raw("trivy-alpine.json")).vulns
    assert _vuln(vulns, "CVE-2023-6237", "libcrypto3").cvss_score == 5.9  # only redhat's
    assert _vuln(vulns, "CVE-2023-32681", "requests").cvss_score == 6.1  # ghsa's


def test_trivys_vendor_ids_are_aliases() -> None:
    doc = _doc("trivy-alpine.json")
    doc["Results"][0]["Vulnerabilities"][4]["VendorIDs"] = ["ALPINE-13661", "ALPINE-13661"]
    assert _vuln(parse_report(json.dumps(doc)).vulns, "CVE-2023-42363", "busybox").aliases == ("ALPINE-13661",)


def test_it_makes_a_title_from_the_first_line_of_a_description() -> None:
    busybox = _vuln(parse_report(_raw("trivy-alpine.json")).vulns, "CVE-2023-42366", "busybox")
    assert (
        busybox.title
        == "A heap-buffer-overflow was discovered in BusyBox v.1.36.1 in the next_token function at awk.c:1159."
    )
    assert busybox.severity == Severity.UNKNOWN


def test_it_reads_a_grype_report() -> None:
    report = parse_report(_raw("grype-debian.json"))
    assert (report.scanner, report.scanner_version) == ("grype", "0.84.0")
    assert report.image_id == API_ID
    assert report.digests == (API_INDEX, API_MANIFEST)
    assert report.tags == ("registry.example.com/shop/api:2.0",)
    assert report.scanned_at == "2026-11-30T06:15:02.671843512Z"
    assert _counts("grype-debian.json") == {
        "CRITICAL": 1, "HIGH": 2, "MEDIUM": 1, "LOW": 1, "NEGLIGIBLE": 2, "UNKNOWN": 1,
    }  # fmt: skip

    glibc = _vuln(report.vulns, "CVE-2023-4911", "libc6")
    assert (glibc.fixed, glibc.url) == ("2.36-9+deb12u3", "https://security-tracker.debian.org/tracker/CVE-2023-4911")
    # The Debian record has no CVSS and no description; the related NVD record does.
    assert glibc.cvss_score == 7.8
    assert glibc.title.startswith("A buffer overflow was discovered in the GNU C Library")
    assert glibc.aliases == ()

    urllib3 = _vuln(report.vulns, "GHSA-g4mx-q9vg-27p4", "urllib3")
    assert urllib3.aliases == ("CVE-2023-45803",)
    assert urllib3.cvss_score == 4.4  # its own, not the related record's


def test_it_reads_grypes_fix_states() -> None:
    vulns = parse_report(_raw("grype-debian.json")).vulns
    assert _vuln(vulns, "CVE-2023-45853", "zlib1g").fixed is None  # wont-fix
    assert _vuln(vulns, "CVE-2011-3374", "apt").fixed is None  # not-fixed
    assert _vuln(vulns, "CVE-2024-28182", "libnghttp2-14").fixed is None  # unknown, no versions
    hostile = [v for v in vulns if v.id == "CVE-2099-1001"][0]
    assert hostile.fixed == "3.10.2, 4.17.21"
    assert hostile.cvss_score == 9.9  # the v3 entry, though a v2 one comes first


def test_it_reads_a_clair_report() -> None:
    report = parse_report(_raw("clair-ubuntu.json"))
    assert (report.scanner, report.scanner_version, report.scanned_at) == ("clair", "", "")
    assert report.image_id == ""
    assert report.digests == (WORKER_MANIFEST,)
    assert _counts("clair-ubuntu.json") == {
        "CRITICAL": 1, "HIGH": 3, "MEDIUM": 0, "LOW": 2, "NEGLIGIBLE": 1, "UNKNOWN": 1,
    }  # fmt: skip

    # The package name and version come from the report's packages, not the vulnerability's own.
    pcre = _vuln(report.vulns, "CVE-2017-11164", "libpcre3")
    assert (pcre.installed, pcre.fixed) == ("2:8.39-13ubuntu0.22.04.1", None)
    tar = _vuln(report.vulns, "CVE-2022-48303", "tar")
    assert tar.fixed == "1.34+dfsg-1ubuntu0.1.22.04.2"
    assert tar.url == "https://ubuntu.com/security/CVE-2022-48303"
    assert tar.cvss_score is None  # a Clair report carries no scores
    gnupg = _vuln(report.vulns, "CVE-2022-3219", "gpgv")
    assert (gnupg.severity, gnupg.url) == (Severity.UNKNOWN, "")


# -- duplicates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "vid", "packages"),
    [
        ("trivy-alpine.json", "CVE-2023-5363", ["libcrypto3", "libssl3"]),
        ("grype-debian.json", "CVE-2023-4911", ["libc-bin", "libc6"]),
        ("clair-ubuntu.json", "CVE-2023-4911", ["libc-bin", "libc6"]),
    ],
)
def test_a_vulnerability_of_two_packages_is_listed_for_each(name: str, vid: str, packages: list[str]) -> None:
    assert sorted(v.package for v in parse_report(_raw(name)).vulns if v.id == vid) == packages


@pytest.mark.parametrize(
    ("name", "vid"),
    [
        ("trivy-alpine.json", "CVE-2022-42889"),  # the same jar at two paths
        ("grype-debian.json", "GHSA-g4mx-q9vg-27p4"),  # urllib3 in two site-packages
        ("clair-ubuntu.json", "CVE-2023-5363"),  # two updaters' records for one package
    ],
)
def test_the_same_vulnerability_of_the_same_package_is_listed_once(name: str, vid: str) -> None:
    vulns = parse_report(_raw(name)).vulns
    assert len([v for v in vulns if v.id == vid]) == 1
    assert len({v.key for v in vulns}) == len(vulns)


def test_a_merged_duplicate_keeps_the_worst_severity_and_a_known_fix() -> None:
    # Clair's two records: Ubuntu's (Medium, fixed in 3.0.2-0ubuntu1.12) and OSV's (High, no fix).
    openssl = _vuln(parse_report(_raw("clair-ubuntu.json")).vulns, "CVE-2023-5363", "libssl3")
    assert (openssl.severity, openssl.fixed) == (Severity.HIGH, "3.0.2-0ubuntu1.12")


def test_vulnerabilities_come_worst_first() -> None:
    for name in ("trivy-alpine.json", "grype-debian.json", "clair-ubuntu.json"):
        ranks = [list(Severity).index(v.severity) for v in parse_report(_raw(name)).vulns]
        assert ranks == sorted(ranks), name


# -- hostile strings -----------------------------------------------------------------------------------


def test_hostile_titles_are_kept_as_data() -> None:
    trivy = [v for v in parse_report(_raw("trivy-alpine.json")).vulns if v.id == "CVE-2099-1001"][0]
    assert trivy.title == '<script>alert("title")</script> it\'s "quoted" — ünïcödé 漏洞 🐳'
    grype = [v for v in parse_report(_raw("grype-debian.json")).vulns if v.id == "CVE-2099-1001"][0]
    assert grype.package == "<script>alert('pkg')</script>"
    assert grype.title == "<img src=x onerror=alert('desc')> \"quoted\" & <b>bold</b> — éèê 脆弱性"
    clair = [v for v in parse_report(_raw("clair-ubuntu.json")).vulns if v.id == "CVE-2099-1002"][0]
    assert clair.title == '<script>alert("clair")</script> Robert\'); DROP TABLE vulns;-- «\xa0guillemets\xa0» Защита'


def test_only_http_links_are_kept() -> None:
    # javascript: and data: URLs are skipped for the first http(s) one the report gives.
    trivy = [v for v in parse_report(_raw("trivy-alpine.json")).vulns if v.id == "CVE-2099-1001"][0]
    assert trivy.url == 'https://example.com/advisories/CVE-2099-1001?a=1&b="2"'
    grype = [v for v in parse_report(_raw("grype-debian.json")).vulns if v.id == "CVE-2099-1001"][0]
    assert grype.url == "https://example.com/advisories/CVE-2099-1001"
    clair = [v for v in parse_report(_raw("clair-ubuntu.json")).vulns if v.id == "CVE-2099-1002"][0]
    assert clair.url == "https://ubuntu.com/security/CVE-2099-1002"
    doc = _doc("trivy-alpine.json")
    doc["Results"][1]["Vulnerabilities"][1]["References"] = ["javascript:alert(2)"]
    assert [v.url for v in parse_report(json.dumps(doc)).vulns if v.id == "CVE-2099-1001"] == [""]


def test_nul_and_lone_surrogates_are_made_storable() -> None:
    doc = _doc("trivy-alpine.json")
    doc["Results"][0]["Vulnerabilities"][0]["Title"] = "a\x00b \ud800 c"
    title = _vuln(parse_report(json.dumps(doc)).vulns, "CVE-2023-5363", "libcrypto3").title
    assert title == "a\ufffdb ? c"
    title.encode("utf-8")


# -- detection and errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scanner"),
    [("trivy-alpine.json", "trivy"), ("grype-debian.json", "grype"), ("clair-ubuntu.json", "clair")],
)
def test_it_tells_the_format_from_the_shape_not_the_name(name: str, scanner: str) -> None:
    assert parse_report(_raw(name), filename="report.json").scanner == scanner
    assert parse_report(_raw(name).decode()).scanner == scanner  # text as well as bytes
    assert parse_report(b"\xef\xbb\xbf" + _raw(name)).scanner == scanner  # a BOM is no obstacle


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("malformed-truncated.json", "malformed-truncated.json: not valid JSON: Unterminated string"),
        ("malformed-top-level-list.json", "the top level is a list; a vulnerability report is a JSON object"),
        ("malformed-list-for-object.json", "Metadata should be an object, not a list"),
        ("malformed-no-identity.json", "the report names no image: it has neither source.target.imageID nor"),
        ("malformed-trivy-schema1.json", "Trivy report SchemaVersion 1: only SchemaVersion 2 is understood"),
        (
            "malformed-unknown-format.json",
            'not a Trivy, Grype, Clair v4 or Quay vulnerability report (its top-level keys: "bomFormat"',
        ),
    ],
)
def test_a_malformed_report_file_is_refused_with_its_reason(name: str, message: str) -> None:
    assert message in _error(_raw(name), filename=name)


def test_the_error_names_the_file() -> None:
    assert _error(_raw("malformed-top-level-list.json"), filename="up.json").startswith("up.json: the top level")


def test_a_report_naming_no_image_is_refused() -> None:
    trivy = _doc("trivy-alpine.json")
    del trivy["Metadata"]["ImageID"], trivy["Metadata"]["RepoDigests"]
    assert "neither Metadata.ImageID nor Metadata.RepoDigests, so it cannot be matched" in _error(trivy)
    clair = _doc("clair-ubuntu.json")
    clair["manifest_hash"] = ""
    assert "neither a manifest_hash" in _error(clair)


def test_reports_of_something_other_than_an_image_are_refused() -> None:
    trivy = _doc("trivy-alpine.json")
    trivy["ArtifactType"] = "filesystem"
    assert 'a Trivy report of a "filesystem", not of a container image' in _error(trivy)
    grype = _doc("grype-debian.json")
    grype["source"]["type"] = "directory"
    assert 'a Grype report of a "directory", not of an image' in _error(grype)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the report is empty"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ('"just a string"', "the top level is a string"),
        ("42", "the top level is a number"),
        ("null", "the top level is null"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (
            '{"SchemaVersion": 2, "Metadata": {"ImageID": "sha256:' + "a" * 64 + '"}, "x": NaN}',
            "NaN is not a JSON number",
        ),
        ('[{"Target": "alpine", "Vulnerabilities": []}]', "an old Trivy report"),
        ('{"SchemaVersion": "2"}', 'Trivy report SchemaVersion "2"'),
        ('{"SchemaVersion": true}', "Trivy report SchemaVersion true"),
    ],
)
def test_bad_input_of_every_kind_is_a_report_error(data: str | bytes, message: str) -> None:
    assert message in _error(data)


def test_wrong_types_say_where() -> None:
    trivy = _doc("trivy-alpine.json")
    trivy["Results"][0]["Vulnerabilities"][2]["PkgName"] = ["libcrypto3"]
    assert _error(trivy) == "Results[0].Vulnerabilities[2].PkgName should be a string, not a list"
    trivy = _doc("trivy-alpine.json")
    trivy["Results"][0]["Vulnerabilities"] = {"0": {}}
    assert _error(trivy) == "Results[0].Vulnerabilities should be a list, not an object"
    trivy = _doc("trivy-alpine.json")
    trivy["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"]["V3Score"] = "7.5"
    assert _error(trivy) == "Results[0].Vulnerabilities[0].CVSS.nvd.V3Score should be a number, not a string"
    grype = _doc("grype-debian.json")
    grype["matches"][0]["vulnerability"]["cvss"] = [{"version": "3.1", "metrics": {"baseScore": 99}}]
    grype["matches"][0]["relatedVulnerabilities"] = []
    assert _error(grype) == "matches[0].vulnerability.cvss[0].metrics.baseScore is 99; a CVSS score is between 0 and 10"
    grype = _doc("grype-debian.json")
    del grype["matches"][3]["vulnerability"]["id"]
    assert _error(grype) == "matches[3].vulnerability has no id"


def test_a_digest_that_is_not_one_is_refused() -> None:
    trivy = _doc("trivy-alpine.json")
    trivy["Metadata"]["RepoDigests"] = ["registry.example.com/shop/web@sha256:<script>"]
    assert "Metadata.RepoDigests[0] is not an image digest" in _error(trivy)


def test_clair_references_must_resolve() -> None:
    clair = _doc("clair-ubuntu.json")
    clair["package_vulnerabilities"]["99"] = ["4101"]
    assert _error(clair) == 'package_vulnerabilities["99"] names a package that packages does not list'
    clair = _doc("clair-ubuntu.json")
    clair["package_vulnerabilities"]["11"] = ["4101", "77"]
    assert _error(clair) == 'package_vulnerabilities["11"][1] names "77", which vulnerabilities does not list'


def test_a_clair_vulnerability_without_a_name_is_refused() -> None:
    clair = _doc("clair-ubuntu.json")
    clair["vulnerabilities"]["4301"]["name"] = "   "
    assert _error(clair) == 'vulnerabilities["4301"] has no name'


def test_an_enormous_string_is_refused() -> None:
    trivy = _doc("trivy-alpine.json")
    trivy["Results"][0]["Vulnerabilities"][0]["PkgName"] = "x" * 5_000_000
    assert _error(trivy) == (
        f"Results[0].Vulnerabilities[0].PkgName is 5,000,000 characters; the limit is {MAX_NAME_CHARS:,}"
    )


def test_an_enormous_report_is_refused_before_it_is_parsed() -> None:
    data = b" " * (MAX_REPORT_BYTES + 1)
    assert _error(data) == f"the report is {MAX_REPORT_BYTES + 1:,} bytes; the limit is {MAX_REPORT_BYTES:,}"


def test_a_report_without_vulnerabilities_is_an_empty_report() -> None:
    trivy = _doc("trivy-alpine.json")
    del trivy["Results"]
    report = parse_report(json.dumps(trivy))
    assert report.vulns == ()
    assert set(report.counts().values()) == {0}


# -- matching ------------------------------------------------------------------------------------------


def test_image_keys_are_the_id_and_the_digests() -> None:
    assert image_keys(parse_report(_raw("trivy-alpine.json"))) == {WEB_ID, WEB_INDEX}
    assert image_keys(parse_report(_raw("grype-debian.json"))) == {API_ID, API_INDEX, API_MANIFEST}
    assert image_keys(parse_report(_raw("clair-ubuntu.json"))) == {WORKER_MANIFEST}


def test_it_matches_an_image_by_repo_digest_on_any_host() -> None:
    report = parse_report(_raw("trivy-alpine.json"))
    # Another host pulled the same image by a different name: other id form, same manifest.
    elsewhere = _image("sha256:" + "e" * 64, [f"mirror.example.net/web@{WEB_INDEX}", f"web@{WEB_INDEX}"])
    assert matches(report, elsewhere)
    clair = parse_report(_raw("clair-ubuntu.json"))
    assert matches(clair, _image("sha256:" + "c" * 64, [f"registry.example.com/shop/worker@{WORKER_MANIFEST}"]))


def test_it_matches_a_local_build_by_image_id() -> None:
    trivy = _doc("trivy-alpine.json")
    del trivy["Metadata"]["RepoDigests"]  # built on the host, never pushed
    report = parse_report(json.dumps(trivy))
    assert report.digests == ()
    assert matches(report, _image(WEB_ID, []))
    assert matches(report, _image(WEB_ID.removeprefix("sha256:"), []))  # a bare id


def test_it_does_not_match_another_image() -> None:
    report = parse_report(_raw("grype-debian.json"))
    assert not matches(report, _image(WEB_ID, [f"registry.example.com/shop/web@{WEB_INDEX}"]))
    assert not matches(report, _image("", []))
    # A tag is not an identity: the same name can point at another image tomorrow.
    assert not matches(report, ImageSnapshot(id="", tags=("registry.example.com/shop/api:2.0",), inspect={}))


def test_an_image_with_odd_inspect_data_has_only_its_good_keys() -> None:
    image = ImageSnapshot(id=API_ID, tags=(), inspect={"RepoDigests": ["<none>@<none>", 7, f"x@{API_INDEX.upper()}"]})
    assert keys_of_image(image) == {API_ID, API_INDEX}


# -- the boundary --------------------------------------------------------------------------------------


def test_the_module_imports_without_django() -> None:
    probe = "import sys, dockerbench.vulns; print(sorted({m.split('.')[0] for m in sys.modules} & {'django','celery'}))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
