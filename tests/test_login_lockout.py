"""Logins: the lockout after repeated failures (django-axes, with our client address), the password reset pages
that exist only with mail, the admin password setup_dashboard accepts, and the session idle timeout.

Everything goes through the real login page and middleware on the real database; time is moved by rewriting
the stored times (axes' attempt times, the session's expiry), never by sleeping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.middleware import IdleTimeoutMiddleware
from tests.personas import PASSWORD, make_user, persona_client
from tests.workers import database_url

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/accounts/login/"
# Documentation addresses (RFC 5737): the test client's REMOTE_ADDR, so nothing here is anyone's real address.
HERE, THERE, ELSEWHERE = "192.0.2.10", "192.0.2.20", "192.0.2.30"
PROXY = "127.0.0.1"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    # Dozens of logins here; what they test does not depend on how slow the hash is (PBKDF2: ~0.25 s each).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _log_in(client: Client, username: str, password: str, **headers: str) -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, headers=headers)


def _logged_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def _lock(client: Client, username: str, **headers: str) -> Any:
    """Fail the login as often as the limit allows; the last failure is the one that locks (429)."""
    limit = django_settings.AXES_FAILURE_LIMIT
    for attempt in range(1, limit):
        response = _log_in(client, username, "not-the-password", **headers)
        assert response.status_code == 200, f"attempt {attempt} of {limit} was refused"
        assert "Please enter a correct" in response.content.decode()
    response = _log_in(client, username, "not-the-password", **headers)
    assert response.status_code == 429
    return response


# -- The lockout --------------------------------------------------------------------------------------------


def test_repeated_failures_lock_the_account_and_the_address() -> None:
    make_user("operator")
    make_user("viewer")
    here = Client(REMOTE_ADDR=HERE)

    locked = _lock(here, "operator")

    page = locked.content.decode()
    assert "registration/locked_out.html" in [t.name for t in locked.templates]
    assert "<h1>Too many failed logins</h1>" in page
    assert "are locked for a while after repeated failures" in page and "manage.py axes_reset" in page
    assert "wait\n  15 minutes and try again" in page  # a duration people read, not ISO 8601's PT15M
    # The right password does not help while locked: it is not even checked.
    assert _log_in(here, "operator", PASSWORD).status_code == 429
    # The account is locked from everywhere, and the address for every account.
    assert _log_in(Client(REMOTE_ADDR=THERE), "operator", PASSWORD).status_code == 429
    assert _log_in(Client(REMOTE_ADDR=HERE), "viewer", PASSWORD).status_code == 429
    # Another account from another address is not affected.
    assert _logged_in(_log_in(Client(REMOTE_ADDR=ELSEWHERE), "viewer", PASSWORD))


def test_the_lock_lasts_the_cool_off_and_each_attempt_during_it_starts_it_again(settings: Any) -> None:
    make_user("operator")
    here = Client(REMOTE_ADDR=HERE)
    _lock(here, "operator")
    cool_off = settings.AXES_COOLOFF_TIME

    # A minute before the end of the cool-off, still locked, even with the right password.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - cool_off + timedelta(minutes=1))
    assert _log_in(here, "operator", PASSWORD).status_code == 429
    # That attempt started the cool-off again: someone who keeps trying stays locked out.
    (attempt,) = AccessAttempt.objects.all()
    assert timezone.now() - attempt.attempt_time < timedelta(seconds=30)
    # Once a whole cool-off has passed without an attempt, the right password logs in.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - cool_off - timedelta(seconds=1))
    assert _logged_in(_log_in(here, "operator", PASSWORD))
    assert not AccessAttempt.objects.exists()  # a success clears the count (AXES_RESET_ON_SUCCESS)


def test_an_admin_lifts_a_lock_with_axes_reset_username() -> None:
    make_user("operator")
    here = Client(REMOTE_ADDR=HERE)
    _lock(here, "operator")

    call_command("axes_reset_username", "operator", stdout=open(os.devnull, "w"))  # noqa: SIM115

    # The attempts were the account's, from this address: both are free again.
    assert _logged_in(_log_in(here, "operator", PASSWORD))


def test_the_configured_limit_and_cool_off_come_from_the_environment() -> None:
    assert _dump({}) == {"limit": 5, "cool_off": 900, "idle": 8 * 3600, "renew": 300}
    custom = {
        "DOCKERBENCH_LOGIN_FAILURE_LIMIT": "3",
        "DOCKERBENCH_LOGIN_LOCKOUT_MINUTES": "30",
        "DJANGO_SESSION_IDLE_TIMEOUT": "600",
    }
    assert _dump(custom) == {"limit": 3, "cool_off": 1800, "idle": 600, "renew": 60}


DUMP = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps({
    "limit": settings.AXES_FAILURE_LIMIT,
    "cool_off": settings.AXES_COOLOFF_TIME.total_seconds(),
    "idle": settings.SESSION_COOKIE_AGE,
    "renew": settings.DOCKERBENCH_SESSION_RENEW_SECONDS,
}))
"""
OURS = (
    "DOCKERBENCH_LOGIN_FAILURE_LIMIT",
    "DOCKERBENCH_LOGIN_LOCKOUT_MINUTES",
    "DJANGO_SESSION_IDLE_TIMEOUT",
    "DJANGO_EMAIL_HOST",
    "DOCKERBENCH_TRUSTED_PROXIES",
)


