"""Notification workflows: what each event says to each channel, making deliveries once, and sending them.

- ``scan_finished`` receives the scans app's signal once a scan's outcome is committed. It makes at most one
  delivery per channel and event for the scan (all its new findings in one message), sends their tasks once
  its own writes are committed, and never raises: a broken notification must not touch the scan.
- ``notify_stale_hosts`` and ``notify_expiring_waivers`` run from beat; they are idempotent because every
  delivery has a ``dedupe_key`` unique per channel (a host's stale stretch is named by its last good scan).
- ``attempt_delivery`` sends one delivery once (the task retries it with backoff): email through Django's mail
  settings, a webhook as a signed JSON POST.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import mimetypes
import secrets
import smtplib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import requests
from celery import current_app
from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from core.audit import record_event
from dockerbench import catalog, risk
from dockerbench.catalog import ALL_SECTIONS, section_of
from hosts.models import Host
from notifications.models import Channel, Delivery, Event
from scans.models import DiffSnapshot, Finding, Scan, Waiver
from scans.queries import STALE_AFTER
from scans.tracking import News

log = logging.getLogger(__name__)

# By name: the tasks module imports this one.
DELIVER_TASK = "notifications.tasks.deliver"
SIGNATURE_HEADER = "X-Dockerbench-Signature"
EVENT_HEADER = "X-Dockerbench-Event"
DELIVERY_HEADER = "X-Dockerbench-Delivery"
TIMEOUT_SECONDS = 10
# Tries in all (the first and the retries), and the wait before retry n (0-based): 30 s, 60 s, 120 s, 240 s.
MAX_TRIES = 5
BACKOFF_SECONDS = 30
BACKOFF_MAX_SECONDS = 600
# Held by the attempt sending a delivery: longer than one try can take (the timeout, the SMTP exchange).
CLAIM_SECONDS = 120
# A pending delivery no try has touched for this long lost its task message (the broker was down at commit,
# or lost it): beat sends it again. Longer than the whole retry chain takes (about 8 minutes).
RESEND_AFTER = timedelta(minutes=15)
RESEND_WITHIN = timedelta(days=1)  # older news is not worth sending late
EXPIRING_WITHIN_DAYS = 7
# The most findings, drifted containers or files one message lists; the rest are counted.
TOP_ITEMS = 10
SLACK_TEXT_LIMIT = 2900  # Slack refuses a section's text over 3000 characters


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def title_of(check_id: str) -> str:
    recommendations = catalog.ALL_BY_ID
    rec = recommendations.get(check_id)
    return rec.title if rec is not None else check_id


# -- messages -------------------------------------------------------------------------------------------


@dataclass
class Notice:
    """What one event says to one channel, before it is put in the channel's format."""

    event: str
    subject: str
    lines: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    url: str | None = None  # the page to open, when DOCKERBENCH_BASE_URL says where the dashboard is

    @property
    def text(self) -> str:
        lines = [*self.lines, "", f"Open in dockerbench: {self.url}"] if self.url else self.lines
        return "\n".join(lines)


def dashboard_url(name: str, *args: Any) -> str | None:
    """The absolute URL of a dashboard page, or None when DOCKERBENCH_BASE_URL is not set."""
    base = settings.DOCKERBENCH_BASE_URL
    return f"{base}{reverse(name, args=args)}" if base else None


def one_line(text: str, limit: int = 300) -> str:
    """Text from a host (names, paths) on one line: a newline in a subject would be a mail header."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    # Slack's mrkdwn reads <...> as links and mentions (<!channel>); these three are all it asks to escape.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(channel: Channel, notice: Notice) -> dict[str, Any]:
    """The payload a delivery stores and sends: the JSON body of a webhook, or an email's subject and body."""
    if channel.kind == Channel.Kind.EMAIL:
        return {"subject": notice.subject, "body": notice.text + "\n"}
    if channel.format == Channel.Format.SLACK:
        text = slack_escape(notice.text)
        if len(text) > SLACK_TEXT_LIMIT:
            text = text[: SLACK_TEXT_LIMIT - 1] + "…"
        return {
            "text": slack_escape(notice.subject),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": notice.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            ],
        }
    return {"event": notice.event, "subject": notice.subject, "text": notice.text, "url": notice.url, **notice.data}


