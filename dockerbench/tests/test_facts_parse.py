"""The fact script's output, parsed from recordings of real runs (no daemon needed).

fixtures/facts/probe-two-dockerds.txt: a probe container started through a
second dockerd (own netns, data root and exec root) while the host's ran.
fixtures/facts/hostile-argv-and-path.txt: a local run while a process called
"dockerd" ran from a path and with arguments holding spaces, newlines and
bytes that are not UTF-8. Each .json beside it holds the truth of that run.
Both were recorded with the output format "v 2" (netns_dockerd_running and
fake_dockerd of the integration tests), then cut to the first 12 entries of the
host's mount table to keep them small.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dockerbench.checks.swarm import check_swarm_interface
from dockerbench.collect.facts import FactsError, gather_facts, parse_environment_file, parse_mounts, parse_output
from dockerbench.results import Status
from dockerbench.snapshot import HostFacts, HostSnapshot, from_jsonable, to_jsonable

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def _load(name: str) -> tuple[bytes, dict[str, Any]]:
    return (FIXTURES / f"{name}.txt").read_bytes(), json.loads((FIXTURES / f"{name}.json").read_text())


class Replay:
    """Answers discover with a recording; later runs (stat of more paths) answer ``fetch``, by default nothing."""

    def __init__(self, discover: bytes, method: str, fetch: bytes = b"v 2\nend\n") -> None:
        self.discover = discover
        self.fetch = fetch
        self.method = method
        self.calls: list[list[str]] = []

    def run(self, args: list[str]) -> bytes:
        self.calls.append(args)
        return self.discover if args[0] == "discover" else self.fetch


def _with(data: bytes, *records: bytes) -> bytes:
    """The recording with more records just before its last line ("end")."""
    head, _, _end = data.rstrip(b"\n").rpartition(b"\n")
    return head + b"\n" + b"".join(r + b"\n" for r in records) + b"end\n"


def _od(data: bytes) -> bytes:
    """``data`` as od -An -v -tx1 prints it."""
    rows = [data[i : i + 16] for i in range(0, len(data), 16)]
    return b"\n".join(b"".join(b" %02x" % c for c in row) for row in rows)


def _without(data: bytes, *tags: bytes) -> bytes:
    return b"".join(ln for ln in data.splitlines(keepends=True) if not ln.startswith(tags))


def test_it_picks_the_dockerd_holding_the_audited_socket() -> None:
    raw, truth = _load("probe-two-dockerds")
    facts = gather_facts(Replay(raw, "probe"), endpoint=truth["endpoint"], info={"DockerRootDir": "x"})
    assert facts.dockerd is not None
    assert (facts.dockerd.pid, list(facts.dockerd.argv)) == (truth["serving_pid"], truth["serving_argv"])
    assert facts.dockerd_match == "socket"


def test_without_socket_records_the_probe_uses_its_shim_address() -> None:
    raw, truth = _load("probe-two-dockerds")
    runner = Replay(_without(raw, b"listen ", b"fds "), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": "/elsewhere"})
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert facts.dockerd_match == "probe"


def test_without_socket_records_it_matches_the_data_root() -> None:
    raw, truth = _load("probe-two-dockerds")
    runner = Replay(_without(raw, b"listen ", b"fds ", b"anc "), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": truth["DockerRootDir"]})
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert facts.dockerd_match == "data-root"


def test_it_never_guesses_between_two_dockerds() -> None:
    raw, truth = _load("probe-two-dockerds")
    runner = Replay(_without(raw, b"listen ", b"fds ", b"anc "), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": "/nowhere"})
    assert facts.dockerd is None and facts.dockerd_match == ""
    assert "cannot tell which dockerd" in facts.errors["dockerd"]


def test_a_lone_dockerd_is_the_one() -> None:
    raw, truth = _load("probe-two-dockerds")
    others = tuple(
        ln.split(b" dockerd ")[0]
        for ln in raw.splitlines()
        if ln.startswith(b"proc ")
        and ln.endswith(b" dockerd")
        and not ln.startswith(f"proc {truth['serving_pid']} ".encode())
    )
    assert others  # the recording holds the host's dockerd too
    runner = Replay(_without(raw, b"listen ", b"fds ", b"anc ", *others), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": "/nowhere"})
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert facts.dockerd_match == "only"


def test_the_managed_containerd_and_its_socket_are_the_serving_daemons() -> None:
    raw, truth = _load("probe-two-dockerds")
    disc = parse_output(raw)
    facts = gather_facts(Replay(raw, "probe"), endpoint=truth["endpoint"], info={"DockerRootDir": "x"})
    assert facts.containerd is not None
    (containerd,) = [p for p in disc.procs if p.pid == facts.containerd.pid]
    assert containerd.ppid == truth["serving_pid"]
    assert disc.canonical[truth["endpoint"][len("unix://") :]] == truth["endpoint"][len("unix://") :]


def test_hostile_argv_and_paths_are_decoded_exactly() -> None:
    raw, truth = _load("hostile-argv-and-path")
    disc = parse_output(raw)
    assert disc.complete and not disc.problems
    (proc,) = [p for p in disc.procs if p.pid == truth["pid"]]
    assert [os.fsencode(a).hex() for a in proc.argv] == truth["argv_hex"]
    assert any("\n" in a for a in proc.argv) and any(" " in a for a in proc.argv)
    script = os.fsdecode(bytes.fromhex(truth["script_hex"]))
    assert disc.stats[script].exists and disc.stats[script].kind == "file"


def test_hostile_strings_round_trip_through_json() -> None:
    raw, truth = _load("hostile-argv-and-path")
    disc = parse_output(raw)
    (proc,) = [p for p in disc.procs if p.pid == truth["pid"]]
    script = os.fsdecode(bytes.fromhex(truth["script_hex"]))
    facts = HostFacts(method="local", files={script: disc.stats[script]}, contents={script: "\udcff\n"})
    back = from_jsonable(HostFacts, json.loads(json.dumps(to_jsonable(facts))))
    assert back == facts
    assert os.fsencode(proc.argv[-4]) == b"\xff\xfenot utf-8"


def test_truncated_output_is_reported_not_raised() -> None:
    raw, truth = _load("probe-two-dockerds")
    cut = raw[: raw.index(b"\nmounts ")]
    facts = gather_facts(Replay(cut, "probe"), endpoint=truth["endpoint"], info={"DockerRootDir": "x"})
    assert "ended early" in facts.errors["script"]
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert "mounts" in facts.errors


def test_malformed_lines_are_noted() -> None:
    disc = parse_output(b"v 2\nproc 12 notanumber dockerd\nstat zz ok\nwhat ever\n 00 01\nread =/a ok +\n 0g\nend\n")
    assert disc.complete
    assert len(disc.problems) == 5


def test_record_data_holds_any_byte() -> None:
    content = bytes(range(256)) + b"\n" * 3
    disc = parse_output(b"v 2\nread x2f61206209 ok +\n" + _od(content) + b"\nread =/empty ok +\nend\n")
    assert disc.reads == {"/a b\t": os.fsdecode(content), "/empty": ""}
    assert not disc.problems


def test_output_that_is_not_ours_raises() -> None:
    with pytest.raises(FactsError, match="no recognisable output"):
        parse_output(b"sh: syntax error\n")


def test_mount_fields_are_unescaped() -> None:
    (mount,) = parse_mounts("/dev/sda1 /mnt/with\\040space\\012nl ext4 rw,relatime 0 0\n")
    assert mount.target == "/mnt/with space\nnl"
    assert (mount.source, mount.fstype, mount.options) == ("/dev/sda1", "ext4", "rw,relatime")


# -- /etc/environment, dockerd's environment, the docker group, the swarm state ----


def test_environment_file_is_read_as_pam_env_reads_it() -> None:
    text = (
        "PATH=/usr/bin\n"
        "# DOCKER_HOST=tcp://commented\n"
        "  export DOCKER_CONTENT_TRUST=1\n"
        'DOCKER_CERT_PATH="/etc/docker/client certs"\n'
        "DOCKER_HOST=unix:///run/docker.sock # pam_env keeps the blank before a comment\n"
        "DOCKER_CONFIG='/etc/docker/cli'\n"
        "DOCKER-BAD=1\n"
        "DOCKER_EMPTY=\n"
    )
    assert parse_environment_file(text) == {
        "DOCKER_CONTENT_TRUST": "1",
        "DOCKER_CERT_PATH": "/etc/docker/client certs",
        "DOCKER_HOST": "unix:///run/docker.sock ",
        "DOCKER_CONFIG": "/etc/docker/cli",
        "DOCKER_EMPTY": "",
    }


def _facts(raw: bytes, fetch: bytes = b"v 2\nend\n", info: dict | None = None) -> HostFacts:
    truth = json.loads((FIXTURES / "probe-two-dockerds.json").read_text())
    info = info if info is not None else {"DockerRootDir": truth["DockerRootDir"]}
    return gather_facts(Replay(raw, "probe", fetch), endpoint=truth["endpoint"], info=info)


def test_the_recording_reports_environment_group_and_dockerd_environment() -> None:
    raw, truth = _load("probe-two-dockerds")
    facts = _facts(raw)
    assert facts.environment == {} and "environment" not in facts.errors
    assert facts.dockerd_environment == {} and "dockerd-environment" not in facts.errors
    assert facts.docker_group_name == "docker" and facts.docker_group is not None
    assert facts.roles["containerd-dir"] == "/run/containerd"
    assert facts.errors == {}


def test_etc_environment_docker_variables_reach_the_facts() -> None:
    raw, _ = _load("probe-two-dockerds")
    env = b"envfile ok x" + b"export DOCKER_CONTENT_TRUST=1\n".hex().encode()
    facts = _facts(_with(_without(raw, b"envfile "), env))
    assert facts.environment == {"DOCKER_CONTENT_TRUST": "1"}


def test_a_missing_etc_environment_is_no_error_but_an_unreadable_one_is() -> None:
    raw, _ = _load("probe-two-dockerds")
    missing = _facts(_with(_without(raw, b"envfile "), b"envfile missing"))
    assert missing.environment == {} and "environment" not in missing.errors
    unreadable = _facts(_with(_without(raw, b"envfile "), b"envfile err =permission-denied"))
    assert unreadable.errors["environment"] == "/etc/environment: permission-denied"


def test_the_serving_dockerds_own_docker_variables_are_kept() -> None:
    raw, truth = _load("probe-two-dockerds")
    pid = truth["serving_pid"]
    environ = f"/proc/{pid}/environ:DOCKER_TLS_VERIFY=1\0/proc/{truth['other_pid']}/environ:DOCKER_X=2\0".encode()
    facts = _facts(_with(raw, b"environs +\n" + _od(environ)))
    assert facts.dockerd_environment == {"DOCKER_TLS_VERIFY": "1"}


def test_docker_tls_verify_and_docker_cert_path_name_the_tls_files_to_stat() -> None:
    raw, truth = _load("probe-two-dockerds")
    environ = f"/proc/{truth['serving_pid']}/environ:DOCKER_TLS_VERIFY=1\0".encode()
    environ += f"/proc/{truth['serving_pid']}/environ:DOCKER_CERT_PATH=/etc/dockerd-tls\0".encode()
    runner = Replay(_with(raw, b"environs +\n" + _od(environ)), "probe")
    gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": truth["DockerRootDir"]})
    fetched = [t for call in runner.calls if call[0] == "fetch" for t in call[1:]]
    assert {"s=/etc/dockerd-tls/ca.pem", "s=/etc/dockerd-tls/cert.pem", "s=/etc/dockerd-tls/key.pem"} <= set(fetched)


def test_an_unreadable_dockerd_environment_is_reported() -> None:
    raw, truth = _load("probe-two-dockerds")
    facts = _facts(_with(raw, f"env {truth['serving_pid']} err =permission-denied".encode()))
    assert "permission-denied" in facts.errors["dockerd-environment"]


def test_no_docker_group_gives_an_empty_tuple_and_an_unreadable_group_file_none() -> None:
    raw, _ = _load("probe-two-dockerds")
    base = _without(raw, b"group ", b"gprimary ")
    assert _facts(_with(base, b"group =docker none")).docker_group == ()
    facts = _facts(_with(base, b"group =docker err x" + b"cannot read /etc/group".hex().encode()))
    assert facts.docker_group is None
    assert facts.errors["docker-group"] == "group docker: cannot read /etc/group"


def test_the_group_dockerd_was_told_to_use_is_fetched() -> None:
    raw, truth = _load("probe-two-dockerds")
    pid = truth["serving_pid"]
    argv = "\0".join([*truth["serving_argv"], "-G", "ops", ""]).encode()
    cmdline = b"".join(f"/proc/{pid}/cmdline:".encode() + a + b"\0" for a in argv.split(b"\0")[:-1])
    fetch = b"v 2\ngroup =ops ok =ops 1200 =alice,bob\ngprimary =ops =carol\nend\n"
    runner = Replay(_with(raw, b"cmdlines +\n" + _od(cmdline)), "probe", fetch)
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": truth["DockerRootDir"]})
    assert any(call[0] == "fetch" and "g=ops" in call for call in runner.calls)
    assert facts.docker_group_name == "ops"
    assert facts.docker_group == ("alice", "bob", "carol")


def test_an_active_swarm_reads_its_state_file_where_check_7_2_looks() -> None:
    raw, truth = _load("probe-two-dockerds")
    root = truth["DockerRootDir"]
    state = f"{root}/swarm/docker-state.json"
    info = {"DockerRootDir": root, "Swarm": {"LocalNodeState": "active", "ControlAvailable": True}}
    runner = Replay(_with(raw, f"read ={state} ok +".encode() + b"\n" + _od(b'{"ListenAddr":"0.0.0.0:2377"}')), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info=info)
    assert f"r={state}" in runner.calls[0]
    snap = HostSnapshot(target=truth["endpoint"], collected_at="2024-01-01T00:00:00+00:00", info=info, facts=facts)
    (finding,) = check_swarm_interface(snap)
    assert finding.status is Status.WARN
    assert finding.evidence["listen_addr"] == "0.0.0.0:2377"


def test_an_inactive_swarm_reads_no_state_file() -> None:
    raw, _ = _load("probe-two-dockerds")
    runner = Replay(raw, "probe")
    _truth = json.loads((FIXTURES / "probe-two-dockerds.json").read_text())
    gather_facts(runner, endpoint=_truth["endpoint"], info={"Swarm": {"LocalNodeState": "inactive"}})
    assert not any(t.startswith("r") for call in runner.calls for t in call[1:])