def _subprocess_env(**env: str) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if name not in OURS}
    return {**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env}


def _dump(env: dict[str, str]) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", DUMP], cwd=ROOT, env=_subprocess_env(**env), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return {k: int(v) for k, v in json.loads(result.stdout.splitlines()[-1]).items()}


# -- Which address is locked --------------------------------------------------------------------------------


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(settings: Any) -> None:
    settings.DOCKERBENCH_TRUSTED_PROXIES = 0
    make_user("operator")
    make_user("viewer")
    here = Client(REMOTE_ADDR=HERE)

    _lock(here, "operator", x_forwarded_for="198.51.100.7")

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HERE}
    # Claiming another address does not get the client out of its lock.
    assert _log_in(here, "viewer", PASSWORD, x_forwarded_for="198.51.100.8").status_code == 429


def test_behind_one_trusted_proxy_the_last_x_forwarded_for_entry_is_the_client(settings: Any) -> None:
    settings.DOCKERBENCH_TRUSTED_PROXIES = 1
    make_user("operator")
    make_user("viewer")
    proxy = Client(REMOTE_ADDR=PROXY)
    # nginx's $proxy_add_x_forwarded_for: what the client sent, then the address nginx saw.
    client = "198.51.100.20"

    _lock(proxy, "operator", x_forwarded_for=f"203.0.113.9, {client}")

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {client}
    # The locked client stays locked whatever it puts in front; another client behind the same proxy is free.
    assert _log_in(proxy, "viewer", PASSWORD, x_forwarded_for=f"198.51.100.21, {client}").status_code == 429
    assert _logged_in(_log_in(Client(REMOTE_ADDR=PROXY), "viewer", PASSWORD, x_forwarded_for="198.51.100.21"))


# -- Password reset: only with mail --------------------------------------------------------------------------

RESET = """
import json
import sys
import django
django.setup()
from django.core import mail
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()  # the test client's host name, and mail kept in memory (mail.outbox)
client = Client()
page = client.get("/accounts/password_reset/")
login = client.get("/accounts/login/").content.decode()
posted = client.post("/accounts/password_reset/", {"email": sys.argv[1]})
print(json.dumps({
    "page": page.status_code,
    "link": 'href="/accounts/password_reset/"' in login,
    "posted": posted.status_code,
    "mails": [{"to": m.to, "body": m.body} for m in mail.outbox],
}))
"""


def _reset_pages(**env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RESET, "operator@example.invalid"],
        cwd=ROOT,
        env=_subprocess_env(DATABASE_URL=database_url(), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.django_db(transaction=True)  # the subprocess must see the user
def test_there_are_no_password_reset_pages_without_mail() -> None:
    make_user("operator")

    pages = _reset_pages()

    assert pages == {"page": 404, "link": False, "posted": 404, "mails": []}


@pytest.mark.django_db(transaction=True)
def test_with_a_mail_server_the_reset_pages_exist_and_mail_a_link() -> None:
    make_user("operator")

    pages = _reset_pages(DJANGO_EMAIL_HOST="smtp.example.invalid")

    assert (pages["page"], pages["link"], pages["posted"]) == (200, True, 302)
    (mail,) = pages["mails"]
    assert mail["to"] == ["operator@example.invalid"]
    assert "/accounts/reset/" in mail["body"]


def test_this_process_has_no_reset_pages(client: Client) -> None:
    # The suite runs without DJANGO_EMAIL_HOST (pytest's environment), like a default install.
    assert client.get("/accounts/password_reset/").status_code == 404
    assert "password_reset" not in client.get(LOGIN).content.decode()


# -- setup_dashboard's admin password ------------------------------------------------------------------------

ADMIN = "dockerbench-admin"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "This password is too common."),
        ("12345678", "This password is entirely numeric."),
        ("dockerbench-admin1", "The password is too similar to the username."),
    ],
)
def test_setup_dashboard_refuses_a_weak_admin_password(
    monkeypatch: pytest.MonkeyPatch, password: str, reason: str
) -> None:
    monkeypatch.setenv("DOCKERBENCH_ADMIN_PASSWORD", password)

    with pytest.raises(CommandError) as refused:
        call_command("setup_dashboard", username=ADMIN, stdout=open(os.devnull, "w"))  # noqa: SIM115

    message = str(refused.value)
    assert message.startswith("DOCKERBENCH_ADMIN_PASSWORD is not accepted:")
    assert reason in message
    assert not get_user_model().objects.filter(is_superuser=True).exists()


