"""The fixes bundle (dockerbench.fixes.bundle) from hand-made HostFixes: its files, names, modes and archive."""

from __future__ import annotations

import io
import os
import shlex
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockerbench.fixes import bundle
from dockerbench.fixes.model import Change, ContainerFix, FileFix, HostFixes

HOSTILE = "/web/../../etc$(touch /tmp/pwned)\n`id`|<b>é"


def _container(name: str = "web", cid: str = "a" * 64, **kw: object) -> ContainerFix:
    current = shlex.join(["docker", "run", "-d", "--name", name, "--privileged", "nginx:1.25"])
    fixed = shlex.join(
        ["docker", "run", "-d", "--name", name, "--cap-drop", "ALL", "--pids-limit", "100", "nginx:1.25"]
    )
    values: dict[str, object] = {
        "container_id": cid,
        "name": name,
        "current_run": current,
        "fixed_run": fixed,
        "current_compose": "services:\n  web:\n    image: nginx:1.25\n    privileged: true\n",
        "fixed_compose": "services:\n  web:\n    image: nginx:1.25\n    cap_drop: [ALL]\n    pids_limit: 100\n",
        "changes": (
            Change("5.5", "--privileged removed", "a privileged container is root on the host", "needs devices"),
            Change("5.29", "--pids-limit 100", "a fork bomb stays in the container", review="pick the limit"),
        ),
    }
    values.update(kw)
    return ContainerFix(**values)  # type: ignore[arg-type]


def _fixes(*containers: ContainerFix, host: str = "web-01") -> HostFixes:
    return HostFixes(
        host=host,
        daemon_json=FileFix(
            "daemon.json", '{\n  "icc": false\n}\n', (Change("2.2", '"icc": false', "containers cannot talk freely"),)
        ),
        audit_rules=FileFix(
            "audit.rules", "-w /usr/bin/dockerd -k docker\n", (Change("1.1.3", "-w /usr/bin/dockerd", "audit"),)
        ),
        permissions=FileFix(
            "permissions.sh",
            "#!/bin/sh\nset -eu\nchmod 644 /etc/docker/daemon.json\n",
            (Change("3.18", "chmod 644 /etc/docker/daemon.json", "only root may change it"),),
        ),
        containers=containers or (_container(),),
    )


def test_it_lays_out_readme_host_files_and_one_directory_per_container() -> None:
    files = bundle.layout(_fixes(_container("web"), _container("db", "b" * 64)))
    assert list(files)[:4] == ["README.md", "daemon.json", "audit.rules", "permissions.sh"]
    for name in ("web", "db"):
        for f in ("run.sh", "compose.current.yml", "compose.yml"):
            assert f"containers/{name}/{f}" in files
    assert files["daemon.json"] == '{\n  "icc": false\n}\n'


def test_readme_says_nothing_is_applied_and_lists_every_change() -> None:
    readme = bundle.layout(_fixes())["README.md"]
    assert "Nothing in this bundle has been applied" in readme
    assert "| Check | Change | Why | May break | Review |" in readme
    for check_id in ("2.2", "1.1.3", "3.18", "5.5", "5.29"):
        assert f"| {check_id} |" in readme
    assert "| needs devices |" in readme
    assert "**review**: pick the limit" in readme


def test_readme_cells_cannot_break_the_table_or_carry_html() -> None:
    c = _container(changes=(Change("5.4", "a | b\nc", "<script>x</script>"),))
    readme = bundle.layout(_fixes(c))["README.md"]
    row = next(line for line in readme.splitlines() if line.startswith("| 5.4 |"))
    assert r"a \| b c" in row
    assert "&lt;script&gt;" in row and "<script>" not in readme


def test_run_sh_comments_todays_line_and_runs_the_hardened_one() -> None:
    run = bundle.layout(_fixes())["containers/web/run.sh"]
    assert run.startswith("#!/bin/sh\n")
    live = [line for line in run.splitlines() if line and not line.startswith("#")]
    assert live[0] == "set -eu"
    command = " ".join(live[1:]).replace("\\", "")
    assert "--cap-drop ALL" in command and "--privileged" not in command
    assert "# docker run -d --name web --privileged nginx:1.25" in run
    assert "#   5.29: --pids-limit 100" in run and "#       REVIEW: pick the limit" in run


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("name", ["web", HOSTILE, "x'y\"z\\"])
def test_run_sh_passes_shellcheck(tmp_path: Path, name: str) -> None:
    script = tmp_path / "run.sh"
    script.write_text(bundle.layout(_fixes(_container(name)))[f"containers/{bundle.safe_name(name)}/run.sh"])
    done = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_a_hostile_name_cannot_end_a_comment_or_expand_in_run_sh(tmp_path: Path) -> None:
    fix = _container(HOSTILE, current_run=f"docker run --name {HOSTILE} x")
    run = bundle.layout(_fixes(fix))[f"containers/{bundle.safe_name(HOSTILE)}/run.sh"]
    head, hardened = run.split("# Hardened:\n")
    for line in head.splitlines():
        assert line.startswith(("#", "set -eu")) or not line, line
    # What sh would run: docker, with the name as one literal argument.
    assert shlex.split(hardened.replace("\\\n", " "))[4] == HOSTILE


@pytest.mark.parametrize("token", ["plain", "a b", HOSTILE, "x'y\"z\\", "$HOME", "", "-", "a\\"])
def test_sh_quote_gives_sh_the_token_literally(token: str) -> None:
    done = subprocess.run(
        ["sh", "-c", f"printf %s {bundle.sh_quote(token)}"], capture_output=True, text=True, check=True
    )
    assert done.stdout == token


