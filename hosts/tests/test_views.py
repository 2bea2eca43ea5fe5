"""Host pages: access for the four personas, full pages and htmx partials, write-only credentials, test connection."""

from __future__ import annotations

import logging

import docker
import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hosts.models import Host, Tag
from hosts.services import create_host
from hosts.tests.personas import HX, persona_client
from scans.models import Scan, Schedule

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


def assert_no_secret(response) -> None:  # type: ignore[no-untyped-def]
    body = response.content.decode()
    for marker in SECRET_MARKERS:
        assert marker not in body
    for value in response.headers.values():
        assert not any(marker in value for marker in SECRET_MARKERS)


def test_the_migration_gives_a_fresh_install_the_two_persona_groups() -> None:
    assert MigrationRecorder.Migration.objects.filter(app="hosts", name="0003_persona_groups").exists()
    if not Group.objects.exists():  # a transactional test before this one flushed what the migration made
        call_command("migrate", "hosts", "0002", verbosity=0)
        call_command("migrate", "hosts", "0003", verbosity=0)
    operators = set(Group.objects.get(name="Operators").permissions.values_list("codename", flat=True))
    viewers = set(Group.objects.get(name="Viewers").permissions.values_list("codename", flat=True))
    assert {"add_host", "change_host", "delete_host", "add_scan", "add_schedule", "change_schedule"} <= operators
    assert {"view_host", "view_scan", "view_schedule", "view_checkresult"} <= viewers
    assert not any(codename.startswith(("add_", "change_", "delete_")) for codename in viewers)


# -- access -------------------------------------------------------------------------------------------


def host_urls(host: Host) -> dict[str, str]:
    return {
        "list": reverse("hosts:list"),
        "add": reverse("hosts:add"),
        "edit": reverse("hosts:edit", args=[host.pk]),
        "delete": reverse("hosts:delete", args=[host.pk]),
        "test-connection": reverse("hosts:test-connection", args=[host.pk]),
    }


