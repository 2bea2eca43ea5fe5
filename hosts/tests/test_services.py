from __future__ import annotations

import os
import stat
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from hosts import services
from hosts.crypto import CredentialUnreadable, Sealed
from hosts.models import Host, Tag
from hosts.services import create_host, engine_target, register_local_engine
from hosts.services import test_connection as check_connection

pytestmark = pytest.mark.django_db

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"


def test_engine_target_writes_credentials_privately_and_removes_them() -> None:
    host = create_host(
        "tls",
        "tcp://10.0.0.5:2376",
        tls_ca_cert="CA PEM",
        tls_client_cert="CERT PEM",
        tls_client_key="KEY PEM",
        ssh_private_key=KEY,
        ssh_known_hosts="10.0.0.5 ssh-ed25519 AAAA",
        ssh_facts_url="ops@10.0.0.5",
        facts_method=Host.Facts.SSH,
    )
    host = Host.objects.get(pk=host.pk)  # decrypted from the database

    with engine_target(host) as (target, options):
        assert target.url == "tcp://10.0.0.5:2376"
        assert target.tls is not None and target.tls.verify
        files = [target.tls.ca_cert, target.tls.client_cert, target.tls.client_key, options.ssh.key_file]
        files.append(options.ssh.known_hosts)
        directory = os.path.dirname(str(files[0]))
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        for path in files:
            assert path is not None and os.path.dirname(path) == directory
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(str(target.tls.client_key)) as fh:
            assert fh.read() == "KEY PEM\n"
        with open(str(options.ssh.key_file)) as fh:
            assert fh.read() == KEY
        assert (options.facts, options.ssh_url) == ("ssh", "ops@10.0.0.5")

    assert not os.path.exists(directory)


def test_engine_target_cleans_up_when_the_block_fails() -> None:
    host = create_host("tls2", "tcp://10.0.0.5:2376", tls_ca_cert="CA PEM")
    with pytest.raises(RuntimeError), engine_target(host) as (target, _options):
        assert target.tls is not None
        directory = os.path.dirname(str(target.tls.ca_cert))
        raise RuntimeError("boom")
    assert not os.path.exists(directory)


def test_a_host_without_credentials_gets_no_tls_and_no_files(docker_url: str) -> None:
    host = create_host("plain", docker_url)
    with engine_target(host) as (target, options):
        assert target.tls is None
        assert (options.ssh.key_file, options.ssh.known_hosts) == (None, None)


def test_connection_to_the_real_engine_reports_its_version(docker_url: str) -> None:
    result = check_connection(create_host("local-engine", docker_url))
    assert result.ok, result.message
    assert result.docker_version and result.docker_version in result.message


def test_connection_failure_says_why() -> None:
    result = check_connection(create_host("gone", "unix:///nonexistent/docker.sock"))
    assert not result.ok
    assert "/nonexistent/docker.sock" in result.message
    assert result.docker_version == ""


def test_a_tls_key_never_appears_in_a_failure_message() -> None:
    host = create_host("tls3", "tcp://127.0.0.1:9", tls_client_cert="CERT PEM", tls_client_key="SECRET-KEY-PEM")
    result = check_connection(host)
    assert not result.ok
    assert "SECRET-KEY-PEM" not in result.message


def test_create_host_validates_its_url_and_sets_its_tags() -> None:
    prod = Tag.objects.create(name="prod")
    host = create_host("web-1", "ssh://ops@web-1", tags=[prod])
    assert list(host.tags.all()) == [prod]
    with pytest.raises(ValidationError):
        create_host("bad", "http://web-2:2375")
    assert not Host.objects.filter(name="bad").exists()


def test_register_local_engine_adds_the_socket_once(docker_url: str) -> None:
    if docker_url != "unix:///var/run/docker.sock":
        pytest.fail("register_local_engine looks at /var/run/docker.sock; run this test against it")
    host = register_local_engine()
    assert host is not None and (host.name, host.url) == ("local", docker_url)
    assert register_local_engine() == host
    assert Host.objects.count() == 1


# -- which credentials a connection writes, and where ---------------------------------------------------


def _files_of(host: Host) -> set[str]:
    with engine_target(host) as (target, options):
        paths = [options.ssh.key_file, options.ssh.known_hosts]
        if target.tls is not None:
            paths += [target.tls.ca_cert, target.tls.client_cert, target.tls.client_key]
        return {os.path.basename(p) for p in paths if p}


def test_only_the_credentials_a_connection_uses_are_written() -> None:
    both: dict[str, Any] = {
        "tls_ca_cert": "CA",
        "tls_client_cert": "CERT",
        "tls_client_key": "KEY",
        "ssh_private_key": KEY,
    }
    tcp = create_host("tcp-only", "tcp://10.0.0.5:2376", **both)
    assert _files_of(tcp) == {"ca.pem", "cert.pem", "key.pem"}  # no SSH key for a tcp:// engine with probe facts
    ssh = create_host("ssh-only", "ssh://ops@10.0.0.6", ssh_known_hosts="10.0.0.6 ssh-ed25519 AAAA", **both)
    assert _files_of(ssh) == {"id_key", "known_hosts"}  # no TLS material over SSH
    local = create_host("local-only", "unix:///var/run/docker.sock", **both)
    assert _files_of(local) == set()
    tcp_ssh_facts = create_host("tcp-ssh", "tcp://10.0.0.7:2376", ssh_facts_url="ops@10.0.0.7", **both)
    assert _files_of(tcp_ssh_facts) == {"ca.pem", "cert.pem", "key.pem", "id_key"}


def test_credentials_go_to_memory_when_the_machine_has_dev_shm() -> None:
    assert os.path.isdir("/dev/shm"), "these machines have a tmpfs at /dev/shm"
    host = create_host("tls-shm", "tcp://10.0.0.5:2376", tls_ca_cert="CA PEM")
    with engine_target(host) as (target, _options):
        assert target.tls is not None
        assert str(target.tls.ca_cert).startswith("/dev/shm/dockerbench-host-")
    with open("/proc/mounts") as mounts:
        assert any(line.split()[1] == "/dev/shm" and line.split()[2] == "tmpfs" for line in mounts)


def test_an_unreadable_credential_writes_no_file_and_says_enter_it_again() -> None:
    host = create_host("damaged", "tcp://10.0.0.5:2376", tls_ca_cert="CA PEM", tls_client_cert="C", tls_client_key="K")
    Host.objects.filter(pk=host.pk).update(tls_client_key=Sealed("gAAAAAB-damaged"))
    host = Host.objects.get(pk=host.pk)
    before = set(os.listdir(services.credentials_root()))
    with pytest.raises(CredentialUnreadable, match="enter it again"), engine_target(host):
        pass
    assert set(os.listdir(services.credentials_root())) == before
    assert host.unreadable_credentials() == ["TLS client key (PEM)"]


def test_a_credential_is_sealed_on_the_model_and_never_printed() -> None:
    host = create_host("sealed", "tcp://10.0.0.5:2376", tls_client_key="SECRET-KEY-PEM", tls_client_cert="C")
    host = Host.objects.get(pk=host.pk)
    for text in (str(host.tls_client_key), repr(host.tls_client_key), repr(host.__dict__)):
        assert "SECRET-KEY-PEM" not in text
    host.tls_client_key = "ANOTHER-KEY"
    assert isinstance(host.tls_client_key, Sealed)  # sealed the moment it is assigned
    assert host.tls_client_key.reveal() == "ANOTHER-KEY"
