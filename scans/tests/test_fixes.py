"""A host's fixes on the dashboard: the service from the latest scan's raw snapshot, the pages, the download."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dockerbench.fixes import bundle
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot
from hosts.models import Host
from scans import fixes, services
from scans.models import Scan, ScanSnapshot
from scans.tests.factories import make_host, make_scan
from tests.personas import persona_client

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/hosts"
HOSTILE = "évil/../..\\<img src=x onerror=alert(1)>$(id)"
UNCONFINED = "9c1c8698135255bd21ec9250217c664ac8f8ed3264f6a6f38b105fb08d6a2cb7"


def record(host: Host, snapshot_json: str | None = None) -> Scan:
    """A finished scan of ``host`` with the engine's real results on the misconfigured fixture (or the JSON
    given), stored by the real service, raw snapshot included."""
    snapshot = HostSnapshot.from_json(snapshot_json or (FIXTURES / "misconfigured.json").read_text())
    scan = Scan.objects.create(host=host, status=Scan.Status.RUNNING, attempts=1, started=timezone.now())
    services.record_results(scan, snapshot, evaluate(snapshot))
    scan.refresh_from_db()
    return scan


def hostile_snapshot() -> str:
    """The misconfigured host with its "unconfined" container renamed to a hostile name."""
    data = json.loads((FIXTURES / "misconfigured.json").read_text())
    for c in data["containers"]:
        if c["id"] == UNCONFINED:
            c["name"] = HOSTILE
            c["inspect"]["Name"] = f"/{HOSTILE}"
    return json.dumps(data)


@pytest.fixture
def viewer() -> Client:
    return persona_client("viewer")


@pytest.fixture
def host() -> Host:
    host = make_host("web-1")
    record(host)
    return Host.objects.select_related("latest__scan").get(pk=host.pk)


def test_it_writes_the_fixes_of_the_latest_scans_snapshot_and_results(host: Host) -> None:
    found = fixes.host_fixes(host)
    assert found.fixes is not None and found.reason == ""
    assert found.scan == host.latest.scan
    assert found.fixes.host == "web-1"  # the dashboard's name, not the engine's
    assert found.container(UNCONFINED) is not None
    assert found.fixes.daemon_json is not None


def test_it_takes_a_fixed_number_of_queries(host: Host, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(2):  # the raw snapshot, the sightings
        fixes.host_fixes(host)


def test_a_host_never_scanned_has_no_fixes_and_says_why() -> None:
    found = fixes.host_fixes(make_host("new"))
    assert found.fixes is None and "no scan with results yet" in found.reason


def test_a_scan_whose_snapshot_is_gone_has_no_fixes_and_says_why(host: Host) -> None:
    ScanSnapshot.objects.filter(scan=host.latest.scan).delete()
    found = fixes.host_fixes(host)
    assert found.fixes is None and "no longer kept" in found.reason


def test_an_imported_scan_has_no_snapshot_and_says_so() -> None:
    host = make_host("imported")
    make_scan(host, trigger=Scan.Trigger.IMPORT)
    found = fixes.host_fixes(Host.objects.get(pk=host.pk))
    assert found.fixes is None and "docker-bench-security log" in found.reason


# -- the pages ---------------------------------------------------------------------------------------------


def test_the_host_page_links_its_fixes(viewer: Client, host: Host) -> None:
    page = viewer.get(reverse("scans:host", args=[host.pk])).content.decode()
    assert f'href="{reverse("scans:fixes", args=[host.pk])}"' in page
    # A container's WARN of section 5 links its fix.
    assert f'href="{reverse("scans:container-fix", args=[host.pk, UNCONFINED])}"' in page


def test_the_fixes_page_shows_host_files_containers_and_the_download(viewer: Client, host: Host) -> None:
    response = viewer.get(reverse("scans:fixes", args=[host.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing here has been applied" in page
    assert f'href="{reverse("scans:fixes-bundle", args=[host.pk])}"' in page
    assert "<code>daemon.json</code>" in page
    assert 'data-copy-target="file-daemonjson"' in page and '<pre class="code" id="file-daemonjson"' in page
    assert '<script src="/static/js/copy.js" defer></script>' in page
    url = reverse("scans:container-fix", args=[host.pk, UNCONFINED])
    # htmx loads the fix into the page; the link works without it.
    assert f'<a href="{url}" hx-get="{url}" hx-target="#container-fix"' in page
    assert "<script>" not in page.split("</head>")[1]  # no inline script (the CSP forbids them)


def test_a_container_fix_shows_todays_and_the_hardened_lines_and_each_change(viewer: Client, host: Host) -> None:
    response = viewer.get(reverse("scans:container-fix", args=[host.pk, UNCONFINED]))
    page = response.content.decode()
    assert response.status_code == 200
    fix = fixes.host_fixes(host).container(UNCONFINED)
    assert fix is not None
    assert "seccomp=unconfined" in fix.current_run and "seccomp=unconfined" not in fix.fixed_run
    assert 'id="cf-run-today"' in page and 'id="cf-run-fixed"' in page
    assert 'id="cf-compose-today"' in page and 'id="cf-compose-fixed"' in page
    assert "<h1>Fix for unconfined" in page
    for change in fix.changes:
        assert f">{change.check_id}</a>" in page
    assert "Review</span>" in page  # the changes a person must decide are marked


def test_the_container_fix_comes_as_a_partial_for_htmx(viewer: Client, host: Host) -> None:
    url = reverse("scans:container-fix", args=[host.pk, UNCONFINED])
    page = viewer.get(url, headers={"HX-Request": "true", "HX-Target": "container-fix"}).content.decode()
    assert page.lstrip().startswith('<section id="container-fix"')
    assert "<h1>" not in page and "<html" not in page


def test_a_container_without_a_fix_is_a_404(viewer: Client, host: Host) -> None:
    assert viewer.get(reverse("scans:container-fix", args=[host.pk, "f" * 64])).status_code == 404


def test_a_host_whose_snapshot_is_gone_shows_a_clear_empty_state(viewer: Client, host: Host) -> None:
    ScanSnapshot.objects.filter(scan=host.latest.scan).delete()
    page = viewer.get(reverse("scans:fixes", args=[host.pk])).content.decode()
    assert "No fixes to show." in page and "no longer kept" in page and "scan the host again" in page
    assert "Download the bundle" not in page
    download = viewer.get(reverse("scans:fixes-bundle", args=[host.pk]))
    assert download.status_code == 404 and "no longer kept" in download.content.decode()


def test_hostile_container_names_are_escaped_on_the_pages(viewer: Client) -> None:
    host = make_host(f"host {HOSTILE}")
    record(host, hostile_snapshot())
    for url in (reverse("scans:fixes", args=[host.pk]), reverse("scans:container-fix", args=[host.pk, UNCONFINED])):
        page = viewer.get(url).content.decode()
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
    page = viewer.get(reverse("scans:fixes", args=[host.pk])).content.decode()
    assert f"<code>containers/{bundle.safe_name(HOSTILE)}/</code>" in page


# -- the download ------------------------------------------------------------------------------------------


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers() if m.isfile()}


def test_the_bundle_downloads_as_a_tar_gz_holding_the_files(viewer: Client, host: Host) -> None:
    response = viewer.get(reverse("scans:fixes-bundle", args=[host.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert response["Content-Disposition"] == 'attachment; filename="dockerbench-fixes-web-1.tar.gz"'
    files = _members(_body(response))
    top = "dockerbench-fixes-web-1"
    assert f"{top}/README.md" in files and f"{top}/daemon.json" in files
    assert f"{top}/containers/unconfined/run.sh" in files
    assert (
        b"--security-opt seccomp=unconfined"
        not in files[f"{top}/containers/unconfined/run.sh"].split(b"# Hardened:")[1]
    )


def test_a_hostile_container_name_is_a_safe_directory_in_the_bundle(viewer: Client) -> None:
    host = make_host(HOSTILE)
    record(host, hostile_snapshot())
    response = viewer.get(reverse("scans:fixes-bundle", args=[host.pk]))
    assert response.status_code == 200
    names = list(_members(_body(response)))
    assert all(not n.startswith("/") and ".." not in n.split("/") and "\\" not in n for n in names)
    assert f"dockerbench-fixes-{bundle.safe_name(HOSTILE)}/containers/{bundle.safe_name(HOSTILE)}/run.sh" in names
