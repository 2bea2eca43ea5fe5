from __future__ import annotations

import os
import stat

import pytest
from django.core.exceptions import ValidationError

from hosts.models import Host, Tag
from hosts.services import create_host, engine_target, register_local_engine
from hosts.services import test_connection as check_connection
from scans.models import Schedule

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
        directory = os.path.dirname(str(target.tls.ca_cert))  # type: ignore[union-attr]
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


def test_create_host_validates_tags_and_schedules_it_nightly() -> None:
    prod = Tag.objects.create(name="prod")
    host = create_host("web-1", "ssh://ops@web-1", tags=[prod])
    assert list(host.tags.all()) == [prod]
    schedule = Schedule.objects.get(host=host)
    assert (schedule.hour, schedule.minute, schedule.enabled) == ("2", "0", True)
    with pytest.raises(ValidationError):
        create_host("bad", "http://web-2:2375")
    assert not Host.objects.filter(name="bad").exists()


def test_register_local_engine_adds_the_socket_once(docker_url: str) -> None:
    if docker_url != "unix:///var/run/docker.sock":
        pytest.fail("register_local_engine looks at /var/run/docker.sock; run this test against it")
    host = register_local_engine()
    assert host is not None and (host.name, host.url) == ("local", docker_url)
    assert Schedule.objects.filter(host=host).count() == 1
    assert register_local_engine() == host
    assert Host.objects.count() == 1
