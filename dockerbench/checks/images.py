"""CIS section 4: Container Images and Build File.

Most of section 4 is manual: a Dockerfile is not on the host. Where an image's
configuration or history carries a hint (an index update on its own, ADD,
secret-looking variable names) we report it per image as INFO, never WARN.
Images that only our own probe container uses are left out, as the probe is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dockerbench import vulns
from dockerbench.checks._helpers import (
    NotCollected,
    container_ref,
    containers,
    image_ref,
    info,
    note,
    passed,
    require,
    require_facts,
    setting_ref,
    warn,
)
from dockerbench.checks.secrets import env_exposures, history_exposures
from dockerbench.results import Finding, Status
from dockerbench.snapshot import HostSnapshot, ImageSnapshot, ImageVulnReport, Severity, Vuln

CheckFn = Callable[[HostSnapshot], list[Finding]]

# Package managers' index refresh / upgrade commands, and their install commands.
_PKG = r"(?:apt-get|apt|aptitude|yum|dnf|microdnf|zypper|apk)"
_UPDATE_RE = re.compile(rf"(?:^|[\s/]){_PKG}\s+(?:-\S+\s+)*(?:update|upgrade|dist-upgrade|makecache|refresh|ref)\b")
_INSTALL_RE = re.compile(rf"(?:^|[\s/]){_PKG}\s+(?:\S+\s+)*?(?:install|in|reinstall|add)\b")
_SEGMENT_SPLIT = re.compile(r"&&|\|\||;|\n")

# ADD as recorded by the classic builder ("#(nop) ADD ...") and by BuildKit ("ADD ... # buildkit").
_ADD_RE = re.compile(r"(?:^|#\(nop\)\s*)ADD\s+\S")

STALE_DAYS = 90
LIST_LIMIT = 10


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _probe_only_images(snap: HostSnapshot) -> set[str]:
    """Images that no container but our probe uses: we brought them, so we do not report them."""
    used_by_probe: set[str] = set()
    used_by_others: set[str] = set()
    for c in snap.containers or ():
        (used_by_probe if c.is_probe else used_by_others).add(str(c.inspect.get("Image", "")))
    return used_by_probe - used_by_others


def audited_images(snap: HostSnapshot) -> tuple[ImageSnapshot, ...]:
    images: tuple[ImageSnapshot, ...] = require(snap, "images")
    skip = _probe_only_images(snap)
    return tuple(i for i in images if i.id not in skip)


def _history_skip(image: ImageSnapshot) -> Finding:
    why = image.errors.get("history") or "the image history was not collected"
    return Finding(Status.SKIP, f"not collected: {why}", image_ref(image), {})


# -- 4.1 ----------------------------------------------------------------------


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("", "0", "root")


def check_container_user(snap: HostSnapshot) -> list[Finding]:
    # As CIS's own audit and docker-bench do, judge what really runs: the running
    # containers' user (the image's USER unless `docker run --user` overrides it).
    audited = containers(snap)
    if not audited:
        return [info("no containers are running", containers=0)]
    image_users = {i.id: (i.inspect.get("Config") or {}).get("User") or "" for i in snap.images or ()}
    findings = []
    for c in audited:
        user = str(c.config.get("User") or "")
        if _is_root(user):
            evidence: dict[str, Any] = {"user": user or "(not set)", "image": c.config.get("Image", "")}
            image_id = str(c.inspect.get("Image", ""))
            if image_id in image_users:
                evidence["image_user"] = image_users[image_id] or "(not set)"
            findings.append(warn("runs as root", container_ref(c), **evidence))
    return findings or [passed("every running container has a non-root user", containers=len(audited))]


# -- 4.2, 4.3, 4.4, 4.8, 4.11, 4.12: manual -------------------------------------


def _names(images: list[ImageSnapshot]) -> list[str]:
    return [i.name for i in images[:LIST_LIMIT]]


def check_trusted_base_images(snap: HostSnapshot) -> list[Finding]:
    evidence: dict[str, Any] = {}
    if snap.images is not None:
        images = audited_images(snap)
        # An image with no registry digest was built or loaded locally: its origin cannot be traced here.
        local = [i for i in images if not i.inspect.get("RepoDigests")]
        evidence = {"images": len(images), "without_registry_digest": _names(local)}
    return [note("confirm every image comes from a trusted base image and registry", **evidence)]


def check_unnecessary_packages(snap: HostSnapshot) -> list[Finding]:
    evidence: dict[str, Any] = {}
    if snap.images is not None:
        images = sorted(audited_images(snap), key=lambda i: -(i.inspect.get("Size") or 0))
        evidence = {
            "largest": [{"image": i.name, "size_mb": round((i.inspect.get("Size") or 0) / 1e6, 1)} for i in images[:5]]
        }
    return [note("review what each image installs; prefer minimal base images", **evidence)]


def _parse_time(value: str) -> datetime | None:
    # Docker writes nanoseconds; fromisoformat takes at most microseconds.
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$", value or "")
    if not m:
        return None
    return datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(2) in (None, "Z") else m.group(2)))


def _built_days_ago(image: ImageSnapshot, now: datetime | None) -> int | None:
    created = _parse_time(str(image.inspect.get("Created", "")))
    return None if created is None or now is None else (now - created).days


def _fixable_criticals(vulns: list[Vuln]) -> list[Vuln]:
    """CRITICAL with a fixed version known and not waived: what a rebuild on an updated base would remove."""
    return [v for v in vulns if v.severity == Severity.CRITICAL and v.fixed and not v.waived]


def _image_vulns(
    image: ImageSnapshot, reports: tuple[ImageVulnReport, ...]
) -> tuple[list[ImageVulnReport], list[Vuln]]:
    """The reports about this image (by image id or manifest digest) and their vulnerabilities, one per key."""
    mine = [r for r in reports if vulns.matches(r, image)]
    merged: dict[tuple[str, str, str], Vuln] = {}
    for report in mine:
        for v in report.vulns:
            merged.setdefault(v.key, v)
    return mine, list(merged.values())


def check_images_rebuilt(snap: HostSnapshot) -> list[Finding]:
    """4.4: with vulnerability reports, WARN per image carrying fixable criticals; else a review note.

    An image without a report is never judged: the check passes only when every audited image has one.
    """
    evidence: dict[str, Any] = {}
    now = _parse_time(snap.collected_at)
    images = audited_images(snap) if snap.images is not None else ()
    if snap.images is not None and now is not None:
        old = [i for i in images if (_built_days_ago(i, now) or 0) > STALE_DAYS]
        evidence = {f"built_over_{STALE_DAYS}_days_ago": _names(old)}
    message = "scan images regularly and rebuild them to pick up security patches"
    if snap.image_reports is None or not images:
        return [note(message, **evidence)]

    findings: list[Finding] = []
    unreported: list[ImageSnapshot] = []
    accepted: dict[str, list[str]] = {}  # image -> the critical ids CVE waivers cover, where nothing else warns
    for image in images:
        reports, found = _image_vulns(image, snap.image_reports)
        if not reports:
            unreported.append(image)
            continue
        fixable = _fixable_criticals(found)
        waived_ids = list(dict.fromkeys(v.id for v in found if v.waived and v.severity == Severity.CRITICAL))
        if not fixable:
            if waived_ids:  # it would warn but for CVE waivers: say so, or a pass hides them
                accepted[image.name] = waived_ids[:LIST_LIMIT]
            continue
        counts = dict.fromkeys(Severity, 0)
        for v in found:
            if not v.waived:
                counts[v.severity] += 1
        ids = list(dict.fromkeys(v.id for v in fixable))
        findings.append(
            warn(
                f"{len(ids)} critical {'vulnerability' if len(ids) == 1 else 'vulnerabilities'} with a fix "
                "available: rebuild the image",
                image_ref(image),
                fixable_critical=len(ids),
                counts={str(k): n for k, n in counts.items()},
                waived=sum(v.waived for v in found),
                waived_critical_ids=waived_ids[:LIST_LIMIT],
                critical_ids=ids[:LIST_LIMIT],
                fixed_versions=[
                    {"id": v.id, "package": v.package, "installed": v.installed, "fixed": v.fixed}
                    for v in fixable[:LIST_LIMIT]
                ],
                scanners=sorted({r.scanner for r in reports}),
                built_days_ago=_built_days_ago(image, now),
            )
        )
    if accepted:
        evidence["waived_criticals"] = dict(list(accepted.items())[:LIST_LIMIT])
    if unreported:
        findings.append(
            note(
                f"{message}; {len(unreported)} of {len(images)} images have no vulnerability report",
                **evidence,
                without_report=_names(unreported),
            )
        )
    elif not findings:
        findings.append(
            passed("no image has a critical vulnerability with a fix available", images=len(images), **evidence)
        )
    return findings


def check_setuid(snap: HostSnapshot) -> list[Finding]:
    return [note("remove setuid and setgid bits the application does not need")]


def check_verified_packages(snap: HostSnapshot) -> list[Finding]:
    return [note("install packages only from sources whose signatures are verified")]


def check_signed_artifacts(snap: HostSnapshot) -> list[Finding]:
    return [note("validate artifact signatures before they are pushed to a registry")]


# -- 4.5 ----------------------------------------------------------------------


def _content_trust_enabled(value: str) -> bool:
    # The docker CLI's rule: any non-empty value other than a false boolean turns trust on.
    return value != "" and value not in ("0", "f", "F", "false", "FALSE", "False")


def check_content_trust(snap: HostSnapshot) -> list[Finding]:
    facts = require_facts(snap)
    if "environment" in facts.errors:
        raise NotCollected(facts.errors["environment"])
    value = facts.environment.get("DOCKER_CONTENT_TRUST", "")
    if _content_trust_enabled(value):
        return [passed("Docker content trust is enabled", DOCKER_CONTENT_TRUST=value)]
    return [
        warn(
            "Docker content trust is not enabled",
            setting_ref("DOCKER_CONTENT_TRUST"),
            DOCKER_CONTENT_TRUST=value or "(not set)",
        )
    ]


# -- 4.6 ----------------------------------------------------------------------


def check_image_healthcheck(snap: HostSnapshot) -> list[Finding]:
    images = audited_images(snap)
    findings = []
    for i in images:
        test = ((i.inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
        if not test:
            findings.append(warn("has no HEALTHCHECK instruction", image_ref(i), healthcheck="(none)"))
        elif test[0] == "NONE":
            findings.append(warn("disables its health check (HEALTHCHECK NONE)", image_ref(i), healthcheck="NONE"))
    return findings or [passed("every image has a HEALTHCHECK", images=len(images))]


# -- 4.7, 4.9, 4.10: hints from image history -----------------------------------


def _update_alone(command: str) -> bool:
    segments = _SEGMENT_SPLIT.split(command)
    updates = any(_UPDATE_RE.search(s) for s in segments)
    installs = any(_INSTALL_RE.search(s) for s in segments)
    return updates and not installs


def check_update_alone(snap: HostSnapshot) -> list[Finding]:
    images = audited_images(snap)
    findings = []
    for i in images:
        if i.history is None:
            findings.append(_history_skip(i))
            continue
        layers = [str(h.get("CreatedBy") or "") for h in i.history]
        alone = [_short(cmd) for cmd in layers if _update_alone(cmd)]
        if alone:
            findings.append(info("a layer updates packages without installing any", image_ref(i), layers=alone[:3]))
    return findings or [note("no layer updates packages on its own; review the Dockerfiles", images=len(images))]


def check_add_instruction(snap: HostSnapshot) -> list[Finding]:
    images = audited_images(snap)
    findings = []
    for i in images:
        if i.history is None:
            findings.append(_history_skip(i))
            continue
        # The API lists layers newest first; the oldest is the base image's root filesystem.
        layers = [str(h.get("CreatedBy") or "").strip() for h in i.history[:-1]]
        adds = [_short(cmd) for cmd in layers if _ADD_RE.search(cmd)]
        if adds:
            findings.append(info("was built with ADD; prefer COPY", image_ref(i), instructions=adds[:3]))
    return findings or [note("no image history shows ADD; review the Dockerfiles", images=len(images))]


def check_secrets(snap: HostSnapshot) -> list[Finding]:
    # A Dockerfile is not on the host, so this stays a hint (INFO per image, else NOTE), from the detector of
    # checks S.1 and S.2: the image's own environment, and the history lines that record a secret.
    images = audited_images(snap)
    findings = []
    for i in images:
        env = env_exposures((i.inspect.get("Config") or {}).get("Env") or ())
        lines = history_exposures(i)
        names = {e.variable for e in env} | {e.variable for line in lines for e in line.exposures if e.assigned}
        if env or lines:
            # Masked values only (redact.masked_form): the values may be the secrets themselves.
            findings.append(
                info(
                    "sets secret-looking variables or values; check they hold no secret",
                    image_ref(i),
                    variables=sorted(n for n in names if n),
                    lines=[line.evidence() for line in lines[:LIST_LIMIT]],
                )
            )
    return findings or [note("confirm no Dockerfile stores secrets", images=len(images))]


CHECKS: dict[str, CheckFn] = {
    "4.1": check_container_user,
    "4.2": check_trusted_base_images,
    "4.3": check_unnecessary_packages,
    "4.4": check_images_rebuilt,
    "4.5": check_content_trust,
    "4.6": check_image_healthcheck,
    "4.7": check_update_alone,
    "4.8": check_setuid,
    "4.9": check_add_instruction,
    "4.10": check_secrets,
    "4.11": check_verified_packages,
    "4.12": check_signed_artifacts,
}
