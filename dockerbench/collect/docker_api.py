"""Talking to a Docker engine: connecting (unix, tcp+TLS, ssh) and fetching its objects.

A constant number of API calls per object, never one per check: each container
costs inspect, and top and diff when it runs; each image inspect and history.
Calls run on a small thread pool, and every call has a timeout.
"""

from __future__ import annotations

import dataclasses
import http.client
import logging
import os
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import docker.errors
import paramiko
import paramiko.ssh_exception
import requests
from docker.tls import TLSConfig
from docker.transport.sshconn import SSHConnectionPool, SSHHTTPAdapter

from dockerbench.collect import overlay_diff
from dockerbench.snapshot import PROBE_LABEL, ContainerSnapshot, DiffEntry, ImageSnapshot

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_WORKERS = 8
# The oldest API we talk to (Docker 20.10 speaks 1.41); used only until the
# daemon has told us its own version.
MIN_API_VERSION = "1.41"

# paramiko's transport thread logs a traceback at ERROR when a server does not
# answer; with no handler configured Python would print it on stderr. The
# failure reaches the user as a CollectError; an application that configures
# logging still receives these records.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

# Channels open at once on one SSH connection: below sshd's default MaxSessions of 10.
SSH_MAX_CHANNELS = 8

_DIFF_KINDS = {0: "C", 1: "A", 2: "D"}

# The ps columns `docker top` asks for: those of ps -ef that we keep (UID, PID, PPID, CMD) and the
# kernel's name of each process (COMM, what /proc/PID/comm holds), which argv cannot disguise. dockerd
# splits ps's output at whitespace and joins only the overflow into the last column, so a name with a
# space in it would slide into CMD: the PID printed again after the name (SEP) marks where it ends.
# The host pass (hostprocs.TITLES) gives the same columns.
TOP_PS_ARGS = "-o user=UID -o pid -o ppid -o comm=COMM -o pid=SEP -o args=CMD"
_TOP_ASKED = ["UID", "PID", "PPID", "COMM", "SEP", "CMD"]
TOP_TITLES = ["UID", "PID", "PPID", "COMM", "CMD"]


class CollectError(Exception):
    """The engine could not be reached or refused us; nothing useful was collected."""


@dataclass(frozen=True)
class TLSOptions:
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class SSHOptions:
    key_file: str | None = None
    known_hosts: str | None = None  # default: the user's ~/.ssh/known_hosts
    accept_unknown_host: bool = False
    port: int | None = None


@dataclass(frozen=True)
class Target:
    """Where a Docker engine listens and how to reach it."""

    url: str = "unix:///var/run/docker.sock"
    tls: TLSOptions | None = None
    ssh: SSHOptions | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def scheme(self) -> str:
        return urllib.parse.urlsplit(self.url).scheme or "unix"


class _Client(docker.APIClient):
    """An APIClient that ignores proxy and CA-bundle variables from the environment.

    requests merges REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE into every request and
    lets them win over the CA the TLS config set on the session, so a machine
    with those variables would verify the daemon against the wrong CA. The
    daemon's own CA must decide, so the environment is not trusted at all.
    """

    @property
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, value: bool) -> None:  # requests.Session.__init__ sets it
        pass


class _SSHAdapter(SSHHTTPAdapter):
    """The SDK's paramiko transport, with our key file and host key policy."""

    def __init__(self, base_url: str, options: SSHOptions, timeout: float) -> None:
        self._options = options
        self._connect_timeout = timeout
        try:
            super().__init__(base_url, timeout=timeout, max_pool_size=SSH_MAX_CHANNELS)
        except BaseException:
            if self.ssh_client is not None:
                self.ssh_client.close()  # a half-open transport would keep its thread alive
            raise

    def get_connection(self, url: str, proxies: Any = None) -> SSHConnectionPool:
        """One pool of at most SSH_MAX_CHANNELS channels for every request.

        The SDK keeps a pool per request URL, each holding its own channel
        open, so examining a few containers exceeds sshd's MaxSessions (10 by
        default) and the server refuses channels ("Connect failed"). Requests
        beyond the limit wait for a free channel instead.
        """
        with self.pools.lock:
            pool = self.pools.get("ssh")
            if pool:
                return pool
            transport = self.ssh_client.get_transport() if self.ssh_client else None
            if self.ssh_client and not (transport and transport.is_active()):
                self._connect()
            pool = SSHConnectionPool(
                ssh_client=self.ssh_client, timeout=self.timeout, maxsize=self.max_pool_size, host=self.ssh_host
            )
            pool.block = True
            self.pools["ssh"] = pool
        return pool

    def _create_paramiko_client(self, base_url: str) -> None:
        super()._create_paramiko_client(base_url)
        opts = self._options
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        known_hosts = opts.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        if os.path.exists(known_hosts):
            # Into the in-memory set only: after load_host_keys() paramiko writes every
            # key it accepts back into the user's file (and drops what it cannot parse).
            client.get_host_keys().load(known_hosts)
        client.set_missing_host_key_policy(_TrustThisOnce() if opts.accept_unknown_host else paramiko.RejectPolicy())
        self.ssh_client = client
        if opts.key_file:
            self.ssh_params["key_filename"] = opts.key_file
            # The key the user named, not whatever ~/.ssh or an agent would offer first.
            self.ssh_params["look_for_keys"] = False
            self.ssh_params["allow_agent"] = False
        if not self.ssh_params.get("port"):
            # the SDK passes None on when the URL names no port, which paramiko cannot dial
            self.ssh_params["port"] = opts.port or 22
        self.ssh_params["timeout"] = self._connect_timeout
        self.ssh_params["banner_timeout"] = self._connect_timeout
        self.ssh_params["auth_timeout"] = self._connect_timeout


