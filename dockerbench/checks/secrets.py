"""Our own checks, beyond the CIS ids and outside the CIS score: secrets where they should not be.

S.1 reports a secret in a container's environment, S.2 one in an image's history; CIS 4.10 reads the
same detector (``env_exposure``, ``history_exposures``). The rules are in docs/secrets.md.

These checks never look at a value. A snapshot from the collector is redacted already: every
environment value, and every secret-shaped word of a history line, is a ``dockerbench.redact`` marker,
and the redactor wrote into a secret's marker what the value looked like while it still saw it (its
``kind``). A snapshot that was not redacted (built in a test, or loaded from an old file) is masked here
first by the same redactor, with a throwaway key, and then read the same way: the verdicts and the
evidence are the same either way, and evidence shows a value only as its marker without the hash
(``redact.masked_form``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dockerbench.checks._helpers import container_ref, image_ref, passed, require, warn
from dockerbench.redact import (
    MARKER_RE,
    VALUE_KINDS,
    Redacted,
    masked_form,
    redact_env,
    redact_text,
    secret_variable,
)
from dockerbench.results import Finding, Status
from dockerbench.snapshot import HostSnapshot, ImageSnapshot

CheckFn = Callable[[HostSnapshot], list[Finding]]

# Masks a raw snapshot's values before they are read. Random, and its hashes are never shown: a hash under
# a key someone knows is a guess away from a short password.
_SCRATCH_KEY = secrets.token_bytes(32)
LINE_LIMIT = 200  # characters of a history line shown in evidence

KIND_LABELS = {
    "aws-access-key-id": "an AWS access key id",
    "github-token": "a GitHub token",
    "gitlab-token": "a GitLab token",
    "slack-token": "a Slack token",
    "google-api-key": "a Google API key",
    "stripe-key": "a Stripe live key",
    "npm-token": "an npm token",
    "jwt": "a JSON Web Token",
    "private-key": "a private key",
    "url-credential": "a URL with a password in it",
}


@dataclass(frozen=True)
class Exposure:
    """One secret found: where (``variable``), why (``reason``), what it looks like (``kind``) and its marker.

    ``reason`` is "name" (the variable's or key's name says it holds a secret), "value" (its shape does:
    ``kind`` is one of ``redact.VALUE_KINDS``), "flag" (a password flag or argument of a command) or
    "header" (an Authorization or token header). ``value`` is the masked form, never the value.
    """

    variable: str
    reason: str
    kind: str
    value: str
    source: str = "environment"  # in a history line: ENV, ARG, LABEL, RUN... or "build-arg"
    assigned: bool = True  # the secret is a variable's value (NAME=...), not a flag's, a header's or a URL's

    def evidence(self, *, with_source: bool = False) -> dict[str, str]:
        out = {"variable": self.variable, "reason": self.reason, "kind": self.kind, "value": self.value}
        if with_source:
            out["source"] = self.source
        return out

    @property
    def why(self) -> str:
        if self.reason == "value":
            return f"its value looks like {KIND_LABELS.get(self.kind, self.kind)}"
        if self.reason == "flag":
            return "it is a command's password argument"
        if self.reason == "header":
            return "it is an authorization header"
        return "its name says it holds a secret"


@dataclass(frozen=True)
class HistoryLine:
    """One line of an image's history with the secrets it records."""

    step: int  # its index in the history as `docker history` lists it: 0 is the newest layer
    instruction: str  # the Dockerfile instruction that made it: ENV, ARG, RUN, LABEL...
    exposures: tuple[Exposure, ...]
    line: str  # the line with every marker in its masked form, shortened

    def evidence(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "instruction": self.instruction,
            "secrets": [e.evidence(with_source=True) for e in self.exposures],
            "line": self.line,
        }


def _marker(m: re.Match[str]) -> Redacted:
    return Redacted(int(m[2]), bool(m[1]), m[3], m[4] or "")


def _masked_text(text: str) -> str:
    return MARKER_RE.sub(lambda m: masked_form(_marker(m)), text)


# -- the environment -------------------------------------------------------------------


