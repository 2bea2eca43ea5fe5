"""Host facts gathered from the real dockerd of this machine, a second one, a probe container and sshd."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockerbench.checks.swarm import check_swarm_interface
from dockerbench.collect import CollectOptions, _gather_facts
from dockerbench.collect.docker_api import SSHOptions, Target
from dockerbench.collect.facts import (
    FactsError,
    LocalRunner,
    ProbeRunner,
    SshRunner,
    gather_facts,
    parse_output,
)
from dockerbench.results import Status
from dockerbench.snapshot import PROBE_LABEL, HostFacts, HostSnapshot
from dockerbench.tests.daemons import Dockerd, Sshd, netns_dockerd_running

MAIN = "unix:///var/run/docker.sock"
MAIN_PIDFILE = Path("/var/run/docker.pid")

pytestmark = pytest.mark.docker


def _argv(pid: int) -> tuple[str, ...]:
    return tuple(os.fsdecode(a) for a in Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0"))


def _main_truth() -> tuple[int, tuple[str, ...]]:
    """The host daemon's pid from its own pidfile, and its command line from /proc."""
    pid = int(MAIN_PIDFILE.read_text())
    return pid, _argv(pid)


@pytest.fixture(scope="module")
def main_api(docker_url: str) -> Iterator[docker.APIClient]:
    api = docker.APIClient(base_url=MAIN, version="auto", timeout=60)
    yield api
    api.close()


def _kind(mode: int) -> str:
    return {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFSOCK: "socket"}.get(stat.S_IFMT(mode), "other")


def assert_files_match_os_stat(facts: HostFacts) -> None:
    for role, path in facts.roles.items():
        st = os.stat(path)
        fact = facts.files[path]
        assert (fact.kind, fact.uid, fact.gid, fact.mode) == (
            _kind(st.st_mode),
            st.st_uid,
            st.st_gid,
            stat.S_IMODE(st.st_mode),
        ), role
        assert fact.user == pwd.getpwuid(st.st_uid).pw_name
        assert fact.group == grp.getgrgid(st.st_gid).gr_name


def assert_main_daemon_facts(facts: HostFacts, info: dict[str, Any]) -> None:
    pid, argv = _main_truth()
    assert facts.dockerd is not None
    assert (facts.dockerd.pid, facts.dockerd.argv) == (pid, argv)
    assert facts.dockerd_match == "socket"
    assert facts.roles["data-root"] == info["DockerRootDir"]
    assert facts.roles["docker-sock"] == "/var/run/docker.sock"
    assert facts.files["/var/run/docker.sock"].kind == "socket"
    assert ("daemon.json" in facts.roles) == os.path.exists("/etc/docker/daemon.json")
    assert facts.files["/etc/docker/daemon.json"].exists == os.path.exists("/etc/docker/daemon.json")
    assert facts.containerd is not None
    assert facts.roles["containerd-sock"] == "/var/run/docker/containerd/containerd.sock"
    assert facts.roles["bin:dockerd"] in ("/usr/bin/dockerd", "/usr/sbin/dockerd", "/usr/local/bin/dockerd")
    assert any(m.target == "/" for m in facts.mounts)
    assert_files_match_os_stat(facts)


def test_local_runner_finds_the_dockerd_serving_the_default_socket(main_api: docker.APIClient) -> None:
    info = main_api.info()
    facts = gather_facts(LocalRunner(), endpoint=MAIN, info=info)

    assert facts.method == "local"
    assert_main_daemon_facts(facts, info)
    assert facts.hostname == socket.gethostname()
    assert facts.docker_group_name == "docker"
    assert facts.docker_group == _group_members("docker")
    assert facts.audit_source in ("auditctl", "files")
    assert facts.environment == _etc_environment_docker_variables()
    assert facts.dockerd_environment == _docker_variables_of(_main_truth()[0])
    assert facts.errors == {}


def _group_members(name: str) -> tuple[str, ...]:
    """What 1.1.2 should list for a group: () when the host has no such group."""
    try:
        group = grp.getgrnam(name)
    except KeyError:
        return ()
    primary = [u.pw_name for u in pwd.getpwall() if u.pw_gid == group.gr_gid]
    return tuple(dict.fromkeys([*group.gr_mem, *primary]))


def _etc_environment_docker_variables() -> dict[str, str]:
    path = Path("/etc/environment")
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        key, eq, value = line.strip().removeprefix("export ").partition("=")
        if eq and key.startswith("DOCKER_") and not line.lstrip().startswith("#"):
            out[key] = value.strip("\"'")
    return out