class _TrustThisOnce(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host key for this connection only (the user asked for it); never save it."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)


def connect(target: Target) -> docker.APIClient:
    """Open a client for a target and check that the engine answers.

    Raises CollectError with a message an operator can act on.
    """
    client: docker.APIClient | None = None
    try:
        client = _open(target)
        client.ping()
    except Exception as exc:
        if client is not None:
            client.close()
        if isinstance(exc, CollectError):
            raise
        raise CollectError(describe_connect_error(target, exc)) from exc
    return client


def _open(target: Target) -> docker.APIClient:
    url = target.url
    scheme = target.scheme
    if scheme == "ssh":
        # The SDK would connect while constructing the client, with no way to
        # pass a key or host-key policy; build it without I/O, then mount ours.
        client = _Client(base_url="unix:///nonexistent", version=MIN_API_VERSION, timeout=target.timeout)
        adapter = _SSHAdapter(url, target.ssh or SSHOptions(), target.timeout)
        client._custom_adapter = adapter
        client.mount("http+docker://ssh", adapter)
        client.base_url = "http+docker://ssh"
        try:
            client._version = client._retrieve_server_version()
        except BaseException:
            client.close()  # and with it the SSH connection
            raise
        return client
    tls: TLSConfig | bool = False
    if target.tls is not None:
        opts = target.tls
        for label, path in (
            ("CA certificate", opts.ca_cert),
            ("client certificate", opts.client_cert),
            ("client key", opts.client_key),
        ):
            if path and not os.path.isfile(path):
                raise CollectError(f"TLS {label} {path} does not exist or is not a file")
        if bool(opts.client_cert) != bool(opts.client_key):
            # Either alone would silently connect with no client certificate at all.
            raise CollectError("mutual TLS needs both a client certificate (--tlscert) and its key (--tlskey)")
        client_cert = (opts.client_cert, opts.client_key) if opts.client_cert and opts.client_key else None
        tls = TLSConfig(client_cert=client_cert, ca_cert=opts.ca_cert, verify=opts.verify)
    if scheme == "tcp" and target.tls is not None:
        url = "https://" + url.split("://", 1)[1]
    return _Client(base_url=url, tls=tls, timeout=target.timeout, version="auto")


def describe_connect_error(target: Target, exc: BaseException) -> str:
    """Turn a connection failure into one line an operator can act on."""
    return " ".join(_describe(target, exc).split())


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error: the SDK, requests and urllib3 each wrap the socket or TLS error once more."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner: object = getattr(current, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(inner, BaseException):
            inner = next((a for a in current.args if isinstance(a, BaseException)), None)
        if inner is None:
            inner = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current


_SSL_REASON = re.compile(r"\[SSL: [A-Z0-9_]+\] (.*?)(?: \(_ssl\.c:\d+\))?$")
# Alerts a TLS server sends when it does not accept the client's certificate (or got none).
_CLIENT_CERT_ALERTS = (
    "BAD_CERTIFICATE",
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
)


def _describe(target: Target, exc: BaseException) -> str:
    where = target.url
    root = _root_cause(exc)
    text = str(exc)
    root_text = str(root)
    tls = target.tls
    if isinstance(root, ssl.SSLCertVerificationError):
        reason = root.verify_message or root_text
        ca = f"the CA in {tls.ca_cert}" if tls and tls.ca_cert else "the system's CAs"
        if "mismatch" in reason or "hostname" in reason.lower():
            return (
                f"TLS verification of {where} failed: the daemon's certificate is not valid for this address ({reason})"
            )
        return f"TLS verification of {where} failed: the daemon's certificate is not signed by {ca} ({reason})"
    if isinstance(root, ssl.SSLError):
        match = _SSL_REASON.search(root_text)
        reason = match.group(1) if match else root_text
        code = str(root.reason or "")
        if any(alert in code for alert in _CLIENT_CERT_ALERTS):
            if tls and tls.client_cert:
                return (
                    f"TLS handshake with {where} failed: the daemon rejected our client certificate "
                    f"{tls.client_cert} ({reason}); it must be signed by the CA the daemon was started with "
                    "(its --tlscacert)"
                )
            return f"TLS handshake with {where} failed: the daemon requires a client certificate ({reason})"
        if "WRONG_VERSION_NUMBER" in code or "wrong version number" in reason:
            return f"TLS handshake with {where} failed: it does not speak TLS (wrong port, or TLS is off there?)"
        if "KEY_VALUES_MISMATCH" in code:
            return f"the TLS client certificate and key given for {where} do not belong together ({reason})"
        return f"TLS handshake with {where} failed: {reason}"
    if "Client sent an HTTP request to an HTTPS server" in text:
        return f"{where} requires TLS: give --tlscacert, --tlscert and --tlskey"
    if isinstance(root, paramiko.BadHostKeyException):
        return f"SSH host key of {where} does not match known_hosts: {root}"
    if isinstance(root, paramiko.SSHException) and "not found in known_hosts" in root_text:
        return f"SSH host key of {where} is unknown; add it to known_hosts or allow unknown host keys"
    if isinstance(root, paramiko.AuthenticationException):
        return f"SSH authentication to {where} failed: {root}"
    if isinstance(root, paramiko.ssh_exception.NoValidConnectionsError):
        return f"cannot connect to the SSH server of {where}: {root_text.removeprefix('[Errno None] ')}"
    if isinstance(root, paramiko.SSHException) and (
        "banner" in root_text.lower() or "No existing session" in root_text
    ):
        # paramiko's words when nothing SSH-like answered before the timeout
        return f"{where} did not answer as an SSH server within {target.timeout:g} s ({root_text})"
    if isinstance(root, paramiko.SSHException):
        return f"SSH connection to {where} failed: {root}"
    if isinstance(root, FileNotFoundError) or (target.scheme == "unix" and "No such file or directory" in text):
        return f"no Docker engine at {where}: the socket does not exist"
    if isinstance(root, PermissionError) or "Permission denied" in text:
        return f"permission denied on {where}: run as root or as a member of the docker group"
    if isinstance(root, ConnectionRefusedError) or "Connection refused" in text:
        return f"cannot connect to the Docker engine at {where}: connection refused (is dockerd listening there?)"
    if isinstance(root, TimeoutError | requests.exceptions.Timeout) or "timed out" in text.lower():
        return f"{where} did not answer within {target.timeout:g} s"
    if target.scheme == "ssh" and isinstance(root, ConnectionError | http.client.RemoteDisconnected):
        return (
            f"the SSH session to {where} closed before the engine answered "
            "(is the docker CLI installed there, and may this user reach the daemon?)"
        )
    if isinstance(exc, docker.errors.DockerException) and "Invalid bind address" in text:
        return f"cannot use {where}: the URL must be unix:///path, tcp://host:port or ssh://user@host"
    if isinstance(root, requests.exceptions.HTTPError) and root.response is not None:
        return f"{where} answered HTTP {root.response.status_code} to /version: is it a Docker engine?"
    if isinstance(exc, docker.errors.APIError):
        return f"the Docker engine at {where} refused the request: {exc.explanation or exc}"
    if isinstance(root, OSError | requests.exceptions.ConnectionError):
        return f"cannot connect to the Docker engine at {where}: {root_text}"
    return f"cannot talk to the Docker engine at {where}: {type(root).__name__}: {root_text}"


# -- collection ---------------------------------------------------------------


@dataclass
class ApiParts:
    """What collect_api gathered; None parts are explained in ``missing``."""

    info: dict[str, Any] | None = None
    version: dict[str, Any] | None = None
    containers: tuple[ContainerSnapshot, ...] | None = None
    images: tuple[ImageSnapshot, ...] | None = None
    networks: tuple[dict[str, Any], ...] | None = None
    swarm: dict[str, Any] | None = None
    nodes: tuple[dict[str, Any], ...] | None = None
    services: tuple[dict[str, Any], ...] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    vanished: tuple[str, ...] = ()
    # Where each container's diff came from: "host" (its overlay2 layers, overlay_diff) or "api".
    diff_sources: dict[str, int] = field(default_factory=lambda: {"host": 0, "api": 0})
    # Why the host could not read diffs at all ("" when it could, or was not asked to).
    host_diff_off: str = ""


class _Gone(Exception):  # noqa: N818 - an internal signal, not an error
    """The object disappeared between listing and fetching it."""


class _Lost(Exception):  # noqa: N818 - an internal signal, not an error
    """The engine stopped answering earlier in this collection: do not wait on it again."""


def _is_lost(exc: BaseException) -> bool:
    """Whether a failure means the engine (or the path to it) is gone, not just this one object."""
    return isinstance(
        exc, _Lost | requests.exceptions.ConnectionError | ConnectionError | EOFError | paramiko.SSHException
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, _Lost):
        return "the engine had stopped answering"
    if isinstance(exc, docker.errors.APIError):
        return f"API error {exc.status_code}: {exc.explanation or exc}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"lost the connection to the engine: {_root_cause(exc)}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"the engine did not answer in time: {_root_cause(exc)}"
    return f"{type(exc).__name__}: {exc}"


def collect_api(
    client: docker.APIClient,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[str, int, int], None] | None = None,
    top: bool = True,
    after_info: Callable[[dict[str, Any]], None] | None = None,
    host_diff: bool = False,
) -> ApiParts:
    """Fetch everything the checks need from the Docker API.

    With ``top`` False, no container's processes are asked for (``top`` stays
    None, with no error): the caller takes them from the host and asks
    ``fetch_tops`` for the rest. ``after_info(info)`` is called as soon as
    ``docker info`` has answered, before anything is listed, so work that needs
    only the info can start alongside.

    ``progress(kind, done, total)`` is called from the calling thread: once
    with kind "listed" (done 0) when the containers and images are listed and
    before any is inspected, then with "container" or "image" as each one is
    finished.

    A container that vanishes between the listing and its inspect is left out
    (and named in ``vanished``). If the engine stops answering, the parts it
    could not finish become missing rather than partial, so no check can PASS
    on half a list; the calls still queued then fail at once instead of each
    waiting for its timeout.

    With ``host_diff`` (the engine is on this machine), each container's diff
    is computed from its overlay2 layers where that gives exactly the
    API's answer (overlay_diff), and asked of the API otherwise.
    """
    parts = ApiParts()
    missing, timings = parts.missing, parts.timings
    lock = threading.Lock()
    lost = threading.Event()

    def timed(name: str, fn: Callable[[], T]) -> T:
        if lost.is_set():
            raise _Lost
        start = time.perf_counter()
        try:
            return fn()
        except Exception as exc:
            if _is_lost(exc):
                lost.set()
            raise
        finally:
            elapsed = time.perf_counter() - start
            with lock:
                timings[name] = round(timings.get(name, 0.0) + elapsed, 4)

    try:
        parts.info = timed("info", client.info)
        parts.version = timed("version", client.version)
    except Exception as exc:
        raise CollectError(f"the engine stopped answering: {_why(exc)}") from exc
    if after_info is not None:
        after_info(parts.info or {})
    read_diff = overlay_diff.reader_for(parts.info or {}) if host_diff else None
    if host_diff and read_diff is None:
        parts.host_diff_off = overlay_diff.driver_reason(parts.info or {})

    def diff_from(source: str) -> None:
        with lock:
            parts.diff_sources[source] += 1

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        listing = {
            "containers": pool.submit(timed, "list_containers", lambda: client.containers(all=True)),
            "images": pool.submit(timed, "list_images", lambda: client.images()),
            "networks": pool.submit(timed, "networks", lambda: client.networks()),
        }
        lists: dict[str, list[dict[str, Any]] | None] = {}
        for name, fut in listing.items():
            try:
                lists[name] = fut.result()
            except Exception as exc:
                lists[name] = None
                missing[name] = f"listing {name} failed: {_why(exc)}"
        if lists["networks"] is not None:
            parts.networks = tuple(lists["networks"])

        container_rows = lists["containers"] or []
        image_rows = lists["images"] or []
        total = len(container_rows) + len(image_rows)
        done = 0
        if progress:
            progress("listed", 0, total)

        def report(kind: str) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(kind, done, total)

        c_futs = [
            pool.submit(
                timed,
                "containers",
                lambda row=row: _container(client, row, with_top=top, read_diff=read_diff, diff_from=diff_from),
            )
            for row in container_rows
        ]
        i_futs = [pool.submit(timed, "images", lambda row=row: _image(client, row)) for row in image_rows]

        containers, vanished, failure = _gather(container_rows, c_futs, "container", _row_name, report)
        if lists["containers"] is not None:
            if failure:
                missing["containers"] = f"could not examine every container ({failure})"
            else:
                parts.containers = tuple(containers)
        # Another audit's probe container (a second host registered for this engine, a CLI run beside a scan)
        # comes and goes as it likes: section 5 leaves every probe out, so its going leaves nothing missing.
        probes = {_row_name(row) for row in container_rows if PROBE_LABEL in (row.get("Labels") or {})}
        parts.vanished = tuple(name for name in vanished if name not in probes)

        # An image removed while we looked is simply no longer there: nothing to name.
        images, _gone, failure = _gather(image_rows, i_futs, "image", _image_name, report)
        if lists["images"] is not None:
            if failure:
                missing["images"] = f"could not examine every image ({failure})"
            else:
                parts.images = tuple(images)

    if lost.is_set():
        parts.missing["swarm"] = "the engine stopped answering during the collection"
    else:
        _collect_swarm(client, parts, timed)
    return parts


