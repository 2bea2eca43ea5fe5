"""Fixtures for the engine's integration tests: a second dockerd and an sshd, both real.

``netns_dockerd`` runs a dockerd of its own in a network namespace of its own
(--bridge=none and --iptables=false would tear down docker0 of the host daemon
if it ran in the host's namespace), with the test image loaded into it.
``sshd_server`` runs openssh-server on 127.0.0.1 with its own host key and one
authorized key made for the test. Both clean up after themselves even when a
test fails, and both fail (never skip) when something they need is missing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
SSHD = "/usr/sbin/sshd"


def _need(condition: bool, what: str) -> None:
    if not condition:
        pytest.fail(f"prerequisite missing: {what}", pytrace=False)


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=60)


def _unmount_under(root: Path) -> None:
    """Lazily unmount whatever the daemon left mounted under its directories."""
    prefix = str(root) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        _run("umount", "-l", point, check=False)


@dataclass(frozen=True)
class NetnsDockerd:
    pid: int
    argv: tuple[str, ...]  # as /proc/<pid>/cmdline has it
    netns: str
    root: Path
    socket: Path
    data_root: Path
    exec_root: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self, timeout: int = 60) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version="auto", timeout=timeout)


@contextlib.contextmanager
def netns_dockerd_running(
    image: str | None = None, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[NetnsDockerd]:
    """Start a dockerd in a fresh network namespace; copy ``image`` into it from the host daemon.

    ``extra_args`` go on dockerd's command line, ``env`` into its environment.
    """
    _need(os.geteuid() == 0, "root (to create network namespaces and run dockerd)")
    _need(os.path.exists(DOCKERD), f"dockerd at {DOCKERD}")
    _need(shutil.which("ip") is not None, "iproute2 (the ip command)")
    _need(shutil.which("nsenter") is not None, "util-linux (nsenter)")
    name = f"dbfacts-{secrets.token_hex(3)}"
    root = Path(tempfile.mkdtemp(prefix="dbfacts-dockerd-"))
    sock, data_root, exec_root = root / "docker.sock", root / "data", root / "exec"
    argv = [
        DOCKERD, "--data-root", str(data_root), "--exec-root", str(exec_root), "--pidfile", str(root / "pid"),
        "-H", f"unix://{sock}", "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
        *extra_args,
    ]  # fmt: skip
    _run("ip", "netns", "add", name)
    proc: subprocess.Popen[bytes] | None = None
    try:
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        with open(root / "dockerd.log", "wb") as log:
            # nsenter, not `ip netns exec`: that one also remounts /sys in a new mount
            # namespace, which hides the cgroup v1 mounts dockerd needs. nsenter execs
            # dockerd in place, so proc.pid is dockerd's pid.
            proc = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{name}", *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        deadline = time.monotonic() + 40
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dockerd exited: {(root / 'dockerd.log').read_text()[-2000:]}", pytrace=False)
            if sock.exists():
                with contextlib.suppress(Exception):
                    client = docker.APIClient(base_url=f"unix://{sock}", version="auto", timeout=60)
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd did not answer: {(root / 'dockerd.log').read_text()[-2000:]}", pytrace=False)
            time.sleep(0.1)
        if image:
            host = docker.APIClient(base_url="unix:///var/run/docker.sock", version="auto", timeout=60)
            try:
                client.load_image(b"".join(host.get_image(image)))
            finally:
                host.close()
        client.close()
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        yield NetnsDockerd(
            pid=proc.pid,
            argv=tuple(os.fsdecode(a) for a in cmdline),
            netns=name,
            root=root,
            socket=sock,
            data_root=data_root,
            exec_root=exec_root,
        )
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                c = docker.APIClient(base_url=f"unix://{sock}", version="auto", timeout=20)
                for row in c.containers(all=True):
                    c.remove_container(row["Id"], force=True)
                c.close()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        for pid in _run("ip", "netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", name, check=False)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def netns_dockerd(test_image: str) -> Iterator[NetnsDockerd]:
    """A second dockerd, in its own network namespace, with the test image; gone after the session."""
    with netns_dockerd_running(test_image) as d:
        yield d


@dataclass(frozen=True)
class SshServer:
    port: int
    dir: Path
    client_key: Path
    known_hosts: Path  # holds this server's host key for [127.0.0.1]:port
    host_key_pub: str


@contextlib.contextmanager
def sshd_running() -> Iterator[SshServer]:
    """openssh-server on 127.0.0.1 (a free port), its own host key, root login with a test key only."""
    _need(os.path.exists(SSHD), f"openssh-server ({SSHD})")
    _need(shutil.which("ssh-keygen") is not None, "ssh-keygen")
    directory = Path(tempfile.mkdtemp(prefix="dbfacts-sshd-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        host_key, client_key = directory / "host_ed25519", directory / "client_ed25519"
        for key in (host_key, client_key):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockerbench-test", "-f", str(key))
        (directory / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        config = directory / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {directory}/sshd.pid\n"
            f"AuthorizedKeysFile {directory}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel ERROR\n"
        )
        host_pub = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
        known_hosts = directory / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
        with open(directory / "sshd.log", "wb") as log:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited: {(directory / 'sshd.log').read_text()}", pytrace=False)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                pytest.fail("sshd did not listen within 15 s", pytrace=False)
            time.sleep(0.05)
        yield SshServer(port, directory, client_key, known_hosts, host_pub)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshServer]:
    with sshd_running() as s:
        yield s
