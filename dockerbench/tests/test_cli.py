"""The CLI and the reports, on saved snapshots (no dockerd needed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import jsonschema
import pytest

from dockerbench.__main__ import build_parser, main
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
    assert doc["summary"]["checks"] == 117
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
