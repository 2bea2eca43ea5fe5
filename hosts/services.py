"""Workflows on hosts, shared by views, tasks and management commands.

The engine (dockerbench.collect) takes TLS and SSH material as file paths.
Credentials are stored encrypted, so ``engine_target`` writes them, decrypted,
into a private temporary directory for exactly as long as the engine needs
them. No credential is ever logged or put into a message.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from dockerbench.collect import CollectError, CollectOptions
from dockerbench.collect.docker_api import SSHOptions, Target, TLSOptions, connect
from hosts.models import Host, Tag

log = logging.getLogger(__name__)

LOCAL_ENGINE_URL = "unix:///var/run/docker.sock"
CREDENTIALS_PREFIX = "dockerbench-host-"
# How long "test connection" and the first-run probe wait for an engine: a page is waiting.
CONNECTION_TEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str
    docker_version: str = ""


def _write_private(directory: str, name: str, content: str) -> str:
    path = os.path.join(directory, name)
    # O_EXCL + 0600 from the start: the file is never readable by anyone else, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content if content.endswith("\n") else content + "\n")
    return path


@contextmanager
def engine_target(host: Host, *, timeout: float | None = None) -> Iterator[tuple[Target, CollectOptions]]:
    """The engine's Target and CollectOptions for a host, with its credentials on disk for the duration.

    Decrypted keys and certificates go into a fresh 0700 directory (files 0600)
    that is removed when the block exits, whatever happens inside it.
    Raises ImproperlyConfigured when a stored credential cannot be decrypted.
    """
    # mkdtemp creates it 0700. The pid in the name lets remove_orphaned_credentials() find what a killed worker left.
    directory = tempfile.mkdtemp(prefix=f"{CREDENTIALS_PREFIX}{os.getpid()}-")
    try:
        tls = None
        if host.tls_ca_cert or host.tls_client_cert or host.tls_client_key:
            tls = TLSOptions(
                ca_cert=_write_private(directory, "ca.pem", host.tls_ca_cert) if host.tls_ca_cert else None,
                client_cert=_write_private(directory, "cert.pem", host.tls_client_cert)
                if host.tls_client_cert
                else None,
                client_key=_write_private(directory, "key.pem", host.tls_client_key) if host.tls_client_key else None,
                verify=host.tls_verify,
            )
        ssh = SSHOptions(
            key_file=_write_private(directory, "id_key", host.ssh_private_key) if host.ssh_private_key else None,
            # Without lines of its own the host trusts the worker user's ~/.ssh/known_hosts (the engine's default).
            known_hosts=_write_private(directory, "known_hosts", host.ssh_known_hosts)
            if host.ssh_known_hosts.strip()
            else None,
            accept_unknown_host=host.ssh_accept_unknown_host,
        )
        target_kwargs: dict[str, Any] = {"url": host.url, "tls": tls, "ssh": ssh}
        if timeout is not None:
            target_kwargs["timeout"] = timeout
        options = CollectOptions(
            facts=host.facts_method,
            probe_image=host.probe_image or settings.DOCKERBENCH_PROBE_IMAGE,
            ssh_url=host.ssh_facts_url or None,
            ssh=ssh,
        )
        yield Target(**target_kwargs), options
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def remove_orphaned_credentials() -> int:
    """Remove credential directories left by processes that died inside engine_target (SIGKILL, OOM).

    Returns how many were removed. Only this machine's temporary directory is looked at.
    """
    removed = 0
    root = tempfile.gettempdir()
    for entry in os.listdir(root):
        if not entry.startswith(CREDENTIALS_PREFIX):
            continue
        pid_text = entry[len(CREDENTIALS_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_connection(host: Host) -> ConnectionResult:
    """Reach the host's engine as a scan would; on failure, the engine's own explanation."""
    try:
        with engine_target(host, timeout=CONNECTION_TEST_TIMEOUT) as (target, _options):
            client = connect(target)
            try:
                version = client.version()
            finally:
                client.close()
    except CollectError as exc:
        return ConnectionResult(ok=False, message=str(exc))
    except ImproperlyConfigured as exc:
        return ConnectionResult(ok=False, message=str(exc))
    except Exception as exc:  # the page must show something, never a 500
        log.warning("connection test of host %s failed unexpectedly: %s", host.pk, type(exc).__name__)
        return ConnectionResult(ok=False, message=f"{type(exc).__name__}: {exc}")
    docker_version = str(version.get("Version", ""))
    api = version.get("ApiVersion", "")
    return ConnectionResult(
        ok=True, message=f"Docker {docker_version} (API {api}) answers.", docker_version=docker_version
    )


# Keep pytest from collecting the service as a test when a test module imports it by name.
test_connection.__test__ = False  # type: ignore[attr-defined]


@transaction.atomic
def create_host(name: str, url: str, *, tags: Iterable[Tag] = (), **fields: Any) -> Host:
    """Create a host (validated) with its nightly default schedule.

    ``fields`` are any other Host fields (facts_method, tls_ca_cert, ...);
    a ModelForm's ``cleaned_data`` can be passed as it is.
    """
    host = Host(name=name, url=url, **fields)
    host.full_clean()
    host.save()
    host.tags.set(list(tags))
    ensure_default_schedule(host)
    return host


def ensure_default_schedule(host: Host):  # type: ignore[no-untyped-def]  # -> scans.models.Schedule
    """Give a host the nightly default schedule (02:00 server time) unless one targets it already."""
    from scans.models import Schedule
    from scans.services import sync_schedule

    existing = Schedule.objects.filter(host=host).order_by("pk").first()
    if existing is not None:
        return existing
    name = f"Nightly: {host.name}"[:100]
    if Schedule.objects.filter(name=name).exists():
        name = f"Nightly: {host.name} (#{host.pk})"[-100:]
    schedule = Schedule.objects.create(name=name, host=host, minute="0", hour="2")
    sync_schedule(schedule)
    return schedule


def register_local_engine() -> Host | None:
    """First run: add this machine's Docker engine as host "local" if its socket answers.

    Returns the host (the existing one when the socket is registered already),
    or None when no engine answers there.
    """
    existing = Host.objects.filter(url=LOCAL_ENGINE_URL).order_by("pk").first()
    if existing is not None:
        return existing
    try:
        connect(Target(url=LOCAL_ENGINE_URL, timeout=CONNECTION_TEST_TIMEOUT)).close()
    except CollectError as exc:
        log.info("no local Docker engine registered: %s", exc)
        return None
    name = "local" if not Host.objects.filter(name="local").exists() else "local-engine"
    return create_host(name, LOCAL_ENGINE_URL, facts_method=Host.Facts.AUTO)
