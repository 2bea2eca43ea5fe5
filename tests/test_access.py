"""Every URL, every persona: the answer each gets, from the urlconf itself.

ACCESS below is the rule for each URL name: the permission its view declares (core.access.require) and the
personas who may use it. The test walks the whole urlconf (admin included), so a new URL without a rule here
fails, a rule for a URL that is gone fails, and a view that checks something other than its rule fails.
Who is not allowed gets: anonymous, the login page; a logged-in account in no role, the "no access" page;
a role without the permission, a 403 that says so. The check comes before the method check, so a refused
persona learns nothing from a wrong method either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from core.access import ANY_ACCOUNT, PUBLIC, PUSH_TOKEN, Perm
from dockerbench.tests import factories as f
from dockerbench.vulns import read_report_file
from hosts.models import ConnectionTest, Host, PushToken, Tag
from hosts.services import create_host, create_push_token
from notifications.models import Channel
from reports.models import Report, ReportSchedule
from scans.models import ScanSnapshot, Waiver
from scans.tests.factories import make_result, make_scan
from schedules.models import Schedule
from tests.personas import PERSONAS, persona_client
from vulns.models import CveWaiver, ImageReport
from vulns.services import record_host_images, store_report

pytestmark = pytest.mark.django_db

# The world scan's raw snapshot, and the container of it whose fix the fix pages show.
FIXTURE_HOST = Path(__file__).parents[1] / "dockerbench/tests/fixtures/hosts/misconfigured.json"
FIX_CONTAINER = "9c1c8698135255bd21ec9250217c664ac8f8ed3264f6a6f38b105fb08d6a2cb7"  # "unconfined" there

ROLES = {"admin", "operator", "viewer"}
OPERATORS = {"admin", "operator"}
ADMINS = {"admin"}
EVERYONE = set(PERSONAS)
ACCOUNTS = EVERYONE - {"anonymous"}


@dataclass(frozen=True)
class Rule:
    perm: Perm | str  # what the view declares: a Perm, PUBLIC or ANY_ACCOUNT
    allowed: frozenset[str]
    method: str = "GET"  # how an allowed persona uses it
    ok: int = 200  # what an allowed persona gets


def rule(perm: Perm | str, allowed: set[str], method: str = "GET", ok: int = 200) -> Rule:
    return Rule(perm, frozenset(allowed), method, ok)


ACCESS: dict[str, Rule] = {
    # core
    "home": rule(PUBLIC, EVERYONE, ok=302),
    "healthz": rule(PUBLIC, EVERYONE),
    "login": rule(PUBLIC, EVERYONE),
    "logout": rule(PUBLIC, EVERYONE, "POST", ok=200),
    "password_change": rule(ANY_ACCOUNT, ACCOUNTS),
    "password_change_done": rule(ANY_ACCOUNT, ACCOUNTS),
    "audit:audit-trail": rule(Perm.VIEW_AUDIT_TRAIL, ADMINS),
    # hosts
    "hosts:list": rule(Perm.VIEW_HOST, ROLES),
    "hosts:add": rule(Perm.ADD_HOST, OPERATORS),
    "hosts:edit": rule(Perm.CHANGE_HOST, OPERATORS),
    "hosts:delete": rule(Perm.DELETE_HOST, OPERATORS),
    "hosts:test-connection": rule(Perm.CHANGE_HOST, OPERATORS, "POST", ok=302),
    "hosts:connection-test": rule(Perm.CHANGE_HOST, OPERATORS),
    "hosts:push-tokens": rule(Perm.CHANGE_HOST, OPERATORS),
    "hosts:push-token-add": rule(Perm.CHANGE_HOST, OPERATORS, "POST", ok=200),  # an empty form: its errors
    "hosts:push-token-revoke": rule(Perm.CHANGE_HOST, OPERATORS, "POST", ok=302),
    # scans (the fleet)
    "scans:overview": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:host": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:drift": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:fixes": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:container-fix": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:fixes-bundle": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:scan": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:scan-progress": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:scan-export": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:check": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:scan-now": rule(Perm.RUN_SCAN, OPERATORS, "POST", ok=302),
    # An empty POST: the form comes back with its error, nothing is stored.
    "scans:import": rule(Perm.RUN_SCAN, OPERATORS, "POST", ok=200),
    "scans:scan-cancel": rule(Perm.CANCEL_SCAN, OPERATORS, "POST", ok=302),
    "scans:search": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:risk-help": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:remediation": rule(Perm.VIEW_FINDINGS, ROLES),
    "scans:waivers": rule(Perm.VIEW_WAIVER, ROLES),
    "scans:waiver": rule(Perm.VIEW_WAIVER, ROLES),
    "scans:waiver-add": rule(Perm.ADD_WAIVER, OPERATORS),
    "scans:waiver-edit": rule(Perm.CHANGE_WAIVER, OPERATORS),
    "scans:waiver-revoke": rule(Perm.CHANGE_WAIVER, OPERATORS, "POST", ok=302),
    # vulns (image vulnerabilities)
    "vulns:fleet": rule(Perm.VIEW_VULNS, ROLES),
    "vulns:host": rule(Perm.VIEW_VULNS, ROLES),
    "vulns:container": rule(Perm.VIEW_VULNS, ROLES),
    "vulns:report": rule(Perm.VIEW_VULNS, ROLES),
    "vulns:upload": rule(Perm.UPLOAD_REPORT, OPERATORS),
    "vulns:waivers": rule(Perm.VIEW_CVE_WAIVER, ROLES),
    "vulns:waiver-add": rule(Perm.ADD_CVE_WAIVER, OPERATORS),
    "vulns:waiver-revoke": rule(Perm.CHANGE_CVE_WAIVER, OPERATORS, "POST", ok=302),
    # schedules
    "schedules:list": rule(Perm.VIEW_SCHEDULE, ROLES),
    "schedules:add": rule(Perm.ADD_SCHEDULE, OPERATORS),
    "schedules:edit": rule(Perm.CHANGE_SCHEDULE, OPERATORS),
    "schedules:toggle": rule(Perm.CHANGE_SCHEDULE, OPERATORS, "POST", ok=302),
    "schedules:delete": rule(Perm.DELETE_SCHEDULE, OPERATORS),
    # notifications (channels hold webhook secrets and URLs: Admins only)
    "notifications:channels": rule(Perm.VIEW_CHANNEL, ADMINS),
    "notifications:channel-add": rule(Perm.ADD_CHANNEL, ADMINS),
    "notifications:channel-edit": rule(Perm.CHANGE_CHANNEL, ADMINS),
    "notifications:channel-test": rule(Perm.CHANGE_CHANNEL, ADMINS, "POST", ok=302),
    "notifications:channel-delete": rule(Perm.DELETE_CHANNEL, ADMINS),
    "notifications:deliveries": rule(Perm.VIEW_CHANNEL, ADMINS),
    # api: the REST API's own views (DRF) have their walk in api/tests/test_api_access.py; these are pages.
    "api:tokens": rule(ANY_ACCOUNT, ACCOUNTS),
    # Only one's own token may be revoked: any other id is a 404, whoever asks (url_of names none of theirs).
    "api:token-revoke": rule(ANY_ACCOUNT, ACCOUNTS, "POST", ok=404),
    "api:not-found": rule(PUBLIC, EVERYONE, ok=404),
    # A host's push token, never an account: without one everybody gets the same 401 (api/tests/test_push.py).
    "api:push": rule(PUSH_TOKEN, EVERYONE, "POST", ok=401),
    # reports (a report shows what every role reads already; schedules mail it outside: Admins only)
    "reports:list": rule(Perm.VIEW_REPORT, ROLES),
    "reports:request": rule(Perm.REQUEST_REPORT, ROLES, "POST", ok=200),  # an empty form: its errors
    "reports:report": rule(Perm.VIEW_REPORT, ROLES),
    "reports:download": rule(Perm.VIEW_REPORT, ROLES),
    "reports:delete": rule(Perm.DELETE_REPORT, OPERATORS, "POST", ok=302),
    "reports:schedules": rule(Perm.VIEW_REPORT_SCHEDULE, ADMINS),
    "reports:schedule-add": rule(Perm.ADD_REPORT_SCHEDULE, ADMINS),
    "reports:schedule-edit": rule(Perm.CHANGE_REPORT_SCHEDULE, ADMINS),
    "reports:schedule-delete": rule(Perm.DELETE_REPORT_SCHEDULE, ADMINS),
}


@dataclass
class Route:
    name: str
    pattern: str
    callback: Any


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else str(entry.name)
            yield Route(name=name, pattern=prefix + str(entry.pattern), callback=entry.callback)


ROUTES = list(_walk(get_resolver().url_patterns))
# DRF views (a ``cls`` on the callback) answer in JSON, 401 and not a login page: api/tests walks them.
OURS = [r for r in ROUTES if not r.name.startswith("admin:") and not hasattr(r.callback, "cls")]
ADMIN = [r for r in ROUTES if r.name.startswith("admin:")]


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> dict[str, Any]:
    """One of everything a URL can name."""
    settings.MEDIA_ROOT = str(tmp_path)
    tag = Tag.objects.create(name="prod")
    host = create_host("web-1", "tcp://web-1.example.invalid:2376", tags=[tag])
    scan = make_scan(host, warn_by_section={"5": 1})
    make_result(scan, "5.4", object_kind="container", object_name="db")
    # What the fix pages write from: a raw snapshot and a WARN on one of its containers.
    ScanSnapshot.pack(scan, FIXTURE_HOST.read_text()).save(force_insert=True)
    make_result(scan, "5.22", object_kind="container", object_id=FIX_CONTAINER, object_name="unconfined")
    channel = Channel.objects.create(name="ops", url="http://127.0.0.1:9/hook", events=["scan_failed"])
    report = Report.objects.create(kind="fleet", params={"kind": "fleet"}, title="Fleet report", status="done")
    report.file.save("report.pdf", ContentFile(b"%PDF-1.7\n%%EOF\n"))
    return {
        "report": report,
        "report_schedule": ReportSchedule.objects.create(
            name="weekly", recipients="ciso@example.invalid", channel=Channel.objects.create(name="mail", kind="email")
        ),
        "host": host,
        "scan": scan,
        "schedule": Schedule.objects.get(host=host),
        "test": ConnectionTest.objects.create(host=host),
        "push_token": create_push_token(host, name="cron")[0],
        "channel": channel,
        "waiver": Waiver.objects.create(
            check_id="5.4", host=host, reason="test", owner="ops", expires=timezone.now().date() + timedelta(days=30)
        ),
        "host_images": record_host_images(host.pk, scan.pk, _vulnerable_snapshot()),
        "image_report": store_report(
            read_report_file(Path(__file__).parents[1] / "dockerbench/tests/fixtures/vulns/trivy-alpine.json"),
            source="upload",
        ),
        "cve_waiver": CveWaiver.objects.create(
            cve_id="CVE-2022-42889", reason="test", owner="ops", expires=timezone.now().date() + timedelta(days=30)
        ),
    }


def _vulnerable_snapshot() -> Any:
    """A host's images: the Trivy fixture's image (by its id) in a running container, and one without a report."""
    web = f.image("web:1", iid="sha256:8659a963999aab29097bd9d19bcdd3771e64430de7529a266c79a46864f4dffd")
    return f.snapshot(images=[web, f.image("db:1")], containers=[f.container("shop", cid="c" * 64, Image=web.id)])


def url_of(name: str, world: dict[str, Any]) -> str:
    kwargs: dict[str, Any] = {}
    if name == "hosts:push-token-revoke":
        kwargs = {"pk": world["host"].pk, "token_id": world["push_token"].pk}
    elif name == "api:token-revoke":
        kwargs = {"pk": 999_999}
    elif name == "api:not-found":
        return "/api/v1/nothing-here/"
    elif name.startswith("hosts:") and name not in ("hosts:list", "hosts:add", "hosts:connection-test"):
        kwargs = {"pk": world["host"].pk}
    elif name == "hosts:connection-test":
        kwargs = {"test_id": world["test"].pk}
    elif name in ("scans:host", "scans:drift", "scans:scan-now", "scans:import", "scans:fixes", "scans:fixes-bundle"):
        kwargs = {"pk": world["host"].pk}
    elif name in ("scans:scan", "scans:scan-progress", "scans:scan-cancel"):
        kwargs = {"pk": world["scan"].pk}
    elif name == "scans:scan-export":
        kwargs = {"pk": world["scan"].pk, "fmt": "sarif"}
    elif name == "scans:container-fix":
        kwargs = {"pk": world["host"].pk, "container_id": FIX_CONTAINER}
    elif name == "scans:check":
        kwargs = {"check_id": "5.4"}
    elif name in ("scans:waiver", "scans:waiver-edit", "scans:waiver-revoke"):
        kwargs = {"pk": world["waiver"].pk}
    elif name == "vulns:host":
        kwargs = {"pk": world["host"].pk}
    elif name == "vulns:container":
        kwargs = {"pk": world["host"].pk, "container_id": "c" * 64}
    elif name == "vulns:report":
        kwargs = {"pk": world["image_report"].pk}
    elif name == "vulns:waiver-revoke":
        kwargs = {"pk": world["cve_waiver"].pk}
    elif name.startswith("schedules:") and name not in ("schedules:list", "schedules:add"):
        kwargs = {"pk": world["schedule"].pk}
    elif name in (
        "notifications:channel-edit",
        "notifications:channel-test",
        "notifications:channel-delete",
        "notifications:deliveries",
    ):
        kwargs = {"pk": world["channel"].pk}
    elif name in ("reports:report", "reports:download", "reports:delete"):
        kwargs = {"pk": world["report"].pk}
    elif name in ("reports:schedule-edit", "reports:schedule-delete"):
        kwargs = {"pk": world["report_schedule"].pk}
    return reverse(name, kwargs=kwargs)


def test_every_url_has_an_access_rule_and_every_rule_a_url() -> None:
    names = {r.name for r in OURS}
    assert sorted(names - set(ACCESS)) == [], "URLs without an access rule in tests/test_access.py"
    assert sorted(set(ACCESS) - names) == [], "access rules for URLs that no longer exist"


@pytest.mark.parametrize("route", OURS, ids=[r.name for r in OURS])
def test_each_view_declares_the_permission_of_its_rule(route: Route) -> None:
    declared = getattr(route.callback, "required_permission", "nothing")
    assert declared == ACCESS[route.name].perm, f"{route.name} declares {declared!r}"


def _answer(client: Client, method: str, url: str):
    return client.post(url) if method == "POST" else client.get(url)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(ACCESS))
def test_each_persona_gets_the_answer_its_role_allows(name: str, persona: str, world: dict[str, Any]) -> None:
    access = ACCESS[name]
    url = url_of(name, world)
    client = persona_client(persona)
    if persona in access.allowed:
        response = _answer(client, access.method, url)
        assert response.status_code == access.ok, f"{persona} {access.method} {url}: {response.status_code}"
        return
    for method in ("GET", "POST"):  # refused whatever the method
        response = _answer(client, method, url)
        if persona == "anonymous":
            assert response.status_code == 302, f"{method} {url}"
            assert response["Location"] == f"{reverse('login')}?next={url}"
        elif persona == "outsider":
            assert response.status_code == 403, f"{method} {url}"
            assert "Your account has no access yet" in response.content.decode()
        else:
            assert response.status_code == 403, f"{persona} {method} {url}"
            assert f"it needs the permission <code>{access.perm}</code>" in response.content.decode()
    # Nothing a refused persona sent changed anything.
    assert Host.objects.filter(pk=world["host"].pk, name="web-1").exists()
    assert Schedule.objects.filter(pk=world["schedule"].pk, enabled=True).exists()
    assert world["host"].scans.count() == 1
    assert Report.objects.filter(pk=world["report"].pk).exists() and Report.objects.count() == 1
    assert ReportSchedule.objects.filter(pk=world["report_schedule"].pk).exists()
    assert PushToken.objects.filter(host=world["host"]).count() == 1
    assert PushToken.objects.get(pk=world["push_token"].pk).revoked is None
    assert ImageReport.objects.count() == 1
    assert CveWaiver.objects.get(pk=world["cve_waiver"].pk).revoked is None


def test_an_account_in_no_role_sees_nothing_but_the_no_access_page(world: dict[str, Any]) -> None:
    client = persona_client("outsider")
    page = client.get(reverse("scans:overview"))
    body = page.content.decode()
    assert page.status_code == 403
    assert "web-1" not in body and "5.4" not in body  # no fleet data at all
    for link in ("Fleet", "Hosts", "Schedules", "Audit trail"):
        assert f">{link}</a>" not in body
    assert client.get(reverse("login")).status_code == 200  # it can still log out and in as someone else


# -- the admin ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", sorted(EVERYONE - ADMINS))
def test_the_admin_sends_everyone_but_admins_to_its_login(persona: str, world: dict[str, Any]) -> None:
    client = persona_client(persona)
    for route in ADMIN:
        if route.name in ("admin:login", "admin:logout"):
            continue
        path = _sample_path(route.pattern)
        response = client.get(path)
        assert response.status_code == 302, f"{persona} {path}"
        assert response["Location"].startswith(reverse("admin:login")), f"{persona} {path}"


def _sample_path(pattern: str) -> str:
    """A concrete path for an admin pattern: "1" for each parameter, "hosts" for an app label."""
    path = re.sub(r"\(\?P<app_label>[^)]*\)", "hosts", pattern)
    path = re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>", "1", path)
    return "/" + path.replace("^", "").replace("\\Z", "").replace("$", "")


def test_the_admin_persona_manages_users_groups_and_every_model(world: dict[str, Any]) -> None:
    client = persona_client("admin")
    assert client.get(reverse("admin:index")).status_code == 200
    for name in ("auth_user", "auth_group", "hosts_host", "hosts_tag", "scans_scan", "schedules_schedule"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:{name}_add")).status_code == 200, name
    # It can give an account a role.
    other = User.objects.create_user("newcomer", password="a-long-test-password-1")  # noqa: S106
    viewers = Group.objects.get(name="Viewers")
    response = client.post(
        reverse("admin:auth_user_change", args=[other.pk]),
        {
            "username": "newcomer",
            "password": other.password,
            "is_active": "on",
            "groups": [viewers.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(other.groups.all()) == [viewers]
