"""Every endpoint of the API, every persona: the answer its role allows, from the router itself.

Each route of api.urls.router is walked with each persona's API token: anonymous (no token) gets 401, an
account in no role 403, a role without the action's permission 403 naming it, and a role with it an answer
that is not a refusal. A new action without a permission in its view's ``perms`` is refused to everyone,
and fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from api.tests.conftest import token_client
from api.urls import router
from core import roles
from core.access import Perm
from hosts.models import Host
from scans.models import Scan, Waiver
from tests.personas import PERSONAS

pytestmark = pytest.mark.django_db

# Which persona holds which permission is the roles' business (core/tests/test_roles.py); here, each
# endpoint must ask for the permission it declares, and nothing else decides.
HOLDS: dict[str, set[Perm]] = {
    "admin": set(Perm),
    "operator": {p for p in Perm if p in roles.OPERATOR_PERMS},
    "viewer": {p for p in Perm if p in roles.VIEWER_PERMS},
    "outsider": set(),
    "anonymous": set(),
}


DETAIL: dict[str, bool] = {}  # route name -> whether it names one object


def _endpoints() -> list[tuple[str, str, str, Perm]]:
    """(method, route name, action, permission) of every route of every viewset."""
    found = []
    for _prefix, viewset, basename in router.registry:
        for route in router.get_routes(viewset):
            for method, action in route.mapping.items():
                if not hasattr(viewset, action):
                    continue
                name = route.name.format(basename=basename)
                DETAIL[name] = route.detail
                found.append((method.upper(), name, action, viewset.perms.get(action)))
    return found


ENDPOINTS = _endpoints()


def _url(name: str, world: dict[str, Any]) -> str:
    kind = name.split("-")[0]
    kwargs: dict[str, Any] = {}
    if DETAIL[name]:
        kwargs["pk"] = world[kind].pk
    if name == "scan-export":
        kwargs["fmt"] = "sarif"
    return reverse(f"api:{name}", kwargs=kwargs)


def test_every_action_declares_a_permission() -> None:
    undeclared = [f"{m} {n} ({a})" for m, n, a, perm in ENDPOINTS if perm is None]
    assert undeclared == []
    assert len(ENDPOINTS) >= 25  # the router has every resource


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_the_answer_its_role_allows(persona: str, world: dict[str, Any]) -> None:
    client, _user = token_client(persona)
    for method, name, _action, perm in ENDPOINTS:
        url = _url(name, world)
        # Each request in a savepoint rolled back after it: a DELETE does not take the world from the next.
        with transaction.atomic():
            response = client.generic(method, url, data="{}", content_type="application/json")
            _check(response, persona, method, url, perm, world)
            transaction.set_rollback(True)


def _check(response: Any, persona: str, method: str, url: str, perm: Perm, world: dict[str, Any]) -> None:
    body = response.json() if response.get("Content-Type", "").startswith("application/json") else {}
    if persona == "anonymous":
        assert response.status_code == 401, f"{method} {url}"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert body["error"] == "not_authenticated"
    elif persona == "outsider":
        assert response.status_code == 403, f"{method} {url}"
        assert "no role" in body["detail"]
    elif perm not in HOLDS[persona]:
        assert response.status_code == 403, f"{persona} {method} {url}: {response.status_code}"
        assert body == {"error": "permission_denied", "detail": f"Your role lacks the permission {perm.value}."}
    else:
        assert response.status_code not in (401, 403, 405), f"{persona} {method} {url}: {response.status_code}"
        if method == "GET":
            assert response.status_code == 200, f"{persona} {method} {url}: {response.status_code}"
    if persona not in ("admin", "operator"):
        # Nothing a refused persona sent changed anything.
        assert Host.objects.filter(pk=world["host"].pk, name="web-1").exists()
        assert Scan.objects.filter(host=world["host"]).count() == 1
        assert Waiver.objects.get(pk=world["waiver"].pk).revoked is None


def test_a_read_only_token_changes_nothing(world: dict[str, Any]) -> None:
    client, _user = token_client("admin", scope="read")
    for method, name, _action, _perm in ENDPOINTS:
        if method == "GET":
            continue
        response = client.generic(method, _url(name, world), data="{}", content_type="application/json")
        assert response.status_code == 403, f"{method} {name}"
        assert response.json()["detail"] == "This token is read-only: it may not change anything."
    assert Host.objects.filter(pk=world["host"].pk).exists() and Scan.objects.count() == 1


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_schema_and_its_docs_are_for_every_account(persona: str) -> None:
    client, _user = token_client(persona)
    schema = client.get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    if persona == "anonymous":
        assert schema.status_code == 401
        return
    assert schema.status_code == 200
    assert "/api/v1/hosts/" in schema.json()["paths"]


def test_the_docs_page_loads_its_scripts_from_our_static_files() -> None:
    client, _user = token_client("viewer")
    page = client.get(reverse("api:docs"))
    assert page.status_code == 200
    html = page.content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert len(scripts) == 3 and all(s.startswith("/") for s in scripts), scripts
    assert "<script>" not in html and "<style>" not in html  # the CSP allows neither inline
