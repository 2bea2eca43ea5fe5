"""The API's fixes of a host: the JSON of its files and changes, and the bundle's download."""

from __future__ import annotations

import io
import tarfile

import pytest

from api.tests.conftest import token_client
from hosts.models import Host
from scans.models import ScanSnapshot
from scans.tests.factories import make_host
from scans.tests.test_fixes import UNCONFINED, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> Host:
    host = make_host("web-1")
    record(host)
    return Host.objects.get(pk=host.pk)


def test_the_fixes_read_as_json_with_files_containers_and_changes(host: Host) -> None:
    api, _user = token_client("viewer")
    response = api.get(f"/api/v1/hosts/{host.pk}/fixes/")
    assert response.status_code == 200
    data = response.json()
    assert data["host"] == "web-1" and data["scan"] == host.latest.scan_id
    assert {f["name"] for f in data["files"]} >= {"daemon.json"}
    daemon = next(f for f in data["files"] if f["name"] == "daemon.json")
    assert daemon["content"] and daemon["changes"][0]["check_id"].startswith("2.")
    unconfined = next(c for c in data["containers"] if c["container_id"] == UNCONFINED)
    assert unconfined["directory"] == "unconfined"
    assert "seccomp=unconfined" in unconfined["current_run"] and "seccomp=unconfined" not in unconfined["fixed_run"]
    assert set(unconfined["changes"][0]) == {"check_id", "what", "why", "may_break", "review"}


def test_the_bundle_downloads_as_a_tar_gz(host: Host) -> None:
    api, _user = token_client("viewer")
    response = api.get(f"/api/v1/hosts/{host.pk}/fixes/bundle/", HTTP_ACCEPT="application/gzip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert response["Content-Disposition"] == 'attachment; filename="dockerbench-fixes-web-1.tar.gz"'
    with tarfile.open(fileobj=io.BytesIO(b"".join(response.streaming_content)), mode="r:gz") as tar:
        names = tar.getnames()
    assert "dockerbench-fixes-web-1/README.md" in names
    assert "dockerbench-fixes-web-1/containers/unconfined/run.sh" in names


def test_without_a_snapshot_both_are_a_404_that_says_why(host: Host) -> None:
    ScanSnapshot.objects.filter(scan_id=host.latest.scan_id).delete()
    api, _user = token_client("viewer")
    for url in (f"/api/v1/hosts/{host.pk}/fixes/", f"/api/v1/hosts/{host.pk}/fixes/bundle/"):
        response = api.get(url)
        assert response.status_code == 404
        assert "no longer kept" in response.json()["detail"]
