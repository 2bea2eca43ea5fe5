"""Our own checks beyond the benchmark: S.1 (secrets in a container's environment), S.2 (in image history).

The detector's rules first (names, value shapes, history lines, and what must not warn), then the checks on
snapshots built here, then the catalog, the selection and the score, then the whole thing on the real
dockerd: containers and a built image holding secrets, collected by the engine's collector with and without
its redaction, and by the CLI with and without a redaction key. The same results every way, and the secret
values nowhere.

Token-shaped test values are built at run time from random characters, so the repository holds nothing a
secret scanner would take for a real credential.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import io
import json
import logging
import os
import random
import string
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockerbench.catalog import (
    ALL_BY_ID,
    BY_ID,
    EXTRA_RECOMMENDATIONS,
    EXTRA_SECTIONS,
    RECOMMENDATIONS,
    SECTIONS,
)
from dockerbench.checks import REGISTRY
from dockerbench.checks._helpers import NotCollected
from dockerbench.checks.secrets import CHECKS, env_exposure, history_line
from dockerbench.collect import CollectOptions, Target, collect_snapshot
from dockerbench.collect.docker_api import collect_api, connect
from dockerbench.redact import (
    MARKER_RE,
    Redacted,
    marker,
    masked_form,
    parse_marker,
    redact_snapshot,
    redact_text,
    secret_variable,
    value_kind,
)
from dockerbench.report import render_json, render_text, summarize
from dockerbench.results import Finding, ObjectRef, Result, Status
from dockerbench.runner import evaluate, select
from dockerbench.snapshot import PROBE_LABEL, HostSnapshot
from dockerbench.tests import factories as f

KEY = b"test-key-for-the-secrets-checks"
REPO = Path(__file__).resolve().parents[2]
_rng = random.Random(20261202)  # noqa: S311 - test data, seeded so every run tests the same values


def _chars(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
AWS_KEY_ID = "AKIA" + _chars(UPPER_DIGITS, 16)
AWS_SESSION_KEY_ID = "ASIA" + _chars(UPPER_DIGITS, 16)
GITHUB = "ghp" + "_" + _chars(ALNUM, 36)
GITHUB_APP = "ghs" + "_" + _chars(ALNUM, 36)
GITHUB_FINE = "github" + "_pat_" + _chars(ALNUM, 22) + "_" + _chars(ALNUM, 59)
GITLAB = "glpat" + "-" + _chars(ALNUM, 20)
SLACK = "xox" + "b-" + _chars(string.digits, 12) + "-" + _chars(ALNUM, 24)
GOOGLE = "AI" + "za" + _chars(ALNUM + "-_", 35)
STRIPE = "sk" + "_live_" + _chars(ALNUM, 24)
NPM = "npm" + "_" + _chars(ALNUM, 36)
JWT = (
    ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "HS256", "typ": "JWT"}, {"sub": "1234567890"})
    )
    + "."
    + _chars(ALNUM + "-_", 43)
)
PEM = (
    "-----BEGIN "
    + "PRIVATE KEY-----\n"
    + "\n".join(_chars(ALNUM + "+/", 64) for _ in range(3))
    + "\n-----END "
    + "PRIVATE KEY-----"
)
RANDOM = "q7RkT2mXw9LpB4vNc8ZsH3jYf6GdKa1E"  # random-looking, under no secret's name: masked, not reported
PASSWORD = "hunter2-" + _chars(ALNUM, 8)


def redacted(snap: HostSnapshot) -> HostSnapshot:
    return redact_snapshot(snap, KEY)


def verdicts(findings: list[Finding]) -> list[tuple[Status, str | None, str | None]]:
    return [(x.status, x.object.name if x.object else None, x.evidence.get("variable")) for x in findings]


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "PASSWORD",
        "DB_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "db_password",
        "dbPassword",
        "DBPASSWORD",
        "REDIS_PASS",
        "SMTP_PASSWD",
        "GPG_PASSPHRASE",
        "JWT_SECRET",
        "DJANGO_SECRET_KEY",
        "SECRET_KEY_BASE",
        "KEYCLOAK_CLIENT_SECRET",
        "GITHUB_TOKEN",
        "NPM_TOKEN",
        "API_KEY",
        "APIKEY",
        "apiKey",
        "SENDGRID_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "MINIO_ACCESS_KEY",
        "SSH_PRIVATE_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        "REGISTRY_CREDENTIALS",
        "spring.datasource.password",
        "DB_PASSWORD_2",
    ],
)
def test_it_names_a_secret_by_a_word_of_its_name(name: str) -> None:
    assert secret_variable(name)


@pytest.mark.parametrize(
    "name",
    [
        # where the secret is, not the secret: the recommended practice
        "DB_PASSWORD_FILE",
        "PASSWORD_FILE",
        "API_KEY_PATH",
        "PRIVATE_KEY_PATH",
        "SECRETS_DIR",
        # about a secret
        "TOKEN_URL",
        "OAUTH_TOKEN_ENDPOINT",
        "SECRET_NAME",
        "AWS_ACCESS_KEY_ID",
        "PASSWORD_MIN_LENGTH",
        "TOKEN_TTL",
        "JWT_TOKEN_EXPIRY",
        "POSTGRES_HOST_AUTH_METHOD",
        # a switch
        "ALLOW_EMPTY_PASSWORD",
        "USE_TOKEN_AUTH",
        # words of their own
        "TOKENIZER_PARALLELISM",
        "PASSWORDLESS_LOGIN",
        "SECRETARY",
        "BYPASS",
        "PWD",
        "GPG_KEY",
        "PATH",
        "DATABASE_URL",
    ],
)
def test_it_does_not_name_a_secret_by_a_name_about_one(name: str) -> None:
    assert not secret_variable(name)


# -- value shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (AWS_KEY_ID, "aws-access-key-id"),
        (AWS_SESSION_KEY_ID, "aws-access-key-id"),
        (GITHUB, "github-token"),
        (GITHUB_APP, "github-token"),
        (GITHUB_FINE, "github-token"),
        (GITLAB, "gitlab-token"),
        (SLACK, "slack-token"),
        (GOOGLE, "google-api-key"),
        (STRIPE, "stripe-key"),
        (NPM, "npm-token"),
        (JWT, "jwt"),
        (PEM, "private-key"),
        ("postgres://app:s3cret@db.example:5432/app", "url-credential"),
        ("redis://:s3cret@cache:6379/0", "url-credential"),
        (RANDOM, "high-entropy"),
        ("/run/secrets/db_password", "path"),
        ("./secrets/token", "path"),
        ("hunter2", ""),
        ("postgres://db.example:5432/app", ""),
        ("https://auth.example/token", ""),
        ("d8dab549b09672b03356aa2257699f3de3b58c96e74eb26a8b495fbdc9cf6fbe", ""),  # a hex digest
    ],
)
def test_it_tells_what_a_value_looks_like(value: str, kind: str) -> None:
    assert value_kind(value) == kind


def test_a_secrets_marker_carries_the_kind_and_old_markers_still_parse() -> None:
    text = marker(AWS_KEY_ID, KEY, secret=True)
    assert text.startswith("<redacted:secret,len=20,hmac=") and text.endswith(",kind=aws-access-key-id>")
    red = parse_marker(text)
    assert red is not None and (red.length, red.secret, red.kind) == (20, True, "aws-access-key-id")
    # A marker written before kinds existed, and a value that is not a secret's: no kind.
    assert parse_marker("<redacted:secret,len=7,hmac=0123456789abcdef>") == Redacted(7, True, "0123456789abcdef")
    assert marker(AWS_KEY_ID, KEY, secret=False).endswith(">") and "kind=" not in marker("x", KEY, secret=False)
    assert masked_form(red) == "<redacted:secret,len=20,kind=aws-access-key-id>"


# -- S.1's rule on one variable --------------------------------------------------------------

ENV_WARNS = [
    (f"DB_PASSWORD={PASSWORD}", "DB_PASSWORD", "name", ""),
    (f"REDIS_PASS={PASSWORD}", "REDIS_PASS", "name", ""),
    (f"GITHUB_TOKEN={GITHUB}", "GITHUB_TOKEN", "name", "github-token"),
    (f"JWT_SECRET={RANDOM}", "JWT_SECRET", "name", "high-entropy"),
    (f"CONFIG_VALUE={AWS_KEY_ID}", "CONFIG_VALUE", "value", "aws-access-key-id"),
    (f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}", "AWS_ACCESS_KEY_ID", "value", "aws-access-key-id"),
    (f"SESSION={JWT}", "SESSION", "value", "jwt"),
    (f"SLACK_HOOK_AUTH={SLACK}", "SLACK_HOOK_AUTH", "value", "slack-token"),
    (f"TLS_KEY={PEM}", "TLS_KEY", "value", "private-key"),
    ("DATABASE_URL=postgres://app:s3cret@db.example/app", "DATABASE_URL", "value", "url-credential"),
    ("CACHE=redis://:s3cret@cache:6379/0", "CACHE", "value", "url-credential"),
]

ENV_QUIET = [
    "DB_PASSWORD=",  # empty
    "DB_PASSWORD=/run/secrets/db_password",  # a file path: the recommended practice
    "DB_PASSWORD_FILE=/run/secrets/db_password",
    "API_KEY_PATH=/etc/app/key",
    "TOKEN_URL=https://auth.example/token",
    "SECRET_NAME=db",
    "ALLOW_EMPTY_PASSWORD=yes",
    f"SEED={RANDOM}",  # random-looking under an ordinary name: masked, not reported
    "DATABASE_URL=postgres://db.example:5432/app",  # no credential in it
    "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
    "PATH=/usr/local/bin:/usr/bin",
    "NOVALUE",
]


@pytest.mark.parametrize(("entry", "variable", "reason", "kind"), ENV_WARNS)
def test_it_finds_a_secret_in_an_environment_entry(entry: str, variable: str, reason: str, kind: str) -> None:
    found = env_exposure(entry)
    assert found is not None
    assert (found.variable, found.reason, found.kind) == (variable, reason, kind)
    value = entry.partition("=")[2]
    assert found.value == f"<redacted:secret,len={len(value)}{f',kind={kind}' if kind else ''}>"
    # The same from the marker the collector stores in its place.
    assert env_exposure(f"{variable}={marker(value, KEY, secret=True)}") == found


@pytest.mark.parametrize("entry", ENV_QUIET)
def test_it_finds_no_secret_in_an_ordinary_or_recommended_entry(entry: str) -> None:
    assert env_exposure(entry) is None
    name, sep, value = entry.partition("=")
    if sep and value:
        (stored,) = redacted(f.snapshot(containers=[f.container("c", Config={"Env": [entry]})])).containers or ()
        assert env_exposure(stored.config["Env"][0]) is None


# -- S.2's rule on one history line -------------------------------------------------------------

HISTORY_WARNS = [
    # (line, instruction, [(variable, reason, kind, source)])
    ("/bin/sh -c #(nop)  ENV API_TOKEN=abc123 APP_MODE=quiet", "ENV", [("API_TOKEN", "name", "", "ENV")]),
    ("ENV API_TOKEN=tok en OTHER=x # buildkit", "ENV", [("API_TOKEN", "name", "", "ENV")]),
    ("/bin/sh -c #(nop)  ARG DB_PASSWORD=hunter2", "ARG", [("DB_PASSWORD", "name", "", "ARG")]),
    ("ARG DB_PASSWORD=hunter2", "ARG", [("DB_PASSWORD", "name", "", "ARG")]),
    (
        "|2 BUILD_TOKEN=abc PLAIN=1 /bin/sh -c make",
        "RUN",
        [("BUILD_TOKEN", "name", "", "build-arg")],
    ),
    (
        "RUN |1 NPM_TOKEN=abc /bin/sh -c npm ci # buildkit",
        "RUN",
        [("NPM_TOKEN", "name", "", "build-arg")],
    ),
    (
        f'/bin/sh -c curl -H "Authorization: Bearer {GITHUB}" https://api.example/x',
        "RUN",
        [("Authorization", "header", "github-token", "RUN")],
    ),
    ("/bin/sh -c curl -H 'X-Api-Key: s3cret' https://api.example/x", "RUN", [("X-Api-Key", "header", "", "RUN")]),
    ("/bin/sh -c curl -u admin:s3cret https://example/x", "RUN", [("-u", "flag", "", "RUN")]),
    ("/bin/sh -c app --db-password=s3cret --verbose", "RUN", [("--db-password", "flag", "", "RUN")]),
    ("/bin/sh -c mysql -h db -uroot -pS3cr3t shop < dump.sql", "RUN", [("mysql -p", "flag", "", "RUN")]),
    ("/bin/sh -c docker login -u bob -p s3cret registry.example", "RUN", [("login -p", "flag", "", "RUN")]),
    ("/bin/sh -c htpasswd -bc /etc/nginx/.htpasswd admin s3cret", "RUN", [("htpasswd", "flag", "", "RUN")]),
    (
        "/bin/sh -c psql postgresql://app:s3cret@db:5432/app -c 'select 1'",
        "RUN",
        [("postgresql://app@db:5432", "value", "url-credential", "RUN")],
    ),
    (
        "/bin/sh -c #(nop)  ENV DATABASE_URL=postgres://app:s3cret@db/app",
        "ENV",
        [("DATABASE_URL", "value", "url-credential", "ENV")],
    ),
    (f"/bin/sh -c echo {AWS_KEY_ID} > /root/.aws/key", "RUN", [("", "value", "aws-access-key-id", "RUN")]),
    (f"/bin/sh -c #(nop)  ENV CONFIG={STRIPE}", "ENV", [("CONFIG", "value", "stripe-key", "ENV")]),
    (f"/bin/sh -c echo '{PEM}' > /root/.ssh/id_ed25519", "RUN", [("", "value", "private-key", "RUN")]),
    (
        '/bin/sh -c echo \'{"auths": {"r.example": {"password": "s3cret"}}}\' > c.json',
        "RUN",
        [("password", "name", "", "RUN")],
    ),
    (
        f'|1 DB_PASSWORD=pw /bin/sh -c curl -H "Authorization: token {GITHUB}" x',
        "RUN",
        [("DB_PASSWORD", "name", "", "build-arg"), ("Authorization", "header", "github-token", "RUN")],
    ),
]

HISTORY_QUIET = [
    "/bin/sh -c #(nop)  ENV TOKEN_URL=https://auth.example/token SECRET_NAME=db PASSWORD_FILE=/run/secrets/pw",
    "/bin/sh -c #(nop)  ENV DB_PASSWORD=/run/secrets/db_password",
    "/bin/sh -c #(nop)  ARG DB_PASSWORD",  # no value: one given with --build-arg shows in the RUN lines
    "ARG NPM_TOKEN",
    '/bin/sh -c echo "$PASSWORD" | app --password-stdin',  # a reference says where it comes from
    "/bin/sh -c app --password=${DB_PASSWORD} --token=$(cat /run/secrets/token)",
    "RUN --mount=type=secret,id=npm_token /bin/sh -c NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci # buildkit",
    "/bin/sh -c app --password-file=/run/secrets/pw --no-password",
    f"/bin/sh -c start --seed {RANDOM} --port 80",  # random-looking alone: masked, not reported
    "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates",
    "/bin/sh -c echo 'd8dab549b09672b03356aa2257699f3de3b58c96e74eb26a8b495fbdc9cf6fbe  node.tar.xz' | sha256sum -c -",
    "/bin/sh -c #(nop) ADD file:5d6a5ef4a1ce4a3a1bd1b1d9a7d39a5e0c0b0a0a in / ",
    "/bin/sh -c #(nop)  ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
    "",
]


def _secrets_of(line: str) -> list[tuple[str, str, str, str]] | None:
    found = history_line(0, line)
    return None if found is None else [(e.variable, e.reason, e.kind, e.source) for e in found.exposures]


@pytest.mark.parametrize(("line", "instruction", "secrets"), HISTORY_WARNS)
def test_it_finds_the_secrets_a_history_line_records(line: str, instruction: str, secrets: list[Any]) -> None:
    found = history_line(3, line)
    assert found is not None
    assert (found.step, found.instruction) == (3, instruction)
    assert [(e.variable, e.reason, e.kind, e.source) for e in found.exposures] == secrets
    # Read from the line as the collector stores it, the same verdict and the same evidence.
    assert history_line(3, redact_text(line, KEY)) == found
    assert MARKER_RE.search(found.line) is None  # masked forms only: no hash
    assert "<redacted:secret,len=" in found.line


@pytest.mark.parametrize("line", HISTORY_QUIET)
def test_it_finds_no_secret_in_an_ordinary_or_recommended_history_line(line: str) -> None:
    assert _secrets_of(line) is None
    assert _secrets_of(redact_text(line, KEY)) is None


def test_no_secret_value_is_left_in_what_the_detector_returns() -> None:
    for line, _instruction, _secrets in HISTORY_WARNS:
        found = history_line(0, line)
        shown = json.dumps(dataclasses.asdict(found) if found else None)
        for value in ("s3cret", "S3cr3t", "hunter2", "abc123", GITHUB, AWS_KEY_ID, STRIPE, PEM.splitlines()[1]):
            if value in line:
                assert value not in shown, (line, value)


# -- the checks on snapshots -------------------------------------------------------------------


def leaky_snapshot() -> HostSnapshot:
    env = [
        "PATH=/bin",
        f"DB_PASSWORD={PASSWORD}",
        f"CONFIG_VALUE={AWS_KEY_ID}",
        "DATABASE_URL=postgres://app:s3cret@db.example/app",
        "PASSWORD_FILE=/run/secrets/pw",
        "TOKEN_URL=https://auth.example/token",
        "EMPTY_SECRET=",
    ]
    app = f.container("app", Config={"Env": env})
    stopped = f.container("batch", running=False, Config={"Env": [f"NPM_TOKEN={NPM}"]})
    clean = f.container("clean", Config={"Env": ["DB_PASSWORD=/run/secrets/db", "PATH=/bin"]})
    probe = f.container("probe", Config={"Labels": {PROBE_LABEL: "1"}, "Env": [f"DB_PASSWORD={PASSWORD}"]})
    history = [
        {"Id": "<missing>", "CreatedBy": f"|1 GITHUB_TOKEN={GITHUB} /bin/sh -c make", "Size": 0},
        {"Id": "<missing>", "CreatedBy": "/bin/sh -c #(nop)  ENV API_TOKEN=abc123 APP_MODE=quiet", "Size": 0},
        {"Id": "<missing>", "CreatedBy": "/bin/sh -c #(nop)  ENV TOKEN_URL=https://auth.example/token", "Size": 0},
        {"Id": "<missing>", "CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / ", "Size": 0},
    ]
    leaky = f.image("leaky:1", Config={"Env": ["PATH=/bin", "API_TOKEN=abc123"]}, history=history)
    plain = f.image("plain:1", history=[{"Id": "<missing>", "CreatedBy": "/bin/sh -c make", "Size": 0}])
    return f.snapshot(containers=[app, stopped, clean, probe], images=[leaky, plain])


SECRET_VALUES = [PASSWORD, AWS_KEY_ID, "s3cret", NPM, GITHUB, "abc123"]


def test_s1_warns_once_per_container_and_variable_running_or_not() -> None:
    findings = CHECKS["S.1"](leaky_snapshot())
    assert verdicts(findings) == [
        (Status.WARN, "app", "CONFIG_VALUE"),
        (Status.WARN, "app", "DATABASE_URL"),
        (Status.WARN, "app", "DB_PASSWORD"),
        (Status.WARN, "batch", "NPM_TOKEN"),
    ]
    app = f.container("app")
    assert findings[0].object == ObjectRef("container", app.id, "app")
    assert findings[0].evidence == {
        "variable": "CONFIG_VALUE",
        "reason": "value",
        "kind": "aws-access-key-id",
        "value": "<redacted:secret,len=20,kind=aws-access-key-id>",
    }
    assert findings[2].evidence == {
        "variable": "DB_PASSWORD",
        "reason": "name",
        "kind": "",
        "value": f"<redacted:secret,len={len(PASSWORD)}>",
    }
    assert "Docker secret" in findings[2].message and "--env-file" in findings[2].message


def test_s1_passes_when_no_environment_holds_a_secret() -> None:
    clean = f.container("clean", Config={"Env": ["DB_PASSWORD_FILE=/run/secrets/db", "PATH=/bin"]})
    assert verdicts(CHECKS["S.1"](f.snapshot(containers=[clean]))) == [(Status.PASS, None, None)]


def test_s2_warns_once_per_image_and_history_line() -> None:
    findings = CHECKS["S.2"](leaky_snapshot())
    assert [(x.status, x.object.name if x.object else None, x.evidence["step"]) for x in findings] == [
        (Status.WARN, "leaky:1", 0),
        (Status.WARN, "leaky:1", 1),
    ]
    assert findings[0].object == ObjectRef("image", f.image("leaky:1").id, "leaky:1")
    assert findings[0].evidence == {
        "step": 0,
        "instruction": "RUN",
        "secrets": [
            {
                "variable": "GITHUB_TOKEN",
                "reason": "name",
                "kind": "github-token",
                "value": "<redacted:secret,len=40,kind=github-token>",
                "source": "build-arg",
            }
        ],
        "line": "|1 GITHUB_TOKEN=<redacted:secret,len=40,kind=github-token> /bin/sh -c make",
    }
    assert findings[1].evidence["instruction"] == "ENV"
    assert findings[1].evidence["line"] == "/bin/sh -c #(nop) ENV API_TOKEN=<redacted:secret,len=6> APP_MODE=quiet"
    assert "--mount=type=secret" in findings[0].message


def test_s2_passes_when_no_history_records_a_secret() -> None:
    plain = f.image("plain:1", history=[{"Id": "<missing>", "CreatedBy": "/bin/sh -c make", "Size": 0}])
    assert verdicts(CHECKS["S.2"](f.snapshot(images=[plain]))) == [(Status.PASS, None, None)]


def test_s2_skips_an_image_whose_history_is_missing() -> None:
    img = dataclasses.replace(f.image("nohist:1"), history=None, errors={"history": "timed out"})
    (finding,) = CHECKS["S.2"](f.snapshot(images=[img]))
    assert (finding.status, finding.object and finding.object.name) == (Status.SKIP, "nohist:1")
    assert "timed out" in finding.message


@pytest.mark.parametrize(("check_id", "part"), [("S.1", "containers"), ("S.2", "images")])
def test_it_skips_when_the_part_was_not_collected(check_id: str, part: str) -> None:
    snap = f.snapshot(missing={part: "listing failed"})
    snap = (
        dataclasses.replace(snap, containers=None) if part == "containers" else dataclasses.replace(snap, images=None)
    )
    with pytest.raises(NotCollected, match="listing failed"):
        CHECKS[check_id](snap)
    (result,) = evaluate(snap, [check_id])
    assert result.status is Status.SKIP


def test_the_checks_give_the_same_results_on_a_raw_and_a_redacted_snapshot() -> None:
    raw = leaky_snapshot()

    def results(s: HostSnapshot) -> list[tuple[Any, ...]]:
        return [(r.check_id, r.status, r.object, r.message, r.evidence) for r in evaluate(s, ["4.10", "S.1", "S.2"])]

    assert results(redacted(raw)) == results(raw)
    assert results(redact_snapshot(raw, b"another key")) == results(raw)


def test_cis_4_10_lists_the_lines_the_detector_finds() -> None:
    (finding,) = REGISTRY["4.10"](leaky_snapshot())
    assert (finding.status, finding.object and finding.object.name) == (Status.INFO, "leaky:1")
    assert finding.evidence["variables"] == ["API_TOKEN", "GITHUB_TOKEN"]
    assert [line["step"] for line in finding.evidence["lines"]] == [0, 1]
    assert finding.evidence["lines"] == [x.evidence for x in CHECKS["S.2"](leaky_snapshot())]


def test_no_secret_value_reaches_a_result_a_report_a_log_or_the_stored_snapshot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = leaky_snapshot()
    assert all(v in raw.to_json() for v in SECRET_VALUES)  # they are really there to be leaked
    caplog.set_level(logging.DEBUG)
    for snap in (raw, redacted(raw)):
        results = evaluate(snap, select(include=["S", "4.10"]))
        assert {r.check_id for r in results if r.status is Status.WARN} == {"S.1", "S.2"}
        outputs = {
            "results": repr(results),
            "json": json.dumps(render_json(snap, results), default=str),
            "text": render_text(snap, results, verbose=True),
            "logs": caplog.text,
        }
        for where, text in outputs.items():
            assert [v for v in SECRET_VALUES if v in text] == [], where
    stored = redacted(raw).to_json()
    assert [v for v in SECRET_VALUES if v in stored] == []
    assert "CONFIG_VALUE=<redacted:secret,len=20,hmac=" in stored and ",kind=aws-access-key-id>" in stored


# -- catalog, selection, score ------------------------------------------------------------------


def test_our_checks_are_in_their_own_catalog_not_in_the_benchmarks() -> None:
    assert [r.id for r in EXTRA_RECOMMENDATIONS] == ["S.1", "S.2"]
    assert not {"S.1", "S.2"} & set(BY_ID)
    assert "S" not in SECTIONS and EXTRA_SECTIONS == {"S": "Secrets (beyond CIS)"}
    assert len(RECOMMENDATIONS) == 117
    assert set(ALL_BY_ID) == set(BY_ID) | {"S.1", "S.2"}
    assert all(r.benchmark == "CIS" for r in RECOMMENDATIONS)
    for rec in EXTRA_RECOMMENDATIONS:
        assert rec.benchmark == "dockerbench" and rec.section == "S" and rec.automated
        assert len(rec.remediation) >= 100 and rec.remediation.endswith(".")
        assert rec.fixes and all(
            fix.kind in {"shell", "swarm", "compose", "docker run", "Dockerfile"} for fix in rec.fixes
        )
        assert all(link.startswith("https://docs.docker.com/") for link in rec.docs)
    assert any("--mount=type=secret" in fix.text for fix in ALL_BY_ID["S.2"].fixes)
    assert set(CHECKS) == {"S.1", "S.2"} and all(REGISTRY[k] is v for k, v in CHECKS.items())


def test_selection_runs_our_checks_after_the_benchmarks_and_filters_them() -> None:
    everything = select()
    assert everything[:117] == [r.id for r in RECOMMENDATIONS]
    assert everything[117:] == ["S.1", "S.2"]
    assert select(exclude=["S"]) == everything[:117]
    assert select(sections=["S"]) == ["S.1", "S.2"]
    assert select(sections=["s"]) == ["S.1", "S.2"]
    assert select(include=["S.2"]) == ["S.2"]
    assert select(include=["4.10", "S.1"]) == ["4.10", "S.1"]
    assert select(sections=["4"])[-1] == "4.12"


def test_our_checks_do_not_move_the_cis_score() -> None:
    cis = [Result("5.5", Status.PASS), Result("5.4", Status.WARN, object=ObjectRef("container", "x", "x"))]
    ours = [Result("S.1", Status.WARN, object=ObjectRef("container", "x", "x")), Result("S.2", Status.PASS)]
    alone, together = summarize(cis), summarize(cis + ours)
    assert (
        (together.score, together.judged, together.passed)
        == (alone.score, alone.judged, alone.passed)
        == (
            50,
            2,
            1,
        )
    )
    assert {k: v for k, v in together.sections.items() if k != "S"} == alone.sections


# -- the real dockerd ---------------------------------------------------------------------------

RUN = uuid.uuid4().hex[:8]
LABEL = {"dockerbench.test": f"secrets-{RUN}"}
PREFIX = f"dbsec-{RUN}-"


def _random(n: int = 24) -> str:
    return "".join(random.SystemRandom().choice(ALNUM) for _ in range(n))


@pytest.fixture(scope="module")
def planted(docker_url: str, test_image: str) -> Iterator[dict[str, Any]]:
    """Containers (one running, two only created) and a built image, with secrets and with harmless lookalikes."""
    # Secrets found by their names are UUIDs, which look like nothing in particular (kind ""): a random
    # string may or may not pass for high-entropy, and the expected kinds below would then flicker.
    values = {
        "env_password": str(uuid.uuid4()),
        "env_aws": "AKIA" + "".join(random.SystemRandom().choice(UPPER_DIGITS) for _ in range(16)),
        "env_url_password": _random(),
        "env_jwt": JWT.rsplit(".", 1)[0] + "." + _random(43),
        "arg_default": str(uuid.uuid4()),
        "build_arg": str(uuid.uuid4()),
        "image_env": str(uuid.uuid4()),
        "run_github": "ghp" + "_" + _random(36),
    }
    tag = f"dockerbench/secrets:{RUN}"
    dockerfile = (
        f"FROM {test_image}\n"
        f"ARG DB_PASSWORD={values['arg_default']}\n"
        "ARG BUILD_TOKEN\n"
        f"ENV API_TOKEN={values['image_env']} APP_MODE=quiet PASSWORD_FILE=/run/secrets/pw"
        " TOKEN_URL=https://auth.invalid/token\n"
        'RUN test -n "$BUILD_TOKEN"\n'
        f'RUN : curl -H "Authorization: Bearer {values["run_github"]}" https://api.invalid/\n'
    )
    leaky_env = {
        "DB_PASSWORD": values["env_password"],
        "CONFIG_VALUE": values["env_aws"],
        "DATABASE_URL": f"postgres://app:{values['env_url_password']}@db.invalid/app",
        "SESSION": values["env_jwt"],
        # lookalikes that must not warn
        "PASSWORD_FILE": "/run/secrets/db_password",
        "DB_TOKEN": "/run/secrets/db_token",
        "API_KEY_PATH": "/etc/app/key",
        "TOKEN_URL": "https://auth.invalid/token",
        "SECRET_NAME": "db",
        "EMPTY_SECRET": "",
        "ALLOW_EMPTY_PASSWORD": "yes",
        "SEED": RANDOM,
    }
    files_env = {"DB_PASSWORD": "/run/secrets/db_password", "DB_PASSWORD_FILE": "/run/secrets/db_password"}
    client = docker.from_env(environment={"DOCKER_HOST": docker_url})
    created: list[Any] = []
    try:
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=tag,
            rm=True,
            buildargs={"BUILD_TOKEN": values["build_arg"]},
            labels=LABEL,
        )
        common = {"labels": LABEL, "command": ["sleep", "300"]}
        created.append(
            client.containers.run(test_image, name=PREFIX + "leaky", environment=leaky_env, detach=True, **common)
        )
        created.append(client.containers.create(test_image, name=PREFIX + "files", environment=files_env, **common))
        created.append(client.containers.create(tag, name=PREFIX + "fromimage", **common))
        history = [h["CreatedBy"] for h in client.api.history(tag)]
        # What the engine itself shows: the secrets are really there to be leaked.
        assert any(values["image_env"] in h for h in history)
        assert any(f"BUILD_TOKEN={values['build_arg']}" in h for h in history)
        assert f"DB_PASSWORD={values['env_password']}" in client.api.inspect_container(created[0].id)["Config"]["Env"]
        yield {"values": values, "tag": tag, "history": history}
    finally:
        for c in created:
            c.remove(force=True)
        with contextlib.suppress(docker.errors.ImageNotFound):  # the build failed
            client.images.remove(tag, force=True)
        client.close()


def _raw_snapshot(docker_url: str) -> HostSnapshot:
    """What the engine's collector gathers, before collect_snapshot redacts it."""
    client = connect(Target(docker_url))
    try:
        parts = collect_api(client)
    finally:
        client.close()
    return HostSnapshot(
        target=docker_url,
        collected_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        info=parts.info,
        version=parts.version,
        containers=parts.containers,
        images=parts.images,
        networks=parts.networks,
        swarm=parts.swarm,
        nodes=parts.nodes,
        services=parts.services,
        missing=parts.missing,
    )


