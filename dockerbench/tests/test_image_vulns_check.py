"""4.4 with image vulnerability reports: matched by digest, fixable criticals WARN, waived CVEs left out.

The reports are the real report files of fixtures/vulns (the shapes Trivy, Grype and Clair write), read with
parse_report; the images are the ones those reports name, as a host would list them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dockerbench import risk
from dockerbench.__main__ import main
from dockerbench.checks.images import CHECKS
from dockerbench.results import Finding, Status
from dockerbench.snapshot import HostSnapshot, ImageSnapshot, ImageVulnReport, Severity
from dockerbench.tests import factories as f
from dockerbench.vulns import ReportError, read_report_file

FIXTURES = Path(__file__).parent / "fixtures" / "vulns"
WEB_ID = "sha256:8659a963999aab29097bd9d19bcdd3771e64430de7529a266c79a46864f4dffd"
WEB_INDEX = "sha256:4e9d62b02bc05e96a460820405bb2607762573630283b411c8d034e80ddceb54"
API_ID = "sha256:3f5609e3ac2dd86bcfbc2478335c8a1ea2189037b3f225ae705509070333cde2"
API_INDEX = "sha256:5387c48922f6298c01fa656bbf24b77d5a9af240dd97296af8734c3c5fcc717d"
WORKER_MANIFEST = "sha256:301cb1cd5cd582d4f26a836bf0cf2a89d968084c322d10f9b4a4cb2d575c9ea1"


def report(name: str) -> ImageVulnReport:
    return read_report_file(FIXTURES / name)


def web() -> ImageSnapshot:
    # Another tag and registry than the report's: the digest is what matches.
    return f.image("mirror.local/web:prod", iid=WEB_ID, RepoDigests=[f"mirror.local/web@{WEB_INDEX}"])


def api() -> ImageSnapshot:
    # Matched by its RepoDigest only: a containerd image store's Id is not the config digest.
    return f.image("api:2.0", iid="sha256:" + "a" * 64, RepoDigests=[f"registry.example.com/shop/api@{API_INDEX}"])


def worker() -> ImageSnapshot:
    return f.image("worker:7", iid="sha256:" + "b" * 64, RepoDigests=[f"quay.io/shop/worker@{WORKER_MANIFEST}"])


def run(images: list[ImageSnapshot], reports: tuple[ImageVulnReport, ...] | None) -> list[Finding]:
    return CHECKS["4.4"](f.snapshot(images=images, image_reports=reports))


def test_it_warns_once_per_image_with_fixable_criticals_with_the_evidence() -> None:
    findings = run([web(), api()], (report("trivy-alpine.json"), report("grype-debian.json")))
    assert [(x.status, x.object.name if x.object else None) for x in findings] == [
        (Status.WARN, "mirror.local/web:prod"),
        (Status.WARN, "api:2.0"),
    ]
    ev = findings[0].evidence
    # Trivy's report has two criticals; CVE-2099-1001 has no fixed version, so only one is fixable.
    assert ev["fixable_critical"] == 1
    assert ev["critical_ids"] == ["CVE-2022-42889"]
    assert ev["fixed_versions"] == [
        {"id": "CVE-2022-42889", "package": "org.apache.commons:commons-text", "installed": "1.9", "fixed": "1.10.0"}
    ]
    assert ev["counts"] == {"CRITICAL": 2, "HIGH": 2, "MEDIUM": 3, "LOW": 1, "NEGLIGIBLE": 0, "UNKNOWN": 1}
    assert ev["scanners"] == ["trivy"]
    assert "built_days_ago" in ev
    assert findings[1].evidence["critical_ids"] == ["CVE-2099-1001"]
    assert findings[1].evidence["fixed_versions"][0]["fixed"] == "3.10.2, 4.17.21"


def test_a_clair_report_matches_by_its_manifest_digest() -> None:
    (finding,) = run([worker()], (report("clair-ubuntu.json"),))
    assert finding.status == Status.WARN
    assert finding.evidence["critical_ids"] == ["CVE-2099-1002"]
    assert finding.evidence["scanners"] == ["clair"]


def test_images_without_a_report_leave_a_note_naming_them_never_a_pass() -> None:
    findings = run([web(), f.image("other:1")], (report("trivy-alpine.json"),))
    assert [x.status for x in findings] == [Status.WARN, Status.NOTE]
    assert findings[1].evidence["without_report"] == ["other:1"]
    assert "1 of 2 images have no vulnerability report" in findings[1].message


def test_waived_criticals_do_not_count_and_the_image_passes() -> None:
    trivy = report("trivy-alpine.json")
    waived = dataclasses.replace(
        trivy, vulns=tuple(dataclasses.replace(v, waived=v.id == "CVE-2022-42889") for v in trivy.vulns)
    )
    (finding,) = run([web()], (waived,))
    assert finding.status == Status.PASS
    assert finding.evidence["images"] == 1
    # The pass says which criticals only a waiver keeps from warning: accepted, not gone.
    assert finding.evidence["waived_criticals"] == {web().name: ["CVE-2022-42889"]}


def test_only_unfixed_criticals_pass() -> None:
    trivy = report("trivy-alpine.json")
    unfixed = dataclasses.replace(trivy, vulns=tuple(dataclasses.replace(v, fixed=None) for v in trivy.vulns))
    assert [x.status for x in run([web()], (unfixed,))] == [Status.PASS]


def test_without_reports_it_stays_the_manual_note_with_the_age_evidence() -> None:
    old = f.image("old:1", Created="2025-01-02T03:04:05Z")
    (finding,) = run([old], None)
    assert finding.status == Status.NOTE
    assert finding.evidence == {"built_over_90_days_ago": ["old:1"]}
    (finding,) = run([old], (report("trivy-alpine.json"),))
    assert finding.status == Status.NOTE
    assert finding.evidence == {"built_over_90_days_ago": ["old:1"], "without_report": ["old:1"]}


def test_a_snapshot_with_reports_round_trips_through_json_with_its_enums() -> None:
    snap = f.snapshot(images=[web()], image_reports=(report("trivy-alpine.json"),))
    again = HostSnapshot.from_json(snap.to_json())
    assert again == snap
    assert isinstance(again.image_reports[0].vulns[0].severity, Severity)  # type: ignore[index]


def test_an_old_snapshot_without_reports_still_loads() -> None:
    doc = json.loads(f.snapshot().to_json())
    del doc["image_reports"]
    assert HostSnapshot.from_json(json.dumps(doc)).image_reports is None


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(f.snapshot(images=[web(), worker()]).to_json())
    return path


def test_the_cli_attaches_image_reports_and_4_4_warns(snapshot_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["--snapshot", str(snapshot_file), "-c", "4.4", "--json", str(out), "-q"]
    args += [
        "--image-report",
        str(FIXTURES / "trivy-alpine.json"),
        "--image-report",
        str(FIXTURES / "clair-ubuntu.json"),
    ]
    assert main([*args, "--fail-on", "WARN"]) == 1
    doc = json.loads(out.read_text())
    (check,) = doc["checks"]
    assert [(r["status"], r["object"]["name"]) for r in check["results"]] == [
        ("WARN", "mirror.local/web:prod"),
        ("WARN", "worker:7"),
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [("malformed-truncated.json", "malformed-truncated.json: "), ("missing.json", "cannot read it")],
)
def test_a_bad_image_report_exits_2_naming_the_file(
    snapshot_file: Path, capsys: pytest.CaptureFixture[str], name: str, problem: str
) -> None:
    assert main(["--snapshot", str(snapshot_file), "--image-report", str(FIXTURES / name), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dockerbench: --image-report ")
    assert problem in err


def test_a_report_file_over_the_limit_is_refused_without_loading_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("dockerbench.vulns.MAX_REPORT_BYTES", 100)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 1000)
    with pytest.raises(ReportError, match="the limit is 100"):
        read_report_file(big)


def test_a_fixable_critical_weighs_as_a_way_into_the_container() -> None:
    # docs/risk.md: band 6, above the manual reviews (2) that 4.4 was without reports.
    assert risk.weight("4.4") == 6 > risk.weight("4.2")
    assert risk.rank(risk.weight("4.4"), 2, 0) == 12  # two images with fixable criticals, found today