def _docker_variables_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (os.fsdecode(e).partition("=") for e in entries if e.startswith(b"DOCKER_"))
    return {k: v for k, _, v in pairs}


def _probe_containers(api: docker.APIClient) -> list[dict[str, Any]]:
    return api.containers(all=True, filters={"label": PROBE_LABEL})


class SpyingClient:
    """The real APIClient, noting how the probe container looked when it started."""

    def __init__(self, api: docker.APIClient) -> None:
        self._api = api
        self.started: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def start(self, container: str) -> None:
        self.started.append(self._api.inspect_container(container))
        self._api.start(container)


def test_probe_runner_finds_the_dockerd_serving_the_default_socket(main_api: docker.APIClient, test_image: str) -> None:
    info = main_api.info()
    spy = SpyingClient(main_api)
    facts = gather_facts(ProbeRunner(spy, test_image), endpoint=MAIN, info=info)

    assert facts.method == "probe"
    assert_main_daemon_facts(facts, info)
    assert facts.errors == {}
    assert spy.started
    for probe in spy.started:
        assert probe["Config"]["Labels"] == {PROBE_LABEL: "1"}
        host = probe["HostConfig"]
        assert host["PidMode"] == "host" and host["NetworkMode"] == "none" and host["ReadonlyRootfs"]
        assert host["Binds"] == ["/:/host:ro"]
        assert sorted(host["CapAdd"]) == ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"] or sorted(host["CapAdd"]) == [
            "DAC_READ_SEARCH",
            "SYS_PTRACE",
        ]
    assert _probe_containers(main_api) == []


def test_probe_and_local_gather_the_same_facts(main_api: docker.APIClient, test_image: str) -> None:
    info = main_api.info()
    local = gather_facts(LocalRunner(), endpoint=MAIN, info=info)
    probe = gather_facts(ProbeRunner(main_api, test_image), endpoint=MAIN, info=info)
    assert probe.roles == local.roles
    assert probe.files == local.files
    assert probe.contents == local.contents
    assert probe.docker_group == local.docker_group
    assert probe.registry_certs == local.registry_certs
    assert probe.environment == local.environment
    assert probe.dockerd_environment == local.dockerd_environment


def test_probe_container_is_removed_when_the_script_fails(main_api: docker.APIClient, test_image: str) -> None:
    with pytest.raises(FactsError, match="failed in the probe container"):
        ProbeRunner(main_api, test_image).run(["no-such-mode"])
    assert _probe_containers(main_api) == []


def test_probe_container_is_removed_on_timeout(main_api: docker.APIClient, test_image: str) -> None:
    with pytest.raises(FactsError, match="did not finish"):
        ProbeRunner(main_api, test_image, timeout=0.01).run(["discover"])
    assert _probe_containers(main_api) == []


def test_missing_probe_image_gives_a_clear_error(main_api: docker.APIClient) -> None:
    with pytest.raises(FactsError) as caught:
        gather_facts(ProbeRunner(main_api, "dockerbench/no-such-image:1"), endpoint=MAIN, info=main_api.info())
    assert str(caught.value) == (
        "probe image dockerbench/no-such-image:1 is not on the host; pull it or set --probe-image"
    )


# -- two daemons ----------------------------------------------------------------


