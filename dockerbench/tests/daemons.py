"""Real daemons for the engine's integration tests: a dockerd in a network namespace of its own
(optionally on tcp with mutual TLS, through a veth, with certificates made here) and an sshd on loopback.

Plain context managers and functions; conftest.py holds the fixtures over them. Each context manager
undoes what it did (containers, processes, mounts, namespaces, veths, temporary directories) even when
the test fails. A missing prerequisite fails the test: these tests never skip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_IMAGE = "dockerbench/busybox:test"
HOST_DOCKER = "unix:///var/run/docker.sock"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 40.0


def need(condition: bool, what: str) -> None:
    """Fail (never skip) when the machine lacks something these tests need."""
    if not condition:
        pytest.fail(f"prerequisite missing: {what}", pytrace=False)


def run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


# -- a socket in front of dockerd ----------------------------------------------


class DockerSocketProxy:
    """A unix socket in front of a dockerd's that passes every byte on both ways, calling ``hold()`` before each
    chunk a client sends: a gate that holds requests until a test says so, or the delay of a far network."""

    def __init__(self, path: Path, upstream: str, hold: Callable[[], None]) -> None:
        self.path, self.upstream, self._hold = path, upstream, hold
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(256)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.upstream)
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()
            self._pump(client, upstream, self._hold)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, hold: Callable[[], None] | None) -> None:
        try:
            while data := src.recv(65536):
                if hold is not None:
                    hold()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


# -- certificates --------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for one IP, a client certificate, and impostors."""

    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed neither of the above
    other_client_cert: Path  # a client certificate signed by other_ca
    other_client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    ip: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, server_ip: str) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {n: directory / f"{n}.pem" for n in Pki.__dataclass_fields__ if n != "dir"}

    ca_key, other_ca_key = _key(), _key()
    ca = _cert("dockerbench test CA", ca_key, None, ca=True)
    other_ca = _cert("dockerbench impostor CA", other_ca_key, None, ca=True)
    _write_cert(paths["ca"], ca)
    _write_cert(paths["other_ca"], other_ca)
    for prefix, subject, issuer, usage, ip in (
        ("server", "dockerd", (ca.subject, ca_key), ExtendedKeyUsageOID.SERVER_AUTH, server_ip),
        ("client", "auditor", (ca.subject, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH, None),
        ("other_client", "intruder", (other_ca.subject, other_ca_key), ExtendedKeyUsageOID.CLIENT_AUTH, None),
    ):
        key = _key()
        _write_key(paths[f"{prefix}_key"], key)
        _write_cert(paths[f"{prefix}_cert"], _cert(subject, key, issuer, usage=usage, ip=ip))
    return Pki(dir=directory, **paths)


# -- network namespaces --------------------------------------------------------


@dataclass(frozen=True)
class Netns:
    name: str
    host_ip: str | None = None  # our end of the veth
    ns_ip: str | None = None  # the namespace's end: where its daemon listens


def _free_subnet() -> ipaddress.IPv4Network:
    used = run("ip", "-4", "-o", "addr", "show").stdout
    for _ in range(200):
        third, fourth = secrets.randbelow(256), secrets.randbelow(64) * 4
        net = ipaddress.IPv4Network(f"10.213.{third}.{fourth}/30")
        if f" {net[1]}/" not in used and f" {net[2]}/" not in used:
            return net
    raise RuntimeError("no free 10.213.x.y/30 subnet")


@contextlib.contextmanager
def netns(with_veth: bool) -> Iterator[Netns]:
    """A fresh network namespace, optionally joined to the host by a veth pair in a private /30.

    On the way out every process left in it is killed, then the veth (its peer goes with it) and the namespace.
    """
    need(os.geteuid() == 0, "root (to create network namespaces and run dockerd)")
    need(shutil.which("ip") is not None, "iproute2 (the ip command)")
    tag = secrets.token_hex(3)
    name = f"dbtest-{tag}"
    host_if, ns_if = f"dbh{tag}", f"dbn{tag}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        if not with_veth:
            yield Netns(name)
            return
        net = _free_subnet()
        host_ip, ns_ip = str(net[1]), str(net[2])
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        run("ip", "link", "set", ns_if, "netns", name)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        run("ip", "-n", name, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        run("ip", "-n", name, "link", "set", ns_if, "up")
        yield Netns(name, host_ip, ns_ip)
    finally:
        for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        if with_veth:
            run("ip", "link", "del", host_if, check=False)
        run("ip", "netns", "del", name, check=False)


# -- dockerd -------------------------------------------------------------------


@dataclass(frozen=True)
class Dockerd:
    """A dockerd of our own: its data root, exec root, pidfile, log and sockets, in its own namespace."""

    root: Path
    netns: str
    proc: subprocess.Popen[bytes]
    pki: Pki | None = None  # with tls: the certificates it and its clients use
    tcp_url: str | None = None  # with tls: tcp://<veth ip>:2376

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def argv(self) -> tuple[str, ...]:
        """As /proc/<pid>/cmdline has it."""
        cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        return tuple(os.fsdecode(a) for a in cmdline)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    unix_url = url  # the name the remote tests use, beside tcp_url

    def client(self, timeout: int = 60) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version="auto", timeout=timeout)

    def kill(self) -> None:
        """Stop it the hard way (SIGKILL), and wait until it is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-25:])
        except OSError:
            return ""


def _unmount_under(root: Path) -> None:
    """Lazily unmount whatever the daemon left mounted under its directories."""
    prefix = str(root) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        run("umount", "-l", point, check=False)


def _wait_for_daemon(d: Dockerd) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if d.proc.poll() is not None:
            pytest.fail(f"dockerd exited during startup:\n{d.log_tail()}", pytrace=False)
        if d.socket.exists():
            with contextlib.suppress(Exception):  # not up yet
                c = d.client(timeout=5)
                c.ping()
                c.close()
                return
        time.sleep(0.1)
    pytest.fail(f"dockerd did not answer within {START_TIMEOUT:g} s:\n{d.log_tail()}", pytrace=False)


def _remove_containers(d: Dockerd) -> None:
    if d.proc.poll() is not None:
        return
    with contextlib.suppress(Exception):
        c = d.client(timeout=30)
        for row in c.containers(all=True):
            with contextlib.suppress(Exception):
                c.remove_container(row["Id"], force=True)
        c.close()


@contextlib.contextmanager
def netns_dockerd_running(
    *, tls: bool = False, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[Dockerd]:
    """Start a dockerd in a fresh network namespace; on the way out remove its containers and stop it.

    --bridge=none and --iptables=false are safe only because it has its own namespace: in the host's
    they would delete docker0 under the host daemon. With ``tls`` the namespace is joined to the host
    by a veth and the daemon also listens on tcp://<its veth ip>:2376 with --tlsverify, its server
    certificate naming that IP. ``extra_args`` go on dockerd's command line, ``env`` into its environment.
    """
    need(os.path.exists(DOCKERD), f"dockerd at {DOCKERD}")
    need(shutil.which("nsenter") is not None, "util-linux (nsenter)")
    root = Path(tempfile.mkdtemp(prefix="dbd-"))
    try:
        with netns(with_veth=tls) as ns:
            argv = [
                DOCKERD,
                "--data-root", str(root / "data"),
                "--exec-root", str(root / "exec"),
                "--pidfile", str(root / "dockerd.pid"),
                "--host", f"unix://{root / 'docker.sock'}",
                "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
                "--shutdown-timeout", "2",
                # Named after the netns (hex): mkdtemp's names may hold "_", which containerd refuses.
                "--containerd-namespace", ns.name,
                "--containerd-plugins-namespace", f"{ns.name}-plugins",
            ]  # fmt: skip
            pki = tcp_url = None
            if tls and ns.ns_ip:
                pki = make_pki(root / "pki", ns.ns_ip)
                tcp_url = f"tcp://{ns.ns_ip}:2376"
                argv += [
                    "--host", tcp_url, "--tlsverify",
                    "--tlscacert", str(pki.ca), "--tlscert", str(pki.server_cert), "--tlskey", str(pki.server_key),
                ]  # fmt: skip
            with open(root / "dockerd.log", "wb") as log:
                # nsenter, not `ip netns exec`: that one also remounts /sys in a new mount
                # namespace, which hides the cgroup v1 mounts dockerd needs. nsenter execs
                # dockerd in place, so proc.pid is dockerd's pid.
                proc = subprocess.Popen(
                    ["nsenter", f"--net=/run/netns/{ns.name}", *argv, *extra_args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, **(env or {})},
                )
            d = Dockerd(root=root, netns=ns.name, proc=proc, pki=pki, tcp_url=tcp_url)
            try:
                _wait_for_daemon(d)
                yield d
            finally:
                _remove_containers(d)
                _stop(proc, timeout=30)
    finally:
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def copy_image(d: Dockerd, image: str = TEST_IMAGE) -> None:
    """Copy ``image`` into the daemon from the host's (no registry is reachable here)."""
    host = docker.APIClient(base_url=HOST_DOCKER, version="auto", timeout=60)
    c = d.client()
    try:
        c.load_image(b"".join(host.get_image(image)))
        need(bool(c.images(name=image)), f"{image} copied into the test daemon")
    finally:
        c.close()
        host.close()


@contextlib.contextmanager
def throwaway_dockerd() -> Iterator[Dockerd]:
    """A dockerd a test may kill, with the test image, in a namespace of its own with no veth."""
    with netns_dockerd_running() as d:
        copy_image(d)
        yield d


def run_container(
    d: Dockerd, name: str, command: str = "sleep 600", *, start: bool = True, **host_config: object
) -> str:
    """Create (and start) a container of the test image on the daemon; returns its id."""
    c = d.client()
    try:
        cfg = c.create_host_config(network_mode="none", init=False, **host_config)
        cid: str = c.create_container(TEST_IMAGE, ["sh", "-c", command], name=name, host_config=cfg)["Id"]
        if start:
            c.start(cid)
        return cid
    finally:
        c.close()


@dataclass(frozen=True)
class TlsEngine:
    daemon: Dockerd
    pki: Pki
    url: str  # tcp://<veth ip>:2376
    containers: dict[str, str]  # name -> id of the containers started for the tests


# -- sshd ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sshd:
    port: int
    dir: Path
    host_key_pub: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    known_hosts: Path  # holds the right host key for [127.0.0.1]:port

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"


@contextlib.contextmanager
def sshd_running(environment: dict[str, str] | None = None) -> Iterator[Sshd]:
    """openssh-server on 127.0.0.1 (a free port), its own host key, root login with a key made here only.

    ``environment`` is put in the sessions' environment (authorized_keys ``environment=``), e.g.
    DOCKER_HOST so that `docker system dial-stdio` reaches a given engine.
    """
    need(os.path.exists(SSHD), f"openssh-server ({SSHD})")
    need(shutil.which("ssh-keygen") is not None, "ssh-keygen")
    directory = Path(tempfile.mkdtemp(prefix="dbssh-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        host_key, client_key = directory / "host_ed25519", directory / "client_ed25519"
        for key in (host_key, client_key):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockerbench-test", "-f", str(key))
        options = ",".join(f'environment="{k}={v}"' for k, v in (environment or {}).items())
        prefix = f"{options} " if options else ""
        (directory / "authorized_keys").write_text(prefix + Path(f"{client_key}.pub").read_text())
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {directory}/sshd.pid\n"
            f"AuthorizedKeysFile {directory}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            # Only when asked: it would also let root's ~/.ssh/environment into the sessions.
            + ("PermitUserEnvironment yes\n" if environment else "")
            + "LogLevel ERROR\n"
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
        yield Sshd(port=port, dir=directory, host_key_pub=host_pub, client_key=client_key, known_hosts=known_hosts)
    finally:
        if proc is not None:
            _stop(proc, timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
