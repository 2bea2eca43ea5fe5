"""Workflows on hosts, shared by views, tasks and management commands.

The engine (dockerbench.collect) takes TLS and SSH material as file paths. Credentials are stored sealed, so
``engine_target`` writes the ones a connection uses, decrypted, into a private directory on tmpfs (memory,
never a disk) for exactly as long as the engine needs them. No credential is ever logged or put into a
message. Work that spans apps (a host's default schedule) belongs to the apps above this one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core.audit import record_event
from dockerbench.collect import CollectError, CollectOptions
from dockerbench.collect.docker_api import SSHOptions, Target, TLSOptions, connect
from hosts.crypto import CredentialUnreadable
from hosts.models import CREDENTIAL_FIELDS, ConnectionTest, Host, PushToken, Tag

log = logging.getLogger(__name__)

LOCAL_ENGINE_URL = "unix:///var/run/docker.sock"
CREDENTIALS_PREFIX = "dockerbench-host-"
# How long "test connection" and the first-run probe wait for an engine.
CONNECTION_TEST_TIMEOUT = 10.0
# Tests a user may start in CONNECTION_TEST_WINDOW (each holds a worker for up to the timeout).
CONNECTION_TESTS_PER_WINDOW = 6
CONNECTION_TEST_WINDOW = timedelta(minutes=1)
CONNECTION_TEST_KEEP = timedelta(days=1)
# By name: hosts.tasks imports this module (a task is a thin wrapper around a service here).
RUN_CONNECTION_TEST_TASK = "hosts.tasks.run_connection_test"
# Where decrypted credentials may go, in order: memory-backed first.
_SHM = "/dev/shm"  # noqa: S108 - a private 0700 directory is made inside it


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str
    docker_version: str = ""


class RateLimited(Exception):
    """Too many connection tests by one user in a short while."""


def _write_private(directory: str, name: str, content: str) -> str:
    path = os.path.join(directory, name)
    # O_EXCL + 0600 from the start: the file is never readable by anyone else, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content if content.endswith("\n") else content + "\n")
    return path


def credentials_root() -> str:
    """The directory decrypted credentials go under: DOCKERBENCH_CREDENTIALS_DIR, else /dev/shm (tmpfs) when
    this process may write there, else the system's temporary directory."""
    configured = settings.DOCKERBENCH_CREDENTIALS_DIR
    if configured:
        return str(configured)
    if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK | os.X_OK):
        return _SHM
    return tempfile.gettempdir()


def redaction_key() -> bytes:
    """The key the collector hashes redacted values with: stable for this installation, derived from its
    secret key, so the same value hashes the same way from one scan to the next."""
    return _redaction_key(settings.SECRET_KEY)


@cache
def _redaction_key(secret: str) -> bytes:
    return salted_hmac("dockerbench.redaction", "values", secret=secret, algorithm="sha256").digest()