def assert_second_daemon_facts(facts: HostFacts, d: Dockerd) -> None:
    assert facts.dockerd is not None
    assert (facts.dockerd.pid, facts.dockerd.argv) == (d.pid, d.argv)
    assert facts.roles["data-root"] == str(d.data_root)
    assert facts.roles["docker-sock"] == str(d.socket)
    assert facts.roles["containerd-sock"] == str(d.exec_root / "containerd" / "containerd.sock")
    assert facts.containerd is not None
    assert Path(f"/proc/{facts.containerd.pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(d.pid)
    assert_files_match_os_stat(facts)


def test_each_endpoint_names_its_own_dockerd(main_api: docker.APIClient, netns_dockerd: Dockerd) -> None:
    main_facts = gather_facts(LocalRunner(), endpoint=MAIN, info=main_api.info())
    assert_main_daemon_facts(main_facts, main_api.info())

    second = netns_dockerd.client()
    try:
        facts = gather_facts(LocalRunner(), endpoint=netns_dockerd.url, info=second.info())
    finally:
        second.close()
    assert facts.dockerd_match == "socket"
    assert_second_daemon_facts(facts, netns_dockerd)


def test_a_probe_through_the_second_daemon_picks_the_second_daemon(netns_dockerd: Dockerd, test_image: str) -> None:
    api = netns_dockerd.client()
    try:
        facts = gather_facts(ProbeRunner(api, test_image), endpoint=netns_dockerd.url, info=api.info())
        assert facts.method == "probe"
        assert facts.dockerd_match == "socket"
        assert_second_daemon_facts(facts, netns_dockerd)
        assert _probe_containers(api) == []
    finally:
        api.close()


# A dockerd told to give its socket to another group, with DOCKER_* variables of its
# own (and one that is not ours to read), and in a swarm.
OTHER_GROUP = "daemon"
MARKER = "dbfacts-marker"


@pytest.fixture(scope="module")
def swarm_dockerd() -> Iterator[Dockerd]:
    env = {"DOCKER_DBFACTS_MARKER": MARKER, "DBFACTS_NOT_DOCKER": "secret"}
    with netns_dockerd_running(extra_args=("-G", OTHER_GROUP), env=env) as d:
        # A swarm needs an address that is not loopback: a veth pair inside the daemon's own netns.
        for cmd in (
            ("ip", "link", "add", "dbf0", "type", "veth", "peer", "name", "dbf1"),
            ("ip", "addr", "add", "192.0.2.10/24", "dev", "dbf0"),
            ("ip", "link", "set", "dbf1", "up"),
            ("ip", "link", "set", "dbf0", "up"),
        ):
            subprocess.run(["ip", "netns", "exec", d.netns, *cmd], check=True, capture_output=True, timeout=30)
        api = d.client()
        try:
            api.init_swarm(advertise_addr="192.0.2.10", listen_addr="192.0.2.10:2377")
        finally:
            api.close()
        yield d


def test_dockerds_group_environment_and_swarm_state_are_gathered(swarm_dockerd: Dockerd) -> None:
    api = swarm_dockerd.client()
    try:
        info = api.info()
        facts = gather_facts(LocalRunner(), endpoint=swarm_dockerd.url, info=info)
    finally:
        api.close()
    assert facts.dockerd is not None and facts.dockerd.pid == swarm_dockerd.pid
    assert facts.dockerd_environment == {"DOCKER_DBFACTS_MARKER": MARKER}
    assert facts.docker_group_name == OTHER_GROUP
    assert facts.docker_group == _group_members(OTHER_GROUP)
    state = f"{swarm_dockerd.data_root}/swarm/docker-state.json"
    assert facts.contents[state] == Path(state).read_text()
    snap = HostSnapshot(target=swarm_dockerd.url, collected_at="2024-01-01T00:00:00+00:00", info=info, facts=facts)
    (finding,) = check_swarm_interface(snap)
    assert finding.status is Status.PASS
    assert finding.evidence["listen_addr"] == "192.0.2.10:2377"


class WithoutSockets:
    """A real runner whose output loses the socket records, as a probe without SYS_PTRACE would."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.method = runner.method

    def run(self, args: list[str]) -> bytes:
        out = self.runner.run(args)
        return b"".join(line for line in out.splitlines(keepends=True) if not line.startswith((b"listen ", b"fds ")))


def test_without_readable_sockets_the_probe_uses_its_own_ancestry(netns_dockerd: Dockerd, test_image: str) -> None:
    api = netns_dockerd.client()
    try:
        runner = WithoutSockets(ProbeRunner(api, test_image))
        facts = gather_facts(runner, endpoint=netns_dockerd.url, info=api.info())
    finally:
        api.close()
    assert facts.dockerd_match == "probe"
    assert facts.dockerd is not None and facts.dockerd.pid == netns_dockerd.pid


def test_without_readable_sockets_local_falls_back_to_the_data_root(
    main_api: docker.APIClient, netns_dockerd: Dockerd
) -> None:
    facts = gather_facts(WithoutSockets(LocalRunner()), endpoint=MAIN, info=main_api.info())
    assert facts.dockerd_match == "data-root"
    assert facts.dockerd is not None and facts.dockerd.pid == _main_truth()[0]


# -- SSH ---------------------------------------------------------------------------


def _ssh_runner(server: Sshd, **kwargs: Any) -> SshRunner:
    options: dict[str, Any] = {
        "port": server.port,
        "user": "root",
        "key_filename": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "timeout": 30,
    }
    options.update(kwargs)
    return SshRunner("127.0.0.1", **options)


def test_ssh_gathers_the_same_facts_as_local(main_api: docker.APIClient, sshd_server: Sshd) -> None:
    info = main_api.info()
    local = gather_facts(LocalRunner(), endpoint=MAIN, info=info)
    with _ssh_runner(sshd_server) as runner:
        over_ssh = gather_facts(runner, endpoint=MAIN, info=info)
    assert over_ssh.method == "ssh"
    assert_main_daemon_facts(over_ssh, info)
    assert over_ssh.roles == local.roles
    assert over_ssh.files == local.files
    assert over_ssh.contents == local.contents
    assert over_ssh.docker_group == local.docker_group
    assert over_ssh.hostname == local.hostname
    assert over_ssh.environment == local.environment
    assert over_ssh.dockerd_environment == local.dockerd_environment


def test_collecting_over_ssh_closes_the_connection(main_api: docker.APIClient, sshd_server: Sshd) -> None:
    options = CollectOptions(
        facts="ssh",
        ssh_url=f"root@127.0.0.1:{sshd_server.port}",
        ssh=SSHOptions(key_file=str(sshd_server.client_key), known_hosts=str(sshd_server.known_hosts)),
    )
    before = _open_sockets()
    facts = _gather_facts("ssh", main_api, Target(url=MAIN, timeout=30), options, main_api.info()).facts
    assert facts.method == "ssh" and facts.dockerd is not None
    assert _open_sockets() == before


def _open_sockets() -> set[str]:
    fds = Path("/proc/self/fd")
    return {link for fd in fds.iterdir() if (link := _readlink(fd)).startswith("socket:")}


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_ssh_refuses_an_unknown_host_key(sshd_server: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with _ssh_runner(sshd_server, known_hosts=str(empty)) as runner, pytest.raises(FactsError, match="host key"):
        runner.run(["stat", "/"])


def test_ssh_accepts_an_unknown_host_key_when_told_to(sshd_server: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with _ssh_runner(sshd_server, known_hosts=str(empty), accept_unknown_host=True) as runner:
        out = parse_output(runner.run(["stat", "/"]))
    assert out.stats["/"].kind == "dir"
    assert empty.read_text() == ""  # accepting a key does not write it anywhere


# -- hostile bytes ---------------------------------------------------------------

HOSTILE_DIR = b"dir with space\nnewline \xff\xfe"
HOSTILE_ARGS = [b"--label", b"a b", b"line\nbreak", b"\xff\xfenot utf-8", b"", b"tab\there", b"back\\slash"]


@contextlib.contextmanager
def fake_dockerd() -> Iterator[tuple[int, tuple[str, ...], str]]:
    """A process the kernel calls "dockerd" (a script of that name), at a path and with args full of hostile bytes."""
    base = tempfile.mkdtemp(prefix="dbfacts-hostile-")
    directory = os.path.join(os.fsencode(base), HOSTILE_DIR)
    os.mkdir(directory)
    script = os.path.join(directory, b"dockerd")
    with open(script, "wb") as f:
        f.write(b"#!/bin/sh\nsleep 600\n")
    os.chmod(script, 0o700)
    proc = subprocess.Popen([script, *HOSTILE_ARGS], start_new_session=True)
    try:
        for _ in range(100):  # until the kernel has exec'd the script
            if _argv(proc.pid)[-1:] == (os.fsdecode(HOSTILE_ARGS[-1]),):
                break
            subprocess.run(["sleep", "0.02"], check=True)
        yield proc.pid, _argv(proc.pid), os.fsdecode(script)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(base)


def test_hostile_bytes_in_argv_and_paths_survive_the_round_trip() -> None:
    with fake_dockerd() as (pid, argv, script):
        out = LocalRunner().run(["discover", "sx" + os.fsencode(script).hex()])
        disc = parse_output(out)
        st = os.stat(script)
    (proc,) = [p for p in disc.procs if p.pid == pid]
    assert proc.kind == "dockerd"
    assert proc.argv == argv
    assert [os.fsencode(a) for a in proc.argv[-len(HOSTILE_ARGS) :]] == HOSTILE_ARGS
    fact = disc.stats[script]
    assert fact.exists and fact.kind == "file" and fact.mode == stat.S_IMODE(st.st_mode) == 0o700
    assert disc.complete and not disc.problems