def _gather(
    rows: list[dict[str, Any]],
    futures: list[Future[T]],
    kind: str,
    name_of: Callable[[dict[str, Any]], str],
    report: Callable[[str], None],
) -> tuple[list[T], list[str], str]:
    """Per-object results in listing order: (got, names of vanished objects, first failure or "")."""
    got: list[T] = []
    vanished: list[str] = []
    failure = ""
    for row, fut in zip(rows, futures, strict=True):
        try:
            got.append(fut.result())
        except _Gone:
            vanished.append(name_of(row))
        except Exception as exc:
            failure = failure or f"{kind} {name_of(row)}: {_why(exc)}"
        report(kind)
    return got, vanished, failure


def _image_name(row: dict[str, Any]) -> str:
    return str(row.get("Id", "?"))[:19]


def _row_name(row: dict[str, Any]) -> str:
    names = row.get("Names") or []
    return names[0].lstrip("/") if names else str(row.get("Id", "?"))[:12]


def _container(
    client: docker.APIClient,
    row: dict[str, Any],
    *,
    with_top: bool = True,
    read_diff: Callable[[dict[str, Any]], tuple[DiffEntry, ...]] | None = None,
    diff_from: Callable[[str], None] | None = None,
) -> ContainerSnapshot:
    """Inspect, top (unless not ``with_top``) and diff of one container.

    The diff comes from ``read_diff(inspect)`` when given and it is exact
    (no NotExact), else from the API; ``diff_from`` is told which.

    A part the engine refuses for this container alone is recorded in its
    ``errors``; losing the engine itself propagates, so the whole list is
    reported missing rather than quietly incomplete.
    """
    cid = row["Id"]
    try:
        inspect = client.inspect_container(cid)
    except docker.errors.NotFound as exc:
        raise _Gone(cid) from exc
    running = bool((inspect.get("State") or {}).get("Running"))
    errors: dict[str, str] = {}
    top: dict[str, Any] | None = None
    diff: tuple[DiffEntry, ...] | None = None
    if not running:
        errors["top"] = "the container is not running"
    elif with_top:
        top = _top(client, cid, errors)
    if read_diff is not None:
        try:
            diff = read_diff(inspect)
        except overlay_diff.NotExact:
            diff = None
    if diff_from is not None:
        diff_from("host" if diff is not None else "api")
    try:
        if diff is None:
            diff = api_diff(client, cid)
    except docker.errors.NotFound:
        errors["diff"] = "the container was removed while it was examined"
    except docker.errors.APIError as exc:
        errors["diff"] = _why(exc)
    except requests.exceptions.Timeout as exc:
        errors["diff"] = _why(exc)  # a huge diff on a slow disk: this container alone
    name = str(inspect.get("Name") or "").lstrip("/") or cid[:12]
    return ContainerSnapshot(id=cid, name=name, inspect=inspect, running=running, top=top, diff=diff, errors=errors)