def env_exposure(entry: str) -> Exposure | None:
    """The secret a ``NAME=value`` entry holds (its value raw or a marker), or None.

    A secret by its name (``redact.secret_variable``) or by its value's shape (``redact.VALUE_KINDS``); not
    an empty value, nor a file path (``DB_PASSWORD=/run/secrets/db`` is the recommended practice).
    """
    (masked,) = redact_env([entry], _SCRATCH_KEY)  # a marker stays as it is
    name, _sep, value = masked.partition("=")
    m = MARKER_RE.fullmatch(value)
    if m is None:
        return None  # an empty value
    red = _marker(m)
    if red.kind == "path":
        return None
    # By its name whatever the marker says: one written before these names were masking's too says "not secret".
    if secret_variable(name):
        reason = "name"
    elif red.secret and red.kind in VALUE_KINDS:
        reason = "value"
    else:
        return None  # masked because masking's names are broader (TOKEN_URL), or random-looking alone
    return Exposure(name, reason, red.kind, masked_form(red))


def env_exposures(env: Iterable[Any]) -> list[Exposure]:
    """The secrets of an environment list, by variable name."""
    found = (env_exposure(e) for e in env if isinstance(e, str))
    return sorted((e for e in found if e is not None), key=lambda e: e.variable)


# -- image history ---------------------------------------------------------------------

_NOP_RE = re.compile(r"^\s*(?:/bin/sh -c\s+)?#\(nop\)\s*(?P<ins>[A-Z]+)\b")
_INSTRUCTION_RE = re.compile(r"^\s*(?P<ins>[A-Z]+)\s")  # BuildKit: "ENV A=b # buildkit", "RUN /bin/sh -c ..."
_BUILD_ARGS_RE = re.compile(r"^\s*(?:RUN\s+)?\|(?P<n>\d+)\s+")
_BUILD_ARG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*\s*")

# What comes right before a marker (at most _CONTEXT characters of it), and so what the secret is.
_CONTEXT = 400
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_PEM_BEFORE = re.compile(rf"(?:(?<![A-Za-z0-9_.-])(?P<name>{_NAME})=[\"']?)?-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s*$")
_URL_BEFORE = re.compile(
    rf"(?:(?<![A-Za-z0-9_.-])(?P<name>{_NAME})=[\"']?)?"
    r"(?<![A-Za-z0-9+.-])(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:\"'<>]*):$"
)
_HOST_AFTER = re.compile(r"@(?P<host>[^\s/?#\"'<>]*)")
_ASSIGN_BEFORE = re.compile(rf"(?<![A-Za-z0-9_.-])(?P<name>{_NAME})=[\"']?$")
_CURL_BEFORE = re.compile(r"(?<![A-Za-z0-9_-])(?P<flag>-u|-U|--user|--proxy-user)(?:=|\s+)?[^\s:]*:$")
_PASSIN_BEFORE = re.compile(r"(?<![A-Za-z0-9_-])(?P<flag>-pass(?:in|out)?)\s+pass:$")
_FLAG_BEFORE = re.compile(r"(?<![A-Za-z0-9_-])(?P<flag>--?[A-Za-z][A-Za-z0-9._-]*)(?:=|\s+)[\"']?$")
_SECRET_FLAG_RE = re.compile(r"passw|passphrase|secret|token|api[-_.]?key|access[-_.]?key|credential", re.I)
_HEADER_BEFORE = re.compile(
    r"(?<![A-Za-z0-9_-])[\"']?(?P<header>[A-Za-z0-9_-]+)[\"']?[ \t]*:[ \t]*"
    r"(?:(?i:bearer|basic|token|digest)[ \t]+)?[\"']?$"
)
_ENCLOSING_BEFORE = re.compile(rf"(?<![A-Za-z0-9_.-])(?P<name>{_NAME})=[\"']?[^\s\"'=]*$")
# The commands whose password arguments the redactor masks (mysql -pX, sshpass -p X, htpasswd -b F U X...).
_TOOLS = (
    "mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlpump mysqlslap mariadb mariadb-dump "
    "mariadb-admin mariadb-import mariadb-check sshpass redis-cli mongo mongosh mongodump mongorestore "
    "mongoexport mongoimport mongostat mongotop sqlcmd bcp ldapsearch ldapadd ldapmodify ldapdelete "
    "ldapwhoami ldappasswd ldapcompare htpasswd curl login"
)
_TOOL_BEFORE = re.compile(
    r"(?:^|(?<=[\s;&|(`/]))(?P<tool>"
    + "|".join(re.escape(t) for t in sorted(_TOOLS.split(), key=len, reverse=True))
    + r")\s[^;&|\n]*?(?P<flag>-[A-Za-z])?\s*[\"']?$"
)