def test_setup_dashboard_accepts_a_strong_admin_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    strong = "correct-horse-battery-staple-42"  # noqa: S105 - a throwaway password in the test database
    monkeypatch.setenv("DOCKERBENCH_ADMIN_PASSWORD", strong)

    call_command("setup_dashboard", username=ADMIN)

    admin = get_user_model().objects.get(username=ADMIN)
    assert admin.is_superuser and admin.check_password(strong)
    output = capsys.readouterr().out
    assert f"Admin: created user {ADMIN!r} with the password in DOCKERBENCH_ADMIN_PASSWORD." in output
    assert strong not in output


# -- The idle timeout ----------------------------------------------------------------------------------------


@pytest.fixture
def idle(settings: Any) -> tuple[int, int]:
    """A 10-minute idle timeout, renewed at most every minute: (timeout, renewal) in seconds."""
    settings.SESSION_COOKIE_AGE = 600
    settings.DOCKERBENCH_SESSION_RENEW_SECONDS = 60
    return 600, 60


def _logged_in_client() -> tuple[Client, str]:
    make_user("operator")
    client = Client(REMOTE_ADDR=HERE)
    assert _logged_in(_log_in(client, "operator", PASSWORD))
    return client, client.cookies["sessionid"].value


def _as_if(key: str, *, renewed_ago: int, expires_in: int) -> None:
    """Make the stored session look as it would that long after its last renewal."""
    session = Session.objects.get(session_key=key)
    data = session.get_decoded()
    data[IdleTimeoutMiddleware.KEY] = int(time.time()) - renewed_ago
    Session.objects.filter(session_key=key).update(
        session_data=Session.objects.encode(data), expire_date=timezone.now() + timedelta(seconds=expires_in)
    )


def _stored(key: str) -> tuple[int, float]:
    session = Session.objects.get(session_key=key)
    return session.get_decoded()[IdleTimeoutMiddleware.KEY], (session.expire_date - timezone.now()).total_seconds()


def test_a_login_counts_as_a_renewal(idle: tuple[int, int]) -> None:
    _, key = _logged_in_client()

    renewed, left = _stored(key)

    assert abs(renewed - time.time()) < 5
    assert idle[0] - 5 < left <= idle[0]


def test_a_session_idle_for_longer_than_the_timeout_is_logged_out(idle: tuple[int, int]) -> None:
    timeout, _ = idle
    client, key = _logged_in_client()
    # The last request (and renewal) was timeout + 1 seconds ago: the expiry it set has just passed.
    _as_if(key, renewed_ago=timeout + 1, expires_in=-1)

    response = client.get("/hosts/")

    assert response.status_code == 302 and response["Location"].startswith(f"{LOGIN}?next=")
    assert "_auth_user_id" not in response.wsgi_request.session


def test_a_session_used_within_the_timeout_is_kept_and_renewed(idle: tuple[int, int]) -> None:
    timeout, _ = idle
    client, key = _logged_in_client()
    # Ten seconds before the end: a request now keeps the session, and pushes its end a whole timeout away.
    _as_if(key, renewed_ago=timeout - 10, expires_in=10)

    assert client.get("/hosts/").status_code == 200

    renewed, left = _stored(key)
    assert abs(renewed - time.time()) < 5
    assert timeout - 5 < left <= timeout


def test_a_session_renewed_moments_ago_is_not_written_again(idle: tuple[int, int]) -> None:
    timeout, renew = idle
    client, key = _logged_in_client()
    _as_if(key, renewed_ago=renew - 5, expires_in=timeout - renew + 5)
    before = Session.objects.get(session_key=key)

    assert client.get("/hosts/").status_code == 200

    after = Session.objects.get(session_key=key)
    assert (after.session_data, after.expire_date) == (before.session_data, before.expire_date)


# -- Our own pages for the rest of the account flow ---------------------------------------------------------


def test_the_password_change_pages_are_ours_and_work() -> None:
    client = persona_client("viewer")
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert "registration/password_change_form.html" in [t.name for t in page.templates]
    assert "base.html" in [t.name for t in page.templates] and "admin/base.html" not in [t.name for t in page.templates]
    done = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-password-42",
            "new_password2": "another-long-password-42",
        },
        follow=True,
    )
    assert "Password changed" in done.content.decode()


def test_a_refused_form_gets_our_csrf_page_without_inline_style() -> None:
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form could not be sent" in body and "CSRF cookie not set" in body  # the reason, to fix it
    assert "<style" not in body and "style=" not in body