def api_diff(client: docker.APIClient, cid: str) -> tuple[DiffEntry, ...]:
    """``docker diff`` of one container as the engine answers it (siblings in no stable order)."""
    return tuple(DiffEntry(_DIFF_KINDS.get(d.get("Kind"), "?"), str(d.get("Path", ""))) for d in client.diff(cid) or ())


def _top(client: docker.APIClient, cid: str, errors: dict[str, str]) -> dict[str, Any] | None:
    try:
        try:
            return _with_comm(dict(client.top(cid, ps_args=TOP_PS_ARGS) or {}))
        except docker.errors.APIError as exc:
            if isinstance(exc, docker.errors.NotFound) or exc.status_code == 409:
                raise
            # The daemon's ps refused our columns (a busybox ps on its host, say): its default ones, without COMM.
            return dict(client.top(cid) or {})
    except docker.errors.NotFound:
        errors["top"] = "the container was removed while it was examined"
    except (docker.errors.APIError, requests.exceptions.Timeout) as exc:
        # e.g. 409 "is not running": it stopped between inspect and top
        errors["top"] = _why(exc)
    return None


def _with_comm(top: dict[str, Any]) -> dict[str, Any]:
    """The columns of TOP_PS_ARGS as TOP_TITLES: a process name holding spaces put back together, SEP gone."""
    if list(top.get("Titles") or ()) != _TOP_ASKED:
        return top
    rows = []
    for row in top.get("Processes") or ():
        cells = [str(c) for c in row]
        if len(cells) != len(_TOP_ASKED):
            return top
        # The name's words, the PID again, then argv (dockerd joined them with single spaces).
        words = [cells[3], cells[4], *cells[5].split(" ")]
        end = next((i for i in range(1, len(words)) if words[i] == cells[1]), 1)
        rows.append([*cells[:3], " ".join(words[:end]), " ".join(words[end + 1 :])])
    return {"Titles": list(TOP_TITLES), "Processes": rows}


