"""The CLI and the reports, on saved snapshots (no dockerd needed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from dockerbench.__main__ import build_parser, main
from dockerbench.catalog import EXTRA_RECOMMENDATIONS
from dockerbench.checks import REGISTRY
from dockerbench.report import check_status, render_json, render_text, summarize
from dockerbench.results import ObjectRef, Result, Status
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import HostSnapshot
from dockerbench.tests import factories as f

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())


@pytest.fixture
def snapshot_file(tmp_path):
    snap = f.snapshot(
        containers=[
            f.container("priv", HostConfig={"Privileged": True}),
            f.container(
                "\x1b[31mevil\x1b[0m <b>",
                Config={"Labels": {"x": "<img src=x onerror=alert(1)>"}},
                HostConfig={"Privileged": True},
            ),
        ],
        images=[f.image("app:1")],
    )
    path = tmp_path / "snap.json"
    path.write_text(snap.to_json())
    return path


def test_it_writes_a_report_that_matches_the_published_schema(snapshot_file, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--snapshot", str(snapshot_file), "--json", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["summary"]["checks"] == 117 + len(EXTRA_RECOMMENDATIONS)  # the CIS checks and our own (S.x)
    assert [c["id"] for c in doc["checks"]][-2:] == ["S.1", "S.2"]
    assert [c["id"] for c in doc["checks"]][:3] == ["1.1.1", "1.1.2", "1.1.3"]
    assert capsys.readouterr().out == ""


def test_it_exits_1_when_a_result_matches_fail_on(snapshot_file):
    assert main(["--snapshot", str(snapshot_file), "-c", "5.5", "--fail-on", "WARN", "-q"]) == 1
    assert main(["--snapshot", str(snapshot_file), "-c", "5.5", "--fail-on", "error", "-q"]) == 0


def test_it_runs_only_the_selected_checks(snapshot_file, tmp_path):
    out = tmp_path / "r.json"
    main(["--snapshot", str(snapshot_file), "-s", "5", "-e", "5.1,5.2", "-c", "5.1,5.2,5.3,5.4", "--json", str(out)])
    assert [c["id"] for c in json.loads(out.read_text())["checks"]] == ["5.3", "5.4"]


def test_selection_by_prefix_does_not_confuse_5_4_with_5_40():
    assert select(include=["1.1"])[:2] == ["1.1.1", "1.1.2"]
    assert select(include=["5.3"]) == ["5.3"]
    assert "5.30" not in select(include=["5.3"])
    assert select(sections=["7"], exclude=["7.1"])[0] == "7.2"


def test_text_report_escapes_terminal_control_characters(snapshot_file, capsys):
    main(["--snapshot", str(snapshot_file), "-c", "5.5", "-v", "--no-color"])
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\\x1b[31mevil" in out


def test_text_report_uses_docker_bench_layout(snapshot_file, capsys):
    main(["--snapshot", str(snapshot_file), "-c", "5.5", "--no-color"])
    out = capsys.readouterr().out
    assert "[INFO] 5 - Container Runtime" in out
    assert "[WARN] 5.5 - Ensure that privileged containers are not used (Automated)" in out
    assert "[WARN]      * container priv:" in out


@pytest.fixture
def leaky_snapshot_file(tmp_path):
    """A snapshot saved unredacted (as versions before redaction saved them): sshd with a password in argv."""
    top = {"Titles": ["PID", "CMD"], "Processes": [["1", "/usr/sbin/sshd -D --password=hunter2"]]}
    snap = f.snapshot(containers=[f.container("ssh", top=top, Config={"Env": ["DB_PASSWORD=hunter2"]})])
    path = tmp_path / "old.json"
    path.write_text(snap.to_json())
    return path


def _hmac16(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def test_a_saved_snapshot_is_redacted_before_it_is_reported(leaky_snapshot_file, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--snapshot", str(leaky_snapshot_file), "-c", "5.7", "-v", "--no-color", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    report = out.read_text()
    assert "hunter2" not in text and "hunter2" not in report
    (result,) = json.loads(report)["checks"][0]["results"]
    assert result["status"] == "WARN"
    assert result["evidence"]["processes"][0].startswith("/usr/sbin/sshd -D --password=<redacted:secret,len=7,hmac=")
    assert "--password=<redacted:secret,len=7," in text


def test_the_redaction_key_comes_from_the_key_file_else_the_environment(
    leaky_snapshot_file, tmp_path, capsys, monkeypatch
):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"from-the-file\n")
    monkeypatch.setenv("DOCKERBENCH_REDACT_KEY", "from-the-environment")
    for args, key in (
        (["--redact-key-file", str(key_file)], b"from-the-file"),
        ([], b"from-the-environment"),
    ):
        main(["--snapshot", str(leaky_snapshot_file), "-c", "5.7", "-v", "--no-color", *args])
        assert f"len=7,hmac={_hmac16(key, 'hunter2')}>" in capsys.readouterr().out


def test_without_a_key_each_run_hashes_with_a_new_random_one(leaky_snapshot_file, capsys, monkeypatch):
    monkeypatch.delenv("DOCKERBENCH_REDACT_KEY", raising=False)
    digests = set()
    for _ in range(2):
        main(["--snapshot", str(leaky_snapshot_file), "-c", "5.7", "-v", "--no-color"])
        (digest,) = re.findall(r"len=7,hmac=([0-9a-f]{16})>", capsys.readouterr().out)
        digests.add(digest)
    assert len(digests) == 2
    assert "random key" in build_parser().format_help()


def test_an_empty_redaction_key_file_is_an_error(leaky_snapshot_file, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    assert main(["--snapshot", str(leaky_snapshot_file), "--redact-key-file", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err
    assert main(["--snapshot", str(leaky_snapshot_file), "--redact-key-file", str(tmp_path / "none")]) == 2
    assert "cannot read the redaction key file" in capsys.readouterr().err


def test_a_malformed_snapshot_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"target": 1')
    assert main(["--snapshot", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dockerbench: cannot read snapshot")
    assert "Traceback" not in err


def test_an_unknown_fail_on_status_is_a_usage_error(snapshot_file):
    with pytest.raises(SystemExit) as exc:
        main(["--snapshot", str(snapshot_file), "--fail-on", "MAYBE"])
    assert exc.value.code == 2


def test_check_status_puts_warn_first():
    rows = [Result("5.5", Status.PASS), Result("5.5", Status.SKIP), Result("5.5", Status.WARN)]
    assert check_status(rows) is Status.WARN
    assert check_status([Result("1", Status.INFO), Result("1", Status.PASS)]) is Status.INFO


def test_score_counts_checks_not_findings():
    results = [
        Result("5.5", Status.WARN, object=ObjectRef("container", "a", "a")),
        Result("5.5", Status.WARN, object=ObjectRef("container", "b", "b")),
        Result("5.10", Status.PASS),
        Result("5.11", Status.PASS),
        Result("5.9", Status.INFO),  # manual: not judged
        Result("5.12", Status.SKIP),  # not collected: not judged
    ]
    summary = summarize(results)
    assert (summary.judged, summary.passed, summary.score) == (3, 2, 67)
    assert summary.findings == {"WARN": 2, "PASS": 2, "INFO": 1, "SKIP": 1}
    assert summary.by_status == {"WARN": 1, "PASS": 2, "INFO": 1, "SKIP": 1}


def test_a_check_that_crashes_becomes_error_and_the_run_goes_on(monkeypatch):
    def broken(snap):
        return snap.info["NoSuchKey"]

    monkeypatch.setitem(REGISTRY, "5.5", broken)
    results = evaluate(f.snapshot(containers=[f.container("priv", HostConfig={"Privileged": True})]), ["5.5", "5.4"])
    (crash,) = [r for r in results if r.check_id == "5.5"]
    assert crash.status is Status.ERROR
    assert "KeyError" in crash.message
    assert [r.check_id for r in results if r.check_id == "5.4"]


def test_a_check_that_returns_nothing_is_an_error_not_a_pass(monkeypatch):
    monkeypatch.setitem(REGISTRY, "5.5", lambda snap: [])
    (row,) = evaluate(f.snapshot(), ["5.5"])
    assert row.status is Status.ERROR


def test_reports_render_a_snapshot_with_nothing_collected():
    snap = HostSnapshot(
        target="tcp://gone:2376",
        collected_at="2026-11-28T00:00:00+00:00",
        missing={"info": "x", "containers": "y", "images": "y", "networks": "y", "facts": "z"},
    )
    results = evaluate(snap)
    jsonschema.validate(render_json(snap, results), SCHEMA)
    assert "not collected: facts: z" in render_text(snap, results)
    assert [r.check_id for r in results if r.status is Status.PASS] == []


# -- --waivers ------------------------------------------------------------------


def _waivers_file(tmp_path, text: str, name: str = "waivers.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


PRIV_WAIVER = """\
waivers:
  - check: "5.5"
    object: "priv"
    reason: "the build agent needs it"
    owner: "ci@example.com"
    ticket: "https://jira.example/CI-7"
    expires: 2999-01-01
