"""python -m dockerbench --fixes DIR, on the saved misconfigured host (no dockerd needed)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from dockerbench.__main__ import main

MISCONFIGURED = Path(__file__).parent / "fixtures" / "hosts" / "misconfigured.json"


def test_it_writes_the_bundle_after_the_audit_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fixes"
    assert main(["--snapshot", str(MISCONFIGURED), "--fixes", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"fixes written to {out / 'README.md'}" in err and "nothing has been applied" in err
    readme = (out / "README.md").read_text()
    assert "Nothing in this bundle has been applied" in readme
    runs = sorted(out.glob("containers/*/run.sh"))
    assert runs, "the misconfigured host has containers to harden"
    for run in runs:
        assert stat.S_IMODE(run.stat().st_mode) == 0o755
        assert (run.parent / "compose.yml").is_file() and (run.parent / "compose.current.yml").is_file()
        if shutil.which("shellcheck"):
            done = subprocess.run(["shellcheck", "-s", "sh", str(run)], capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stdout


def test_the_report_still_goes_to_standard_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--snapshot", str(MISCONFIGURED), "--fixes", str(tmp_path / "f"), "--format", "json"]) == 0
    assert capsys.readouterr().out.startswith("{")


def test_a_file_in_the_way_is_refused_before_the_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    in_the_way = tmp_path / "file"
    in_the_way.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["--snapshot", str(MISCONFIGURED), "--fixes", str(in_the_way)])
    assert exc.value.code == 2
    assert "is not a directory" in capsys.readouterr().err
