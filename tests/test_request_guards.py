"""Request guards: NUL bytes in parameters are a clear 400 on every backend, never a 500 on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from hosts.models import Host
from hosts.services import create_host
from tests.personas import persona_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("scans:overview", "tag=%00"),
        ("scans:overview", "section=5&status=warn%00"),
        ("hosts:list", "tag=a%00b"),
        ("audit:audit-trail", "user=1%00"),
        ("scans:check", "tag=%00"),
    ],
)
def test_a_nul_byte_in_a_query_parameter_is_a_400(name: str, query: str) -> None:
    assert connection.vendor == "postgresql", "the case that used to be a 500 is PostgreSQL's; make test runs it"
    args = ["5.4"] if name == "scans:check" else []
    response = persona_client("admin").get(f"{reverse(name, args=args)}?{query}")
    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_a_nul_byte_in_a_posted_field_or_its_name_is_a_400_and_saves_nothing() -> None:
    host = create_host("web-1", "tcp://web-1.example.invalid:2376")
    client = persona_client("operator")
    edit = reverse("hosts:edit", args=[host.pk])
    response = client.post(edit, {"name": "web\x00-2", "url": "tcp://web-1.example.invalid:2376"})
    assert response.status_code == 400
    assert client.post(edit, {"na\x00me": "x"}).status_code == 400
    assert Host.objects.get(pk=host.pk).name == "web-1"


def test_ordinary_parameters_pass() -> None:
    assert persona_client("viewer").get(reverse("scans:overview"), {"tag": "prod", "section": "5"}).status_code == 200


def test_a_broken_multipart_body_is_a_400_not_a_500() -> None:
    client = persona_client("operator")
    response = client.generic(
        "POST",
        reverse("hosts:add"),
        b"--nope\r\nContent-Disposition: form-data\r\n",
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The form upload could not be read" in response.content.decode()
    assert not Host.objects.exists()
