"""Focused tests for CIS section 4 (container images and build file)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dockerbench.checks._helpers import NotCollected
from dockerbench.checks.images import CHECKS
from dockerbench.results import Finding, Status
from dockerbench.snapshot import PROBE_LABEL, ImageSnapshot
from dockerbench.tests import factories as f

PASS, WARN, INFO, NOTE, SKIP = Status.PASS, Status.WARN, Status.INFO, Status.NOTE, Status.SKIP


def verdicts(findings: list[Finding]) -> list[tuple[Status, str | None]]:
    return [(x.status, x.object.name if x.object else None) for x in findings]


def layers(*created_by: str) -> list[dict[str, Any]]:
    """Image history, newest first as the API returns it."""
    return [{"Id": "<missing>", "CreatedBy": c, "Size": 0, "Comment": ""} for c in created_by]


BASE = "/bin/sh -c #(nop) ADD file:5d6a5ef4a1ce4a3a1bd1b1d9a7d39a5e0c0b0a0a in / "


def run_images(check_id: str, *images: ImageSnapshot, **changes: Any) -> list[Finding]:
    return CHECKS[check_id](f.snapshot(images=list(images), **changes))


# -- 4.1 --------------------------------------------------------------------------


def test_it_warns_for_each_running_container_whose_user_is_root() -> None:
    img = f.image("app:1", Config={"User": "app"})
    findings = CHECKS["4.1"](
        f.snapshot(
            images=[img],
            containers=[
                f.container("unset"),
                f.container("root", Config={"User": "root:root"}),
                f.container("uid0", Config={"User": "0:1000"}),
                f.container("app", Config={"User": "1000:1000"}, Image=img.id),
                f.container("stopped", running=False),
            ],
        )
    )
    assert verdicts(findings) == [(WARN, "unset"), (WARN, "root"), (WARN, "uid0")]
    assert findings[0].evidence == {"user": "(not set)", "image": "dockerbench/busybox:test"}


def test_it_shows_the_image_user_when_run_overrides_it_with_root() -> None:
    img = f.image("app:1", Config={"User": "app"})
    c = f.container("override", Config={"User": "0"}, Image=img.id)
    (finding,) = CHECKS["4.1"](f.snapshot(images=[img], containers=[c]))
    assert finding.evidence["image_user"] == "app"


def test_it_reports_info_for_the_user_check_when_no_container_runs() -> None:
    assert verdicts(CHECKS["4.1"](f.snapshot())) == [(INFO, None)]


def test_it_never_reports_the_probe_for_the_user_check() -> None:
    probe = f.container("probe", Config={"Labels": {PROBE_LABEL: "1"}})
    web = f.container("web", Config={"User": "nobody"})
    assert verdicts(CHECKS["4.1"](f.snapshot(containers=[probe, web]))) == [(PASS, None)]


# -- 4.5 --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "status"), [("1", PASS), ("true", PASS), ("yes", PASS), ("0", WARN), ("", WARN)])
def test_it_reads_content_trust_as_the_docker_cli_does(value: str, status: Status) -> None:
    env = {"DOCKER_CONTENT_TRUST": value} if value else {}
    findings = CHECKS["4.5"](f.snapshot(host_facts=f.facts(environment=env)))
    assert [x.status for x in findings] == [status]


def test_it_skips_content_trust_without_host_facts() -> None:
    with pytest.raises(NotCollected):
        CHECKS["4.5"](f.snapshot(facts=None))


def test_it_skips_content_trust_when_the_environment_was_unreadable() -> None:
    facts = f.facts(errors={"environment": "permission denied"})
    with pytest.raises(NotCollected, match="permission denied"):
        CHECKS["4.5"](f.snapshot(host_facts=facts))


# -- 4.6 --------------------------------------------------------------------------


def test_it_warns_for_each_image_without_a_healthcheck() -> None:
    checked = f.image("checked:1", Config={"Healthcheck": {"Test": ["CMD-SHELL", "true"]}})
    disabled = f.image("disabled:1", Config={"Healthcheck": {"Test": ["NONE"]}})
    findings = run_images("4.6", f.image("bare:1"), checked, disabled)
    assert verdicts(findings) == [(WARN, "bare:1"), (WARN, "disabled:1")]
    assert findings[1].evidence == {"healthcheck": "NONE"}


def test_it_passes_healthcheck_when_every_image_has_one() -> None:
    checked = f.image("checked:1", Config={"Healthcheck": {"Test": ["CMD", "true"]}})
    assert verdicts(run_images("4.6", checked)) == [(PASS, None)]


def test_it_leaves_out_images_only_the_probe_uses() -> None:
    busybox = f.image("busybox:latest")
    probe = f.container("probe", Config={"Labels": {PROBE_LABEL: "1"}}, Image=busybox.id)
    assert verdicts(run_images("4.6", busybox, containers=[probe])) == [(PASS, None)]


def test_it_skips_image_checks_when_images_were_not_collected() -> None:
    snap = dataclasses.replace(f.snapshot(missing={"images": "listing images failed"}), images=None)
    for check_id in ("4.6", "4.7", "4.9", "4.10"):
        with pytest.raises(NotCollected, match="listing images failed"):
            CHECKS[check_id](snap)


# -- 4.7, 4.9, 4.10: hints ------------------------------------------------------------


def test_it_hints_at_images_that_update_packages_without_installing() -> None:
    alone = f.image("alone:1", history=layers("/bin/sh -c apt-get update", BASE))
    apk = f.image("apk:1", history=layers("RUN /bin/sh -c apk update # buildkit", BASE))
    together = f.image(
        "together:1",
        history=layers("/bin/sh -c apt-get update && apt-get install -y curl", "/bin/sh -c apk add --update git", BASE),
    )
    findings = run_images("4.7", alone, apk, together)
    assert verdicts(findings) == [(INFO, "alone:1"), (INFO, "apk:1")]
    assert findings[0].evidence == {"layers": ["/bin/sh -c apt-get update"]}


@pytest.mark.parametrize("check_id", ["4.7", "4.9"])
def test_it_notes_history_hints_when_nothing_is_found(check_id: str) -> None:
    assert verdicts(run_images(check_id, f.image("x:1", history=layers(BASE)))) == [(NOTE, None)]


def test_it_skips_history_hints_for_an_image_whose_history_is_missing() -> None:
    img = dataclasses.replace(f.image("nohist:1"), history=None, errors={"history": "timed out"})
    for check_id in ("4.7", "4.9"):
        assert verdicts(run_images(check_id, img)) == [(SKIP, "nohist:1")]


def test_it_hints_at_images_built_with_add_but_not_for_the_base_layer() -> None:
    added = f.image(
        "added:1",
        history=layers("ADD app.tar.gz /app # buildkit", "/bin/sh -c #(nop) ADD dir:abc in /srv ", BASE),
    )
    copied = f.image("copied:1", history=layers("/bin/sh -c #(nop) COPY file:abc in /app ", BASE))
    env = f.image("env:1", history=layers("/bin/sh -c #(nop)  ENV ADDRESS=x", BASE))
    findings = run_images("4.9", added, copied, env)
    assert verdicts(findings) == [(INFO, "added:1")]
    assert len(findings[0].evidence["instructions"]) == 2


def test_it_hints_at_secret_looking_variable_names_without_their_values() -> None:
    leaky = f.image(
        "leaky:1",
        Config={"Env": ["PATH=/bin", "DB_PASSWORD=hunter2", "API_TOKEN_FILE=/run/secrets/t", "EMPTY_SECRET="]},
        history=layers("|1 GITHUB_TOKEN=ghp_x /bin/sh -c make", BASE),
    )
    findings = run_images("4.10", leaky, f.image("clean:1", Config={"Env": ["GPG_KEY=ABC"]}))
    assert verdicts(findings) == [(INFO, "leaky:1")]
    assert findings[0].evidence["variables"] == ["DB_PASSWORD", "GITHUB_TOKEN"]
    # The history lines that record a secret, found by the detector of checks S.1 and S.2, values masked.
    assert findings[0].evidence["lines"] == [
        {
            "step": 0,
            "instruction": "RUN",
            "secrets": [
                {
                    "variable": "GITHUB_TOKEN",
                    "reason": "name",
                    "kind": "",
                    "value": "<redacted:secret,len=5>",
                    "source": "build-arg",
                }
            ],
            "line": "|1 GITHUB_TOKEN=<redacted:secret,len=5> /bin/sh -c make",
        }
    ]
    assert "hunter2" not in repr(findings)
    assert "ghp_x" not in repr(findings)


def test_it_notes_the_secrets_check_when_no_hint_is_found() -> None:
    assert verdicts(run_images("4.10", f.image("clean:1"))) == [(NOTE, None)]


# -- manual notes -------------------------------------------------------------------------


@pytest.mark.parametrize("check_id", ["4.2", "4.3", "4.4", "4.8", "4.11", "4.12"])
def test_it_reports_manual_recommendations_as_a_note(check_id: str) -> None:
    assert verdicts(run_images(check_id, f.image("x:1"))) == [(NOTE, None)]


@pytest.mark.parametrize("check_id", ["4.2", "4.3", "4.4", "4.8", "4.11", "4.12"])
def test_it_notes_manual_recommendations_even_without_images(check_id: str) -> None:
    snap = dataclasses.replace(f.snapshot(), images=None)
    assert verdicts(CHECKS[check_id](snap)) == [(NOTE, None)]


def test_it_lists_images_built_long_ago_for_rebuild_review() -> None:
    old = f.image("old:1", Created="2025-01-02T03:04:05.123456789Z")
    new = f.image("new:1", Created="2026-11-01T00:00:00Z")
    (finding,) = run_images("4.4", old, new)
    assert finding.evidence == {"built_over_90_days_ago": ["old:1"]}
