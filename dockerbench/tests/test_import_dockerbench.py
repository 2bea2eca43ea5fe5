"""Reading docker-bench-security's JSON log as an imported audit (dockerbench.import_dockerbench)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dockerbench.catalog import BY_ID
from dockerbench.import_dockerbench import (
    IMPORTED_FROM,
    MAX_LOG_BYTES,
    MAX_NAME_CHARS,
    DockerBenchLogError,
    ImportedAudit,
    parse_dockerbench_log,
)
from dockerbench.results import ObjectRef, Status

FIXTURES = Path(__file__).parent / "fixtures" / "dockerbench_logs"


def _web() -> ImportedAudit:
    return parse_dockerbench_log((FIXTURES / "v1.6.0-web-host.log.json").read_bytes())


def _log(*results: dict[str, Any], version: str = "1.6.0", sections: bool = True) -> str:
    tests: list[dict[str, Any]] = [{"id": "5", "desc": "Container Runtime", "results": list(results)}]
    doc = {
        "dockerbenchsecurity": version,
        "start": 1764585600,
        "tests": tests if sections else list(results),
        "checks": len(results),
        "score": 0,
        "end": 1764585601,
    }
    return json.dumps(doc)


def _by_id(audit: ImportedAudit, check_id: str) -> list[Any]:
    return [r for r in audit.results if r.check_id == check_id]


def test_it_reads_version_times_count_and_score():
    audit = _web()
    assert audit.version == "1.6.0"
    assert audit.source == IMPORTED_FROM == "docker-bench-security"
    assert audit.started == datetime(2025, 12, 1, 10, 40, tzinfo=UTC)
    assert audit.ended == datetime(2025, 12, 1, 10, 41, 2, tzinfo=UTC)
    assert (audit.checks, audit.score) == (14, -4)


def test_it_keeps_statuses_and_details_as_the_message():
    audit = _web()
    assert [(r.status, r.message) for r in _by_id(audit, "1.2.2")] == [
        (Status.INFO, "Using 24.0.7 which is current as of 2023-10-27")
    ]
    assert [r.status for r in _by_id(audit, "2.1")] == [Status.NOTE]
    assert [r.status for r in _by_id(audit, "1.1.3")] == [Status.PASS]
    (warn,) = _by_id(audit, "1.1.1")
    assert (warn.status, warn.message, warn.object) == (Status.WARN, "", None)
    assert warn.evidence["remediation"].startswith("For new installations")
    assert warn.evidence["remediation_impact"] == "None."
    assert warn.evidence["imported_from"] == "docker-bench-security"


def test_it_gives_one_result_per_container():
    audit = _web()
    assert [r.object for r in _by_id(audit, "4.1")] == [
        ObjectRef("container", name="web-1"),
        ObjectRef("container", name="worker-1"),
    ]
    assert {r.message for r in _by_id(audit, "4.1")} == {"running as root:  web-1 worker-1"}
    assert [r.object for r in _by_id(audit, "5.5")] == [
        ObjectRef("container", name="web-1"),
        ObjectRef("container", name="worker-1"),
    ]


def test_it_reads_images_as_go_prints_repo_tags_and_short_ids():
    assert [r.object for r in _by_id(_web(), "4.6")] == [
        ObjectRef("image", name="nginx:1.25"),
        ObjectRef("image", name="nginx:latest"),
        ObjectRef("image", name="redis:7"),
        ObjectRef("image", id="0123456789ab"),
    ]


def test_it_joins_a_networks_scope_to_its_name():
    results = _by_id(_web(), "7.3")
    assert [(r.object, r.evidence["scope"]) for r in results] == [
        (ObjectRef("network", name="ingress"), "swarm"),
        (ObjectRef("network", name="backend"), "swarm"),
    ]


def test_a_scope_with_no_network_before_it_is_unmapped():
    log = _log({"id": "5.4", "desc": "d", "result": "WARN"}).replace('"id": "5"', '"id": "7"')
    log = log.replace(
        '"5.4", "desc": "d", "result": "WARN"', '"7.3", "desc": "d", "result": "WARN", "items": ["(swarm)"]'
    )
    audit = parse_dockerbench_log(log)
    assert [r.object for r in audit.results] == [None]
    assert audit.unmapped[0].item == "(swarm)"


def test_it_splits_the_docker_groups_members():
    assert [r.object for r in _by_id(_web(), "1.1.2")] == [
        ObjectRef("user", name="alice"),
        ObjectRef("user", name="deploy"),
    ]


def test_it_shows_an_odd_result_an_unknown_id_and_a_cut_list_as_unmapped():
    audit = _web()
    reasons = {(u.check_id, u.result, u.item): u for u in audit.unmapped}
    odd = reasons[("2.14", "FAIL", "")]
    assert "'FAIL' is not one of" in odd.reason
    assert odd.where == "tests[1].results[2]"
    unknown = reasons[("C.5.3.1", "WARN", "")]
    assert "not a CIS Docker Benchmark 1.6.0 recommendation" in unknown.reason
    assert unknown.details == "CAP_DAC_READ_SEARCH capability added for containers:  web-1"
    cut = reasons[("5.5", "WARN", "(truncated)")]
    assert "-n LIMIT" in cut.reason
    assert cut.where == "tests[3].results[0].items[2]"
    assert len(audit.unmapped) == 3
    assert not _by_id(audit, "2.14")
    assert not _by_id(audit, "C.5.3.1")


def test_checks_the_log_does_not_cover_are_missing_not_pass_or_skip():
    audit = _web()
    covered = {r.check_id for r in audit.results}
    assert set(audit.missing) == set(BY_ID) - covered
    assert "2.14" in audit.missing  # its only verdict could not be mapped
    assert "5.1" in audit.missing
    assert {r.status for r in audit.results} <= {Status.PASS, Status.WARN, Status.INFO, Status.NOTE}
    assert list(audit.missing) == [i for i in BY_ID if i in set(audit.missing)]  # catalog order


def test_it_reads_the_results_of_a_run_limited_to_some_checks():
    # docker-bench-security.sh -c check_5_4 writes the result straight into "tests", with no section.
    audit = parse_dockerbench_log(
        _log({"id": "5.4", "desc": "caps", "result": "WARN", "details": "x: a", "items": ["a"]}, sections=False)
    )
    assert [(r.check_id, r.object) for r in audit.results] == [("5.4", ObjectRef("container", name="a"))]


def test_a_log_of_another_version_is_all_unmapped():
    audit = parse_dockerbench_log(_log({"id": "5.1", "desc": "AppArmor", "result": "WARN"}, version="1.5.0"))
    assert audit.results == ()
    (entry,) = audit.unmapped
    assert "1.5.0" in entry.reason and "1.6.x" in entry.reason
    assert entry.check_id == "5.1"
    assert len(audit.missing) == len(BY_ID)


def test_a_second_verdict_for_a_check_is_kept_as_unmapped():
    audit = parse_dockerbench_log(
        _log({"id": "5.10", "desc": "d", "result": "PASS"}, {"id": "5.10", "desc": "d", "result": "WARN"})
    )
    assert [r.status for r in audit.results] == [Status.PASS]
    assert "second verdict" in audit.unmapped[0].reason


def test_malformed_items_are_unmapped_and_the_verdict_kept():
    audit = parse_dockerbench_log(
        _log({"id": "5.11", "desc": "d", "result": "WARN", "details": "x", "items": [7, "", "db"]})
    )
    assert [r.object for r in audit.results] == [ObjectRef("container", name="db")]
    assert [(u.where, u.item) for u in audit.unmapped] == [
        ("tests[0].results[0].items[0]", ""),
        ("tests[0].results[0].items[1]", ""),
    ]
    assert "a number" in audit.unmapped[0].reason


def test_items_of_a_check_of_unknown_kind_are_unmapped():
    audit = parse_dockerbench_log(_log({"id": "2.5", "desc": "d", "result": "WARN", "items": ["10.0.0.5:5000"]}))
    assert [(r.check_id, r.object) for r in audit.results] == [("2.5", None)]
    assert audit.unmapped[0].item == "10.0.0.5:5000"


def test_hostile_strings_are_kept_as_data():
    hostile = "<script>alert(1)</script>\"'; DROP TABLE scans;--\n\u202e\x00"
    audit = parse_dockerbench_log(
        _log({"id": "5.13", "desc": hostile, "result": "WARN", "details": hostile, "items": ["=cmd|'/c calc'!A1"]})
    )
    (result,) = audit.results
    assert result.message == hostile
    assert result.evidence["docker_bench_desc"] == hostile
    assert result.object == ObjectRef("container", name="=cmd|'/c calc'!A1")


def test_it_accepts_raw_newlines_inside_values_as_printf_writes_them():
    text = _log({"id": "5.13", "desc": "d", "result": "INFO", "details": "PLACEHOLDER"})
    audit = parse_dockerbench_log(text.replace("PLACEHOLDER", "line one\nline two\t"))
    assert audit.results[0].message == "line one\nline two\t"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("malformed-interrupted.log.json", "not valid JSON"),
        ("malformed-unescaped-quote.log.json", "at line 13 column 42"),
        ("malformed-no-version.log.json", 'no "dockerbenchsecurity"'),
        ("malformed-start-not-number.log.json", "start is a string"),
        ("malformed-no-result.log.json", 'tests[0].results[0] (5.4) has no "result"'),
    ],
)
def test_it_refuses_malformed_logs_saying_where(name: str, says: str):
    with pytest.raises(DockerBenchLogError) as caught:
        parse_dockerbench_log((FIXTURES / name).read_bytes(), filename=name)
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"{name}: ")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[]", "the top level is a list"),
        ('{"dockerbenchsecurity": 1.6, "tests": []}', "dockerbenchsecurity is a number"),
        ('{"dockerbenchsecurity": "1.6.0", "tests": {}}', '"tests" is an object'),
        ('{"dockerbenchsecurity": "1.6.0", "tests": [], "start": NaN}', "NaN is not a JSON number"),
        ('{"dockerbenchsecurity": "1.6.0", "tests": [], "start": true}', "start is a boolean"),
        ('{"dockerbenchsecurity": "1.6.0", "tests": [], "end": 1e300}', "end is a number"),
        ('{"dockerbenchsecurity": "1.6.0", "tests": [], "end": 99999999999999999}', "not a time"),
        ('{"dockerbenchsecurity": "1.6.0", "tests": [3]}', "tests[0] is a number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_it_refuses_what_is_not_a_log(data: bytes | str, says: str):
    with pytest.raises(DockerBenchLogError) as caught:
        parse_dockerbench_log(data)
    assert says in str(caught.value)


def test_it_refuses_a_log_over_the_size_limit():
    with pytest.raises(DockerBenchLogError, match="limit"):
        parse_dockerbench_log(b" " * (MAX_LOG_BYTES + 1))


def test_it_refuses_an_item_over_the_name_limit():
    with pytest.raises(DockerBenchLogError, match=r"items\[0\] is"):
        parse_dockerbench_log(_log({"id": "5.4", "desc": "d", "result": "WARN", "items": ["x" * (MAX_NAME_CHARS + 1)]}))