def _host_data(host: Host) -> dict[str, Any]:
    return {"id": host.pk, "name": host.name}


def _scan_data(scan: Scan) -> dict[str, Any]:
    return {
        "id": scan.pk,
        "status": scan.status,
        "finished": scan.finished.isoformat() if scan.finished else None,
        "score": scan.score,
        "waived_score": scan.waived_score,
        "error": scan.error,
    }


def _section_line(counts: Counter[str]) -> str:
    return ", ".join(
        f"{key} {ALL_SECTIONS.get(key, key)}: {n}" for key, n in sorted(counts.items(), key=_section_order)
    )


def _section_order(item: tuple[str, int]) -> tuple[int, str]:
    keys = list(ALL_SECTIONS)
    return (keys.index(item[0]) if item[0] in keys else len(keys), item[0])


def new_findings_notice(channel: Channel, scan: Scan, findings: Iterable[Finding]) -> Notice | None:
    """One message for all of a scan's new WARN findings that pass the channel's filters (None: none do)."""
    host = scan.host
    rows = []
    for finding in findings:
        weight = risk.weight(finding.check_id)
        if channel.covers(finding.check_id, finding.section, weight):
            rows.append((weight, finding))
    if not rows:
        return None
    rows.sort(key=lambda r: (-r[0], r[1].check_id, r[1].object_key))
    counts = Counter(f.section for _, f in rows)
    n = len(rows)
    subject = one_line(f"{n} new finding{'s' if n != 1 else ''} on {host.name}")
    lines = [
        f"Scan #{scan.pk} of {one_line(host.name)} found {n} new WARN finding{'s' if n != 1 else ''}"
        f" (score {scan.score if scan.score is not None else '—'}).",
        f"By section: {_section_line(counts)}",
        "",
        "Highest risk first:",
    ]
    items = []
    for weight, finding in rows[:TOP_ITEMS]:
        what = f"{finding.object_kind} {one_line(finding.object_name or finding.object_key)}".strip() or "the host"
        again = " (reopened)" if finding.reopened else ""
        lines.append(f"- [{weight}] {finding.check_id} {title_of(finding.check_id)}: {what}{again}")
        items.append(
            {
                "id": finding.pk,
                "check_id": finding.check_id,
                "title": title_of(finding.check_id),
                "section": finding.section,
                "weight": weight,
                "object_kind": finding.object_kind,
                "object_name": finding.object_name or finding.object_key,
                "reopened": bool(finding.reopened),
            }
        )
    if n > TOP_ITEMS:
        lines.append(f"…and {n - TOP_ITEMS} more.")
    data = {
        "host": _host_data(host),
        "scan": _scan_data(scan),
        "counts": {"total": n, "by_section": dict(sorted(counts.items(), key=_section_order))},
        "findings": items,
        "more": max(0, n - TOP_ITEMS),
    }
    return Notice(Event.NEW_FINDINGS, subject, lines, data, dashboard_url("scans:scan", scan.pk))


