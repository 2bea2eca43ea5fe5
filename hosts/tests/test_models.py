from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from hosts.models import Host, Tag

pytestmark = pytest.mark.django_db


def test_host_names_are_unique() -> None:
    Host.objects.create(name="web-1", url="unix:///var/run/docker.sock")
    with pytest.raises(IntegrityError), transaction.atomic():
        Host.objects.create(name="web-1", url="tcp://web-1.internal:2376")
    assert Host.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "unix:///var/run/docker.sock",
        "tcp://10.0.0.5:2376",
        "tcp://web-1.internal",
        "tcp://[2001:db8::1]:2376",
        "tcp://[fe80::1%eth0]:2376",
        "ssh://ops@web-1.internal",
        "ssh://web-1:2222",
        "ssh://ops@[2001:db8::2]:22",
    ],
)
def test_it_accepts_the_urls_the_engine_can_reach(url: str) -> None:
    Host(name="h", url=url).full_clean()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://10.0.0.5:2375", "scheme"),
        ("/var/run/docker.sock", "scheme"),
        ("unix://", "path"),
        ("tcp://:2376", "host"),
        ("ssh://", "host"),
        ("tcp://[::1", "ipv6"),
        ("tcp://::1:2376", "ipv6"),
        ("tcp://[not-v6]:2376", "ipv6"),
        ("tcp://h:99999", "port"),
        ("tcp://h:0", "port"),
        ("tcp://h:", "port"),
        ("tcp://h:abc", "port"),
        ("tcp://h:2376/path", "path"),
        ("tcp://user@h:2376", "user"),
        ("ssh://ops:hunter2@h", "password"),
        ("ssh://bad user@h", "characters"),
        ("unix://var/run/docker.sock", "path"),
        ("tcp://-bad-:2376", "host"),
    ],
)
def test_it_rejects_urls_it_cannot_audit(url: str, code: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Host(name="h", url=url).full_clean()
    assert [e.code for e in excinfo.value.error_dict["url"]] == [code]


def test_hosts_are_enabled_by_default_and_filtered_by_tag() -> None:
    prod, staging = Tag.objects.create(name="prod"), Tag.objects.create(name="staging")
    web = Host.objects.create(name="web-1", url="tcp://web-1:2376")
    db = Host.objects.create(name="db-1", url="tcp://db-1:2376", enabled=False)
    web.tags.add(prod)
    db.tags.add(prod, staging)

    assert web.enabled is True
    assert list(Host.objects.filter(tags__name="prod")) == [db, web]  # ordered by name
    assert list(staging.hosts.all()) == [db]
    assert list(Host.objects.filter(enabled=True, tags=prod)) == [web]


def test_credentials_are_encrypted_at_rest() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n-----END OPENSSH PRIVATE KEY-----\n"
    host = Host.objects.create(name="tls-1", url="tcp://10.0.0.5:2376", ssh_private_key=key, tls_client_key=key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssh_private_key, tls_client_key, tls_ca_cert FROM hosts_host WHERE id = %s", [host.pk])
        ssh_raw, tls_raw, ca_raw = cursor.fetchone()
    assert "secret-material" not in ssh_raw and "secret-material" not in tls_raw
    assert ca_raw == ""  # not set stays empty, no key needed to read it
    host.refresh_from_db()
    assert host.ssh_private_key.reveal() == key and host.tls_client_key.reveal() == key


@pytest.mark.parametrize(
    ("value", "code"), [("ops@h:99999", "port"), ("ops:pw@h", "password"), ("http://h", "scheme"), ("ops@[::1", "ipv6")]
)
def test_it_rejects_an_ssh_facts_address_the_engine_could_not_use(value: str, code: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Host(name="h", url="tcp://h:2376", ssh_facts_url=value).full_clean()
    assert [e.code for e in excinfo.value.error_dict["ssh_facts_url"]] == [code]


@pytest.mark.parametrize("value", ["", "ops@web-1", "ops@web-1:2222", "ssh://ops@web-1", "web-1", "ops@[::1]:22"])
def test_it_accepts_an_ssh_facts_address(value: str) -> None:
    Host(name="h", url="tcp://h:2376", ssh_facts_url=value).full_clean()
