"""docker-bench-security logs imported as scans (scans.imports, the scans:import page), on the real database:
recorded once per file, what cannot be mapped shown on the scan's page, anything refused stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dockerbench.import_dockerbench import DockerBenchLogError
from hosts.models import Host
from hosts.services import create_host
from scans.imports import ImportRefused, import_dockerbench_log
from scans.models import Finding, LatestScan, Scan
from scans.tests.factories import make_scan
from tests.personas import make_user, persona_client

pytestmark = pytest.mark.django_db

LOGS = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/dockerbench_logs"
HOSTILE = '<script>alert("x")</script>'


def log_bytes(name: str = "v1.6.0-web-host") -> bytes:
    return (LOGS / f"{name}.log.json").read_bytes()


def hostile_log() -> bytes:
    """A readable 1.6.0 log whose every string that reaches the page is markup."""
    doc = json.loads(log_bytes())
    for section in doc["tests"]:
        for entry in section["results"]:
            if entry["id"] == "C.5.3.1":
                entry["items"] = [HOSTILE]
                entry["desc"] = HOSTILE
            if entry["id"] == "5.5":
                entry["items"] = [HOSTILE]
    return json.dumps(doc).encode()


@pytest.fixture
def host() -> Host:
    return create_host("web-1", "tcp://web-1.example.invalid:2376")


def upload(client, host: Host, data: bytes, name: str = "docker-bench-security.log.json"):
    file = SimpleUploadedFile(name, data, content_type="application/json")
    return client.post(reverse("scans:import", kwargs={"pk": host.pk}), {"file": file})


def test_a_log_becomes_a_scan_marked_imported(host):
    user = make_user("operator")
    scan, created = import_dockerbench_log(host, log_bytes(), user=user)
    assert created
    assert scan.trigger == Scan.Trigger.IMPORT
    assert scan.status == Scan.Status.SUCCEEDED
    assert scan.triggered_by == user
    assert len(scan.source_digest) == 64
    assert LatestScan.objects.get(host=host).scan_id == scan.pk
    imported = scan.summary["imported"]
    assert imported["tool"] == "docker-bench-security"
    assert imported["version"] == "1.6.0"
    reasons = " ".join(u["reason"] for u in imported["unmapped"])
    assert "'FAIL'" in reasons  # 2.14's odd verdict: kept, with why
    assert any(u["check_id"] == "C.5.3.1" for u in imported["unmapped"])
    assert any(u["item"] == "(truncated)" for u in imported["unmapped"])
    assert "3.1" in imported["missing"]
    # Items became objects: 5.5 on each container it names, 4.6 on each image.
    warned = set(Finding.objects.filter(host=host, check_id="5.5").values_list("object_kind", "object_name"))
    assert warned == {("container", "web-1"), ("container", "worker-1")}
    assert Finding.objects.filter(host=host, check_id="4.6", object_kind="image").count() == 4


def test_the_same_file_twice_is_one_scan(host):
    user = make_user("operator")
    first, created = import_dockerbench_log(host, log_bytes(), user=user)
    again, created_again = import_dockerbench_log(host, log_bytes(), user=user)
    assert created and not created_again
    assert again.pk == first.pk
    assert Scan.objects.filter(host=host).count() == 1


def test_a_host_being_scanned_is_refused(host):
    make_scan(host, status=Scan.Status.QUEUED)
    with pytest.raises(ImportRefused, match="queued or running"):
        import_dockerbench_log(host, log_bytes(), user=None)
    assert not Scan.objects.filter(host=host, trigger=Scan.Trigger.IMPORT).exists()


@pytest.mark.parametrize("name", ["malformed-interrupted", "malformed-unescaped-quote", "malformed-no-result"])
def test_a_malformed_log_stores_nothing(host, name):
    with pytest.raises(DockerBenchLogError):
        import_dockerbench_log(host, log_bytes(name), user=None)
    assert not Scan.objects.filter(host=host).exists()


def test_the_page_imports_and_the_scan_page_shows_what_did_not_map(host):
    client = persona_client("operator")
    assert "Import a docker-bench log" in client.get(reverse("scans:host", kwargs={"pk": host.pk})).text
    form = client.get(reverse("scans:import", kwargs={"pk": host.pk}))
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    response = upload(client, host, log_bytes())
    scan = Scan.objects.get(host=host)
    assert response.status_code == 302
    assert response["Location"] == reverse("scans:scan", kwargs={"pk": scan.pk})
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f"Imported as scan #{scan.pk}" in page.text
    assert "Imported from docker-bench-security 1.6.0" in page.text
    assert "could not be mapped" in page.text
    assert "C.5.3.1" in page.text
    assert "did not report" in page.text
    # The same file again: the same scan, said so.
    again = upload(client, host, log_bytes())
    assert again["Location"] == response["Location"]
    assert Scan.objects.filter(host=host).count() == 1
    assert "imported before" in client.get(again["Location"]).text


def test_hostile_strings_are_escaped(host):
    client = persona_client("operator")
    response = upload(client, host, hostile_log())
    page = client.get(response["Location"])
    assert HOSTILE not in page.text
    assert "&lt;script&gt;" in page.text


@pytest.mark.parametrize(
    "data",
    [log_bytes("malformed-unescaped-quote"), log_bytes("malformed-no-version"), b"\x00\xff" + HOSTILE.encode()],
)
def test_a_bad_file_is_a_form_error_and_nothing_is_stored(host, data):
    client = persona_client("operator")
    response = upload(client, host, data)
    assert response.status_code == 200
    assert "not a docker-bench-security log that can be imported" in response.text
    assert HOSTILE not in response.text
    assert not Scan.objects.exists()


def test_a_file_over_5_mb_is_refused(host):
    client = persona_client("operator")
    response = upload(client, host, b" " * (5 * 1024 * 1024 + 1))
    assert response.status_code == 200
    assert "the limit is 5 MB" in response.text
    assert not Scan.objects.exists()


def test_a_busy_host_is_a_form_error(host):
    make_scan(host, status=Scan.Status.RUNNING)
    response = upload(persona_client("operator"), host, log_bytes())
    assert response.status_code == 200
    assert "queued or running" in response.text
    assert not Scan.objects.filter(trigger=Scan.Trigger.IMPORT).exists()


def test_a_viewer_may_not_import(host):
    client = persona_client("viewer")
    assert client.get(reverse("scans:import", kwargs={"pk": host.pk})).status_code == 403
    assert upload(client, host, log_bytes()).status_code == 403
    assert "Import a docker-bench log" not in client.get(reverse("scans:host", kwargs={"pk": host.pk})).text
    assert not Scan.objects.exists()


def test_a_pushed_scan_says_so(host):
    scan = make_scan(host, trigger=Scan.Trigger.PUSH)
    page = persona_client("viewer").get(reverse("scans:scan", kwargs={"pk": scan.pk}))
    assert "Pushed by the host" in page.text