@contextmanager
def engine_target(host: Host, *, timeout: float | None = None) -> Iterator[tuple[Target, CollectOptions]]:
    """The engine's Target and CollectOptions for a host, with the credentials it uses on disk for the duration.

    Only the credentials this connection reads (TLS for tcp://, the SSH key for ssh:// or SSH facts) are
    decrypted, into a fresh 0700 directory (files 0600) on tmpfs where there is one, removed when the block
    exits, whatever happens inside it. Raises CredentialUnreadable before writing anything when one of them
    cannot be decrypted.
    """
    used = set(host.used_credentials())
    texts = {name: getattr(host, name).reveal() for name in sorted(used)}  # CredentialUnreadable leaves no file
    # mkdtemp creates it 0700. The pid in the name lets remove_orphaned_credentials() find what a killed worker left.
    directory = tempfile.mkdtemp(prefix=f"{CREDENTIALS_PREFIX}{os.getpid()}-", dir=credentials_root())
    try:
        tls = None
        if host.scheme == "tcp" and texts:
            tls = TLSOptions(
                ca_cert=_write_private(directory, "ca.pem", texts["tls_ca_cert"]) if "tls_ca_cert" in texts else None,
                client_cert=_write_private(directory, "cert.pem", texts["tls_client_cert"])
                if "tls_client_cert" in texts
                else None,
                client_key=_write_private(directory, "key.pem", texts["tls_client_key"])
                if "tls_client_key" in texts
                else None,
                verify=host.tls_verify,
            )
        ssh = SSHOptions(
            key_file=_write_private(directory, "id_key", texts["ssh_private_key"])
            if "ssh_private_key" in texts
            else None,
            # Without lines of its own the host trusts the worker user's ~/.ssh/known_hosts (the engine's default).
            known_hosts=_write_private(directory, "known_hosts", host.ssh_known_hosts)
            if host.uses_ssh and host.ssh_known_hosts.strip()
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
            redact_key=redaction_key(),
        )
        yield Target(**target_kwargs), options
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def remove_orphaned_credentials() -> int:
    """Remove credential directories left by processes that died inside engine_target (SIGKILL, OOM).

    Returns how many were removed. Only this machine's credential directories are looked at.
    """
    removed = 0
    for root in dict.fromkeys([credentials_root(), tempfile.gettempdir()]):
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            if not entry.startswith(CREDENTIALS_PREFIX):
                continue
            pid_text = entry[len(CREDENTIALS_PREFIX) :].split("-", 1)[0]
            if not pid_text.isdigit() or process_alive(int(pid_text)):
                continue
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
            removed += 1
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one we may not signal counts as alive)."""
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
    except CredentialUnreadable as exc:
        return ConnectionResult(ok=False, message=f"{exc}")
    except Exception as exc:  # the page must show something, never a 500
        log.warning("connection test of host %s failed unexpectedly: %s", host.pk, type(exc).__name__)
        return ConnectionResult(ok=False, message=f"{type(exc).__name__}: {exc}")
    docker_version = str(version.get("Version", ""))
    api = version.get("ApiVersion", "")
    return ConnectionResult(
        ok=True, message=f"Docker {docker_version} (API {api}) answers.", docker_version=docker_version
    )


# Keep pytest from collecting the service as a test when a test module imports it by name.
test_connection.__test__ = False  # type: ignore[attr-defined]  # an attribute pytest reads on any object


def start_connection_test(host: Host, *, user: Any) -> ConnectionTest:
    """Queue a connection test of ``host`` for ``user`` (sent to a worker on commit).

    Raises RateLimited when the user started CONNECTION_TESTS_PER_WINDOW tests within the window.
    """
    since = timezone.now() - CONNECTION_TEST_WINDOW
    if ConnectionTest.objects.filter(requested_by=user, created__gte=since).count() >= CONNECTION_TESTS_PER_WINDOW:
        raise RateLimited(
            f"At most {CONNECTION_TESTS_PER_WINDOW} connection tests a minute: wait a little and try again."
        )
    test = ConnectionTest.objects.create(host=host, requested_by=user)
    transaction.on_commit(lambda: _send_connection_test(test.pk))
    return test


def _send_connection_test(test_id: Any) -> None:
    try:
        current_app.send_task(RUN_CONNECTION_TEST_TASK, args=[str(test_id)])
    except Exception as exc:  # the broker is down: say so on the test rather than leave it queued
        log.warning("could not queue connection test %s: %s", test_id, type(exc).__name__)
        ConnectionTest.objects.filter(pk=test_id, status=ConnectionTest.Status.QUEUED).update(
            status=ConnectionTest.Status.FAILED,
            message=f"could not reach a worker to run the test: {exc}",
            finished=timezone.now(),
        )


def run_connection_test(test_id: Any) -> ConnectionTest | None:
    """Run a queued connection test (once: a second delivery finds it claimed) and record what it found."""
    claimed = ConnectionTest.objects.filter(pk=test_id, status=ConnectionTest.Status.QUEUED).update(
        status=ConnectionTest.Status.RUNNING
    )
    if not claimed:
        return None
    test = ConnectionTest.objects.select_related("host").get(pk=test_id)
    result = test_connection(test.host)
    ConnectionTest.objects.filter(pk=test_id).update(
        status=ConnectionTest.Status.OK if result.ok else ConnectionTest.Status.FAILED,
        message=result.message[:2000],
        docker_version=result.docker_version[:64],
        finished=timezone.now(),
    )
    test.refresh_from_db()
    return test


def prune_connection_tests() -> int:
    """Forget connection tests older than a day. Returns how many went."""
    deleted, _ = ConnectionTest.objects.filter(created__lt=timezone.now() - CONNECTION_TEST_KEEP).delete()
    return deleted


@transaction.atomic
def create_host(name: str, url: str, *, tags: Iterable[Tag] = (), **fields: Any) -> Host:
    """Create a host (validated) with its tags.

    ``fields`` are any other Host fields (facts_method, tls_ca_cert, ...); a ModelForm's ``cleaned_data`` can
    be passed as it is. The apps above react to the new host (the schedules app gives it its nightly scan).
    """
    host = Host(name=name, url=url, **fields)
    host.full_clean()
    host.save()
    host.tags.set(list(tags))
    return host


@transaction.atomic
def delete_host(host: Host) -> None:
    """Delete a host with everything that hangs on it (scans, schedules: their apps clean up after them)."""
    host.delete()


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


def rotate_credentials(*, allow_unreadable: bool = False) -> dict[str, Any]:
    """Re-encrypt every stored credential under the newest key, in one transaction.

    Returns counts: rotated, current (already under the newest key), unreadable, hosts, and the names of the
    hosts with unreadable credentials. Raises CredentialUnreadable (and changes nothing) when a credential
    cannot be read, unless ``allow_unreadable``. Written with a queryset update: nothing but the tokens
    change, and no secret is ever logged.
    """
    counts: dict[str, Any] = {"rotated": 0, "current": 0, "unreadable": 0, "hosts": 0, "unreadable_hosts": []}
    with transaction.atomic():
        for host in Host.objects.select_for_update().only("pk", "name", *CREDENTIAL_FIELDS).order_by("pk"):
            counts["hosts"] += 1
            changed: dict[str, Any] = {}
            for name in CREDENTIAL_FIELDS:
                try:
                    rotated = getattr(host, name).rotated()
                except CredentialUnreadable:
                    if not allow_unreadable:
                        raise CredentialUnreadable(f"a credential of host {host.name!r} cannot be decrypted") from None
                    counts["unreadable"] += 1
                    if host.name not in counts["unreadable_hosts"]:
                        counts["unreadable_hosts"].append(host.name)
                    continue
                if rotated is None:
                    counts["current"] += bool(getattr(host, name))
                    continue
                changed[name] = rotated
                counts["rotated"] += 1
            if changed:
                Host.objects.filter(pk=host.pk).update(**changed)
    return counts


# -- push tokens --------------------------------------------------------------------------------------

# "dbp_" and 43 URL-safe characters (32 random bytes). The prefix people see is the first PUSH_PREFIX_LENGTH.
PUSH_TOKEN_MARK = "dbp_"  # noqa: S105 - the recognisable start of every token, not a token
PUSH_PREFIX_LENGTH = 12
_PUSH_TOKEN_LENGTH = len(PUSH_TOKEN_MARK) + 43


def _token_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@transaction.atomic
def create_push_token(host: Host, *, name: str, user: Any = None, expires: date | None = None) -> tuple[PushToken, str]:
    """A new push token for ``host``: (the token, its plaintext). The plaintext is not stored anywhere: show it
    once and forget it. Only its sha256 and its first characters are kept."""
    plaintext = PUSH_TOKEN_MARK + secrets.token_urlsafe(32)
    token = PushToken(
        host=host,
        name=name.strip(),
        prefix=plaintext[:PUSH_PREFIX_LENGTH],
        digest=_token_digest(plaintext),
        created_by=user,
        expires=expires,
    )
    token.full_clean()
    token.save()
    return token, plaintext


def revoke_push_token(token: PushToken, *, user: Any = None) -> bool:
    """Revoke a push token for good. Returns False when it was revoked already."""
    with transaction.atomic():
        revoked = PushToken.objects.filter(pk=token.pk, revoked__isnull=True).update(
            revoked=timezone.now(), revoked_by=user
        )
        if revoked:
            token.refresh_from_db()
            record_event(token, "push token revoked", actor=user, changes={"revoked": [None, str(token.revoked)]})
    return bool(revoked)


class PushTokenRefused(Exception):
    """A push token that opens nothing; ``reason`` is "unknown", "revoked" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_push_token(plaintext: str) -> PushToken:
    """The active push token whose secret is ``plaintext`` (its host loaded), marked used; else
    PushTokenRefused: "unknown" for anything that is not exactly a token's secret, "revoked" or "expired"
    for one that was (only the holder of the whole secret learns that)."""
    if not isinstance(plaintext, str) or len(plaintext) != _PUSH_TOKEN_LENGTH:
        raise PushTokenRefused("unknown")
    if not plaintext.startswith(PUSH_TOKEN_MARK):
        raise PushTokenRefused("unknown")
    digest = _token_digest(plaintext)
    found = None
    # Looked up by the prefix, then compared in constant time: the answer's timing says nothing of the digest.
    for candidate in PushToken.objects.select_related("host").filter(prefix=plaintext[:PUSH_PREFIX_LENGTH]):
        if hmac.compare_digest(candidate.digest, digest):
            found = candidate
    if found is None:
        raise PushTokenRefused("unknown")
    if not found.is_active():
        raise PushTokenRefused(found.state)
    now = timezone.now()
    PushToken.objects.filter(pk=found.pk).update(last_used=now)
    found.last_used = now
    return found


def authenticate_push_token(plaintext: str) -> PushToken | None:
    """The active push token whose secret is ``plaintext``, marked used, or None (see check_push_token)."""
    try:
        return check_push_token(plaintext)
    except PushTokenRefused:
        return None
