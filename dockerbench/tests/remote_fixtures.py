"""Real remote engines for the collector tests: a dockerd in its own network
namespace (tcp + mutual TLS, certificates made here), an sshd on loopback, and
throwaway daemons the bad-input tests may kill.

Every helper is a context manager that undoes what it did (processes, mounts,
namespaces, veths, temporary directories) even when the test fails. A missing
prerequisite fails the test: these tests never skip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_IMAGE = "dockerbench/busybox:test"
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
    """A fresh network namespace, optionally joined to the host by a veth pair in a private /30."""
    need(shutil.which("ip") is not None, "iproute2 (the ip command)")
    tag = secrets.token_hex(3)
    name = f"dbtest-{tag}"
    host_if, ns_if = f"dbh{tag}", f"dbn{tag}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        if not with_veth:
            yield Netns(name)
            return
        net = _free_subnet()
        host_ip, ns_ip = str(net[1]), str(net[2])
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        run("ip", "link", "set", ns_if, "netns", name)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        run("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up")
        yield Netns(name, host_ip, ns_ip)
    finally:
        for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        run("ip", "link", "del", host_if, check=False)  # takes its peer with it
        run("ip", "netns", "del", name, check=False)


# -- dockerd -------------------------------------------------------------------


@dataclass
class Dockerd:
    """A dockerd of our own: its data root, exec root, pidfile and sockets, in a namespace."""

    root: Path
    ns: Netns
    tcp_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def client(self, timeout: int = 60) -> docker.APIClient:
        return docker.APIClient(base_url=self.unix_url, version="auto", timeout=timeout)

    def kill(self) -> None:
        """Stop it the hard way (SIGKILL), and wait until it is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-25:])
        except OSError:
            return ""


def _unmount_under(root: Path) -> None:
    prefix = str(root) + "/"
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        run("umount", "-l", point, check=False)


def _wait_for_daemon(d: Dockerd) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert d.proc is not None
        if d.proc.poll() is not None:
            pytest.fail(f"dockerd exited during startup:\n{d.log_tail()}", pytrace=False)
        if d.socket.exists():
            try:
                c = d.client(timeout=5)
                c.ping()
                c.close()
                return
            except Exception:  # noqa: S110 - not up yet
                pass
        time.sleep(0.1)
    pytest.fail(f"dockerd did not answer within {START_TIMEOUT:g} s:\n{d.log_tail()}", pytrace=False)


@contextlib.contextmanager
def dockerd(ns: Netns, pki: Pki | None = None, *, image: bool = True) -> Iterator[Dockerd]:
    """Start a dockerd in the network namespace ``ns`` and tear it all down afterwards.

    --bridge=none and --iptables=false are safe only because it has its own
    namespace: in the host's they would delete docker0 under the host daemon.
    With ``pki`` it also listens on tcp://<ns.ns_ip>:2376 with --tlsverify.
    """
    need(os.path.exists(DOCKERD), f"dockerd at {DOCKERD}")
    root = Path(tempfile.mkdtemp(prefix="dbd-"))
    try:
        d = Dockerd(root=root, ns=ns)
        args = [
            "nsenter", f"--net=/run/netns/{ns.name}", DOCKERD,
            "--data-root", str(d.data_root),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "dockerd.pid"),
            "--host", d.unix_url,
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--shutdown-timeout", "2",
            "--containerd-namespace", f"dbtest-{root.name}",
            "--containerd-plugins-namespace", f"dbtest-{root.name}-plugins",
        ]  # fmt: skip
        if pki is not None:
            assert ns.ns_ip
            d.tcp_url = f"tcp://{ns.ns_ip}:2376"
            args += [
                "--host", d.tcp_url, "--tlsverify",
                "--tlscacert", str(pki.ca), "--tlscert", str(pki.server_cert), "--tlskey", str(pki.server_key),
            ]  # fmt: skip
        with open(d.log, "wb") as log:
            d.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for_daemon(d)
            if image:
                load_test_image(d)
            yield d
        finally:
            _remove_containers(d)
            d.stop()
    finally:
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _remove_containers(d: Dockerd) -> None:
    if not d.proc or d.proc.poll() is not None:
        return
    with contextlib.suppress(Exception):
        c = d.client(timeout=30)
        for row in c.containers(all=True):
            with contextlib.suppress(Exception):
                c.remove_container(row["Id"], force=True)
        c.close()


_IMAGE_TAR: bytes | None = None


