"""What each event sends, to which channels, and how often: the scans' real tracking rules make the news."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Channel, Delivery, Event
from notifications.tests.support import HOSTILE, announce, make_channel
from scans.models import Scan, Waiver
from scans.tests.factories import make_diff, make_host, make_scan, track

pytestmark = pytest.mark.django_db


def _two_scans(*second: tuple[str, ...], name: str = "web-1") -> tuple[Scan, Any]:
    """A host's first scan (a 5.1 backlog), then a second one with ``second``'s results; the second and its news."""
    host = make_host(name)
    first = make_scan(host, when=timezone.now() - timedelta(hours=2))
    track(first, ("5.1", "WARN", "container", "old"))
    scan = make_scan(host)
    news = track(scan, ("5.1", "WARN", "container", "old"), *second)
    return scan, news


def test_a_first_scan_sends_nothing_its_backlog_is_not_news(django_capture_on_commit_callbacks: Any) -> None:
    make_channel()
    scan = make_scan(make_host("fresh"))
    news = track(scan, ("5.4", "WARN", "container", "db"), ("5.5", "WARN", "container", "web"))
    assert news.first and len(news.opened) == 2

    assert announce(django_capture_on_commit_callbacks, scan, news) == []


def test_a_channel_that_asks_for_first_scans_gets_the_backlog(django_capture_on_commit_callbacks: Any) -> None:
    make_channel("quiet")
    loud, _ = make_channel("loud", include_first_scan=True)
    scan = make_scan(make_host("fresh"))
    news = track(scan, ("5.4", "WARN", "container", "db"))

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)
    assert delivery.channel == loud and delivery.event == Event.NEW_FINDINGS


def test_a_second_scan_sends_one_message_listing_all_its_new_findings(
    django_capture_on_commit_callbacks: Any,
) -> None:
    channel, _ = make_channel()
    scan, news = _two_scans(("5.4", "WARN", "container", "db"), ("5.5", "WARN", "container", "cache"))

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)

    body = delivery.payload
    assert delivery.subject == "2 new findings on web-1" == body["subject"]
    assert body["event"] == "new_findings" and body["host"] == {"id": scan.host_id, "name": "web-1"}
    assert body["scan"]["id"] == scan.pk and body["counts"] == {"total": 2, "by_section": {"5": 2}}
    # Highest weight first: 5.5 (privileged, 10) before 5.4 (capabilities, 9); the backlog's 5.1 is not listed.
    assert [(f["check_id"], f["object_name"], f["weight"]) for f in body["findings"]] == [
        ("5.5", "cache", 10),
        ("5.4", "db", 9),
    ]
    assert "5.5 " in body["text"] and "container cache" in body["text"] and "old" not in body["text"]
    # The signal sent again (a redelivered message) makes no second delivery.
    assert announce(django_capture_on_commit_callbacks, scan, news) == []
    assert Delivery.objects.filter(channel=channel).count() == 1


def test_a_scan_with_nothing_new_sends_nothing(django_capture_on_commit_callbacks: Any) -> None:
    make_channel()
    scan, news = _two_scans(("5.4", "PASS", "container", "db"))
    assert news.opened == []
    assert announce(django_capture_on_commit_callbacks, scan, news) == []


def test_section_and_weight_filters_choose_what_a_channel_hears(django_capture_on_commit_callbacks: Any) -> None:
    runtime, _ = make_channel("runtime", sections=["5"])
    files, _ = make_channel("files", sections=["3"])
    severe, _ = make_channel("severe", min_weight=10)
    scan, news = _two_scans(("5.4", "WARN", "container", "db"), ("5.5", "WARN", "container", "cache"))

    deliveries = {d.channel.name: d for d in announce(django_capture_on_commit_callbacks, scan, news)}

    assert set(deliveries) == {"runtime", "severe"}  # nothing in section 3: no message at all
    assert [f["check_id"] for f in deliveries["runtime"].payload["findings"]] == ["5.5", "5.4"]
    assert [f["check_id"] for f in deliveries["severe"].payload["findings"]] == ["5.5"]
    assert deliveries["severe"].subject == "1 new finding on web-1"


def test_waived_findings_are_not_news(django_capture_on_commit_callbacks: Any) -> None:
    make_channel()
    host = make_host("web-1")
    first = make_scan(host, when=timezone.now() - timedelta(hours=2))
    track(first, ("5.1", "WARN", "container", "old"))
    Waiver.objects.create(
        check_id="5.4", host=host, reason="accepted", owner="ops", expires=timezone.now().date() + timedelta(days=30)
    )
    scan = make_scan(host)
    news = track(scan, ("5.4", "WARN", "container", "db"), ("5.5", "WARN", "container", "cache"))
    assert len(news.opened) == 2

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)
    assert [f["check_id"] for f in delivery.payload["findings"]] == ["5.5"]

    only_waived = make_scan(host)
    news = track(
        only_waived,
        ("5.4", "WARN", "container", "db"),
        ("5.4", "WARN", "container", "db2"),
        ("5.5", "WARN", "container", "cache"),
    )
    assert announce(django_capture_on_commit_callbacks, only_waived, news) == []


def test_a_failed_scan_sends_its_reason(django_capture_on_commit_callbacks: Any) -> None:
    make_channel("failures", events=[Event.SCAN_FAILED])
    make_channel("findings only", events=[Event.NEW_FINDINGS])
    make_channel("off", enabled=False)
    scan = make_scan(make_host("gone"), status=Scan.Status.FAILED, error="Cannot connect to the Docker daemon")

    [delivery] = announce(django_capture_on_commit_callbacks, scan, None)

    assert delivery.channel.name == "failures" and delivery.event == Event.SCAN_FAILED
    assert delivery.subject == "Scan of gone failed"
    assert "Cannot connect to the Docker daemon" in delivery.payload["text"]
    assert delivery.payload["scan"]["status"] == "failed"


def test_new_suspicious_drift_is_sent_once_and_old_drift_is_not(django_capture_on_commit_callbacks: Any) -> None:
    make_channel("drift", events=[Event.SUSPICIOUS_DRIFT])
    scan, news = _two_scans()
    shadow = {"path": "/etc/shadow", "kind": "C", "reason": "password hashes (/etc/shadow) changed"}
    tool = {"path": "/usr/bin/nc", "kind": "A", "reason": "new file in an executable or library directory (/usr/bin)"}
    make_diff(
        scan,
        f"web{HOSTILE}",
        image="nginx:1",
        changes=[["C", "/etc/shadow"], ["A", "/usr/bin/nc"]],
        new_since_previous=[["A", "/usr/bin/nc"]],
        suspicious=[shadow, tool],
    )
    make_diff(scan, "db", changes=[["C", "/etc/passwd"]], new_since_previous=[], suspicious=[dict(shadow)])

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)

    [container] = delivery.payload["containers"]
    assert container["container_name"] == f"web{HOSTILE}" and container["changes"] == [tool]
    assert "/usr/bin/nc" in delivery.payload["text"] and "/etc/shadow" not in delivery.payload["text"]
    assert announce(django_capture_on_commit_callbacks, scan, news) == []


def test_a_stale_host_is_told_once_per_stale_stretch(django_capture_on_commit_callbacks: Any) -> None:
    channel, _ = make_channel("stale", events=[Event.HOST_STALE])
    long_ago = timezone.now() - timedelta(days=5)
    host = make_host("quiet-1")
    make_host("brand-new")  # made now: not stale before it had 48 hours to be scanned
    fresh = make_host("scanned")
    for h in (host, fresh):
        type(h).objects.filter(pk=h.pk).update(created=long_ago)
    old = make_scan(host, when=timezone.now() - timedelta(hours=50))
    make_scan(host, status=Scan.Status.FAILED)  # a failed scan does not end the stretch
    make_scan(fresh, when=timezone.now() - timedelta(hours=3))

    with django_capture_on_commit_callbacks(execute=False):
        assert services.notify_stale_hosts() == 1
        assert services.notify_stale_hosts() == 0  # beat runs every quarter hour: still the same stretch
    [delivery] = Delivery.objects.filter(channel=channel)
    assert delivery.event == Event.HOST_STALE and delivery.subject == "quiet-1 has not been scanned for 48 hours"
    assert delivery.payload["last_scan"]["id"] == old.pk

    # A good scan ends the stretch; when it is 48 hours old, that is a new stretch and news again.
    make_scan(host, when=timezone.now() - timedelta(hours=49))
    with django_capture_on_commit_callbacks(execute=False):
        assert services.notify_stale_hosts() == 1
        assert services.notify_stale_hosts() == 0
    assert Delivery.objects.filter(channel=channel).count() == 2


def test_an_expiring_waiver_is_told_once(django_capture_on_commit_callbacks: Any) -> None:
    channel, _ = make_channel("waivers", events=[Event.WAIVER_EXPIRING])
    severe, _ = make_channel("severe", events=[Event.WAIVER_EXPIRING], min_weight=10)
    today = timezone.now().date()
    host = make_host("web-1")
    soon = Waiver.objects.create(
        check_id="5.4", host=host, reason=f"legacy {HOSTILE}", owner="ops", expires=today + timedelta(days=3)
    )
    Waiver.objects.create(check_id="5.4", reason="later", owner="ops", expires=today + timedelta(days=30))
    Waiver.objects.create(
        check_id="5.5", reason="revoked", owner="ops", expires=today + timedelta(days=2), revoked=timezone.now()
    )

    with django_capture_on_commit_callbacks(execute=False):
        assert services.notify_expiring_waivers(today) == 1  # 5.4 weighs 9: not for the severe channel
        assert services.notify_expiring_waivers(today) == 0
        assert services.notify_expiring_waivers(today + timedelta(days=1)) == 0
    [delivery] = Delivery.objects.filter(channel=channel)
    assert not severe.deliveries.exists()
    assert delivery.subject == f"Waiver #{soon.pk} for 5.4 expires in 3 days"
    assert delivery.payload["waiver"]["days_left"] == 3 and delivery.payload["waiver"]["host"]["name"] == "web-1"


def test_the_slack_format_is_text_and_blocks_with_host_strings_escaped(
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_channel("slack", format=Channel.Format.SLACK)
    scan, news = _two_scans(("5.4", "WARN", "container", f"db{HOSTILE}<!channel>"), name=f"web{HOSTILE}")

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)

    body = delivery.payload
    assert set(body) == {"text", "blocks"}
    assert body["text"] == "1 new finding on web&lt;img src=x onerror=alert(1)&gt;"
    header, section = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    mrkdwn = section["text"]["text"]
    assert "db&lt;img src=x onerror=alert(1)&gt;&lt;!channel&gt;" in mrkdwn
    assert "<" not in mrkdwn and ">" not in mrkdwn  # no link, mention or markup comes from a host
    assert json.loads(json.dumps(body)) == body


def test_a_broken_receiver_never_raises_into_the_scan(django_capture_on_commit_callbacks: Any) -> None:
    make_channel()
    scan, news = _two_scans(("5.4", "WARN", "container", "db"))
    Scan.objects.filter(pk=scan.pk).delete()  # the scan is gone by the time the receiver reads it

    services.scan_finished(sender=Scan, scan=scan, news=news)  # logs, does not raise
    assert not Delivery.objects.exists()


def test_the_secrets_section_beyond_cis_is_a_filter_too(django_capture_on_commit_callbacks: Any) -> None:
    secrets, _ = make_channel("secrets", sections=["S"])
    scan, news = _two_scans(("S.1", "WARN", "container", "app"), ("5.4", "WARN", "container", "db"))

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)
    assert delivery.channel == secrets and [f["check_id"] for f in delivery.payload["findings"]] == ["S.1"]
    assert "S Secrets (beyond CIS): 1" in delivery.payload["text"]


def test_messages_link_to_the_dashboard_when_its_address_is_set(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    make_channel()
    scan, news = _two_scans(("5.4", "WARN", "container", "db"), name="linked")
    settings.DOCKERBENCH_BASE_URL = "https://dockerbench.example.com"

    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)

    url = f"https://dockerbench.example.com/fleet/scans/{scan.pk}/"
    assert delivery.payload["url"] == url and delivery.payload["text"].endswith(f"Open in dockerbench: {url}")


def test_without_the_dashboards_address_a_message_has_no_link(django_capture_on_commit_callbacks: Any) -> None:
    make_channel()
    scan, news = _two_scans(("5.4", "WARN", "container", "db"), name="unlinked")
    [delivery] = announce(django_capture_on_commit_callbacks, scan, news)
    assert delivery.payload["url"] is None and "Open in dockerbench" not in delivery.payload["text"]
