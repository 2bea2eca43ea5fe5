"""CVE waivers in the waivers file: the format, the dashboard's matching rules, and 4.4 through the CLI.

The reports are the real report files of fixtures/vulns; the host is fixtures/hosts/default.json with the
images those reports are about added, as a host running them would list them.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest

from dockerbench.__main__ import main
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot, ImageSnapshot
from dockerbench.tests import factories as f
from dockerbench.vulns import read_report_file
from dockerbench.waivers import CveWaiver, Waiver, WaiverError, active, load, load_all, loads, loads_all, waive_cves

TESTS = Path(__file__).parent
VULNS = TESTS / "fixtures" / "vulns"
WEB_ID = "sha256:8659a963999aab29097bd9d19bcdd3771e64430de7529a266c79a46864f4dffd"
WEB_INDEX = "sha256:4e9d62b02bc05e96a460820405bb2607762573630283b411c8d034e80ddceb54"
API_INDEX = "sha256:5387c48922f6298c01fa656bbf24b77d5a9af240dd97296af8734c3c5fcc717d"
TRIVY = str(VULNS / "trivy-alpine.json")
GRYPE = str(VULNS / "grype-debian.json")

MIXED = """\
waivers:
  - check: "5.11"
    reason: memory limits come from the orchestrator
    expires: 2027-03-01
  - cve: cve-2022-42889
    image: "mirror.local/web:*"
    host: vm
    reason: "commons-text: StringSubstitutor is never given user input"
    owner: appsec@example.com
    ticket: https://jira.example/SEC-7
    expires: 2027-06-01