"""


def test_a_waived_result_is_shown_waived_with_its_reason_and_expiry(snapshot_file, tmp_path, capsys):
    waivers = _waivers_file(tmp_path, PRIV_WAIVER)
    assert main(["--snapshot", str(snapshot_file), "-c", "5.5", "--no-color", "--waivers", waivers]) == 0
    out = capsys.readouterr().out
    assert "[WAIVED]      * container priv: runs in privileged mode (waived until 2999-01-01: the build agent" in out
    assert "[WARN]      * container \\x1b[31mevil" in out
    assert "[WARN] 5.5 - Ensure that privileged containers are not used" in out, "one WARN is left: the check too"
    assert "[WAIVED] WAIVED: 1 findings; 0 checks have every WARN waived" in out


def test_fail_on_warn_ignores_waived_results(snapshot_file, tmp_path):
    some = _waivers_file(tmp_path, PRIV_WAIVER)
    every = _waivers_file(tmp_path, PRIV_WAIVER.replace('object: "priv"', 'object: "*"'), "all.yml")
    args = ["--snapshot", str(snapshot_file), "-c", "5.5", "--fail-on", "WARN", "-q"]
    assert main([*args, "--waivers", some]) == 1
    assert main([*args, "--waivers", every]) == 0
    assert main(args) == 1


def test_a_json_waivers_file_gives_a_report_that_matches_the_schema(snapshot_file, tmp_path):
    every = {
        "waivers": [
            {"check": "5.5", "reason": "lab host", "expires": "2999-01-01"},
            {
                "check": "4.6",
                "object": "app:*",
                "reason": "health comes from the orchestrator",
                "expires": "2999-01-01",
            },
        ]
    }
    waivers = _waivers_file(tmp_path, json.dumps(every), "waivers.json")
    out = tmp_path / "r.json"
    assert main(["--snapshot", str(snapshot_file), "--json", str(out), "-q", "--waivers", waivers]) == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["5.5"]["status"] == "WARN" and checks["5.5"]["waived"] is True
    assert [r["status"] for r in checks["5.5"]["results"]] == ["WARN", "WARN"]
    assert checks["5.5"]["results"][0]["waiver"] == {
        "check": "5.5",
        "host": None,
        "object": None,
        "reason": "lab host",
        "owner": None,
        "ticket": None,
        "expires": "2999-01-01",
    }
    assert checks["4.6"]["waived"] is True
    assert checks["5.4"]["waived"] is False and checks["5.4"]["results"][0]["waiver"] is None
    summary = doc["summary"]
    assert summary["waived"] == 3
    # Two fully waived WARN checks leave the judged ones; the passing ones stay.
    assert summary["score_with_waivers"] == round(100 * summary["passed"] / (summary["judged"] - 2))
    assert summary["score_with_waivers"] > summary["score"]


def test_without_waivers_the_score_with_waivers_is_the_score(snapshot_file, tmp_path):
    out = tmp_path / "r.json"
    main(["--snapshot", str(snapshot_file), "--json", str(out), "-q"])
    summary = json.loads(out.read_text())["summary"]
    assert (summary["waived"], summary["score_with_waivers"]) == (0, summary["score"])


def test_host_scope_matches_the_engine_name_unless_host_name_is_given(snapshot_file, tmp_path, capsys):
    # The captured engine reports its name as "vm".
    on_vm = _waivers_file(tmp_path, PRIV_WAIVER.replace('object: "priv"', 'object: "*"\n    host: "vm"'))
    args = ["--snapshot", str(snapshot_file), "-c", "5.5", "--fail-on", "WARN", "-q", "--waivers", on_vm]
    assert main(args) == 0
    assert main([*args, "--host-name", "web-1"]) == 1
    on_web = _waivers_file(tmp_path, PRIV_WAIVER.replace('object: "priv"', 'host: "web-1"'), "web.yaml")
    args = ["--snapshot", str(snapshot_file), "-c", "5.5", "--no-color", "--waivers", on_web]
    main(args)
    assert "[WAIVED]" not in capsys.readouterr().out
    main([*args, "--host-name", "WEB-1"])
    out = capsys.readouterr().out
    assert "[WAIVED] 5.5 - Ensure that privileged containers are not used" in out
    assert "[WAIVED]      * container priv:" in out


def test_an_expired_waiver_does_not_apply_and_is_noted(snapshot_file, tmp_path, capsys, monkeypatch):
    # The clock is not ours: pin the day expiry is judged on.
    monkeypatch.setattr("dockerbench.__main__._today", lambda: date(2027, 3, 1))
    text = """\