def drift_notice(scan: Scan, diffs: list[DiffSnapshot]) -> Notice | None:
    """Suspicious changes in the scan's containers that are new since the previous scan (None: there are none)."""
    containers = []
    for diff in diffs:
        new = {(c[0], c[1]) for c in diff.new_since_previous or [] if isinstance(c, list) and len(c) == 2}
        fresh = [s for s in diff.suspicious or [] if isinstance(s, dict) and (s.get("kind"), s.get("path")) in new]
        if fresh:
            containers.append((diff, fresh))
    if not containers:
        return None
    host = scan.host
    total = sum(len(f) for _, f in containers)
    subject = one_line(f"Suspicious drift in {len(containers)} container(s) on {host.name}")
    lines = [f"Scan #{scan.pk} of {one_line(host.name)} saw {total} new suspicious change(s) in its containers:"]
    items = []
    for diff, fresh in containers[:TOP_ITEMS]:
        lines.append(f"- {one_line(diff.container_name)} ({one_line(diff.image)}):")
        for change in fresh[:TOP_ITEMS]:
            lines.append(
                f"    {change.get('kind', '?')} {one_line(change.get('path', ''))}: {change.get('reason', '')}"
            )
        if len(fresh) > TOP_ITEMS:
            lines.append(f"    …and {len(fresh) - TOP_ITEMS} more.")
        items.append(
            {
                "container_id": diff.container_id,
                "container_name": diff.container_name,
                "image": diff.image,
                "changes": fresh[:TOP_ITEMS],
                "more": max(0, len(fresh) - TOP_ITEMS),
            }
        )
    if len(containers) > TOP_ITEMS:
        lines.append(f"…and {len(containers) - TOP_ITEMS} more containers.")
    data = {"host": _host_data(host), "scan": _scan_data(scan), "containers": items}
    return Notice(Event.SUSPICIOUS_DRIFT, subject, lines, data, dashboard_url("scans:drift", host.pk))


def failed_notice(scan: Scan) -> Notice:
    host = scan.host
    subject = one_line(f"Scan of {host.name} failed")
    lines = [f"Scan #{scan.pk} of {one_line(host.name)} failed: {one_line(scan.error or 'no reason given', 1000)}"]
    data = {"host": _host_data(host), "scan": _scan_data(scan)}
    return Notice(Event.SCAN_FAILED, subject, lines, data, dashboard_url("scans:host", host.pk))


def stale_notice(host: Host, last: Scan | None) -> Notice:
    when = last.finished.strftime("%Y-%m-%d %H:%M UTC") if last and last.finished else None
    subject = one_line(f"{host.name} has not been scanned for 48 hours")
    since = f"its last successful scan was #{last.pk}, finished {when}" if last else "it was never scanned successfully"
    lines = [f"{one_line(host.name)} has had no successful scan for 48 hours: {since}."]
    data = {"host": _host_data(host), "last_scan": _scan_data(last) if last else None}
    return Notice(Event.HOST_STALE, subject, lines, data, dashboard_url("scans:host", host.pk))


def waiver_notice(waiver: Waiver, on: date) -> Notice:
    days = (waiver.expires - on).days
    subject = one_line(f"Waiver #{waiver.pk} for {waiver.check_id} expires in {days} day{'s' if days != 1 else ''}")
    lines = [
        f"Waiver #{waiver.pk} for {waiver.check_id} {title_of(waiver.check_id)} {one_line(waiver.scope_text)}"
        f" expires on {waiver.expires.isoformat()} (owner: {one_line(waiver.owner)}).",
        f"Reason: {one_line(waiver.reason, 1000)}",
        "Its findings count as WARN again from that day, unless the waiver is renewed.",
    ]
    data = {
        "waiver": {
            "id": waiver.pk,
            "check_id": waiver.check_id,
            "title": title_of(waiver.check_id),
            "scope": waiver.scope_text,
            "host": _host_data(waiver.host) if waiver.host is not None else None,
            "tag": waiver.tag.name if waiver.tag is not None else None,
            "object_pattern": waiver.object_pattern,
            "owner": waiver.owner,
            "reason": waiver.reason,
            "expires": waiver.expires.isoformat(),
            "days_left": days,
        }
    }
    return Notice(Event.WAIVER_EXPIRING, subject, lines, data, dashboard_url("scans:waiver", waiver.pk))


def test_notice(channel: Channel) -> Notice:
    subject = one_line(f"Test notification for {channel.name}")
    lines = ["This is a test from dockerbench: the channel works."]
    return Notice(Event.TEST, subject, lines, {"channel": {"id": channel.pk, "name": channel.name}})


# -- making deliveries ----------------------------------------------------------------------------------


