"""Host pages: full pages and htmx partials, write-only credentials, unreadable credentials, the connection test
(access for every persona is walked in tests/test_access.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import docker
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hosts import services
from hosts.crypto import Sealed
from hosts.models import ConnectionTest, Host, Tag
from hosts.services import create_host
from tests.personas import HX, persona_client

pytestmark = pytest.mark.django_db

SECRETS = {
    "tls_ca_cert": "-----BEGIN CERTIFICATE-----\nCA-SECRET-7f3a9c\n-----END CERTIFICATE-----",
    "tls_client_cert": "-----BEGIN CERTIFICATE-----\nCERT-SECRET-51be02\n-----END CERTIFICATE-----",
    "tls_client_key": "-----BEGIN PRIVATE KEY-----\nKEY-SECRET-c0ffee\n-----END PRIVATE KEY-----",
    "ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nSSH-SECRET-d15ea5e\n-----END OPENSSH PRIVATE KEY-----",
}
SECRET_MARKERS = ("CA-SECRET-7f3a9c", "CERT-SECRET-51be02", "KEY-SECRET-c0ffee", "SSH-SECRET-d15ea5e")
UNREACHABLE_URL = "unix:///run/dockerbench-no-such-engine.sock"


def form_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "web-1",
        "url": "tcp://web-1.example.invalid:2376",
        "tags": "prod, eu-west",
        "enabled": "on",
        "facts_method": "probe",
        "probe_image": "",
        "tls_verify": "on",
        "ssh_known_hosts": "",
        "ssh_facts_url": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def host() -> Host:
    return create_host("web-1", "tcp://web-1.example.invalid:2376", tags=[Tag.objects.create(name="prod")], **SECRETS)


@pytest.fixture
def local_host(docker_url: str) -> Host:
    return create_host("local", docker_url, facts_method="local")


def assert_no_secret(response) -> None:
    body = response.content.decode()
    for marker in SECRET_MARKERS:
        assert marker not in body
    for value in response.headers.values():
        assert not any(marker in value for marker in SECRET_MARKERS)


# -- access -------------------------------------------------------------------------------------------


def host_urls(host: Host) -> dict[str, str]:
    return {
        "list": reverse("hosts:list"),
        "add": reverse("hosts:add"),
        "edit": reverse("hosts:edit", args=[host.pk]),
        "delete": reverse("hosts:delete", args=[host.pk]),
        "test-connection": reverse("hosts:test-connection", args=[host.pk]),
    }


def test_the_login_page_is_our_own_and_logs_in_to_the_fleet(client: Client, django_user_model: type[User]) -> None:
    django_user_model.objects.create_user("ops", password="a-long-test-password-1")  # noqa: S106
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="password"' in page.content
    assert b"/admin/" not in page.content
    response = client.post(reverse("login"), {"username": "ops", "password": "a-long-test-password-1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("scans:overview")


def test_logout_is_a_post_form_in_the_header() -> None:
    client = persona_client("viewer")
    body = client.get(reverse("hosts:list")).content.decode()
    assert f'method="post" action="{reverse("logout")}"' in body
    assert client.post(reverse("logout")).status_code == 200
    assert client.get(reverse("hosts:list")).status_code == 302


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_viewer_sees_the_list_without_the_buttons_to_change_it(host: Host, headers: dict[str, str]) -> None:
    response = persona_client("viewer").get(reverse("hosts:list"), headers=headers)
    assert response.status_code == 200
    assert b"web-1" in response.content
    assert reverse("hosts:edit", args=[host.pk]).encode() not in response.content
    assert reverse("hosts:add").encode() not in response.content


@pytest.mark.parametrize("persona", ["operator", "admin"])
def test_operators_and_admins_add_a_host_with_its_tags(persona: str) -> None:
    client = persona_client(persona)
    assert client.get(reverse("hosts:add")).status_code == 200

    response = client.post(reverse("hosts:add"), form_data(**SECRETS))

    host = Host.objects.get(name="web-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("hosts:edit", args=[host.pk])
    assert sorted(host.tags.values_list("name", flat=True)) == ["eu-west", "prod"]
    assert host.facts_method == "probe"
    assert host.ssh_private_key.reveal() == SECRETS["ssh_private_key"]
    assert_no_secret(client.get(response["Location"]))


@pytest.mark.parametrize("persona", ["operator", "admin"])
def test_operators_and_admins_edit_and_delete_a_host(host: Host, persona: str) -> None:
    client = persona_client(persona)
    response = client.post(reverse("hosts:edit", args=[host.pk]), form_data(name="web-2", tags="staging"))
    assert response.status_code == 302
    host.refresh_from_db()
    assert host.name == "web-2"
    assert list(host.tags.values_list("name", flat=True)) == ["staging"]

    confirm = client.get(reverse("hosts:delete", args=[host.pk]))
    assert confirm.status_code == 200
    assert b"Delete web-2?" in confirm.content
    assert Host.objects.filter(pk=host.pk).exists()  # a GET never deletes

    response = client.post(reverse("hosts:delete", args=[host.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("hosts:list")
    assert not Host.objects.filter(pk=host.pk).exists()


# -- htmx ---------------------------------------------------------------------------------------------


def test_the_list_serves_the_host_table_alone_to_htmx_and_filters_by_tag(host: Host) -> None:
    create_host("db-1", "tcp://db-1.example.invalid:2376")
    client = persona_client("viewer")
    full = client.get(reverse("hosts:list"))
    partial = client.get(reverse("hosts:list"), {"tag": "prod"}, headers=HX)
    assert b"<html" in full.content and b'id="host-table"' in full.content
    assert b"<html" not in partial.content and partial.content.lstrip().startswith(b'<div id="host-table"')
    assert b"web-1" in partial.content and b"db-1" not in partial.content


def test_a_history_restore_gets_the_full_page(host: Host) -> None:
    headers = {**HX, "HX-History-Restore-Request": "true"}
    response = persona_client("viewer").get(reverse("hosts:list"), headers=headers)
    assert b"<html" in response.content


@pytest.mark.parametrize("name", ["add", "edit"])
def test_the_forms_serve_their_partial_to_htmx(host: Host, name: str) -> None:
    response = persona_client("operator").get(host_urls(host)[name], headers=HX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<form id="host-form"')


def test_the_delete_confirmation_serves_its_partial_to_htmx(host: Host) -> None:
    response = persona_client("operator").get(reverse("hosts:delete", args=[host.pk]), headers=HX)
    assert b"<html" not in response.content
    assert b'id="host-delete"' in response.content


def test_an_invalid_htmx_submission_returns_the_form_with_its_errors(host: Host) -> None:
    response = persona_client("operator").post(
        reverse("hosts:edit", args=[host.pk]), form_data(url="http://web-1", tags="not a slug!"), headers=HX
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    body = response.content.decode()
    assert "Use unix:///var/run/docker.sock" in body
    assert "may only hold letters, digits, hyphens and underscores" in body
    host.refresh_from_db()
    assert host.url == "tcp://web-1.example.invalid:2376"


def test_a_successful_htmx_submission_navigates_with_hx_redirect(host: Host) -> None:
    response = persona_client("operator").post(reverse("hosts:edit", args=[host.pk]), form_data(), headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("hosts:edit", args=[host.pk])


def test_an_htmx_delete_navigates_to_the_list(host: Host) -> None:
    response = persona_client("admin").post(reverse("hosts:delete", args=[host.pk]), headers=HX)
    assert response.headers["HX-Redirect"] == reverse("hosts:list")
    assert not Host.objects.exists()


# -- write-only credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_the_edit_form_never_shows_a_stored_credential_only_that_it_is_set(host: Host, headers: dict[str, str]) -> None:
    response = persona_client("operator").get(reverse("hosts:edit", args=[host.pk]), headers=headers)
    assert_no_secret(response)
    body = response.content.decode()
    assert body.count('credential-state">\n        set</span>') == 4
    assert 'name="clear_ssh_private_key"' in body


def test_no_page_shows_a_credential(host: Host, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = persona_client("admin")
    for url in host_urls(host).values():
        assert_no_secret(client.get(url))
        assert_no_secret(client.get(url, headers=HX))
    # Messages after saving, connection errors (this engine does not exist), and the pages they land on.
    assert_no_secret(client.post(reverse("hosts:edit", args=[host.pk]), form_data(), follow=True))
    assert_no_secret(client.post(reverse("hosts:test-connection", args=[host.pk]), follow=True))
    assert_no_secret(client.post(reverse("hosts:test-connection", args=[host.pk]), headers=HX))
    assert not any(marker in caplog.text for marker in SECRET_MARKERS)


def test_error_reports_mask_the_credentials_posted(host: Host) -> None:
    response = persona_client("operator").post(reverse("hosts:edit", args=[host.pk]), form_data())
    assert set(getattr(response.wsgi_request, "sensitive_post_parameters")) == set(SECRETS)  # noqa: B009 - set by Django at run time


def test_the_list_links_each_host_to_its_findings_for_those_who_may_see_them(host: Host) -> None:
    body = persona_client("viewer").get(reverse("hosts:list")).content.decode()
    assert f'<a href="{reverse("scans:host", args=[host.pk])}">web-1</a>' in body


def test_an_empty_credential_box_keeps_the_stored_value(host: Host) -> None:
    persona_client("operator").post(reverse("hosts:edit", args=[host.pk]), form_data(enabled=None))
    host = Host.objects.get(pk=host.pk)
    assert host.enabled is False  # the submission was applied...
    for name, value in SECRETS.items():
        assert getattr(host, name).reveal() == value  # ...and the credentials were kept


def test_a_new_credential_replaces_the_stored_one_and_clear_removes_it(host: Host) -> None:
    new_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nNEW-SSH-KEY-424242\n-----END OPENSSH PRIVATE KEY-----"
    client = persona_client("operator")
    client.post(
        reverse("hosts:edit", args=[host.pk]),
        form_data(ssh_private_key=new_key, clear_tls_ca_cert="on"),
    )
    host = Host.objects.get(pk=host.pk)
    assert host.ssh_private_key.reveal() == new_key
    assert not host.tls_ca_cert
    assert host.tls_client_key.reveal() == SECRETS["tls_client_key"]
    body = client.get(reverse("hosts:edit", args=[host.pk])).content.decode()
    assert "NEW-SSH-KEY-424242" not in body
    assert body.count('credential-state">\n        not set</span>') == 1


def test_a_rejected_submission_does_not_echo_the_credential_just_typed(host: Host) -> None:
    response = persona_client("operator").post(
        reverse("hosts:edit", args=[host.pk]), form_data(url="ftp://nowhere", tls_client_key=SECRETS["tls_client_key"])
    )
    assert response.status_code == 200
    assert b"Use unix:///var/run/docker.sock" in response.content
    assert_no_secret(response)


def test_a_client_certificate_without_its_key_is_refused() -> None:
    response = persona_client("operator").post(
        reverse("hosts:add"), form_data(tls_client_cert=SECRETS["tls_client_cert"])
    )
    assert response.status_code == 200
    assert b"A TLS client certificate and its key go together" in response.content
    assert not Host.objects.exists()


def test_pasting_a_value_and_clearing_it_at_once_is_refused(host: Host) -> None:
    response = persona_client("operator").post(
        reverse("hosts:edit", args=[host.pk]), form_data(ssh_private_key="x", clear_ssh_private_key="on")
    )
    assert b"Either paste a new value or clear it, not both." in response.content
    assert Host.objects.get(pk=host.pk).ssh_private_key.reveal() == SECRETS["ssh_private_key"]


# -- test connection ----------------------------------------------------------------------------------


def _start_test(host: Host, client: Client, **kwargs: Any):
    return client.post(reverse("hosts:test-connection", args=[host.pk]), **kwargs)


@pytest.mark.docker
def test_test_connection_queues_a_test_and_polls_until_the_worker_has_the_engines_version(
    local_host: Host, docker_url: str
) -> None:
    client = docker.DockerClient(base_url=docker_url, timeout=10)
    try:
        version = client.version()["Version"]
    finally:
        client.close()
    operator = persona_client("operator")
    response = _start_test(local_host, operator, headers=HX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    test = ConnectionTest.objects.get(host=local_host)
    assert test.status == ConnectionTest.Status.QUEUED
    poll = reverse("hosts:connection-test", args=[test.pk])
    assert f'hx-get="{poll}"'.encode() in response.content and b'hx-trigger="every 1s"' in response.content

    assert operator.get(poll, headers=HX).status_code == 200  # still queued: keep polling
    services.run_connection_test(test.pk)  # what the worker does (hosts/tests/test_tasks.py runs a real one)
    done = operator.get(poll, headers=HX)
    assert done.status_code == 286  # htmx stops polling
    assert f"Connected: Docker {version}.".encode() in done.content
    assert b"hx-trigger" not in done.content


@pytest.mark.docker
def test_test_connection_without_javascript_goes_to_a_page_that_refreshes_until_done(local_host: Host) -> None:
    admin = persona_client("admin")
    response = _start_test(local_host, admin)
    test = ConnectionTest.objects.get(host=local_host)
    assert response.status_code == 302
    assert response["Location"] == reverse("hosts:connection-test", args=[test.pk])
    waiting = admin.get(response["Location"])
    assert b'<meta http-equiv="refresh" content="2">' in waiting.content
    services.run_connection_test(test.pk)
    done = admin.get(response["Location"])
    assert b"Connected: Docker " in done.content
    assert b"http-equiv" not in done.content


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_test_connection_to_an_unreachable_engine_says_why(headers: dict[str, str]) -> None:
    host = create_host("gone", UNREACHABLE_URL)
    operator = persona_client("operator")
    _start_test(host, operator, headers=headers)
    test = services.run_connection_test(ConnectionTest.objects.get(host=host).pk)
    assert test is not None and test.status == ConnectionTest.Status.FAILED
    body = operator.get(reverse("hosts:connection-test", args=[test.pk]), headers=headers).content.decode()
    assert "Cannot connect" in body
    assert "dockerbench-no-such-engine.sock" in body  # the engine's message names what it tried


def test_a_connection_test_runs_once_however_often_it_is_delivered(host: Host) -> None:
    test = services.start_connection_test(host, user=None)
    assert services.run_connection_test(test.pk) is not None
    assert services.run_connection_test(test.pk) is None


def test_connection_tests_are_rate_limited_per_user(host: Host) -> None:
    operator, other = persona_client("operator"), persona_client("viewer")
    for _ in range(services.CONNECTION_TESTS_PER_WINDOW):
        assert _start_test(host, operator, headers=HX).status_code == 200
    refused = _start_test(host, operator, headers=HX)
    assert refused.status_code == 429
    assert b"connection tests a minute" in refused.content
    assert ConnectionTest.objects.count() == services.CONNECTION_TESTS_PER_WINDOW
    # The window moves on: older tests no longer count.
    ConnectionTest.objects.update(created=timezone.now() - timedelta(minutes=2))
    assert _start_test(host, operator, headers=HX).status_code == 200
    assert other.post(reverse("hosts:test-connection", args=[host.pk])).status_code == 403  # a viewer may not


def test_test_connection_only_answers_post(host: Host) -> None:
    assert persona_client("operator").get(reverse("hosts:test-connection", args=[host.pk])).status_code == 405


# -- unreadable credentials ----------------------------------------------------------------------------


def _damage(host: Host, name: str) -> None:
    # As if it had been saved under a key this server no longer has.
    Host.objects.filter(pk=host.pk).update(**{name: Sealed("gAAAAABnot-a-token-this-key-can-open")})


def test_an_unreadable_credential_breaks_no_page_and_says_enter_it_again(host: Host) -> None:
    _damage(host, "tls_client_key")
    other = create_host("db-1", "tcp://db-1.example.invalid:2376")
    admin = persona_client("admin")
    listing = admin.get(reverse("hosts:list"))
    assert listing.status_code == 200
    assert "unreadable: enter TLS client key (PEM) again" in listing.content.decode()
    edit = admin.get(reverse("hosts:edit", args=[host.pk]))
    assert edit.status_code == 200
    assert b"Credential unreadable: enter it again" in edit.content
    assert admin.get(reverse("hosts:edit", args=[other.pk])).status_code == 200
    assert b"unreadable" not in admin.get(reverse("hosts:edit", args=[other.pk])).content
    assert admin.get(reverse("scans:host", args=[host.pk])).status_code == 200
    assert admin.get(reverse("scans:overview")).status_code == 200
    assert admin.get(reverse("admin:hosts_host_change", args=[host.pk])).status_code == 200


def test_entering_an_unreadable_credential_again_repairs_the_host(host: Host) -> None:
    _damage(host, "tls_client_key")
    persona_client("operator").post(
        reverse("hosts:edit", args=[host.pk]), form_data(tls_client_key=SECRETS["tls_client_key"])
    )
    host = Host.objects.get(pk=host.pk)
    assert host.unreadable_credentials() == []
    assert host.tls_client_key.reveal() == SECRETS["tls_client_key"]


def test_a_connection_test_of_a_host_with_an_unreadable_credential_says_so(host: Host) -> None:
    _damage(host, "tls_ca_cert")
    test = services.run_connection_test(services.start_connection_test(host, user=None).pk)
    assert test is not None and test.status == ConnectionTest.Status.FAILED
    assert "cannot be decrypted: enter it again" in test.message


# -- the admin ----------------------------------------------------------------------------------------


def test_the_admin_neither_shows_nor_takes_credentials(host: Host) -> None:
    admin = persona_client("admin")
    page = admin.get(reverse("admin:hosts_host_change", args=[host.pk]))
    assert page.status_code == 200
    assert_no_secret(page)
    body = page.content.decode()
    for name in SECRETS:
        assert f'name="{name}"' not in body
    assert "TLS client key (PEM): set" in body
    # A crafted post with a credential field changes nothing.
    data = {
        "name": "web-1",
        "url": "tcp://web-1.example.invalid:2376",
        "facts_method": "probe",
        "tls_verify": "on",
        "enabled": "on",
        "tls_client_key": "INJECTED-KEY",
        "tags": [t.pk for t in host.tags.all()],
    }
    response = admin.post(reverse("admin:hosts_host_change", args=[host.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Host.objects.get(pk=host.pk).tls_client_key.reveal() == SECRETS["tls_client_key"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "tcp://[::1", "An IPv6 address goes in square brackets, both of them"),
        ("url", "tcp://h:99999", "The port must be a number from 1 to 65535."),
        ("url", "ssh://ops:hunter2@h", "Do not put a password in the URL"),
        ("ssh_facts_url", "ops@h:0", "The port must be a number from 1 to 65535."),
    ],
)
def test_a_host_url_the_engine_cannot_use_is_a_form_error_never_a_saved_host(
    field: str, value: str, message: str
) -> None:
    response = persona_client("operator").post(reverse("hosts:add"), form_data(**{field: value}), headers=HX)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Host.objects.exists()