def _instruction(text: str) -> str:
    m = _NOP_RE.match(text)
    if m:
        return m["ins"]
    m = _INSTRUCTION_RE.match(text)
    if m and m["ins"] != "RUN":
        return m["ins"]
    return "RUN"  # the classic builder records a RUN as its command alone: "/bin/sh -c make"


def _build_args_end(text: str) -> int:
    """Where a RUN line's recorded build arguments (``|2 A=x B=y /bin/sh -c ...``) end; 0 if it has none."""
    m = _BUILD_ARGS_RE.match(text)
    if not m:
        return 0
    pos = m.end()
    for _ in range(int(m["n"])):
        a = _BUILD_ARG_RE.match(text, pos)
        if not a:
            break
        pos = a.end()
    return pos


def _exposure(text: str, m: re.Match[str], source: str) -> Exposure | None:
    """What the secret marker ``m`` in ``text`` is, judged by what surrounds it; None when it is not one we
    report (masked only because masking is broader than reporting)."""
    red = _marker(m)
    if red.kind == "path":
        return None
    value = masked_form(red)
    before = text[max(0, m.start() - _CONTEXT) : m.start()]

    def found(variable: str, reason: str, kind: str = red.kind, *, assigned: bool = False) -> Exposure:
        return Exposure(variable, reason, kind, value, source, assigned)

    if c := _PEM_BEFORE.search(before):
        return found(c["name"] or "", "value", "private-key", assigned=bool(c["name"]))
    if (c := _URL_BEFORE.search(before)) and (h := _HOST_AFTER.match(text, m.end())):
        return found(c["name"] or f"{c['url']}@{h['host']}", "value", "url-credential", assigned=bool(c["name"]))
    if c := _ASSIGN_BEFORE.search(before):
        if secret_variable(c["name"]):
            return found(c["name"], "name", assigned=True)
        return found(c["name"], "value", assigned=True) if red.kind in VALUE_KINDS else None
    if c := _CURL_BEFORE.search(before) or _PASSIN_BEFORE.search(before):
        return found(c["flag"], "flag")
    if (c := _FLAG_BEFORE.search(before)) and (_SECRET_FLAG_RE.search(c["flag"]) or c["flag"] == "--pass"):
        return found(c["flag"], "flag")
    if c := _HEADER_BEFORE.search(before):
        header = c["header"]
        if header.lower() in ("authorization", "proxy-authorization"):
            return found(header, "header")
        if _SECRET_FLAG_RE.search(header):
            return found(header, "header" if "-" in header else "name")
    if red.kind in VALUE_KINDS:
        c = _ENCLOSING_BEFORE.search(before)
        return found(c["name"] if c else "", "value", assigned=bool(c))
    if c := _TOOL_BEFORE.search(before):
        return found(f"{c['tool']} {c['flag']}" if c["flag"] else c["tool"], "flag")
    return None  # a random-looking word on its own: masked, not reported


def history_line(step: int, created_by: str) -> HistoryLine | None:
    """The secrets one history line records (``CreatedBy``, raw or redacted), or None when it records none."""
    found = _read_line(created_by)
    return None if found is None else HistoryLine(step, *found)