def _ours(results: list[Result], tag: str) -> list[tuple[Any, ...]]:
    """Our objects' results of S.1, S.2 and 4.10 (other tests share the engine), in the order the checks gave."""
    return [
        (r.check_id, r.status.value, r.object.kind, r.object.name, r.message, r.evidence)
        for r in results
        if r.check_id in ("S.1", "S.2", "4.10")
        and r.object
        and (r.object.name.startswith(PREFIX) or r.object.name == tag)
    ]


S1_EXPECTED = [
    ("leaky", "CONFIG_VALUE", "value", "aws-access-key-id"),
    ("leaky", "DATABASE_URL", "value", "url-credential"),
    ("leaky", "DB_PASSWORD", "name", ""),
    ("leaky", "SESSION", "value", "jwt"),
    ("fromimage", "API_TOKEN", "name", ""),
]


def _s1(rows: list[tuple[Any, ...]]) -> list[tuple[str, str, str, str]]:
    out = [
        (name.removeprefix(PREFIX), ev["variable"], ev["reason"], ev["kind"])
        for cid, _s, _k, name, _m, ev in rows
        if cid == "S.1"
    ]
    return sorted(out, key=lambda row: ([r[0] for r in S1_EXPECTED].index(row[0]), row[1]))


def _s2(rows: list[tuple[Any, ...]], history: list[str]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    out = []
    for cid, status, kind, _name, _m, ev in rows:
        if cid == "S.2":
            assert (status, kind) == ("WARN", "image")
            out.append((ev["instruction"], [(s["variable"], s["reason"], s["source"]) for s in ev["secrets"]]))
            assert ev["instruction"] in history[ev["step"]] or ev["instruction"] == "RUN"
    return out


S2_EXPECTED = [
    # newest first, as docker history lists them; every RUN records the two build arguments in scope
    (
        "RUN",
        [
            ("BUILD_TOKEN", "name", "build-arg"),
            ("DB_PASSWORD", "name", "build-arg"),
            ("Authorization", "header", "RUN"),
        ],
    ),
    ("RUN", [("BUILD_TOKEN", "name", "build-arg"), ("DB_PASSWORD", "name", "build-arg")]),
    ("ENV", [("API_TOKEN", "name", "ENV")]),
    ("ARG", [("DB_PASSWORD", "name", "ARG")]),
]


@pytest.mark.docker
def test_on_the_real_engine_raw_and_redacted_collections_give_the_same_findings(
    docker_url: str, planted: dict[str, Any]
) -> None:
    tag = planted["tag"]
    raw = _raw_snapshot(docker_url)
    assert any(planted["values"]["env_password"] in e for c in raw.containers or () for e in c.config.get("Env") or ())
    keyed = collect_snapshot(Target(docker_url), CollectOptions(facts="none", redact_key=KEY))
    unkeyed = collect_snapshot(Target(docker_url), CollectOptions(facts="none"))  # a random key of its own
    checks = select(include=["S", "4.10"])
    found = {
        name: _ours(evaluate(s, checks), tag) for name, s in (("raw", raw), ("keyed", keyed), ("unkeyed", unkeyed))
    }
    assert found["keyed"] == found["raw"]
    assert found["unkeyed"] == found["raw"]

    rows = found["raw"]
    assert _s1(rows) == S1_EXPECTED
    assert _s2(rows, planted["history"]) == S2_EXPECTED
    assert {r[0] for r in rows if r[1] == "WARN" and r[3] == PREFIX + "files"} == set()
    (hint,) = [r for r in rows if r[0] == "4.10"]
    assert hint[1] == "INFO" and hint[5]["variables"] == ["API_TOKEN", "BUILD_TOKEN", "DB_PASSWORD"]

    for name, snap in found.items():
        text = json.dumps(snap, default=str)
        assert [k for k, v in planted["values"].items() if v in text] == [], name
    stored = keyed.to_json()
    assert [k for k, v in planted["values"].items() if v in stored] == []
    (leaky,) = [c for c in keyed.containers or () if c.name == PREFIX + "leaky"]
    env = {e.partition("=")[0]: e.partition("=")[2] for e in leaky.config["Env"]}
    assert (parse_marker(env["CONFIG_VALUE"]) or Redacted(0, False, "")).kind == "aws-access-key-id"
    assert (parse_marker(env["DB_TOKEN"]) or Redacted(0, False, "")).kind == "path"
    assert (parse_marker(env["DB_PASSWORD"]) or Redacted(0, False, "")).secret


def _cli(docker_url: str, *args: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKERBENCH_REDACT_KEY")
    }
    if key is not None:
        env["DOCKERBENCH_REDACT_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "dockerbench", "-H", docker_url, "--facts", "none", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.docker
@pytest.mark.parametrize("key", [None, f"key-{RUN}"])
def test_the_cli_reports_them_with_or_without_a_key_and_shows_no_value(
    docker_url: str, planted: dict[str, Any], tmp_path: Path, key: str | None
) -> None:
    report, saved = tmp_path / "report.json", tmp_path / "snapshot.json"
    proc = _cli(
        docker_url, "-c", "S,4.10", "--json", str(report), "--save-snapshot", str(saved), "-v", "--no-color", key=key
    )
    assert proc.returncode == 0, proc.stderr
    outputs = {"text": proc.stdout + proc.stderr, "json": report.read_text(), "snapshot": saved.read_text()}
    for where, text in outputs.items():
        assert [k for k, v in planted["values"].items() if v in text] == [], where

    doc = json.loads(outputs["json"])
    assert [c["id"] for c in doc["checks"]] == ["4.10", "S.1", "S.2"]
    results = [
        Result(
            c["id"], Status(r["status"]), r["message"], ObjectRef(**r["object"]) if r["object"] else None, r["evidence"]
        )
        for c in doc["checks"]
        for r in c["results"]
    ]
    rows = _ours(results, planted["tag"])
    assert _s1(rows) == S1_EXPECTED
    assert _s2(rows, planted["history"]) == S2_EXPECTED
    assert f"container {PREFIX}leaky: DB_PASSWORD holds a secret" in proc.stdout
    # The score is the CIS checks' alone (here 4.10, a manual one: nothing judged).
    assert doc["summary"]["judged"] == 0 and doc["summary"]["score"] is None