"""


def web() -> ImageSnapshot:
    return f.image("mirror.local/web:prod", iid=WEB_ID, RepoDigests=[f"mirror.local/web@{WEB_INDEX}"])


def api() -> ImageSnapshot:
    return f.image("api:2.0", iid="sha256:" + "a" * 64, RepoDigests=[f"registry.example.com/shop/api@{API_INDEX}"])


def cve_waiver(cve: str = "CVE-2022-42889", **changes: object) -> CveWaiver:
    fields: dict[str, object] = {
        "cve": cve,
        "host": None,
        "image": None,
        "reason": "r",
        "owner": None,
        "ticket": None,
        "expires": date(2999, 1, 1),
    }
    return CveWaiver(**{**fields, **changes})  # type: ignore[arg-type]


# -- the file -------------------------------------------------------------------------------------


def test_a_cve_entry_is_read_beside_check_entries_in_the_files_order() -> None:
    check, cve = loads_all(MIXED, "w.yaml")
    assert isinstance(check, Waiver) and check.check == "5.11"
    assert cve == CveWaiver(
        cve="CVE-2022-42889",  # upper-cased, as the dashboard stores it
        host="vm",
        image="mirror.local/web:*",
        reason="commons-text: StringSubstitutor is never given user input",
        owner="appsec@example.com",
        ticket="https://jira.example/SEC-7",
        expires=date(2027, 6, 1),
    )
    assert cve.as_json()["cve"] == "CVE-2022-42889"


def test_loads_and_load_still_give_the_check_waivers_only(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(MIXED)
    assert [w.check for w in loads(MIXED, "w.yaml")] == ["5.11"]
    assert [w.check for w in load(path)] == ["5.11"]
    assert [type(w) for w in load_all(path)] == [Waiver, CveWaiver]


def test_a_json_file_takes_cve_entries_too() -> None:
    (w,) = loads_all('{"waivers": [{"cve": "GHSA-g4mx-q9vg-27p4", "reason": "r", "expires": "2027-01-01"}]}', "w.json")
    assert isinstance(w, CveWaiver) and (w.cve, w.image, w.host) == ("GHSA-G4MX-Q9VG-27P4", None, None)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{cve: CVE-2022-42889, expires: 2027-03-01}", "waivers[1]: reason is required"),
        ("{cve: CVE-2022-42889, reason: r}", "waivers[1]: expires is required"),
        ("{cve: CVE-2022-42889, reason: r, expires: 2027-02-30}", "expires '2027-02-30' is not a valid date"),
        ("{cve: , reason: r, expires: 2027-03-01}", "waivers[1]: cve is required"),
        ("{cve: 2022, reason: r, expires: 2027-03-01}", "waivers[1]: cve must be a string, not 2022"),
        ('{cve: "CVE 2022 42889", reason: r, expires: 2027-03-01}', "cve must be a vulnerability id such as"),
        ("{cve: '<b>', reason: r, expires: 2027-03-01}", "cve must be a vulnerability id such as"),
        ('{cve: CVE-2022-42889, check: "4.4", reason: r, expires: 2027-03-01}', "not both"),
        ("{cve: CVE-2022-42889, object: 'web*', reason: r, expires: 2027-03-01}", "names its images with image"),
        ("{cve: CVE-2022-42889, tag: prod, reason: r, expires: 2027-03-01}", "tag scopes waivers in the dashboard"),
        ("{cve: CVE-2022-42889, images: x, reason: r, expires: 2027-03-01}", "unknown key(s) images; a CVE waiver"),
        ("{cve: CVE-2022-42889, image: 7, reason: r, expires: 2027-03-01}", "image must be a string, not 7"),
        ("{cve: CVE-2022-42889, reason: r, expires: 2027-03-01, ticket: SEC-7}", "ticket must be an http(s) URL"),
        ('{check: "4.4", image: "web*", reason: r, expires: 2027-03-01}', "image scopes a CVE waiver (cve:)"),
        ("{reason: r, expires: 2027-03-01}", "check is required (or cve, to waive a vulnerability)"),
    ],
)
def test_a_bad_cve_entry_is_named_by_file_and_index(entry: str, problem: str) -> None:
    with pytest.raises(WaiverError) as caught:
        loads_all(f"waivers:\n  - {{cve: CVE-2023-5363, reason: ok, expires: 2027-03-01}}\n  - {entry}\n", "w.yaml")
    message = str(caught.value)
    assert message.startswith("w.yaml: waivers[1]: ")
    assert problem in message


# -- matching (the dashboard's vulns.models.CveWaiver.covers) -------------------------------------


def test_an_alias_an_image_pattern_on_tags_or_id_and_the_host_name_decide() -> None:
    names = ["mirror.local/web:prod", WEB_ID]
    ids = {"GHSA-G4MX-Q9VG-27P4", "CVE-2023-45803"}
    assert cve_waiver("CVE-2023-45803").covers(ids=ids, host_name="vm", image_names=names)
    assert not cve_waiver("CVE-2023-4580").covers(ids=ids, host_name="vm", image_names=names)
    assert cve_waiver("CVE-2023-45803", image="mirror.local/*").covers(ids=ids, host_name="vm", image_names=names)
    assert cve_waiver("CVE-2023-45803", image="sha256:8659*").covers(ids=ids, host_name="vm", image_names=names)
    assert not cve_waiver("CVE-2023-45803", image="MIRROR.local/*").covers(ids=ids, host_name="", image_names=names)
    assert cve_waiver("CVE-2023-45803", host="VM").covers(ids=ids, host_name="vm", image_names=names)
    assert not cve_waiver("CVE-2023-45803", host="web-1").covers(ids=ids, host_name="vm", image_names=names)


def test_waive_cves_marks_ids_and_aliases_of_the_reports_vulnerabilities() -> None:
    snap = f.snapshot(images=[web(), api()], image_reports=(read_report_file(TRIVY), read_report_file(GRYPE)))
    # The lower-case id in the file was upper-cased on reading; the scanners' ids are compared upper-case.
    waivers = [cve_waiver("CVE-2023-5363"), cve_waiver("CVE-2023-45803")]
    trivy, grype = waive_cves(snap, waivers, "vm").image_reports or ()
    assert sorted((v.id, v.package) for v in trivy.vulns if v.waived) == [
        ("CVE-2023-5363", "libcrypto3"),
        ("CVE-2023-5363", "libssl3"),
    ]
    assert [v.id for v in grype.vulns if v.waived] == ["GHSA-g4mx-q9vg-27p4"]  # by its alias
    assert waive_cves(snap, [], "vm") is snap


def test_a_report_about_two_images_waives_only_what_is_waived_in_both() -> None:
    # The same image under two ids (a containerd store): both share the report's manifest digest, and 4.4
    # judges each with the same report, so a pattern naming one of them waives nothing.
    twin = f.image("staging/web:next", iid="sha256:" + "c" * 64, RepoDigests=[f"staging/web@{WEB_INDEX}"])
    snap = f.snapshot(images=[web(), twin], image_reports=(read_report_file(TRIVY),))
    one = waive_cves(snap, [cve_waiver(image="staging/*")], "vm")
    warned = sorted(r.object.name for r in evaluate(one, ["4.4"]) if r.object)
    assert warned == ["mirror.local/web:prod", "staging/web:next"]
    both = waive_cves(snap, [cve_waiver(image="staging/*"), cve_waiver(image="mirror.local/*")], "vm")
    assert [r.status.value for r in evaluate(both, ["4.4"])] == ["PASS"]


def test_active_splits_cve_waivers_on_their_expiry_day() -> None:
    ends = cve_waiver(expires=date(2027, 3, 1))
    assert active([ends], date(2027, 2, 28)) == ([ends], [])
    assert active([ends], date(2027, 3, 1)) == ([], [ends])


# -- the CLI: 4.4 on a host fixture with a real report ---------------------------------------------


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    """fixtures/hosts/default.json (host "vm") running the images of trivy-alpine.json and grype-debian.json."""
    snap = HostSnapshot.from_json((TESTS / "fixtures" / "hosts" / "default.json").read_bytes())
    snap = dataclasses.replace(snap, images=(*(snap.images or ()), web(), api()))
    path = tmp_path / "host.json"
    path.write_text(snap.to_json())
    return path


def _run(host_file: Path, tmp_path: Path, waivers: str | None, *extra: str) -> tuple[int, dict[str, dict]]:
    out = tmp_path / "r.json"
    args = ["--snapshot", str(host_file), "-c", "4.4", "--json", str(out), "-q", "--fail-on", "WARN"]
    args += ["--image-report", TRIVY, "--image-report", GRYPE, *extra]
    if waivers is not None:
        path = tmp_path / "waivers.yaml"
        path.write_text(waivers)
        args += ["--waivers", str(path)]
    code = main(args)
    (check,) = json.loads(out.read_text())["checks"]
    return code, {r["object"]["name"]: r for r in check["results"] if r["status"] == "WARN"}


def _cve_file(cve: str, expires: str = "2999-01-01", **scope: str) -> str:
    lines = [f"  - cve: {cve}", *(f'    {k}: "{v}"' for k, v in scope.items())]
    return "waivers:\n" + "\n".join([*lines, "    reason: accepted", f"    expires: {expires}"]) + "\n"


def test_without_cve_waivers_both_images_warn(host_file: Path, tmp_path: Path) -> None:
    code, warns = _run(host_file, tmp_path, None)
    assert (code, sorted(warns)) == (1, ["api:2.0", "mirror.local/web:prod"])
    assert warns["mirror.local/web:prod"]["evidence"]["waived"] == 0


def test_a_cve_waiver_takes_the_image_out_of_4_4(host_file: Path, tmp_path: Path) -> None:
    code, warns = _run(host_file, tmp_path, _cve_file("CVE-2022-42889", image="mirror.local/web:*", host="vm"))
    assert (code, sorted(warns)) == (1, ["api:2.0"])  # its only fixable critical is waived


def test_a_waived_cve_is_counted_as_waived_in_the_evidence(host_file: Path, tmp_path: Path) -> None:
    # Waiving the HIGH CVE-2023-4911 (two packages) of the api image: still a WARN for its critical.
    code, warns = _run(host_file, tmp_path, _cve_file("CVE-2023-4911"))
    evidence = warns["api:2.0"]["evidence"]
    assert (code, evidence["waived"], evidence["counts"]["HIGH"]) == (1, 2, 0)
    assert evidence["critical_ids"] == ["CVE-2099-1001"]


def test_all_fixable_criticals_waived_and_fail_on_warn_passes(host_file: Path, tmp_path: Path) -> None:
    both = _cve_file("CVE-2022-42889") + _cve_file("CVE-2099-1001").removeprefix("waivers:\n")
    assert _run(host_file, tmp_path, both) == (0, {})


@pytest.mark.parametrize(
    "scope",
    [{"image": "registry.example.com/*"}, {"host": "web-1"}],
    ids=["the report's tag is not the host's", "another host"],
)
def test_a_cve_waiver_out_of_scope_changes_nothing(host_file: Path, tmp_path: Path, scope: dict[str, str]) -> None:
    code, warns = _run(host_file, tmp_path, _cve_file("CVE-2022-42889", **scope))
    assert (code, sorted(warns)) == (1, ["api:2.0", "mirror.local/web:prod"])


def test_host_name_scopes_cve_waivers_as_it_does_check_waivers(host_file: Path, tmp_path: Path) -> None:
    code, warns = _run(host_file, tmp_path, _cve_file("CVE-2022-42889", host="web-1"), "--host-name", "web-1")
    assert sorted(warns) == ["api:2.0"]


def test_an_expired_cve_waiver_is_noted_and_no_longer_applies(
    host_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = 'waivers:\n  - {check: "5.11", reason: r, expires: 2999-01-01}\n'
    text += _cve_file("CVE-2022-42889", "2020-01-01", image="mirror.local/*").removeprefix("waivers:\n")
    code, warns = _run(host_file, tmp_path, text)
    assert (code, sorted(warns)) == (1, ["api:2.0", "mirror.local/web:prod"])
    assert capsys.readouterr().err == (
        f"dockerbench: note: {tmp_path / 'waivers.yaml'}: waivers[1] (cve CVE-2022-42889, image mirror.local/*) "
        "expired on 2020-01-01 and no longer applies\n"
    )


def test_a_bad_cve_entry_exits_2_before_anything_is_judged(
    host_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text('waivers:\n  - {cve: "CVE-2022-42889", object: "web*", expires: 2999-01-01}\n')
    args = ["--snapshot", str(host_file), "--image-report", TRIVY, "--waivers", str(path)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"dockerbench: {path}: waivers[0]: object scopes a check waiver; a CVE waiver names its images with image",
        f"{path}: waivers[0]: reason is required",
    ]
    assert captured.out == ""


def test_the_cli_in_a_subprocess_takes_a_cve_waiver(host_file: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "waivers.json"
    path.write_text(json.dumps({"waivers": [{"cve": "CVE-2099-1001", "reason": "r", "expires": "2999-01-01"}]}))
    base = [sys.executable, "-m", "dockerbench", "--snapshot", str(host_file), "-c", "4.4", "--format", "json"]
    base += ["--image-report", GRYPE, "--fail-on", "WARN"]
    without = subprocess.run(base, capture_output=True, text=True, check=False, timeout=60)
    with_waiver = subprocess.run([*base, "--waivers", str(path)], capture_output=True, text=True, check=False)
    assert (without.returncode, with_waiver.returncode) == (1, 0), with_waiver.stderr
    (check,) = json.loads(with_waiver.stdout)["checks"]
    assert "WARN" not in {r["status"] for r in check["results"]}


def test_the_documented_cve_example_is_a_valid_file() -> None:
    docs = (TESTS.parents[1] / "docs" / "waivers.md").read_text()
    example = docs.split("## CVE waivers", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    check, cve = loads_all(example, "waivers.yaml")
    assert isinstance(check, Waiver) and isinstance(cve, CveWaiver)
    assert (cve.cve, cve.image, cve.host) == ("CVE-2022-42889", "mirror.local/web:*", "web-1")