def fetch_tops(
    client: docker.APIClient, containers: list[ContainerSnapshot], *, workers: int = DEFAULT_WORKERS
) -> dict[str, ContainerSnapshot]:
    """``docker top`` of each container through the API, on the bounded pool; by container id.

    A container the engine refuses gets the reason in its ``errors``; once the
    engine stops answering, the calls still queued fail at once with that reason.
    """
    lost = threading.Event()

    def one(c: ContainerSnapshot) -> ContainerSnapshot:
        errors = dict(c.errors)
        errors.pop("top", None)
        top: dict[str, Any] | None = None
        if lost.is_set():
            errors["top"] = _why(_Lost())
        else:
            try:
                top = _top(client, c.id, errors)
            except Exception as exc:
                if _is_lost(exc):
                    lost.set()
                errors["top"] = _why(exc)
        return dataclasses.replace(c, top=top, errors=errors)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return {c.id: got for c, got in zip(containers, pool.map(one, containers), strict=True)}


def _image(client: docker.APIClient, row: dict[str, Any]) -> ImageSnapshot:
    iid = row["Id"]
    try:
        inspect = client.inspect_image(iid)
    except docker.errors.NotFound as exc:
        raise _Gone(iid) from exc
    errors: dict[str, str] = {}
    history: tuple[dict[str, Any], ...] | None = None
    try:
        history = tuple(client.history(iid) or ())
    except docker.errors.APIError as exc:
        errors["history"] = _why(exc)
    tags = tuple(t for t in (inspect.get("RepoTags") or row.get("RepoTags") or ()) if t and t != "<none>:<none>")
    return ImageSnapshot(id=iid, tags=tags, inspect=inspect, history=history, errors=errors)


def _collect_swarm(client: docker.APIClient, parts: ApiParts, timed: Callable[..., Any]) -> None:
    swarm_info = (parts.info or {}).get("Swarm") or {}
    state = swarm_info.get("LocalNodeState") or "inactive"
    if state != "active":
        parts.missing["swarm"] = f"swarm mode is {state} on this engine"
        return
    if not swarm_info.get("ControlAvailable"):
        parts.missing["swarm"] = "this engine is a swarm worker; audit a manager to see the swarm's settings"
        return
    try:
        parts.swarm = timed("swarm", client.inspect_swarm)
        parts.nodes = tuple(timed("swarm", client.nodes))
        parts.services = tuple(timed("swarm", client.services))
    except Exception as exc:
        parts.swarm = parts.nodes = parts.services = None
        parts.missing["swarm"] = f"could not read the swarm: {_why(exc)}"