def queue_delivery(
    channel: Channel,
    notice: Notice,
    dedupe_key: str,
    *,
    recipients: Iterable[str] = (),
    attachment: str = "",
    attachment_name: str = "",
) -> Delivery | None:
    """A pending delivery of ``notice`` to ``channel``, its task sent on commit; None when ``dedupe_key`` had
    one already (a beat run twice, a signal sent again).

    An email may go to ``recipients`` instead of the channel's addresses, with ``attachment`` (a file name on
    Django's default storage, which the caller keeps) attached as ``attachment_name``.
    """
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                channel=channel,
                event=notice.event,
                dedupe_key=dedupe_key[:200],
                subject=notice.subject[:300],
                payload=render(channel, notice),
                recipients=", ".join(recipients),
                attachment=attachment,
                attachment_name=attachment_name[:200],
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: send_delivery(delivery.pk))
    return delivery


def send_delivery(delivery_id: int) -> bool:
    """Send the delivery's task message; a broker that is down is logged (the delivery stays pending)."""
    try:
        current_app.send_task(DELIVER_TASK, args=[delivery_id])
    except Exception as exc:  # never up to the caller: a scan or a beat task
        log.warning("could not queue delivery %s: %s", delivery_id, exc)
        return False
    return True


def resend_lost_deliveries(now: Any = None) -> int:
    """Send again the task of each delivery still pending, untouched for RESEND_AFTER and less than
    RESEND_WITHIN old (beat, idempotent: a duplicate message finds it claimed or sent and does nothing).
    Its tries so far count: a delivery is tried MAX_TRIES times in all, however many messages it took."""
    now = now or timezone.now()
    lost = (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            created__lt=now - RESEND_AFTER,
            created__gte=now - RESEND_WITHIN,
            attempts__lt=MAX_TRIES,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(tried__isnull=True) | Q(tried__lt=now - RESEND_AFTER))
        .values_list("pk", flat=True)
        .order_by("created")[:500]
    )
    return sum(send_delivery(pk) for pk in list(lost))


def channels_for(event: str) -> list[Channel]:
    return [c for c in Channel.objects.filter(enabled=True) if c.wants(event)]


def scan_finished(sender: Any, scan: Scan, news: News | None = None, **kwargs: Any) -> None:
    """The receiver of scans.signals.scan_finished: the scan's deliveries. Logs its failures, never raises."""
    try:
        notify_scan(scan, news)
    except Exception:
        log.exception("notifications for scan %s failed", getattr(scan, "pk", None))


def notify_scan(scan: Scan, news: News | None) -> list[Delivery]:
    """The deliveries a finished scan makes: new findings and suspicious drift, or its failure."""
    scan = Scan.objects.select_related("host").get(pk=scan.pk)
    made: list[Delivery | None] = []
    if scan.status == Scan.Status.FAILED:
        for channel in channels_for(Event.SCAN_FAILED):
            made.append(queue_delivery(channel, failed_notice(scan), f"scan_failed:{scan.pk}"))
        return [d for d in made if d is not None]
    if scan.status not in Scan.SCORED_STATUSES or news is None:
        return []
    wanting = channels_for(Event.NEW_FINDINGS)
    if news.opened and wanting:
        # Waived findings are accepted risks: not news. Finding.waiver is in step once record_results commits.
        findings = list(
            Finding.objects.filter(pk__in=news.opened, state=Finding.State.OPEN, waiver__isnull=True).order_by("pk")
        )
        for channel in wanting:
            if news.first and not channel.include_first_scan:
                continue
            notice = new_findings_notice(channel, scan, findings)
            if notice is not None:
                made.append(queue_delivery(channel, notice, f"new_findings:{scan.pk}"))
    wanting = channels_for(Event.SUSPICIOUS_DRIFT)
    drifted = (
        drift_notice(scan, list(DiffSnapshot.objects.filter(scan=scan).exclude(suspicious=[]))) if wanting else None
    )
    if drifted is not None:
        for channel in wanting:
            if news.first and not channel.include_first_scan:
                continue
            made.append(queue_delivery(channel, drifted, f"suspicious_drift:{scan.pk}"))
    return [d for d in made if d is not None]


