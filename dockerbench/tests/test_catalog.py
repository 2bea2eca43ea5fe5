"""The CIS catalog is plain data: complete, in benchmark order, and every entry tells an operator what to do."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockerbench.catalog import BY_ID, RECOMMENDATIONS, SECTIONS

# The benchmark index lives beside the checkout (../shared), locally and in CI.
BENCHMARK_INDEX = Path(__file__).parents[3] / "shared" / "cis-docker-1.6.0.tsv"

FIX_KINDS = {"docker run", "compose", "daemon.json", "dockerd", "shell", "audit rule", "systemd", "swarm", "Dockerfile"}
DOCKER_DOCS = "https://docs.docker.com/"


def _benchmark_rows() -> list[dict[str, str]]:
    if not BENCHMARK_INDEX.exists():
        pytest.fail(f"benchmark index not found at {BENCHMARK_INDEX}: the checkout needs ../shared beside it")
    lines = [line for line in BENCHMARK_INDEX.read_text().splitlines() if line and not line.startswith("#")]
    header, *rows = (line.split("\t") for line in lines)
    # The index ends with recommendations that v1.6.0 does not number, such as "(none)".
    return [dict(zip(header, row, strict=True)) for row in rows if row[0][:1].isdigit()]


def _all_fixes():
    return [(rec.id, fix) for rec in RECOMMENDATIONS for fix in rec.fixes]


def test_catalog_lists_the_117_benchmark_ids_in_order():
    assert [rec.id for rec in RECOMMENDATIONS] == [row["cis_id"] for row in _benchmark_rows()]
    assert len(RECOMMENDATIONS) == 117


def test_catalog_titles_and_assessment_match_the_benchmark():
    for row in _benchmark_rows():
        rec = BY_ID[row["cis_id"]]
        assert rec.title == row["title"], rec.id
        assert rec.automated is (row["assessment"] == "Automated"), rec.id


def test_every_recommendation_belongs_to_a_known_section():
    for rec in RECOMMENDATIONS:
        assert rec.section in SECTIONS, rec.id
        assert rec.id.split(".", 1)[0] == rec.section, rec.id


def test_every_recommendation_explains_its_remediation():
    for rec in RECOMMENDATIONS:
        assert rec.remediation.strip(), rec.id
        # A title restated is not guidance: ask for at least a couple of sentences.
        assert len(rec.remediation) >= 100, rec.id
        assert rec.remediation.rstrip().endswith("."), rec.id


def test_no_two_recommendations_share_a_remediation():
    seen: dict[str, str] = {}
    for rec in RECOMMENDATIONS:
        assert rec.remediation not in seen, f"{rec.id} repeats the remediation of {seen.get(rec.remediation)}"
        seen[rec.remediation] = rec.id


def test_every_recommendation_has_a_concrete_fix():
    for rec in RECOMMENDATIONS:
        assert rec.fixes, rec.id
        for fix in rec.fixes:
            assert fix.text.strip(), rec.id


def test_fix_kinds_come_from_the_allowed_set():
    for rec_id, fix in _all_fixes():
        assert fix.kind in FIX_KINDS, f"{rec_id}: {fix.kind!r}"


def test_daemon_json_fixes_parse_as_json_objects():
    daemon_fixes = [(rec_id, fix) for rec_id, fix in _all_fixes() if fix.kind == "daemon.json"]
    assert daemon_fixes
    for rec_id, fix in daemon_fixes:
        assert isinstance(json.loads(fix.text), dict), rec_id


def test_audit_rule_fixes_watch_an_absolute_path_under_the_docker_key():
    for rec_id, fix in _all_fixes():
        if fix.kind == "audit rule":
            words = fix.text.split()
            assert words[0] == "-w", rec_id
            assert words[1].startswith("/"), rec_id
            assert words[-2:] == ["-k", "docker"], rec_id


def test_every_auditing_recommendation_has_an_audit_rule():
    for rec in RECOMMENDATIONS:
        if rec.id.startswith("1.1.") and rec.id not in ("1.1.1", "1.1.2"):
            assert any(fix.kind == "audit rule" for fix in rec.fixes), rec.id


def test_every_recommendation_links_dockers_documentation():
    for rec in RECOMMENDATIONS:
        assert any(link.startswith(DOCKER_DOCS) for link in rec.docs), rec.id
        for link in rec.docs:
            assert link.startswith("https://"), f"{rec.id}: {link}"
            assert " " not in link, f"{rec.id}: {link}"


def test_catalog_imports_without_django():
    code = "import sys, dockerbench.catalog; sys.exit('django' in sys.modules or 'celery' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