# Not cached across calls, on purpose: a cache would keep a raw snapshot's lines, secrets and all, for the
# life of the process.
def _read_line(created_by: str) -> tuple[str, tuple[Exposure, ...], str] | None:
    text = redact_text(created_by, _SCRATCH_KEY)  # a redacted line is left as it is
    instruction = _instruction(text)
    args_end = _build_args_end(text)
    exposures = []
    for m in MARKER_RE.finditer(text):
        if not m[1]:
            continue
        source = "build-arg" if m.start() < args_end else instruction
        exposure = _exposure(text, m, source)
        if exposure is not None:
            exposures.append(exposure)
    if not exposures:
        return None
    shown = " ".join(_masked_text(text).split())
    if len(shown) > LINE_LIMIT:
        shown = shown[: LINE_LIMIT - 1] + "…"
    return instruction, tuple(exposures), shown


def history_exposures(image: ImageSnapshot) -> list[HistoryLine]:
    """The lines of an image's history that record secrets, newest first as the history lists them."""
    lines = (history_line(step, str(h.get("CreatedBy") or "")) for step, h in enumerate(image.history or ()))
    return [line for line in lines if line is not None]


# -- the checks ------------------------------------------------------------------------

_NOT_A_FIX = "(--env-file is not a fix: the value still lands in the environment)"


def check_env_secrets(snap: HostSnapshot) -> list[Finding]:
    """S.1: one WARN per (container, variable) whose value is a secret; every container, running or not."""
    require(snap, "containers")
    audited = [c for c in snap.containers or () if not c.is_probe]
    findings = []
    for c in audited:
        for e in env_exposures(c.config.get("Env") or ()):
            message = (
                f"{e.variable} holds a secret in the container's environment ({e.why}): give it as a Docker "
                f"secret or a mounted file instead {_NOT_A_FIX}"
            )
            findings.append(warn(message, container_ref(c), **e.evidence()))
    return findings or [passed("no container's environment holds a secret", containers=len(audited))]


def _audited_images(snap: HostSnapshot) -> tuple[ImageSnapshot, ...]:
    """The images section 4 audits (images.audited_images, which imports this module): not the probe's own."""
    images: tuple[ImageSnapshot, ...] = require(snap, "images")
    by_probe = {str(c.inspect.get("Image", "")) for c in snap.containers or () if c.is_probe}
    by_others = {str(c.inspect.get("Image", "")) for c in snap.containers or () if not c.is_probe}
    skip = by_probe - by_others
    return tuple(i for i in images if i.id not in skip)


def _history_message(line: HistoryLine) -> str:
    names = [e.variable or "a value" for e in line.exposures]
    listed = ", ".join(names)
    if {e.source for e in line.exposures} == {"build-arg"}:
        plural = len(names) > 1
        where = f"build argument{'s' if plural else ''} {listed} {'are' if plural else 'is'} recorded in a RUN step"
        fix = "mount the secret for that step with RUN --mount=type=secret instead of passing --build-arg"
    elif line.instruction == "ARG":
        where = f"ARG {listed} stores a default value that is a secret"
        fix = "mount the secret for the step that needs it with RUN --mount=type=secret instead"
    elif line.instruction == "ENV":
        where = f"ENV {listed} stores a secret in the image"
        fix = "give it to the running container as a Docker secret or a file instead"
    else:
        where = f"a {line.instruction} step records a secret ({listed})"
        fix = "mount it for that step with RUN --mount=type=secret instead"
    return f"{where}: docker history shows it to anyone who can pull the image; {fix}, rebuild and rotate it"


def check_history_secrets(snap: HostSnapshot) -> list[Finding]:
    """S.2: one WARN per (image, history line) that records a secret."""
    images = _audited_images(snap)
    findings = []
    for i in images:
        if i.history is None:
            why = i.errors.get("history") or "the image history was not collected"
            findings.append(Finding(Status.SKIP, f"not collected: {why}", image_ref(i), {}))
            continue
        for line in history_exposures(i):
            findings.append(warn(_history_message(line), image_ref(i), **line.evidence()))
    return findings or [passed("no image history records a secret", images=len(images))]


CHECKS: dict[str, CheckFn] = {
    "S.1": check_env_secrets,
    "S.2": check_history_secrets,
}