def stale_hosts(now: Any = None) -> list[tuple[Host, Scan | None]]:
    """Enabled hosts with no successful scan for STALE_AFTER (one made less than that ago is not stale yet),
    with their last successful scan (None: never)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    hosts = Host.objects.filter(enabled=True, created__lt=cutoff).annotate(
        last_good=Max("scans__pk", filter=Q(scans__status__in=Scan.SCORED_STATUSES))
    )
    last_ids = {h.pk: h.last_good for h in hosts}
    scans = Scan.objects.in_bulk([i for i in last_ids.values() if i is not None])
    out: list[tuple[Host, Scan | None]] = []
    for host in hosts:
        last = scans.get(last_ids[host.pk]) if last_ids[host.pk] else None
        if last is None or (last.finished or last.created) < cutoff:
            out.append((host, last))
    return out


def notify_stale_hosts(now: Any = None) -> int:
    """Beat: tell the channels about each stale host once per stale stretch. Returns how many deliveries."""
    channels = channels_for(Event.HOST_STALE)
    if not channels:
        return 0
    made = 0
    for host, last in stale_hosts(now):
        # The stretch is named by the last good scan: the next good scan ends it, a later stretch is news again.
        key = f"host_stale:{host.pk}:{last.pk if last else 'never'}"
        for channel in channels:
            made += queue_delivery(channel, stale_notice(host, last), key) is not None
    return made


def expiring_waivers(on: date) -> list[Waiver]:
    return list(
        Waiver.objects.filter(
            revoked__isnull=True, expires__gt=on, expires__lte=on + timedelta(days=EXPIRING_WITHIN_DAYS)
        ).select_related("host", "tag")
    )


def notify_expiring_waivers(on: date | None = None) -> int:
    """Beat, daily: tell the channels about each active waiver expiring within 7 days, once per waiver and expiry
    date (a renewed waiver that comes close to its new date again is news again)."""
    on = on or timezone.now().date()
    channels = channels_for(Event.WAIVER_EXPIRING)
    made = 0
    for waiver in expiring_waivers(on) if channels else []:
        weight = risk.weight(waiver.check_id)
        for channel in channels:
            if channel.covers(waiver.check_id, section_of(waiver.check_id), weight):
                key = f"waiver_expiring:{waiver.pk}:{waiver.expires.isoformat()}"
                made += queue_delivery(channel, waiver_notice(waiver, on), key) is not None
    return made


def send_test(channel: Channel, *, user: Any = None) -> Delivery:
    """A test delivery to the channel (the page's button), recorded in the audit trail."""
    delivery = queue_delivery(channel, test_notice(channel), f"test:{secrets.token_hex(8)}")
    assert delivery is not None  # noqa: S101 - a fresh random key cannot collide
    record_event(channel, "test notification sent", actor=user, changes={"delivery": [None, delivery.pk]})
    return delivery


def save_channel(channel: Channel, *, regenerate_secret: bool = False) -> str | None:
    """Save a channel (the audit trail records its fields); returns its new webhook secret, to be shown once,
    when it gets one (a new webhook, or a regenerated secret)."""
    secret = None
    if channel.kind == Channel.Kind.WEBHOOK and (regenerate_secret or not channel.secret):
        secret = new_secret()
        channel.secret = secret
    channel.save()
    return secret


# -- sending ------------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"
    NOT_OURS = "not ours"  # sent already, failed already, or another attempt holds it


@dataclass
class Attempt:
    ok: bool
    retry: bool
    code: int | None = None
    error: str = ""


def backoff(retries: int) -> int:
    """Seconds before retry number ``retries`` (0-based): doubling from BACKOFF_SECONDS, capped."""
    return int(min(BACKOFF_MAX_SECONDS, BACKOFF_SECONDS * 2**retries))


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def attempt_delivery(delivery_id: int, *, final: bool = False) -> Outcome:
    """Try to send one pending delivery once, and record the try on it (attempts, code, error).

    A try that may work later (no connection, a timeout, HTTP 429 or 5xx, an SMTP 4xx) leaves it pending and
    returns RETRY, unless it was the ``final`` one: then, as for any other error, the delivery is FAILED.
    """
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return Outcome.NOT_OURS
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    try:
        attempt = _send(delivery)
    except Exception as exc:  # a bug or a surprise from a library: recorded on the delivery, not retried
        log.exception("delivery %s failed", delivery_id)
        attempt = Attempt(ok=False, retry=False, error=f"internal error: {type(exc).__name__}: {exc}")
    final = final or delivery.attempts + 1 >= MAX_TRIES  # tries of earlier messages count (a resend)
    if attempt.ok:
        outcome = Outcome.SENT
    elif attempt.retry and not final:
        outcome = Outcome.RETRY
    else:
        outcome = Outcome.FAILED
    status = {Outcome.SENT: Delivery.Status.SENT, Outcome.FAILED: Delivery.Status.FAILED}
    Delivery.objects.filter(pk=delivery_id).update(
        attempts=delivery.attempts + 1,
        last_response_code=attempt.code,
        last_error=attempt.error[:2000],
        status=status.get(outcome, Delivery.Status.PENDING),
        sent_at=timezone.now() if outcome is Outcome.SENT else None,
        tried=timezone.now(),
        claimed_until=None,
    )
    return outcome


def _send(delivery: Delivery) -> Attempt:
    channel = delivery.channel
    if not channel.enabled:
        return Attempt(ok=False, retry=False, error="the channel is disabled")
    if channel.kind == Channel.Kind.EMAIL:
        return _send_email(delivery, channel)
    return _send_webhook(delivery, channel)


def _send_email(delivery: Delivery, channel: Channel) -> Attempt:
    recipients = delivery.recipient_list
    if not recipients:
        return Attempt(ok=False, retry=False, error="the channel has no recipients")
    if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") and not settings.EMAIL_HOST:
        return Attempt(ok=False, retry=False, error="mail is not configured (DJANGO_EMAIL_HOST is not set)")
    attached: tuple[str, bytes, str] | None = None
    if delivery.attachment:
        try:
            with delivery.attachment.open("rb") as stored:
                content = stored.read()
        except OSError as exc:  # pruned, or the volume is not mounted here: trying again will not bring it back
            return Attempt(ok=False, retry=False, error=f"the attachment {delivery.attachment.name} is gone: {exc}")
        name = delivery.attachment_name or delivery.attachment.name.rsplit("/", 1)[-1]
        attached = (name, content, mimetypes.guess_type(name)[0] or "application/octet-stream")
    payload = delivery.payload
    message = mail.EmailMessage(
        subject=one_line(payload.get("subject", delivery.subject)),
        body=str(payload.get("body", "")),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        headers={EVENT_HEADER: delivery.event, DELIVERY_HEADER: str(delivery.pk)},
        connection=mail.get_connection(timeout=TIMEOUT_SECONDS),
    )
    if attached is not None:
        message.attach(*attached)
    try:
        message.send()
    except smtplib.SMTPResponseException as exc:  # the server answered: 4xx may pass later, 5xx will not
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Attempt(ok=False, retry=400 <= exc.smtp_code < 500, code=exc.smtp_code, error=f"SMTP: {text}")
    except smtplib.SMTPRecipientsRefused as exc:
        return Attempt(ok=False, retry=False, error=f"SMTP: every recipient refused: {list(exc.recipients)}")
    except (OSError, smtplib.SMTPException) as exc:  # no connection, a timeout, a dropped session
        return Attempt(ok=False, retry=True, error=f"{type(exc).__name__}: {exc}")
    return Attempt(ok=True, retry=False)


def _send_webhook(delivery: Delivery, channel: Channel) -> Attempt:
    body = body_of(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dockerbench-notifications",
        SIGNATURE_HEADER: signature(channel.secret.reveal(), body),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
    }
    try:
        response = requests.post(
            channel.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Attempt(ok=False, retry=True, error=f"{type(exc).__name__}: {exc}")
    except requests.RequestException as exc:  # an unusable URL: trying again changes nothing
        return Attempt(ok=False, retry=False, error=f"{type(exc).__name__}: {exc}")
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(ok=True, retry=False, code=code)
    reason = f"HTTP {code} {response.reason or ''}".strip()
    excerpt = response.text[:500] if response.text else ""
    return Attempt(ok=False, retry=code == 429 or code >= 500, code=code, error=f"{reason}: {excerpt}".rstrip(": "))
