"""A scan of the real dockerd sees the stored vulnerability report of its image (vulns.services hooks)."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from dockerbench.vulns import parse_report
from hosts.models import Host
from hosts.services import create_host
from scans import services
from scans.models import Scan
from vulns.models import HostImage
from vulns.services import store_report

pytestmark = pytest.mark.django_db

TRIVY = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/vulns/trivy-alpine.json"


def test_a_scan_judges_4_4_by_the_stored_report_of_its_image_and_records_the_hosts_images(
    docker_url: str, containers, test_image: str
) -> None:
    running = containers("sleep 300")
    client = docker.DockerClient(base_url=docker_url, timeout=10)
    try:
        image_id = client.images.get(test_image).id
    finally:
        client.close()
    # A Trivy report of another image, re-pointed at the real test image: what `trivy image -f json` would
    # write for it, had it these packages (no scanner or vulnerability database can run here).
    doc = json.loads(TRIVY.read_bytes())
    doc["Metadata"] = {**doc["Metadata"], "ImageID": image_id, "RepoDigests": [], "RepoTags": [test_image]}
    store_report(parse_report(json.dumps(doc)), source="upload")
    host = create_host("local-vulns", docker_url, facts_method=Host.Facts.NONE)

    scan = services.start_scan(host, trigger=Scan.Trigger.USER)
    done = services.run_scan(scan.pk, worker="in-process")

    assert done is not None and done.status == Scan.Status.SUCCEEDED, done.error if done else None
    warn = done.reported().filter(check_id="4.4", status="WARN").get()
    assert warn.object_id == image_id
    assert warn.evidence["critical_ids"] == ["CVE-2022-42889"]
    row = HostImage.objects.get(host=host, image_id=image_id)
    assert row.scan_id == done.pk
    assert {"id": running.id, "name": running.name} in row.containers
