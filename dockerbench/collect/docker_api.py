"""Talking to a Docker engine: connecting (unix, tcp+TLS, ssh) and fetching its objects.

A constant number of API calls per object, never one per check: each container
costs inspect, and top and diff when it runs; each image inspect and history.
Calls run on a small thread pool, and every call has a timeout.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import docker.errors
import paramiko
import requests
from docker.tls import TLSConfig
from docker.transport.sshconn import SSHHTTPAdapter

from dockerbench.snapshot import ContainerSnapshot, DiffEntry, ImageSnapshot

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_WORKERS = 8
# The oldest API we talk to (Docker 20.10 speaks 1.41); used only until the
# daemon has told us its own version.
MIN_API_VERSION = "1.41"

_DIFF_KINDS = {0: "C", 1: "A", 2: "D"}


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

    @property  # type: ignore[override]
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
        super().__init__(base_url, timeout=int(timeout))

    def _create_paramiko_client(self, base_url: str) -> None:
        super()._create_paramiko_client(base_url)
        opts = self._options
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        known_hosts = opts.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        if os.path.exists(known_hosts):
            client.load_host_keys(known_hosts)
        policy = paramiko.AutoAddPolicy() if opts.accept_unknown_host else paramiko.RejectPolicy()
        client.set_missing_host_key_policy(policy)  # noqa: S507 - only when the user asked for it
        self.ssh_client = client
        if opts.key_file:
            self.ssh_params["key_filename"] = opts.key_file
        if opts.port and not self.ssh_params.get("port"):
            self.ssh_params["port"] = opts.port
        self.ssh_params["timeout"] = self._connect_timeout
        self.ssh_params["banner_timeout"] = self._connect_timeout


def connect(target: Target) -> docker.APIClient:
    """Open a client for a target and check that the engine answers.

    Raises CollectError with a message an operator can act on.
    """
    try:
        client = _open(target)
        client.ping()
    except CollectError:
        raise
    except Exception as exc:
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
        client._version = client._retrieve_server_version()
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
        client_cert = (opts.client_cert, opts.client_key) if opts.client_cert and opts.client_key else None
        tls = TLSConfig(client_cert=client_cert, ca_cert=opts.ca_cert, verify=opts.verify)
    if scheme == "tcp" and target.tls is not None:
        url = "https://" + url.split("://", 1)[1]
    return _Client(base_url=url, tls=tls, timeout=target.timeout, version="auto")


def describe_connect_error(target: Target, exc: BaseException) -> str:
    """Turn a connection failure into one sentence an operator can act on."""
    text = str(exc)
    where = target.url
    if isinstance(exc, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        if "certificate verify failed" in text.lower():
            return (
                f"TLS verification of {where} failed: the daemon's certificate is not signed by the given CA ({text})"
            )
        return f"TLS handshake with {where} failed (wrong client certificate or key?): {text}"
    if "SSL" in text or "tlsv1" in text.lower() or "handshake" in text.lower():
        return f"TLS handshake with {where} failed (wrong client certificate or key?): {text}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return f"SSH host key of {where} does not match known_hosts: {exc}"
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in text:
        return f"SSH host key of {where} is unknown; add it to known_hosts or allow unknown host keys"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"SSH authentication to {where} failed: {exc}"
    if isinstance(exc, FileNotFoundError) or "No such file or directory" in text:
        return f"no Docker engine at {where}: the socket does not exist"
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return f"permission denied on {where}: run as root or as a member of the docker group"
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text.lower():
        return f"{where} did not answer within {target.timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError) or "Connection refused" in text:
        return f"cannot connect to the Docker engine at {where}: {text}"
    if isinstance(exc, docker.errors.APIError):
        return f"the Docker engine at {where} refused the request: {exc.explanation or exc}"
    return f"cannot talk to the Docker engine at {where}: {type(exc).__name__}: {text}"


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


class _Gone(Exception):  # noqa: N818 - an internal signal, not an error
    """The object disappeared between listing and fetching it."""


def _why(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return f"API error {exc.status_code}: {exc.explanation or exc}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"lost the connection to the engine: {exc}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"the engine did not answer in time: {exc}"
    return f"{type(exc).__name__}: {exc}"


def collect_api(
    client: docker.APIClient,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[str, int, int], None] | None = None,
) -> ApiParts:
    """Fetch everything the checks need from the Docker API.

    A container that vanishes between the listing and its inspect is left out
    (and named in ``vanished``). If the engine stops answering, the parts it
    could not finish become missing rather than partial, so no check can PASS
    on half a list.
    """
    parts = ApiParts()
    missing, timings = parts.missing, parts.timings

    def timed(name: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 4)

    try:
        parts.info = timed("info", client.info)
        parts.version = timed("version", client.version)
    except Exception as exc:
        raise CollectError(f"the engine stopped answering: {_why(exc)}") from exc

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

        def report(kind: str) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(kind, done, total)

        c_futs = [pool.submit(timed, "containers", lambda row=row: _container(client, row)) for row in container_rows]
        i_futs = [pool.submit(timed, "images", lambda row=row: _image(client, row)) for row in image_rows]

        got_containers: list[ContainerSnapshot] = []
        vanished: list[str] = []
        failure = ""
        for row, fut in zip(container_rows, c_futs, strict=True):
            try:
                got_containers.append(fut.result())
            except _Gone:
                vanished.append(_row_name(row))
            except Exception as exc:
                failure = failure or f"container {_row_name(row)}: {_why(exc)}"
            report("container")
        if lists["containers"] is not None:
            if failure:
                missing["containers"] = f"could not inspect every container ({failure})"
            else:
                parts.containers = tuple(got_containers)
        parts.vanished = tuple(vanished)

        got_images: list[ImageSnapshot] = []
        failure = ""
        for row, fut in zip(image_rows, i_futs, strict=True):
            try:
                got_images.append(fut.result())
            except _Gone:
                pass  # removed while we looked: it is simply no longer there
            except Exception as exc:
                failure = failure or f"image {row.get('Id', '?')[:19]}: {_why(exc)}"
            report("image")
        if lists["images"] is not None:
            if failure:
                missing["images"] = f"could not inspect every image ({failure})"
            else:
                parts.images = tuple(got_images)

    _collect_swarm(client, parts, timed)
    return parts


def _row_name(row: dict[str, Any]) -> str:
    names = row.get("Names") or []
    return names[0].lstrip("/") if names else str(row.get("Id", "?"))[:12]


def _container(client: docker.APIClient, row: dict[str, Any]) -> ContainerSnapshot:
    cid = row["Id"]
    try:
        inspect = client.inspect_container(cid)
    except docker.errors.NotFound as exc:
        raise _Gone(cid) from exc
    running = bool((inspect.get("State") or {}).get("Running"))
    errors: dict[str, str] = {}
    top: dict[str, Any] | None = None
    diff: tuple[DiffEntry, ...] | None = None
    if running:
        try:
            top = client.top(cid) or {}
        except docker.errors.NotFound:
            errors["top"] = "the container was removed while it was examined"
        except Exception as exc:
            errors["top"] = _why(exc)
    else:
        errors["top"] = "the container is not running"
    try:
        diff = tuple(
            DiffEntry(_DIFF_KINDS.get(d.get("Kind"), "?"), str(d.get("Path", ""))) for d in client.diff(cid) or ()
        )
    except docker.errors.NotFound:
        errors["diff"] = "the container was removed while it was examined"
    except Exception as exc:
        errors["diff"] = _why(exc)
    name = str(inspect.get("Name") or "").lstrip("/") or cid[:12]
    return ContainerSnapshot(id=cid, name=name, inspect=inspect, running=running, top=top, diff=diff, errors=errors)


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
    except Exception as exc:
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
