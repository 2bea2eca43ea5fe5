"""manage.py rotate_encryption_key: every credential under the newest key, idempotent, secrets never printed."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from hosts import crypto
from hosts.crypto import Sealed
from hosts.models import Host
from hosts.services import create_host

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "-----BEGIN PRIVATE KEY-----\nROTATE-ME-5150\n-----END PRIVATE KEY-----"  # noqa: S105 - a test value


@pytest.fixture
def keys(settings) -> Iterator[object]:
    def use(*keys: str) -> None:
        settings.DOCKERBENCH_ENCRYPTION_KEY = ",".join(keys)
        crypto.reset_keys()

    use(OLD)
    yield use
    crypto.reset_keys()


def _raw(host: Host, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name} FROM hosts_host WHERE id = %s", [host.pk])  # noqa: S608 - our own column
        return str(cursor.fetchone()[0])


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def test_it_reencrypts_every_credential_with_the_newest_key_and_is_idempotent(keys) -> None:
    host = create_host("a", "tcp://10.0.0.1:2376", tls_client_cert="CERT", tls_client_key=SECRET)
    plain = create_host("b", "unix:///var/run/docker.sock")
    before = _raw(host, "tls_client_key")

    keys(NEW, OLD)  # the new key first, the old one still there to read with
    output = _rotate()
    assert "Re-encrypted 2 credential(s) with the newest key; 0 already used it; 0 could not be read" in output
    assert SECRET not in output and "ROTATE-ME" not in output
    after = _raw(host, "tls_client_key")
    assert after != before
    Fernet(NEW.encode()).decrypt(after.encode())  # readable with the new key alone

    again = _rotate()
    assert "Re-encrypted 0 credential(s) with the newest key; 2 already used it" in again
    assert _raw(host, "tls_client_key") == after  # nothing changed the second time

    keys(NEW)  # the old key dropped: everything still reads
    assert Host.objects.get(pk=host.pk).tls_client_key.reveal() == SECRET
    assert not Host.objects.get(pk=plain.pk).tls_client_key


def test_it_changes_nothing_when_a_credential_cannot_be_read(keys) -> None:
    good = create_host("good", "tcp://10.0.0.1:2376", tls_client_cert="CERT", tls_client_key=SECRET)
    bad = create_host("bad", "tcp://10.0.0.2:2376", tls_ca_cert="CA")
    Host.objects.filter(pk=bad.pk).update(tls_ca_cert=Sealed(Fernet(Fernet.generate_key()).encrypt(b"x").decode()))
    before = _raw(good, "tls_client_key")
    keys(NEW, OLD)
    with pytest.raises(CommandError, match="'bad' cannot be decrypted. Nothing was changed"):
        _rotate()
    assert _raw(good, "tls_client_key") == before  # one transaction: all or nothing

    output = _rotate("--allow-unreadable")
    assert "Re-encrypted 2 credential(s)" in output and "1 could not be read (hosts: bad)" in output
