"""Helpers for the notifications tests: channels, and a scan's outcome announced the way scans.services does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from notifications import services
from notifications.models import SUBSCRIBABLE, Channel, Delivery
from scans.models import Scan
from scans.signals import scan_finished
from scans.tracking import News

HOSTILE = "<img src=x onerror=alert(1)>"
EVERY_EVENT = [value for value, _ in SUBSCRIBABLE]


def make_channel(name: str = "ops", **fields: Any) -> tuple[Channel, str]:
    """A channel subscribed to every event (a webhook to nowhere unless told), and its secret."""
    fields.setdefault("kind", Channel.Kind.WEBHOOK)
    if fields["kind"] == Channel.Kind.WEBHOOK:
        fields.setdefault("url", "http://127.0.0.1:9/hook")
    fields.setdefault("events", EVERY_EVENT)
    channel = Channel(name=name, **fields)
    secret = services.save_channel(channel) or ""
    return channel, secret


def announce(capture: Callable[..., Any], scan: Scan, news: News | None) -> list[Delivery]:
    """Send scan_finished as scans.services does once a scan is committed; the deliveries it made.

    The task messages the receiver sends on commit are captured, not sent: the tests run deliveries themselves.
    """
    before = set(Delivery.objects.values_list("pk", flat=True))
    with capture(execute=False):
        for receiver, outcome in scan_finished.send_robust(sender=Scan, scan=scan, news=news):
            assert not isinstance(outcome, BaseException), (receiver, outcome)
    return list(Delivery.objects.exclude(pk__in=before).order_by("pk"))
