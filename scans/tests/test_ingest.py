"""Pushed snapshots (scans.ingest.record_push): recorded as the token's host's scan once, on the real database;
anything refused stores nothing at all."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from hosts.models import Host
from hosts.services import create_host, create_push_token
from scans.ingest import PushRejected, record_push
from scans.models import Finding, LatestScan, Scan, ScanSnapshot, Sighting
from vulns.models import ImageReport

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "dockerbench/tests/fixtures/hosts"
JSON = "application/json"


def fixture_doc(name: str = "misconfigured") -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def body(doc: Any, **dumps: Any) -> bytes:
    return json.dumps(doc, **dumps).encode()


@pytest.fixture
def token():
    host = create_host("web-1", "tcp://web-1.example.invalid:2376")
    return create_push_token(host, name="cron")[0]


def nothing_stored(host: Host) -> None:
    assert not Scan.objects.filter(host=host).exists()
    assert not Finding.objects.filter(host=host).exists()
    assert not Sighting.objects.filter(host=host).exists()
    assert not ScanSnapshot.objects.exists()
    assert not LatestScan.objects.filter(host=host).exists()
    assert not ImageReport.objects.exists()


def test_it_records_a_pushed_snapshot_as_a_scan_of_the_tokens_host(token) -> None:
    scan, created = record_push(token, body(fixture_doc()), content_type=JSON)
    assert created
    assert scan.host == token.host and scan.trigger == Scan.Trigger.PUSH
    assert scan.status in (Scan.Status.SUCCEEDED, Scan.Status.PARTIAL)
    assert scan.started is not None and scan.finished is not None and scan.attempts == 1
    assert len(scan.source_digest) == 64 and scan.score is not None
    assert Finding.objects.filter(host=token.host, status="WARN").exists()
    assert LatestScan.objects.get(host=token.host).scan == scan
    assert json.loads(scan.raw.unpack())["target"] == fixture_doc()["target"]


def test_the_same_snapshot_twice_makes_one_scan_whatever_its_spacing_order_or_compression(token) -> None:
    doc = fixture_doc()
    first, created = record_push(token, body(doc), content_type=JSON)
    assert created
    again = [
        (body(doc, indent=2), JSON, ""),
        (body(dict(reversed(list(doc.items())))), JSON, ""),
        (gzip.compress(body(doc)), JSON, "gzip"),
        (gzip.compress(body(doc)), "application/gzip", ""),
    ]
    for data, content_type, encoding in again:
        scan, created = record_push(token, data, content_type=content_type, content_encoding=encoding)
        assert (scan, created) == (first, False)
    assert Scan.objects.filter(host=token.host).count() == 1
    # Another snapshot is another scan.
    doc["collected_at"] = "2026-01-02T03:04:05+00:00"
    assert record_push(token, body(doc), content_type=JSON)[1] is True
    assert Scan.objects.filter(host=token.host).count() == 2


def test_the_same_snapshot_for_another_host_is_that_hosts_scan(token) -> None:
    other = create_push_token(create_host("db-1", "tcp://db-1.example.invalid:2376"), name="cron")[0]
    a, _ = record_push(token, body(fixture_doc()), content_type=JSON)
    b, created = record_push(other, body(fixture_doc()), content_type=JSON)
    assert created and a.pk != b.pk and b.host == other.host


def _bomb() -> bytes:
    return gzip.compress(b" " * (2 * 1024 * 1024) + b"{}")


@pytest.mark.parametrize(
    ("data", "content_type", "encoding", "kind", "says"),
    [
        (b"not json", JSON, "", "invalid", "not valid JSON"),
        (b"", JSON, "", "invalid", "the snapshot is empty"),
        (b"\xff\xfe{}", JSON, "", "invalid", "not UTF-8"),
        (b"[1, 2]", JSON, "", "invalid", "a snapshot is a JSON object"),
        (b'{"target": "x", "collected_at": NaN}', JSON, "", "invalid", "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, JSON, "", "invalid", "nested too deeply"),
        (b"{}", "text/plain", "", "unsupported_media_type", "not text/plain"),
        (b"{}", "", "", "unsupported_media_type", "not no Content-Type"),
        (b"{}", JSON, "br", "unsupported_media_type", "not br"),
        (b"{}", JSON, "gzip", "invalid", "is not gzip data"),
        (gzip.compress(b"{}")[:-6], JSON, "gzip", "invalid", "truncated"),
        (gzip.compress(b"{}"), JSON, "", "invalid", "without Content-Encoding: gzip"),
        (b"x" * (1024 * 1024 + 1), JSON, "", "too_large", "1,048,577 bytes; the limit is 1,048,576"),
        (_bomb(), JSON, "gzip", "too_large", "once decompressed"),
    ],
)
def test_a_refused_push_says_why_and_stores_nothing(token, settings, data, content_type, encoding, kind, says) -> None:
    settings.DOCKERBENCH_PUSH_MAX_BYTES = 1024 * 1024
    with pytest.raises(PushRejected) as caught:
        record_push(token, data, content_type=content_type, content_encoding=encoding)
    assert caught.value.kind == kind
    assert says in str(caught.value)
    nothing_stored(token.host)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.update(schema=99), "schema is 99"),
        (lambda d: d["containers"][0].update(running="true"), "containers[0].running is a string, not true or false"),
        (lambda d: d["images"][0].update(tags="app:1"), "images[0].tags is a string, not a list"),
        (lambda d: d.pop("collected_at"), "collected_at is missing"),
        (lambda d: d.update(image_reports=[{"vulns": []}]), "image_reports[0].scanner is missing"),
    ],
)
def test_a_snapshot_of_the_wrong_shape_is_refused_by_path(token, change, says) -> None:
    doc = fixture_doc()
    change(doc)
    with pytest.raises(PushRejected) as caught:
        record_push(token, body(doc), content_type=JSON)
    assert caught.value.kind == "invalid" and says in caught.value.detail
    nothing_stored(token.host)


def test_a_push_while_a_scan_of_the_host_runs_is_refused_and_stores_nothing(token) -> None:
    running = Scan.objects.create(host=token.host, status=Scan.Status.RUNNING, attempts=1)
    with pytest.raises(PushRejected) as caught:
        record_push(token, body(fixture_doc()), content_type=JSON)
    assert caught.value.kind == "busy"
    assert list(Scan.objects.filter(host=token.host)) == [running]


def test_values_the_host_left_unredacted_are_redacted_before_anything_is_stored(token) -> None:
    doc = fixture_doc()
    doc["containers"][0]["inspect"]["Config"]["Env"] = ["DB_PASSWORD=hunter2-s3cret"]
    scan, _ = record_push(token, body(doc), content_type=JSON)
    raw = scan.raw.unpack()
    assert "hunter2-s3cret" not in raw and "DB_PASSWORD=<redacted:" in raw
    assert not Sighting.objects.filter(host=token.host, evidence__icontains="hunter2").exists()


def test_pushed_image_reports_are_stored_and_judged_by_4_4(token) -> None:
    doc = fixture_doc()
    image = doc["images"][0]
    doc["image_reports"] = [
        {
            "scanner": "trivy",
            "image_id": image["id"],
            "artifact": "app:1",
            "scanned_at": "2026-01-01T00:00:00Z",
            "vulns": [{"id": "CVE-2023-5363", "severity": "CRITICAL", "package": "openssl", "installed": "3.0.0"}],
        }
    ]
    scan, created = record_push(token, body(doc), content_type=JSON)
    assert created
    report = ImageReport.objects.get()
    assert report.source == ImageReport.Source.PUSH and report.image_id == image["id"]
    stored = json.loads(scan.raw.unpack())
    assert [r["image_id"] for r in stored["image_reports"]] == [image["id"]]
    assert Sighting.objects.filter(host=token.host, check_id="4.4").exclude(status="NOTE").exists()