def _test_image_tar() -> bytes:
    """A root filesystem of busybox-static, as services.sh builds the host's test image."""
    global _IMAGE_TAR
    if _IMAGE_TAR is None:
        busybox = shutil.which("busybox") or "/bin/busybox"
        need(os.path.exists(busybox), "busybox-static (/bin/busybox)")
        applets = run(busybox, "--list").stdout.split()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700)):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, mode
                tar.addfile(info)
            tar.add(busybox, "bin/busybox")
            for applet in applets:
                if applet != "busybox":
                    info = tarfile.TarInfo(f"bin/{applet}")
                    info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                    tar.addfile(info)
            for name, text in (
                ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
                ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
            ):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        _IMAGE_TAR = buf.getvalue()
    return _IMAGE_TAR


def load_test_image(d: Dockerd) -> None:
    """Import dockerbench/busybox:test into the daemon (no registry is reachable here)."""
    c = d.client()
    try:
        repo, tag = TEST_IMAGE.split(":")
        c.import_image_from_data(_test_image_tar(), repository=repo, tag=tag, changes=["ENV PATH=/bin"])
        need(bool(c.images(name=TEST_IMAGE)), f"{TEST_IMAGE} imported into the test daemon")
    finally:
        c.close()


def run_container(
    d: Dockerd, name: str, command: str = "sleep 600", *, start: bool = True, **host_config: object
) -> str:
    """Create (and start) a container of the test image on the daemon; returns its id."""
    c = d.client()
    try:
        cfg = c.create_host_config(network_mode="none", init=False, **host_config)  # type: ignore[arg-type]
        cid: str = c.create_container(TEST_IMAGE, ["sh", "-c", command], name=name, host_config=cfg)["Id"]
        if start:
            c.start(cid)
        return cid
    finally:
        c.close()


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
def sshd(docker_host: str | None = None) -> Iterator[Sshd]:
    """An sshd on 127.0.0.1 with its own host key that accepts one key made here, for root.

    ``docker_host`` is put in the session's environment (authorized_keys
    ``environment=``), so `docker system dial-stdio` reaches that engine.
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
        options = f'environment="DOCKER_HOST={docker_host}" ' if docker_host else ""
        (directory / "authorized_keys").write_text(options + Path(f"{client_key}.pub").read_text())
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {directory}/sshd.pid\n"
            f"AuthorizedKeysFile {directory}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "PermitUserEnvironment yes\nLogLevel ERROR\n"
        )
        host_pub = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
        known_hosts = directory / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
        log = open(directory / "sshd.log", "wb")  # noqa: SIM115 - closed below, after sshd
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        log.close()
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
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


# -- pytest fixtures -----------------------------------------------------------


@dataclass(frozen=True)
class TlsEngine:
    daemon: Dockerd
    pki: Pki
    url: str  # tcp://<veth ip>:2376
    containers: dict[str, str]  # name -> id of the containers started for the tests


@pytest.fixture(scope="session")
def tls_engine() -> Iterator[TlsEngine]:
    """A second dockerd reached over tcp with mutual TLS, in its own namespace, with two containers running."""
    need(os.geteuid() == 0, "root (to create network namespaces and run dockerd)")
    with tempfile.TemporaryDirectory(prefix="dbpki-") as tmp, netns(with_veth=True) as ns:
        assert ns.ns_ip
        pki = make_pki(Path(tmp), ns.ns_ip)  # the server certificate names the veth IP
        with dockerd(ns, pki) as d:
            assert d.tcp_url
            hardened = {"read_only": True, "mem_limit": "64m", "pids_limit": 50}
            ids = {
                "remote-hardened": run_container(d, "remote-hardened", **hardened),
                "remote-loose": run_container(d, "remote-loose", cap_add=["NET_ADMIN"]),
            }
            yield TlsEngine(daemon=d, pki=pki, url=d.tcp_url, containers=ids)


@pytest.fixture(scope="session")
def ssh_engine(tls_engine: TlsEngine) -> Iterator[Sshd]:
    """An sshd on loopback whose sessions talk to the second dockerd (through its unix socket)."""
    with sshd(docker_host=tls_engine.daemon.unix_url) as s:
        yield s


@contextlib.contextmanager
def throwaway_dockerd(image: bool = True) -> Iterator[Dockerd]:
    """A dockerd a test may kill, in a namespace of its own with no veth."""
    need(os.geteuid() == 0, "root (to create network namespaces and run dockerd)")
    with netns(with_veth=False) as ns, dockerd(ns, image=image) as d:
        yield d
