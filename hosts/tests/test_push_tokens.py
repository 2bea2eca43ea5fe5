"""Push tokens: made with their plaintext shown once, stored hashed, recognised by their prefix, revocable,
expiring (access for every persona is walked in tests/test_access.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from hosts import services
from hosts.models import PushToken
from hosts.services import create_host
from tests.personas import make_user, persona_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def host():
    return create_host("web-1", "tcp://web-1.example.invalid:2376")


def test_it_stores_only_the_hash_and_a_short_prefix(host) -> None:
    token, plaintext = services.create_push_token(host, name="cron")
    assert plaintext.startswith("dbp_") and len(plaintext) == 47
    assert token.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.prefix == plaintext[:12]
    stored = PushToken.objects.filter(pk=token.pk).values()[0]
    assert plaintext not in {str(v) for v in stored.values()}
    # Two tokens never share a secret.
    assert services.create_push_token(host, name="cron")[1] != plaintext


def test_it_authenticates_the_token_and_marks_it_used(host) -> None:
    token, plaintext = services.create_push_token(host, name="cron")
    found = services.authenticate_push_token(plaintext)
    assert found is not None and found.pk == token.pk and found.host == host
    token.refresh_from_db()
    assert token.last_used is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p[:-1] + ("A" if p[-1] != "A" else "B"),  # same prefix, wrong secret
        lambda p: p[:-1],
        lambda p: "",
        lambda p: p.upper(),
        lambda p: "x" * 47,
    ],
)
def test_it_refuses_anything_but_the_exact_token(host, mangle) -> None:
    _token, plaintext = services.create_push_token(host, name="cron")
    assert services.authenticate_push_token(mangle(plaintext)) is None


def test_a_revoked_or_expired_token_opens_nothing(host) -> None:
    user = make_user("operator")
    revoked, revoked_text = services.create_push_token(host, name="old")
    assert services.revoke_push_token(revoked, user=user) is True
    assert services.revoke_push_token(revoked, user=user) is False  # once
    assert services.authenticate_push_token(revoked_text) is None
    revoked.refresh_from_db()
    assert revoked.revoked_by == user and revoked.state == "revoked"
    assert LogEntry.objects.filter(additional_data__event="push token revoked", actor=user).count() == 1

    expiring, expiring_text = services.create_push_token(host, name="short", expires=timezone.now().date())
    assert expiring.state == "expired"
    assert services.authenticate_push_token(expiring_text) is None
    later, later_text = services.create_push_token(host, name="later", expires=timezone.now().date() + timedelta(2))
    assert services.authenticate_push_token(later_text) is not None


def test_its_creation_is_in_the_audit_trail_without_the_digest(host) -> None:
    token, plaintext = services.create_push_token(host, name="cron")
    entry = LogEntry.objects.get_for_object(token).get()
    assert "digest" not in entry.changes_dict
    assert token.digest not in str(entry.changes) and plaintext not in str(entry.changes)


def test_the_page_shows_the_plaintext_once_and_then_only_the_prefix(host) -> None:
    client = persona_client("operator")
    url = reverse("hosts:push-tokens", args=[host.pk])
    page = client.get(url)
    assert page.status_code == 200 and "No push token yet." in page.content.decode()

    made = client.post(reverse("hosts:push-token-add", args=[host.pk]), {"name": "nightly cron"})
    body = made.content.decode()
    token = PushToken.objects.get(host=host)
    plaintexts = [word for word in body.replace("<", " ").replace(">", " ").split() if word.startswith("dbp_")]
    assert len(set(plaintexts)) == 2  # the token, and its prefix in the table
    plaintext = max(plaintexts, key=len)
    assert services.authenticate_push_token(plaintext) == token
    assert "no-store" in made["Cache-Control"]
    assert token.created_by is not None and token.created_by.username == "operator"

    again = client.get(url).content.decode()
    assert plaintext not in again and f"{token.prefix}…" in again and "nightly cron" in again


def test_a_bad_form_makes_no_token(host) -> None:
    client = persona_client("operator")
    response = client.post(
        reverse("hosts:push-token-add", args=[host.pk]),
        {"name": "x", "expires": (timezone.now().date() - timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 200
    assert "The expiry day must be after today (UTC)." in response.content.decode()
    assert not PushToken.objects.exists()


def test_the_revoke_button_revokes_only_that_hosts_token(host) -> None:
    other = create_host("db-1", "tcp://db-1.example.invalid:2376")
    token, _ = services.create_push_token(other, name="cron")
    client = persona_client("operator")
    # Through another host's URL: not found, and not revoked.
    wrong = client.post(reverse("hosts:push-token-revoke", args=[host.pk, token.pk]))
    assert wrong.status_code == 404
    token.refresh_from_db()
    assert token.revoked is None
    right = client.post(reverse("hosts:push-token-revoke", args=[other.pk, token.pk]), follow=True)
    token.refresh_from_db()
    assert token.revoked is not None
    assert "revoked: it opens nothing any more" in right.content.decode()


def test_the_host_pages_link_to_the_tokens(host) -> None:
    client = persona_client("operator")
    link = f'href="{reverse("hosts:push-tokens", args=[host.pk])}"'
    assert link in client.get(reverse("hosts:edit", args=[host.pk])).content.decode()
    assert link in client.get(reverse("scans:host", args=[host.pk])).content.decode()
    assert link not in persona_client("viewer").get(reverse("scans:host", args=[host.pk])).content.decode()


def test_check_says_why_a_whole_secret_is_refused(host) -> None:
    token, plaintext = services.create_push_token(host, name="cron")
    services.revoke_push_token(token)
    with pytest.raises(services.PushTokenRefused) as caught:
        services.check_push_token(plaintext)
    assert caught.value.reason == "revoked"
    with pytest.raises(services.PushTokenRefused) as caught:
        services.check_push_token(plaintext[:-1] + "x")
    assert caught.value.reason == "unknown"
