"""Reports for machines (SARIF, JUnit XML, CSV) and the CLI's --format and --output.

Engine tests run on the captured host snapshots (fixtures/hosts) through the runner, with no database and no
dockerd; the last test runs the CLI in a subprocess against the real test dockerd.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - parsing the XML we wrote ourselves
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dockerbench import __version__, risk
from dockerbench.__main__ import main
from dockerbench.catalog import ALL_BY_ID
from dockerbench.checks import REGISTRY
from dockerbench.formats import CSV_COLUMNS, FORMATS, render, render_csv, render_junit, render_sarif
from dockerbench.report import render_json, render_text
from dockerbench.results import ObjectRef, Result, Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot
from dockerbench.tests import factories as f
from dockerbench.waivers import Waiver, apply

REPO = Path(__file__).resolve().parents[2]
HOSTS = Path(__file__).parent / "fixtures" / "hosts"
SARIF_SCHEMA = json.loads((REPO / "tests" / "vendor" / "sarif" / "sarif-schema-2.1.0.json").read_text())
SARIF_VALIDATOR = jsonschema.Draft7Validator(SARIF_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
HOSTILE = "x]]></failure><![CDATA[ & \"q\" 'a' \x00\x07\x1b[31m end"


def _validate_sarif(doc: dict[str, Any]) -> None:
    errors = sorted(SARIF_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def load(profile: str) -> HostSnapshot:
    return HostSnapshot.from_json((HOSTS / f"{profile}.json").read_bytes())


@pytest.fixture(scope="module", params=["default", "misconfigured", "hardened"])
def host(request: pytest.FixtureRequest) -> tuple[HostSnapshot, list[Result]]:
    snap = load(request.param)
    return snap, evaluate(snap)


def _waiver(check: str, obj: str | None = None, reason: str = "accepted for the lab") -> Waiver:
    return Waiver(check, None, obj, reason, "ops@example.com", "https://tickets.example/OPS-1", date(2999, 1, 1))


def _hostile_snapshot() -> HostSnapshot:
    return f.snapshot(
        containers=[
            f.container("priv", HostConfig={"Privileged": True}),
            f.container(HOSTILE, HostConfig={"Privileged": True}),
            f.container("=cmd|' /C calc'!A0", HostConfig={"Privileged": True}),
        ]
    )


# -- SARIF --------------------------------------------------------------------------


def test_sarif_logs_of_every_host_match_the_published_schema(host):
    snap, results = host
    doc = render_sarif(snap, results)
    _validate_sarif(doc)
    assert doc["version"] == "2.1.0" and doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("dockerbench", __version__)
    assert driver["informationUri"].startswith("https://")


def test_sarif_has_a_rule_per_check_of_the_catalog_with_its_remediation_and_weight():
    snap = load("misconfigured")
    rules = render_sarif(snap, evaluate(snap))["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(ALL_BY_ID)
    by_id = {r["id"]: r for r in rules}
    rule, rec = by_id["5.5"], ALL_BY_ID["5.5"]
    assert rule["shortDescription"]["text"] == rec.title
    assert rule["name"] == "EnsureThatPrivilegedContainersAreNotUsed"
    assert rec.remediation in rule["help"]["text"] and rec.remediation in rule["help"]["markdown"]
    assert all(fix.text in rule["help"]["text"] and fix.text in rule["help"]["markdown"] for fix in rec.fixes)
    assert rule["helpUri"] == rec.docs[0]
    assert rule["properties"]["security-severity"] == "10.0" and rule["properties"]["risk_weight"] == 10
    assert rule["properties"]["automated"] is True and rule["properties"]["section"] == "5"
    assert by_id["1.1.1"]["properties"]["level"] == 1
    assert "recommendation 1.1.1 (Level 1, Automated)" in by_id["1.1.1"]["fullDescription"]["text"]
    assert by_id["4.9"]["defaultConfiguration"]["level"] == "note", "a manual recommendation"
    assert by_id["S.1"]["properties"]["benchmark"] == "dockerbench"
    assert by_id["S.1"]["properties"]["security-severity"] == f"{risk.weight('S.1'):.1f}"


def test_sarif_has_one_result_per_warn_result_each_pointing_at_its_rule(host):
    snap, results = host
    run = render_sarif(snap, results)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    warns = [r for r in results if r.status is Status.WARN]
    assert len(run["results"]) == len(warns)
    for found in run["results"]:
        assert rules[found["ruleIndex"]]["id"] == found["ruleId"]
        assert found["level"] == "error" and "suppressions" not in found
    expected = sorted(
        (r.check_id, r.object.kind, f"{r.object.kind} {r.object.name or r.object.id}: ") for r in warns if r.object
    )
    with_location = [x for x in run["results"] if "locations" in x]
    got = []
    for found in with_location:
        (logical,) = found["locations"][0]["logicalLocations"]
        prefix = found["message"]["text"][: len(logical["kind"]) + len(logical["name"]) + 3]
        got.append((found["ruleId"], logical["kind"], prefix))
    assert sorted(got) == expected
    order = [(x["ruleIndex"], x["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for x in with_location]
    assert order == sorted(order), "sorted by rule, then object"
    fingerprints = [x["partialFingerprints"]["dockerbench/v1"] for x in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)


def test_a_waived_warn_carries_an_accepted_external_suppression_with_its_reason():
    snap = _hostile_snapshot()
    results = evaluate(snap, ["5.5"])
    waived = apply(results, [_waiver("5.5", "priv", "the build agent needs it")], "")
    doc = render_sarif(snap, results, waived)
    _validate_sarif(doc)
    found = doc["runs"][0]["results"]
    assert len(found) == 3
    (suppressed,) = [x for x in found if "suppressions" in x]
    assert suppressed["message"]["text"].startswith("container priv:")
    (suppression,) = suppressed["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert suppression["justification"] == "the build agent needs it"
    assert suppression["properties"]["waiver"]["expires"] == "2999-01-01"


def test_errors_and_skips_are_tool_notifications_not_results(monkeypatch):
    monkeypatch.setitem(REGISTRY, "5.5", lambda snap: snap.info["NoSuchKey"])
    snap = HostSnapshot(
        target="tcp://gone:2376", collected_at="2026-11-28T00:00:00+00:00", missing={"containers": "refused"}
    )
    results = evaluate(snap, ["5.5", "5.4"])
    doc = render_sarif(snap, results)
    _validate_sarif(doc)
    run = doc["runs"][0]
    assert run["results"] == []
    levels = {n["associatedRule"]["id"]: n["level"] for n in run["invocations"][0]["toolExecutionNotifications"]}
    assert levels == {"5.5": "error", "5.4": "note"}


def test_sarif_is_deterministic_with_its_one_time_in_the_invocation():
    snap = load("default")
    text = render("sarif", snap, evaluate(snap))
    assert text == render("sarif", snap, evaluate(snap))
    assert text.count(snap.collected_at) == 1
    assert json.loads(text)["runs"][0]["invocations"][0]["properties"]["collected_at"] == snap.collected_at


# -- JUnit XML ------------------------------------------------------------------------


def test_junit_has_a_suite_per_section_and_a_case_per_check(host):
    snap, results = host
    root = ET.fromstring(render_junit(snap, results))  # noqa: S314 - our own output
    suites = root.findall("testsuite")
    checks = list(dict.fromkeys(r.check_id for r in results))
    assert [s.get("name", "").split(" ")[0] for s in suites] == list(dict.fromkeys(c.split(".")[0] for c in checks))
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [f"{cid} {ALL_BY_ID[cid].title}" for cid in checks]
    assert root.get("tests") == str(len(checks))
    assert root.get("failures") == str(len(root.findall("testsuite/testcase/failure")))
    assert root.get("skipped") == str(len(root.findall("testsuite/testcase/skipped")))
    for suite in suites:
        assert suite.get("tests") == str(len(suite.findall("testcase")))
        assert suite.get("failures") == str(len(suite.findall("testcase/failure")))


def test_junit_fails_warn_skips_skip_errors_error_and_passes_a_fully_waived_check(monkeypatch):
    monkeypatch.setitem(REGISTRY, "5.4", lambda snap: snap.info["NoSuchKey"])
    snap = _hostile_snapshot()
    results = evaluate(snap, ["5.4", "5.5", "5.7", "1.1.3"])
    partly = apply(results, [_waiver("5.5", "priv")], "")
    root = ET.fromstring(render_junit(snap, results, partly))  # noqa: S314 - our own output
    cases = {c.get("name", "").split(" ")[0]: c for c in root.iter("testcase")}
    failure = cases["5.5"].find("failure")
    assert failure is not None and failure.get("message") == "2 offending object(s)"
    assert "container priv: " in (failure.text or "") and "waived until 2999-01-01" in (failure.text or "")
    error = cases["5.4"].find("error")
    assert error is not None and "KeyError" in (error.get("message") or "")
    assert cases["5.7"].find("failure") is None and cases["5.7"].find("error") is None
    assert root.get("errors") == "1"

    every = apply(results, [_waiver("5.5")], "")
    root = ET.fromstring(render_junit(snap, results, every))  # noqa: S314 - our own output
    (case,) = [c for c in root.iter("testcase") if (c.get("name") or "").startswith("5.5 ")]
    assert case.find("failure") is None
    out = case.find("system-out")
    assert out is not None and (out.text or "").count("WAIVED container ") == 3

    no_facts = f.snapshot(facts=None, missing={"facts": "not gathered"})
    root = ET.fromstring(render_junit(no_facts, evaluate(no_facts, ["1.1.3"])))  # noqa: S314 - our own output
    assert root.find("testsuite/testcase/skipped") is not None and root.get("skipped") == "1"


def test_junit_stays_well_formed_with_hostile_object_names():
    snap = _hostile_snapshot()
    text = render_junit(snap, evaluate(snap, ["5.5"]))
    assert "\x00" not in text and "\x07" not in text and "\x1b" not in text
    root = ET.fromstring(text)  # noqa: S314 - our own output
    (failure,) = root.iter("failure")
    body = failure.text or ""
    assert "x]]></failure><![CDATA[ & \"q\" 'a' \\x00\\x07\\x1b[31m end" in body
    assert "container priv: " in body


def test_a_lone_surrogate_from_the_engine_json_is_escaped_not_a_crash():
    snap = f.snapshot()
    results = [Result("5.5", Status.WARN, "odd \ud800", ObjectRef("container", "abc", "n\udc80"))]
    for fmt in ("sarif", "junit", "csv"):
        text = render(fmt, snap, results)
        text.encode("utf-8")
    assert "n\\xdc80: odd \\xd800" in render_junit(snap, results)
    assert "n\\udc80" in render_csv(snap, results)


# -- CSV ---------------------------------------------------------------------------------


def test_csv_has_a_row_per_result_with_its_weight_and_waiver(host):
    snap, results = host
    text = render_csv(snap, results)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + len(results)
    for row, r in zip(rows[1:], results, strict=True):
        record = dict(zip(CSV_COLUMNS, row, strict=True))
        assert (record["check_id"], record["status"]) == (r.check_id, r.status.value)
        assert record["risk_weight"] == str(risk.weight(r.check_id))
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")


def test_csv_defuses_formulas_and_quotes_by_rfc_4180():
    snap = f.snapshot(
        containers=[
            f.container(name, HostConfig={"Privileged": True})
            for name in ("=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\rx", 'a,"b"\nc', "plain")
        ]
    )
    results = evaluate(snap, ["5.5"])
    waived = apply(results, [_waiver("5.5", "plain", "=HYPERLINK(x)")], "")
    rows = [
        dict(zip(CSV_COLUMNS, row, strict=True))
        for row in csv.reader(io.StringIO(render_csv(snap, results, waived), newline=""))
    ][1:]
    names = [row["object_name"] for row in rows]
    assert names == ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", 'a,"b"\nc', "plain"]
    assert [row["waiver"] for row in rows if row["waiver"]] == [
        "waived until 2999-01-01: =HYPERLINK(x), owner ops@example.com, ticket https://tickets.example/OPS-1"
    ]
    assert all(not row["message"].startswith(("=", "+", "-", "@")) for row in rows)


# -- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(_hostile_snapshot().to_json())
    return path


def test_without_format_the_text_and_json_reports_are_those_of_before(snapshot_file, tmp_path, capsys):
    snap = HostSnapshot.from_json(snapshot_file.read_bytes())
    results = evaluate(snap)
    assert main(["--snapshot", str(snapshot_file), "--no-color"]) == 0
    assert capsys.readouterr().out == render_text(snap, results)
    assert main(["--snapshot", str(snapshot_file), "--format", "text", "--no-color"]) == 0
    assert capsys.readouterr().out == render_text(snap, results)
    expected_json = json.dumps(render_json(snap, results), indent=2, default=str) + "\n"
    for args in (["--json", "-"], ["--format", "json"], ["--output", "json=-"]):
        assert main(["--snapshot", str(snapshot_file), *args]) == 0
        assert capsys.readouterr().out == expected_json, args
    out = tmp_path / "r.json"
    assert main(["--snapshot", str(snapshot_file), "--json", str(out), "-q"]) == 0
    assert out.read_text() == expected_json


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_writes_that_report_to_standard_output(snapshot_file, capsys, fmt):
    snap = HostSnapshot.from_json(snapshot_file.read_bytes())
    assert main(["--snapshot", str(snapshot_file), "--format", fmt, "--no-color"]) == 0
    assert capsys.readouterr().out == render(fmt, snap, evaluate(snap))


def test_one_run_writes_several_outputs_and_fail_on_still_decides_the_exit_code(snapshot_file, tmp_path, capsys):
    paths = {fmt: tmp_path / f"out.{fmt}" for fmt in ("sarif", "junit", "csv", "text")}
    args = ["--snapshot", str(snapshot_file), "-c", "5.5", *(f"--output={k}={v}" for k, v in paths.items())]
    assert main([*args, "--format", "csv", "--fail-on", "WARN"]) == 1
    stdout = capsys.readouterr().out
    assert stdout == paths["csv"].read_bytes().decode()
    _validate_sarif(json.loads(paths["sarif"].read_text()))
    ET.fromstring(paths["junit"].read_text())  # noqa: S314 - our own output
    assert "\x1b" not in paths["text"].read_text(), "a text report written to a file has no colour"
    waivers = tmp_path / "w.yaml"
    waivers.write_text('waivers:\n  - check: "5.5"\n    reason: lab\n    expires: 2999-01-01\n')
    assert main([*args, "-q", "--fail-on", "WARN", "--waivers", str(waivers)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(paths["sarif"].read_text())["runs"][0]["results"][0]["suppressions"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--output", "xml=out.xml"], "unknown format 'xml'"),
        (["--output", "sarif"], "is not FORMAT=FILE"),
        (["--output", "sarif=/no/such/dir/out.sarif"], "the directory /no/such/dir does not exist"),
        (["--json", "-", "--output", "sarif=-"], "only one report can go to standard output, not json and sarif"),
        (["--format", "csv", "--output", "junit=-"], "--format csv and junit=- would both write to standard output"),
        (["--output", "sarif=same", "--output", "csv=same"], "same is named for more than one report"),
    ],
)
def test_bad_outputs_are_usage_errors_before_any_audit(snapshot_file, capsys, args, problem):
    with pytest.raises(SystemExit) as exc:
        main(["--snapshot", str(snapshot_file), *args])
    assert exc.value.code == 2
    assert problem in capsys.readouterr().err


@pytest.mark.docker
def test_the_cli_writes_sarif_junit_and_csv_of_the_real_dockerd_in_one_run(docker_url: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CERT_PATH")}
    sarif, junit, table = tmp_path / "out.sarif", tmp_path / "out.xml", tmp_path / "out.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "dockerbench", "-H", docker_url, "--facts", "none", "-q", "--fail-on", "ERROR"]
        + [f"--output=sarif={sarif}", f"--output=junit={junit}", f"--output=csv={table}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    doc = json.loads(sarif.read_text())
    _validate_sarif(doc)
    rows = list(csv.DictReader(io.StringIO(table.read_bytes().decode(), newline="")))
    warns = [row for row in rows if row["status"] == "WARN"]
    assert len(doc["runs"][0]["results"]) == len(warns) > 0
    root = ET.fromstring(junit.read_text())  # noqa: S314 - our own output
    checks = list(dict.fromkeys(row["check_id"] for row in rows))
    assert root.get("tests") == str(len(checks)) == str(len(root.findall("testsuite/testcase")))
    assert int(root.get("failures") or 0) == len({row["check_id"] for row in warns})
    assert int(root.get("skipped") or 0) > 0, "--facts none: the host-file checks skip"