def test_an_unreadable_hardened_line_is_left_as_a_comment_and_the_script_exits() -> None:
    run = bundle.run_script("h", _container(fixed_run="docker run 'unclosed"))
    live = [line for line in run.splitlines() if line and not line.startswith("#")]
    assert live == ["set -eu", "exit 1"]


def test_compose_files_hold_today_and_hardened_with_the_changes_as_comments() -> None:
    files = bundle.layout(_fixes())
    current, fixed = files["containers/web/compose.current.yml"], files["containers/web/compose.yml"]
    assert "privileged: true" in current and "cap_drop: [ALL]" in fixed
    assert "#   5.5: --privileged removed" in fixed
    import yaml

    assert yaml.safe_load(fixed)["services"]["web"]["pids_limit"] == 100
    assert yaml.safe_load(current)["services"]["web"]["privileged"] is True


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/web", "web"),
        ("../../etc", "etc"),
        ("a/b\\c", "a-b-c"),
        ("café☕", "cafe"),
        ("..", "container"),
        ("☕", "container"),
        (".hidden", "hidden"),
        ("x" * 200, "x" * 60),
    ],
)
def test_safe_name_folds_hostile_names(name: str, expected: str) -> None:
    assert bundle.safe_name(name) == expected


def test_container_directories_are_unique_even_ignoring_case() -> None:
    containers = [
        _container("web", "1" * 64),
        _container("WEB", "2" * 64),
        _container("web/", "3" * 64),
        _container("web", "3" * 64 + "x"),
    ]
    dirs = bundle.container_dirs(containers)
    assert len({d.lower() for d in dirs.values()}) == len(containers) == len(dirs)
    assert dirs["1" * 64] == "web"
    assert dirs["2" * 64] == "WEB-222222222222"


def test_a_file_fix_name_that_is_a_path_becomes_the_default_name() -> None:
    for filename in ("/etc/docker/../../root/.bashrc", "../.bashrc", "README.md", "a b"):
        fixes = HostFixes(host="h", daemon_json=FileFix(filename, "{}"))
        assert list(bundle.layout(fixes)) == ["README.md", "daemon.json"]
    fixes = HostFixes(host="h", daemon_json=FileFix("/etc/docker/daemon.json.patch.json", "{}"))
    assert list(bundle.layout(fixes)) == ["README.md", "daemon.json.patch.json"]


def test_a_host_with_nothing_to_fix_gets_a_readme_that_says_so() -> None:
    files = bundle.layout(HostFixes(host="clean"))
    assert list(files) == ["README.md"]
    assert "found nothing this bundle can fix" in files["README.md"]


def test_write_dir_makes_the_directory_with_file_and_script_modes(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        written = bundle.write_dir(_fixes(), tmp_path / "new" / "fixes")
    finally:
        os.umask(old)
    top = tmp_path / "new" / "fixes"
    assert sorted(p.relative_to(top).as_posix() for p in written) == sorted(bundle.layout(_fixes()))
    assert stat.S_IMODE((top / "README.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((top / "permissions.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((top / "containers/web/run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((top / "containers/web/compose.yml").stat().st_mode) == 0o644


def test_write_dir_refuses_a_symlink_out_of_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    top = tmp_path / "fixes"
    top.mkdir()
    (top / "containers").symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        bundle.write_dir(_fixes(), top)
    assert not list(outside.iterdir())
    assert not (top / "README.md").exists()  # refused before anything was written


def test_write_dir_does_not_write_through_a_file_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    top = tmp_path / "fixes"
    top.mkdir()
    (top / "README.md").symlink_to(victim)
    with pytest.raises(ValueError, match="symbolic link"):
        bundle.write_dir(_fixes(), top)
    assert victim.read_text() == "keep"


def test_write_dir_overwrites_an_earlier_bundle(tmp_path: Path) -> None:
    bundle.write_dir(_fixes(), tmp_path)
    bundle.write_dir(_fixes(host="again"), tmp_path)
    assert "# Fixes for again" in (tmp_path / "README.md").read_text()


def test_tar_gz_holds_the_bundle_under_one_top_directory() -> None:
    data = bundle.tar_gz(_fixes(host="web/01"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert all(n.startswith("dockerbench-fixes-web-01") and not n.startswith("/") for n in names)
        assert all(".." not in n.split("/") for n in names)
        by_name = {m.name: m for m in members}
        run = by_name["dockerbench-fixes-web-01/containers/web/run.sh"]
        assert run.mode == 0o755 and run.mtime == bundle.MTIME and run.uid == 0
        assert by_name["dockerbench-fixes-web-01/README.md"].mode == 0o644
        assert by_name["dockerbench-fixes-web-01/containers"].isdir()
        readme = tar.extractfile("dockerbench-fixes-web-01/README.md")
        assert readme is not None and b"# Fixes for web/01" in readme.read()


def test_tar_gz_is_the_same_bytes_for_the_same_fixes() -> None:
    assert bundle.tar_gz(_fixes()) == bundle.tar_gz(_fixes())
    assert bundle.tar_gz(_fixes()) != bundle.tar_gz(_fixes(host="other"))


def test_tar_gz_extracts_safely_with_the_data_filter(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(bundle.tar_gz(_fixes(_container(HOSTILE)))), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    assert (tmp_path / "dockerbench-fixes-web-01" / "containers" / bundle.safe_name(HOSTILE) / "run.sh").is_file()