waivers:
  - {check: "5.5", object: priv, reason: ended, expires: 2027-03-01}
  - {check: "5.5", object: "*evil*", reason: still on, expires: 2027-03-02}
"""
    waivers = _waivers_file(tmp_path, text)
    assert main(["--snapshot", str(snapshot_file), "-c", "5.5", "--no-color", "--waivers", waivers]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"dockerbench: note: {waivers}: waivers[0] (check 5.5, object priv) expired on 2027-03-01 "
        "and no longer applies\n"
    )
    assert "[WARN]      * container priv:" in captured.out
    assert "[WAIVED]      * container \\x1b[31mevil" in captured.out, "the one that ends tomorrow applies today"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('waivers:\n  - {check: "5.5", expires: 2999-01-01}\n', "waivers[0]: reason is required"),
        ('waivers:\n  - {check: "5.5", reason: r}\n', "waivers[0]: expires is required"),
        ('waivers:\n  - {check: "5.5", reason: r, expires: 2999-13-01}\n', "is not a valid date"),
        ('waivers:\n  - {check: "5.55", reason: r, expires: 2999-01-01}\n', "unknown check id '5.55'"),
        ('waivers:\n  - {check: "5.5", reason: r, expires: 2999-01-01, hots: x}\n', "unknown key(s) hots"),
        ("waivers: [\n", "not valid YAML"),
    ],
)
def test_a_bad_waivers_file_exits_2_naming_the_file_and_entry(snapshot_file, tmp_path, capsys, text, problem):
    waivers = _waivers_file(tmp_path, text)
    assert main(["--snapshot", str(snapshot_file), "--waivers", waivers]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"dockerbench: {waivers}: ")
    assert problem in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_a_missing_waivers_file_exits_2(snapshot_file, tmp_path, capsys):
    assert main(["--snapshot", str(snapshot_file), "--waivers", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read the waivers file" in capsys.readouterr().err
