"""manage.py report: the same PDFs as the Reports page, written from the shell."""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scans.tests.factories import make_host, make_scan, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts() -> None:
    for name, tag in (("web-1", "prod"), ("db-1", "staging")):
        scan = make_scan(make_host(name, tags=(tag,)), score=81, warn_by_section={"5": 1})
        track(scan, ("5.4", "WARN", "container", f"{name}-app"))


def run(*args: str) -> str:
    out = StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def text_of(path: Path) -> str:
    return subprocess.run(["/usr/bin/pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_it_writes_a_fleet_report_and_says_where_how_many_pages_and_how_big(hosts: None, tmp_path: Path) -> None:
    pdf = tmp_path / "fleet.pdf"
    out = run("fleet", "--pdf", str(pdf), "--tag", "prod", "--since", "2000-01-01", "--sections", "5,s")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert out.startswith(f"wrote {pdf}: Fleet report, tag prod, sections 5, S, 2000-01-01 to ")
    assert " pages, " in out and "KiB" in out and "from 1 scan" in out
    text = text_of(pdf)
    assert "web-1" in text and "db-1" not in text


def test_it_writes_a_host_report_by_the_hosts_name(hosts: None, tmp_path: Path) -> None:
    pdf = tmp_path / "host.pdf"
    out = run("host", "db-1", "--pdf", str(pdf))
    assert "Host report, db-1, " in out
    assert "db-1-app" in text_of(pdf)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("host", "nope"), "no host is named 'nope'"),
        (("host",), "needs the host's name"),
        (("host", "web-1", "--tag", "prod"), "--tag is for fleet reports"),
        (("fleet", "web-1"), "takes no host name"),
        (("fleet", "--since", "2026-02-30"), "since must be a date as YYYY-MM-DD"),
        (("fleet", "--since", "2026-12-02", "--until", "2026-12-01"), "is after until"),
        (("fleet", "--since", "2999-01-01"), "is after until"),
        (("fleet", "--sections", "5,9"), "unknown section 9"),
    ],
)
def test_bad_input_is_a_clear_error(hosts: None, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    pdf = tmp_path / "x.pdf"
    with pytest.raises(CommandError, match=message):
        run(*args, "--pdf", str(pdf))
    assert not pdf.exists()


def test_a_report_too_large_is_an_error_that_says_how_to_narrow_it(hosts: None, tmp_path: Path, settings) -> None:
    settings.DOCKERBENCH_REPORT_MAX_ROWS = 1
    with pytest.raises(CommandError, match=r"the limit is 1 \(DOCKERBENCH_REPORT_MAX_ROWS\)\. Narrow it: a tag"):
        run("fleet", "--pdf", str(tmp_path / "x.pdf"))


def test_an_unwritable_path_is_an_error(hosts: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot write"):
        run("fleet", "--pdf", str(tmp_path / "missing-dir" / "x.pdf"))
