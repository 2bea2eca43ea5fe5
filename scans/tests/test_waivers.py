"""Waivers: scopes, the score with and without them, expiry, revocation, the form and the audit trail."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dockerbench import risk
from hosts.models import Tag
from scans import queries, waivers
from scans.forms import WaiverForm
from scans.models import Finding, LatestScan, Scan, Waiver, WaiverPolicy
from scans.tests.factories import make_host, make_scan, track
from tests.personas import make_user

pytestmark = pytest.mark.django_db

HX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
IMG = "<img src=x onerror=alert(1)>"


def today():  # noqa: ANN201 - test helper
    return timezone.now().date()


def scanned(name: str, *objects: str, tags: tuple[str, ...] = ()) -> Scan:
    """A host whose latest scan WARNs 5.10 on each object and 2.1 on the host; 16 of 20 judged checks pass."""
    host = make_host(name, tags=tags)
    scan = make_scan(host, score=80)
    Scan.objects.filter(pk=scan.pk).update(summary={**scan.summary, "judged": 20, "passed": 16})
    scan.refresh_from_db()
    track(scan, *(("5.10", "WARN", "container", o) for o in objects), ("2.1", "WARN", "", ""))
    scan.refresh_from_db()
    return scan


def waive(check: str = "5.10", **fields: Any) -> Waiver:
    fields.setdefault("expires", today() + timedelta(days=30))
    return waivers.save_waiver(Waiver(check_id=check, reason="accepted", owner="ops", **fields))


def waived_keys(scan: Scan) -> set[str]:
    return set(Finding.objects.filter(host_id=scan.host_id, waiver__isnull=False).values_list("object_key", flat=True))


def test_each_scope_covers_what_it_says() -> None:
    web = scanned("web-1", "legacy-a", "legacy-b", "app", tags=("prod",))
    db = scanned("db-1", "pg", tags=("dev",))

    one = waive(host=web.host, object_pattern="legacy-*")
    assert waived_keys(web) == {"legacy-a", "legacy-b"} and waived_keys(db) == set()
    tagged = waive(tag=Tag.objects.get(name="dev"))
    assert waived_keys(db) == {"pg"} and waived_keys(web) == {"legacy-a", "legacy-b"}
    everywhere = waive("2.1")
    assert {f.object_key for f in Finding.objects.filter(check_id="2.1", waiver=everywhere)} == {""}
    assert Finding.objects.filter(check_id="2.1", waiver=everywhere).count() == 2
    # The most specific waiver is the one shown: one object on one host beats the whole host.
    waive(host=web.host)
    assert Finding.objects.get(host=web.host, object_key="legacy-a").waiver == one
    app = Finding.objects.get(host=web.host, object_key="app").waiver
    assert app is not None and app.host_id == web.host_id
    assert Finding.objects.get(host=db.host, object_key="pg").waiver == tagged


def test_the_score_leaves_fully_waived_checks_out_and_keeps_the_raw_one() -> None:
    scan = scanned("web-1", "a", "b")
    waive(host=scan.host, object_pattern="a")
    scan.refresh_from_db()
    assert (scan.score, scan.waived_score, scan.waived_checks) == (80, 80, 0)  # b is still WARN
    waive(host=scan.host, object_pattern="b")
    scan.refresh_from_db()
    # 5.10 is left out: 16 of 19 judged checks pass.
    assert (scan.score, scan.waived_score, scan.waived_checks) == (80, round(100 * 16 / 19), 1)
    assert scan.summary["waived"] == {"sections": {"5": 1}, "checks": 1, "findings": 2}
    blocks = queries.scan_findings(scan, current=True, section="5")
    (row,) = [c for b in blocks for c in b.checks if c.check_id == "5.10"]
    assert row.verdict == "WAIVED" and row.counts == {"WAIVED": 2}
    assert [getattr(r, "shown_status") for r in row.results] == ["WAIVED", "WAIVED"]  # noqa: B009 - set by queries
    # An older scan shows what it said, not today's waivers.
    assert next(c for b in queries.scan_findings(scan, section="5") for c in b.checks).verdict == "WARN"


def test_a_waiver_applies_to_findings_that_appear_later() -> None:
    scan = scanned("web-1", "legacy-a")
    waive(host=scan.host, object_pattern="legacy-*")
    later = make_scan(scan.host, when=timezone.now() + timedelta(hours=1))
    track(later, ("5.10", "WARN", "container", "legacy-a"), ("5.10", "WARN", "container", "legacy-new"))
    assert waived_keys(later) == {"legacy-a", "legacy-new"}


def test_an_expired_waiver_stops_applying_on_its_own_and_the_findings_are_warn_again() -> None:
    scan = scanned("web-1", "a")
    waiver = waive(host=scan.host, expires=today() + timedelta(days=3))
    assert waived_keys(scan) == {"a"}
    assert waivers.expire_waivers(on=today() + timedelta(days=2)) == 0  # still in force
    assert waivers.expire_waivers(on=today() + timedelta(days=3)) == 1  # from the start of its day
    assert waivers.expire_waivers(on=today() + timedelta(days=3)) == 0  # idempotent
    assert waived_keys(scan) == set() and not waiver.is_active(today() + timedelta(days=3))


def test_revoking_brings_the_findings_back_and_is_in_the_audit_trail() -> None:
    scan = scanned("web-1", "a")
    operator = make_user("operator")
    waiver = waivers.save_waiver(
        Waiver(check_id="5.10", host=scan.host, reason="r", owner="o", expires=today() + timedelta(days=9)),
        user=operator,
    )
    assert waivers.revoke_waiver(waiver, user=operator)
    assert not waivers.revoke_waiver(waiver, user=operator)
    assert waived_keys(scan) == set()
    events = [e.additional_data.get("event") for e in LogEntry.objects.get_for_object(waiver) if e.additional_data]
    assert "waiver revoked" in events
    assert LogEntry.objects.get_for_object(waiver).filter(action=LogEntry.Action.CREATE).exists()


def test_the_form_requires_a_reason_and_an_expiry_within_the_admins_limit() -> None:
    host = make_host("web-1")
    policy = WaiverPolicy.current()
    policy.max_days = 30
    policy.save()

    def errors(**data: Any) -> dict[str, Any]:
        base = {"check_id": "5.10", "reason": "why", "owner": "ops", "expires": today() + timedelta(days=10)}
        form = WaiverForm(data={**base, **data})
        return {} if form.is_valid() else form.errors

    assert errors() == {}
    assert "reason" in errors(reason="  ")
    assert "expires" in errors(expires="")
    assert "expires" in errors(expires=today())
    assert "expires" in errors(expires=today() + timedelta(days=31))
    assert "object_pattern" in errors(object_pattern="web-*")
    assert "check_id" in errors(check_id="9.99")
    assert "ticket" in errors(ticket="javascript:alert(1)")
    assert errors(host=host.pk, object_pattern="web-*", ticket="https://jira.example/OPS-1") == {}


def test_a_waiver_made_from_a_finding_with_htmx_redraws_the_findings() -> None:
    scan = scanned("web-1", "a")
    finding = Finding.objects.get(host=scan.host, object_key="a")
    client = Client()
    user = make_user("operator")
    assert user is not None
    client.force_login(user)

    form = client.get(reverse("scans:waiver-add"), {"finding": finding.pk}, **HX)
    assert form.status_code == 200 and 'value="a"' in form.text and f'value="finding-{finding.pk}"' in form.text
    bad = client.post(reverse("scans:waiver-add"), {"check_id": "5.10", "origin": "x"}, **HX)
    assert bad.status_code == 200 and "Say why" not in bad.text and "This field is required" in bad.text
    saved = client.post(
        reverse("scans:waiver-add"),
        {
            "check_id": "5.10",
            "host": scan.host_id,
            "object_pattern": "a",
            "reason": IMG,
            "owner": "ops",
            "expires": (today() + timedelta(days=20)).isoformat(),
            "origin": f"finding-{finding.pk}",
        },
        **HX,
    )
    assert saved.status_code == 200
    location = json.loads(saved["HX-Location"])  # the host's findings come back in place, the check open
    assert location == {
        "path": reverse("scans:host", args=[scan.host_id]) + "?check=5.10",
        "target": "#findings-table",
        "swap": "outerHTML",
    }
    finding.refresh_from_db()
    assert finding.waiver is not None
    page = client.get(reverse("scans:host", args=[scan.host_id]), HTTP_HX_TARGET="findings-table", **HX).text
    assert ">WAIVED<" in page and IMG not in page and "&lt;img src=x" in page
    listing = client.get(reverse("scans:waivers")).text
    assert "&lt;img src=x" in listing and IMG not in listing
    assert LatestScan.of(scan.host) is not None


def test_viewers_see_waivers_but_cannot_make_one() -> None:
    scanned("web-1", "a")
    client = Client()
    user = make_user("viewer")
    assert user is not None
    client.force_login(user)
    assert client.get(reverse("scans:waivers")).status_code == 200
    assert client.get(reverse("scans:waiver-add")).status_code == 403
    first = Finding.objects.first()
    assert first is not None
    host_page = client.get(reverse("scans:host", args=[first.host_id])).text
    assert "Waive…" not in host_page


def test_a_waiver_made_on_a_check_page_redraws_its_objects() -> None:
    scanned("web-1", "a", tags=("prod",))
    user = make_user("operator")
    assert user is not None
    client = Client()
    client.force_login(user)
    page = client.get(reverse("scans:check", args=["5.10"])).text
    assert "Waive 5.10 everywhere or on a tag" in page and 'hx-trigger="waivers-changed from:body"' in page
    form = client.get(reverse("scans:waiver-add"), {"check": "5.10"}, **HX).text
    assert 'value="check"' in form
    saved = client.post(
        reverse("scans:waiver-add"),
        {
            "check_id": "5.10",
            "tag": Tag.objects.get(name="prod").pk,
            "reason": "fleet-wide decision",
            "owner": "ops",
            "expires": (today() + timedelta(days=20)).isoformat(),
            "origin": "check",
        },
        **HX,
    )
    assert saved["HX-Trigger"] == "waivers-changed"
    objects = client.get(reverse("scans:check", args=["5.10"]), HTTP_HX_TARGET="check-objects", **HX).text
    assert ">WAIVED<" in objects


def test_an_admin_sets_the_longest_a_waiver_may_run() -> None:
    user = make_user("admin")
    assert user is not None
    client = Client()
    client.force_login(user)
    policy = WaiverPolicy.current()
    url = reverse("admin:scans_waiverpolicy_change", args=[policy.pk])
    assert client.post(url, {"max_days": "60"}).status_code == 302
    assert waivers.max_expiry() == today() + timedelta(days=60)
    assert client.get(reverse("admin:scans_waiverpolicy_add")).status_code == 403  # one policy only


def test_what_to_fix_first_ranks_by_weight_objects_and_age_and_leaves_waived_out() -> None:
    old = timezone.now() - timedelta(days=60, minutes=1)  # finished 3 s later: 60 whole days ago
    web = make_host("web-1")
    first = make_scan(web, when=old)
    track(first, ("5.11", "WARN", "container", "a"))  # memory limits, open for 60 days
    scan = make_scan(web)
    track(
        scan,
        ("5.11", "WARN", "container", "a"),
        ("5.5", "WARN", "container", "p"),  # privileged, found today
        ("4.1", "WARN", "container", "a"),
        ("4.1", "WARN", "container", "b"),
        ("4.1", "WARN", "container", "c"),
    )
    ranks = {r.check_id: r for r in queries.top_risks(limit=10)}
    assert ranks["5.5"].rank == risk.rank(risk.weight("5.5"), 1, 0)
    assert ranks["5.11"].age_days == 60 and ranks["5.11"].rank == risk.rank(risk.weight("5.11"), 1, 60)
    assert ranks["4.1"].objects == 3 and ranks["4.1"].hosts == 1
    order = [r.check_id for r in queries.top_risks(limit=10)]
    assert order == sorted(order, key=lambda c: -ranks[c].rank)
    # The host page ranks the same checks from its findings, with no query of its own.
    page = queries.host_page(web)
    assert [r.check_id for r in page.risks] == order
    # A waived check leaves both rankings.
    waive("5.5", host=web)
    assert "5.5" not in [r.check_id for r in queries.top_risks(limit=10)]
    assert "5.5" not in [r.check_id for r in queries.host_page(web).risks]