@pytest.mark.parametrize("name", ["list", "add", "edit", "delete", "test-connection"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_sends_an_outsider_to_the_login_page(host: Host, name: str, method: str) -> None:
    url = host_urls(host)[name]
    response = getattr(persona_client("outsider"), method)(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"
    assert Host.objects.filter(pk=host.pk).exists()


def test_the_login_page_is_our_own_and_logs_in_to_the_fleet(client: Client, django_user_model: type[User]) -> None:
    django_user_model.objects.create_user("ops", password="a-long-test-password-1")  # noqa: S106
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="password"' in page.content
    assert b"/admin/" not in page.content
    response = client.post(reverse("login"), {"username": "ops", "password": "a-long-test-password-1"})
    assert response.status_code == 302
    assert response.url == reverse("scans:overview")


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


@pytest.mark.parametrize("name", ["add", "edit", "delete", "test-connection"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_viewer_is_forbidden_to_change_hosts(host: Host, name: str, method: str) -> None:
    response = getattr(persona_client("viewer"), method)(host_urls(host)[name], form_data(name="other"))
    assert response.status_code == 403
    host.refresh_from_db()
    assert host.name == "web-1"
    assert Host.objects.count() == 1


@pytest.mark.parametrize("persona", ["operator", "admin"])
def test_operators_and_admins_add_a_host_with_its_tags_and_the_nightly_schedule(persona: str) -> None:
    client = persona_client(persona)
    assert client.get(reverse("hosts:add")).status_code == 200

    response = client.post(reverse("hosts:add"), form_data(**SECRETS))

    host = Host.objects.get(name="web-1")
    assert response.status_code == 302
    assert response.url == reverse("hosts:edit", args=[host.pk])
    assert sorted(host.tags.values_list("name", flat=True)) == ["eu-west", "prod"]
    assert host.facts_method == "probe"
    assert host.ssh_private_key == SECRETS["ssh_private_key"]
    schedule = Schedule.objects.get(host=host)
    assert (schedule.minute, schedule.hour, schedule.enabled) == ("0", "2", True)
    assert schedule.periodic_task is not None
    assert_no_secret(client.get(response.url))


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

    task_id = Schedule.objects.get(host=host).periodic_task_id
    response = client.post(reverse("hosts:delete", args=[host.pk]))
    assert response.status_code == 302
    assert response.url == reverse("hosts:list")
    assert not Host.objects.filter(pk=host.pk).exists()
    from django_celery_beat.models import PeriodicTask

    assert not PeriodicTask.objects.filter(pk=task_id).exists()  # beat no longer runs the host's schedule


# -- htmx ---------------------------------------------------------------------------------------------


def test_the_list_serves_the_host_table_alone_to_htmx_and_filters_by_tag(host: Host) -> None:
    create_host("db-1", "tcp://db-1.example.invalid:2376")
    client = persona_client("viewer")
    full = client.get(reverse("hosts:list"))
    partial = client.get(reverse("hosts:list"), {"tag": "prod"}, headers=HX)
    assert b"<html" in full.content and b'id="host-table"' in full.content
    assert b"<html" not in partial.content and partial.content.lstrip().startswith(b'<table id="host-table"')
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
    assert "Use unix:///path/to/docker.sock" in body
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
    assert body.count('<span class="credential-state">set</span>') == 4
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
    assert set(response.wsgi_request.sensitive_post_parameters) == set(SECRETS)


def test_the_list_links_the_last_scan(host: Host) -> None:
    scan = Scan.objects.create(host=host, status=Scan.Status.SUCCEEDED, score=87, finished=timezone.now())
    Host.objects.filter(pk=host.pk).update(latest_scan=scan)
    body = " ".join(persona_client("viewer").get(reverse("hosts:list")).content.decode().split())
    assert f'<a href="{reverse("scans:scan", args=[scan.pk])}">#{scan.pk}, ' in body
    assert "Succeeded, score 87" in body


def test_an_empty_credential_box_keeps_the_stored_value(host: Host) -> None:
    persona_client("operator").post(reverse("hosts:edit", args=[host.pk]), form_data(enabled=None))
    host = Host.objects.get(pk=host.pk)
    assert host.enabled is False  # the submission was applied...
    for name, value in SECRETS.items():
        assert getattr(host, name) == value  # ...and the credentials were kept


def test_a_new_credential_replaces_the_stored_one_and_clear_removes_it(host: Host) -> None:
    new_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nNEW-SSH-KEY-424242\n-----END OPENSSH PRIVATE KEY-----"
    client = persona_client("operator")
    client.post(
        reverse("hosts:edit", args=[host.pk]),
        form_data(ssh_private_key=new_key, clear_tls_ca_cert="on"),
    )
    host = Host.objects.get(pk=host.pk)
    assert host.ssh_private_key == new_key
    assert host.tls_ca_cert == ""
    assert host.tls_client_key == SECRETS["tls_client_key"]
    body = client.get(reverse("hosts:edit", args=[host.pk])).content.decode()
    assert "NEW-SSH-KEY-424242" not in body
    assert body.count('<span class="credential-state">not set</span>') == 1


def test_a_rejected_submission_does_not_echo_the_credential_just_typed(host: Host) -> None:
    response = persona_client("operator").post(
        reverse("hosts:edit", args=[host.pk]), form_data(url="ftp://nowhere", tls_client_key=SECRETS["tls_client_key"])
    )
    assert response.status_code == 200
    assert b"Use unix:///path/to/docker.sock" in response.content
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
    assert Host.objects.get(pk=host.pk).ssh_private_key == SECRETS["ssh_private_key"]


# -- test connection ----------------------------------------------------------------------------------


@pytest.mark.docker
def test_test_connection_shows_the_real_engines_docker_version_inline(local_host: Host, docker_url: str) -> None:
    client = docker.DockerClient(base_url=docker_url, timeout=10)
    try:
        version = client.version()["Version"]
    finally:
        client.close()
    response = persona_client("operator").post(reverse("hosts:test-connection", args=[local_host.pk]), headers=HX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert f"Connected: Docker {version}.".encode() in response.content


@pytest.mark.docker
def test_test_connection_without_javascript_redirects_with_a_message(local_host: Host, docker_url: str) -> None:
    response = persona_client("admin").post(reverse("hosts:test-connection", args=[local_host.pk]), follow=True)
    assert response.redirect_chain == [(reverse("hosts:edit", args=[local_host.pk]), 302)]
    assert b"Connected to local: Docker " in response.content


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_test_connection_to_an_unreachable_engine_says_why(headers: dict[str, str]) -> None:
    host = create_host("gone", UNREACHABLE_URL)
    response = persona_client("operator").post(
        reverse("hosts:test-connection", args=[host.pk]), headers=headers, follow=True
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Cannot connect" in body
    assert "dockerbench-no-such-engine.sock" in body  # the engine's message names what it tried


def test_test_connection_only_answers_post(host: Host) -> None:
    assert persona_client("operator").get(reverse("hosts:test-connection", args=[host.pk])).status_code == 405
