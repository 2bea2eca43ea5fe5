"""The host's fixes, proven on real dockerds: the daemon.json patch is restarted with, the permissions script is run.

Every daemon here is one of our own, in a network namespace of its own (daemons.py); the only files
changed are under its temporary directories and the test's own. The audit rules cannot be loaded here
(no auditd in this VM), so they are proven by the checks themselves: fed back as the host's rules, every
section 1.1 WARN is gone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockerbench.catalog import BY_ID
from dockerbench.collect import CollectOptions, Target, collect_snapshot
from dockerbench.fixes.host import HOST_FIXES, audit_rules, daemon_json_patch, permissions_script
from dockerbench.fixes.model import FileFix
from dockerbench.report import check_status, group_by_check
from dockerbench.results import Result, Status
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import FileFact, HostSnapshot
from dockerbench.tests import factories as f
from dockerbench.tests.daemons import Dockerd, netns_dockerd_running

pytestmark = pytest.mark.docker

BAD = (Status.WARN, Status.ERROR)
NOBODY = 65534


def audit(d: Dockerd) -> tuple[HostSnapshot, list[Result]]:
    """A full audit of the test daemon, its host facts read from this machine (its process, its files)."""
    snap = collect_snapshot(Target(d.url), CollectOptions(facts="local"))
    return snap, evaluate(snap)


def verdicts(results: Iterable[Result]) -> dict[str, Status]:
    return {cid: check_status(rs) for cid, rs in group_by_check(results).items()}


def got_worse(before: dict[str, Status], after: dict[str, Status]) -> dict[str, tuple[Status, Status | None]]:
    return {
        cid: (was, after.get(cid))
        for cid, was in before.items()
        if was not in BAD and after.get(cid, Status.ERROR) in (*BAD, Status.SKIP)
    }


def fixed_ids(fix: FileFix) -> set[str]:
    """The checks the file claims to fix: its changes written as working lines, not left for review."""
    return {c.check_id for c in fix.changes if not c.review}


# -- daemon.json: patch, restart, re-audit -------------------------------------------------------


@dataclass(frozen=True)
class Patched:
    fix: FileFix
    before: list[Result]
    after: list[Result]
    snapshot: HostSnapshot  # the audit before the patch
    info: dict[str, Any]  # docker info of the daemon that read the patch


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory) -> Patched:
    """A default dockerd audited, its generated daemon.json installed, and the daemon started again with it."""
    config = tmp_path_factory.mktemp("fixh") / "daemon.json"
    config.write_text("{}\n")
    args = ("--config-file", str(config))
    with netns_dockerd_running(extra_args=args) as d:
        snap, before = audit(d)
    fix = daemon_json_patch(snap, before)
    assert fix is not None
    config.write_text(fix.content)
    # The same command line again: only the file changed. It fails the test if dockerd refuses the file.
    with netns_dockerd_running(extra_args=args) as d:
        _snap, after = audit(d)
        api = d.client()
        try:
            info = api.info()
        finally:
            api.close()
    return Patched(fix, before, after, snap, info)


def test_the_patch_is_valid_json_that_dockerd_starts_with(patched: Patched) -> None:
    assert patched.fix.filename == "daemon.json"
    assert json.loads(patched.fix.content) == {"no-new-privileges": True, "live-restore": True, "userland-proxy": False}
    assert patched.info["LiveRestoreEnabled"] is True  # the restarted daemon read it


def test_every_warn_the_patch_claims_to_fix_is_gone_after_the_restart(patched: Patched) -> None:
    claimed = fixed_ids(patched.fix)
    assert claimed == {"2.14", "2.15", "2.16"}
    before, after = verdicts(patched.before), verdicts(patched.after)
    assert {cid: before[cid] for cid in claimed} == dict.fromkeys(claimed, Status.WARN)
    assert {cid: after[cid] for cid in claimed} == dict.fromkeys(claimed, Status.PASS)


def test_nothing_got_worse_after_the_restart(patched: Patched) -> None:
    assert got_worse(verdicts(patched.before), verdicts(patched.after)) == {}
    assert [r for r in patched.after if r.status is Status.ERROR] == []


def test_options_given_as_flags_are_left_for_review_and_name_the_flag(patched: Patched) -> None:
    changes = {c.check_id: c for c in patched.fix.changes}
    assert "--iptables=false" in changes["2.4"].review
    assert "given as a flag" in changes["2.4"].review
    assert "iptables is off" in changes["2.2"].review  # icc=false needs iptables
    content = json.loads(patched.fix.content)
    assert "iptables" not in content and "icc" not in content


def test_input_only_the_user_has_is_left_for_review(patched: Patched) -> None:
    changes = {c.check_id: c for c in patched.fix.changes}
    warned = {r.check_id for r in patched.before if r.status is Status.WARN and r.check_id.startswith("2.")}
    assert warned == set(changes)  # every section 2 WARN has its change, fixed or for review
    for cid in ("2.9", "2.12", "2.13"):
        assert changes[cid].review


@pytest.mark.parametrize(
    ("daemon_json", "refusal"),
    [
        ({"iptables": True}, "specified both as a flag and in the configuration file"),
        ({"icc": False}, "--iptables=false with --icc=false"),
    ],
)
def test_what_the_patch_leaves_out_would_stop_dockerd(tmp_path: Path, daemon_json: dict, refusal: str) -> None:
    """Why the flagged keys are review: written into the file, dockerd refuses to start."""
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps(daemon_json))
    with (
        pytest.raises(pytest.fail.Exception, match="dockerd exited during startup") as failed,
        netns_dockerd_running(extra_args=("--config-file", str(config))),
    ):
        pass  # were it to start, it is stopped here and pytest.raises fails the test
    assert refusal in str(failed.value)


# -- audit rules -----------------------------------------------------------------------------------


def test_the_audit_rules_watch_every_path_section_1_found_unwatched(patched: Patched) -> None:
    snap, before = patched.snapshot, patched.before
    fix = audit_rules(snap, before)
    assert fix is not None and fix.filename == "audit.rules"
    warned = {r.check_id: r.evidence["path"] for r in before if r.status is Status.WARN and r.check_id < "1.2"}
    assert "1.1.3" in warned and "1.1.5" in warned
    lines = fix.content.splitlines()
    for cid, path in warned.items():
        (i,) = [n for n, line in enumerate(lines) if line.startswith(f"# {cid} ")]
        assert lines[i] == f"# {cid} {BY_ID[cid].title}"
        assert lines[i + 1].startswith(f"-w {path} ") and lines[i + 1].endswith(" -k docker")
    # Fed back as the host's rules, the same checks find every path watched.
    assert snap.facts is not None
    facts = dataclasses.replace(snap.facts, audit_rules=tuple(lines), audit_source="files")
    again = verdicts(evaluate(dataclasses.replace(snap, facts=facts), warned))
    assert again == dict.fromkeys(warned, Status.PASS)


def test_a_path_two_audit_checks_share_is_watched_once() -> None:
    sock = "/run/containerd/containerd.sock"
    facts = f.facts(
        roles={"containerd-sock": sock, "bin:runc": "/usr/bin/runc"},
        files=[f.file(sock, kind="socket"), f.file("/usr/bin/runc", 0o755)],
        audit_rules=(),
    )
    results = [
        Result("1.1.8", Status.WARN, evidence={"path": sock}),
        Result("1.1.4", Status.WARN, evidence={"path": sock}),  # as a host without /run/containerd would give
    ]
    fix = audit_rules(f.snapshot(host_facts=facts), results)
    assert fix is not None
    assert fix.content.count(f"-w {sock} ") == 1
    assert "# already watched above, for 1.1.8" in fix.content


# -- permissions: make section 3 WARN on a test daemon's files, run the script, re-audit -------------


def _under(path: str, roots: Iterable[Path]) -> bool:
    return any(path == str(r) or path.startswith(f"{r}/") for r in roots)


def _script_paths(content: str) -> list[str]:
    """The last word (the path) of every command line of a permissions script."""
    lines = content.splitlines()
    assert lines[:1] == ["#!/bin/sh"] and "set -eu" in lines
    commands = [shlex.split(line) for line in lines if line and not line.startswith("#") and line != "set -eu"]
    assert {c[0] for c in commands} <= {"chown", "chmod"}
    return [c[-1] for c in commands]


def shellcheck(script: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck (apt, installed by scripts/services.sh)"
    done = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_permissions_script_fixes_what_section_3_found_on_a_test_daemon(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text("{}\n")
    # With TLS the daemon's own flags name its CA, certificate and key (made 644/644/600, looser than 3.x want).
    with netns_dockerd_running(tls=True, extra_args=("--config-file", str(config))) as d:
        ours = (d.root, tmp_path)
        containerd_sock = d.exec_root / "containerd" / "containerd.sock"
        config.chmod(0o666)
        os.chown(config, NOBODY, NOBODY)
        d.socket.chmod(0o666)
        os.chown(d.socket, 0, 0)
        containerd_sock.chmod(0o666)
        assert d.pki is not None
        for tls_file in (d.pki.ca, d.pki.server_cert, d.pki.server_key):  # 3.9, 3.11, 3.13: not root's
            os.chown(tls_file, NOBODY, NOBODY)
        snap, before = audit(d)
        # Only this daemon's files are ours to change: the host's own (units, /etc/docker) are left out.
        mine = [r for r in before if not r.check_id.startswith("3.") or _under(str(r.evidence.get("path")), ours)]
        warned = {r.check_id for r in mine if r.status is Status.WARN and r.check_id.startswith("3.")}
        assert warned == {"3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15", "3.16", "3.17", "3.18", "3.24"}

        fix = permissions_script(snap, mine)
        assert fix is not None and fix.filename == "permissions.sh"
        assert fixed_ids(fix) == warned
        assert all(_under(p, ours) for p in _script_paths(fix.content))
        script = tmp_path / "permissions.sh"
        script.write_text(fix.content)
        shellcheck(script)
        subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=60)

        _snap, after = audit(d)
    again = verdicts(r for r in after if r.check_id.startswith("3."))
    assert {cid: again[cid] for cid in warned} == dict.fromkeys(warned, Status.PASS)
    assert got_worse(verdicts(r for r in before if r.check_id.startswith("3.")), again) == {}


def _stat_fact(path: Path) -> FileFact:
    st = path.stat()
    return FileFact(str(path), True, "file", st.st_uid, st.st_gid, "root", "root", stat.S_IMODE(st.st_mode))


def test_the_permissions_script_quotes_hostile_paths(tmp_path: Path) -> None:
    """A file name that is shell code is only ever a name: the script passes shellcheck and touches that file."""
    pki = tmp_path / "it's $(touch pwned) `id` ; rm -rf x"
    pki.mkdir()
    ca, key = pki / "ca .pem", pki / "-key.pem"
    for path in (ca, key):
        path.write_text("x")
        path.chmod(0o666)
    facts = f.facts(roles={"tlscacert": str(ca), "tlskey": str(key)}, files=[_stat_fact(ca), _stat_fact(key)])
    snap = f.snapshot(host_facts=facts)
    results = evaluate(snap, ["3.10", "3.14"])
    fix = permissions_script(snap, results)
    assert fix is not None
    script = tmp_path / "permissions.sh"
    script.write_text(fix.content)
    shellcheck(script)
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=60, cwd=tmp_path)
    assert (stat.S_IMODE(ca.stat().st_mode), stat.S_IMODE(key.stat().st_mode)) == (0o444, 0o400)
    assert not (tmp_path / "pwned").exists() and not list(pki.parent.glob("pwned"))


def test_chmod_only_removes_bits() -> None:
    path = "/etc/docker/daemon.json"
    facts = f.facts(roles={"daemon.json": path}, files=[f.file(path, 0o4602)])
    snap = f.snapshot(host_facts=facts)
    fix = permissions_script(snap, evaluate(snap, ["3.18"]))
    assert fix is not None
    assert "chmod 600 /etc/docker/daemon.json" in fix.content.splitlines()  # 4602 within 644: not 644


# -- daemon.json from snapshot fixtures: merging, flags, unknown configuration ---------------------

DAEMON_JSON = "/etc/docker/daemon.json"


def host(daemon_json: dict[str, Any] | None, *flags: str, **snapshot_changes: Any) -> HostSnapshot:
    roles = {"daemon.json": DAEMON_JSON} if daemon_json is not None else {}
    contents = {DAEMON_JSON: json.dumps(daemon_json)} if daemon_json is not None else {}
    facts = f.facts(argv=("/usr/bin/dockerd", *flags), roles=roles, contents=contents)
    return f.snapshot(host_facts=facts, **snapshot_changes)


def test_it_keeps_every_setting_the_host_has_and_alters_only_what_warns() -> None:
    mine = {"storage-driver": "overlay2", "labels": ["site=a"], "debug": True, "log-opts": {"max-size": "10m"}}
    snap = host(mine, "-H", "fd://")
    fix = daemon_json_patch(snap, evaluate(snap, select(include=["2"])))
    assert fix is not None
    content = json.loads(fix.content)
    assert list(content)[:4] == list(mine)  # in the host's order, first
    assert {k: content[k] for k in mine} == {**mine, "debug": False}
    assert content["no-new-privileges"] is True and content["icc"] is False


def test_a_flag_is_never_written_to_daemon_json() -> None:
    snap = host({}, "-H", "fd://", "--userland-proxy=true", "--log-level", "debug")
    fix = daemon_json_patch(snap, evaluate(snap, select(include=["2"])))
    assert fix is not None
    content = json.loads(fix.content)
    assert "userland-proxy" not in content and "log-level" not in content
    reviews = {c.what: c.review for c in fix.changes if c.review}
    assert "--userland-proxy=true" in reviews['"userland-proxy": false']
    assert "--log-level debug" in reviews['"log-level": "info"']
    assert "--log-level=info" in reviews['"log-level": "info"']


def test_icc_is_written_when_the_patch_also_turns_iptables_on() -> None:
    snap = host({"iptables": False})
    fix = daemon_json_patch(snap, evaluate(snap, ["2.2", "2.4"]))
    assert fix is not None
    assert json.loads(fix.content) == {"iptables": True, "icc": False}
    assert fixed_ids(fix) == {"2.2", "2.4"}


def test_live_restore_is_left_for_review_in_swarm_mode() -> None:
    snap = host({}, info_changes={**f.swarm_info(), "LiveRestoreEnabled": False})
    results = [Result("2.15", Status.WARN, evidence={"live_restore": False})]
    fix = daemon_json_patch(snap, results)
    assert fix is not None
    assert json.loads(fix.content) == {}
    assert "swarm" in fix.changes[0].review


def test_without_the_daemons_configuration_every_change_is_for_review() -> None:
    snap = f.snapshot(host_facts=None, facts=None, missing={"facts": "no host access"})
    fix = daemon_json_patch(snap, evaluate(snap, select(include=["2"])))
    assert fix is not None
    json.loads(fix.content)
    assert fix.changes and all("merge" in c.review or c.check_id in ("2.9", "2.12", "2.13") for c in fix.changes)


def test_no_warn_no_file() -> None:
    snap = host({})
    assert daemon_json_patch(snap, []) is None
    assert audit_rules(snap, []) is None
    assert permissions_script(snap, []) is None


def test_every_host_check_has_its_kind_and_reason() -> None:
    host_checks = {cid for cid, rec in BY_ID.items() if rec.section in ("1", "2", "3")}
    assert set(HOST_FIXES) == host_checks
    for cid, text in HOST_FIXES.items():
        kind, _, reason = text.partition(": ")
        assert kind in ("fix", "review", "advice") and reason, cid


def test_a_host_with_its_own_daemon_json_keeps_it_and_gets_its_warns_fixed(tmp_path: Path) -> None:
    """A daemon.json that already holds settings, some of them the ones section 2 warns about: the patch keeps
    every key the host has, changes only what warns, and on a real restart every claimed WARN is gone."""
    config = tmp_path / "daemon.json"
    own = {"max-concurrent-downloads": 5, "log-level": "debug", "experimental": True, "labels": ["team=ops"]}
    config.write_text(json.dumps(own, indent=2) + "\n")
    args = ("--config-file", str(config))
    with netns_dockerd_running(extra_args=args) as d:
        snap, before = audit(d)
    fix = daemon_json_patch(snap, before)
    assert fix is not None
    patch = json.loads(fix.content)
    assert patch["max-concurrent-downloads"] == 5 and patch["labels"] == ["team=ops"]  # kept as the host had them
    assert patch["log-level"] == "info" and patch["experimental"] is False
    config.write_text(fix.content)
    with netns_dockerd_running(extra_args=args) as d:
        _after_snap, after = audit(d)
    claimed = fixed_ids(fix)
    assert {"2.3", "2.18", "2.14", "2.15", "2.16"} <= claimed
    was, now = verdicts(before), verdicts(after)
    assert {cid: was[cid] for cid in claimed} == dict.fromkeys(claimed, Status.WARN)
    assert {cid: now[cid] for cid in claimed} == dict.fromkeys(claimed, Status.PASS)
    assert got_worse(was, now) == {}
