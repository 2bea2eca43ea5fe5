"""Focused tests for dockerbench.redact: markers, what is masked in free text, and what is not.

Token-shaped test values are built here at run time from random characters, so the repository holds
nothing a secret scanner would take for a real credential.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest

from dockerbench.checks.images import CHECKS as IMAGE_CHECKS
from dockerbench.checks.runtime import CHECKS as RUNTIME_CHECKS
from dockerbench.redact import (
    MARKER_RE,
    Redacted,
    looks_secret,
    marker,
    parse_marker,
    redact_env,
    redact_snapshot,
    redact_snapshot_dict,
    redact_text,
)
from dockerbench.results import Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot
from dockerbench.tests import factories as f

KEY = b"test-key-for-redaction"
HOSTS = Path(__file__).parent / "fixtures" / "hosts"
_rng = random.Random(20261201)  # noqa: S311 - test data, seeded so every run tests the same values


def _chars(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
AWS_KEY_ID = "AKIA" + _chars(string.ascii_uppercase + string.digits, 16)
GITHUB_CLASSIC = "ghp" + "_" + _chars(ALNUM, 36)
GITHUB_FINE = "github" + "_pat_" + _chars(ALNUM, 22) + "_" + _chars(ALNUM, 59)
SLACK = "xox" + "b-" + _chars(string.digits, 12) + "-" + _chars(ALNUM, 24)
JWT = (
    ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "HS256", "typ": "JWT"}, {"sub": "1234567890", "name": "someone"})
    )
    + "."
    + _chars(ALNUM + "-_", 43)
)
PEM_BODY = "\n".join(_chars(ALNUM + "+/", 64) for _ in range(4))
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + PEM_BODY + "\n-----END " + "RSA PRIVATE KEY-----"
# A random base62 string, fixed so the high-entropy rule is tested on the same input every run.
RANDOM = "q7RkT2mXw9LpB4vNc8ZsH3jYf6GdKa1E"


def hmac16(value: str, key: bytes = KEY) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def masked(text: str) -> list[Redacted]:
    return [Redacted(int(m[2]), bool(m[1]), m[3]) for m in MARKER_RE.finditer(text)]


# -- the marker ---------------------------------------------------------------------


def test_it_replaces_every_env_value_with_a_marker_of_its_length_and_keyed_hash() -> None:
    env = redact_env(["DB_PASSWORD=hunter2", "PATH=/usr/bin", "EMPTY=", "NOVALUE", "GREETING=a=b"], KEY)
    assert env[0] == f"DB_PASSWORD=<redacted:secret,len=7,hmac={hmac16('hunter2')}>"
    assert env[1] == f"PATH=<redacted:len=8,hmac={hmac16('/usr/bin')}>"
    assert env[2:4] == ["EMPTY=", "NOVALUE"]
    assert parse_marker(env[4].split("=", 1)[1]) == Redacted(3, False, hmac16("a=b"))


def test_the_hash_shows_a_changed_value_only_under_the_same_key() -> None:
    one = marker("hunter2", KEY, secret=True)
    assert marker("hunter2", KEY, secret=True) == one
    assert marker("hunter3", KEY, secret=True) != one
    assert marker("hunter2", b"another key", secret=True) != one


def test_the_marker_is_plain_ascii_that_json_and_shells_leave_alone() -> None:
    value = 'pässwörd "quoted" \\ <b>'
    text = marker(value, KEY, secret=True)
    assert text.isascii()
    assert not set(text) & set(" \t\n\"'\\`$;&|")
    assert json.loads(json.dumps(text)) == text
    assert parse_marker(text) == Redacted(len(value), True, hmac16(value))


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        redact_text("x --password=y", b"")


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("DB_PASSWORD", "x", True),
        ("api_key", "x", True),
        ("AWS_SECRET_ACCESS_KEY", "x", True),
        ("DB_PASSWORD_FILE", "/run/secrets/db", False),
        ("CONFIG", GITHUB_CLASSIC, True),
        ("DATABASE_URL", "postgres://app:pw@db/app", True),
        ("SEED", RANDOM, True),
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", False),
        ("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D", False),
        ("DB_PASSWORD", "", False),
    ],
)
def test_it_tells_secrets_by_name_or_by_shape(name: str, value: str, secret: bool) -> None:
    assert looks_secret(name, value) is secret


# -- free text: what is masked ---------------------------------------------------------


MASKED = [
    ("/bin/sh -c #(nop)  ENV DB_PASSWORD=hunter2", "hunter2", "ENV DB_PASSWORD="),
    ("|1 GITHUB_TOKEN=abc123 /bin/sh -c make", "abc123", "/bin/sh -c make"),
    ("export DB_PASSWORD='two words' && run", "two words", "&& run"),
    ("java -Dspring.datasource.password=s3cr3t -jar app.jar", "s3cr3t", "-jar app.jar"),
    ("app --password s3cr3t --verbose", "s3cr3t", "--verbose"),
    ("app --password=s3cr3t --verbose", "s3cr3t", "--verbose"),
    ("app --db-password=s3cr3t --api-key=k3y123", "k3y123", "--db-password=<"),
    ("mysql -h db -u root -pS3cr3t shop", "S3cr3t", "-u root -p<"),
    ("mysqldump -uroot -pS3cr3t --all-databases", "S3cr3t", "--all-databases"),
    ("curl -u admin:s3cret https://example.com/x", "s3cret", "-u admin:<"),
    ("curl --user=admin:s3cret https://example.com/x", "s3cret", "--user=admin:<"),
    ("sshpass -p 's3cret pw' ssh host", "s3cret pw", "ssh host"),
    ("redis-cli -a s3cret ping", "s3cret", "ping"),
    ("docker login -u bob -p s3cret registry.example.com", "s3cret", "registry.example.com"),
    ("htpasswd -bc /etc/nginx/.htpasswd admin s3cret", "s3cret", "/etc/nginx/.htpasswd admin"),
    ("openssl rsa -in k.pem -passin pass:s3cret -out k2.pem", "s3cret", "-out k2.pem"),
    ("wget -q http://user:s3cret@localhost/health || exit 1", "s3cret", "@localhost/health || exit 1"),
    ("psql postgresql://app:s3cret@db:5432/app -c 'select 1'", "s3cret", "@db:5432/app"),
    ('curl -H "Authorization: Bearer s3cret.token" https://x', "s3cret.token", "https://x"),
    (f"echo {AWS_KEY_ID} > creds", AWS_KEY_ID, "> creds"),
    (f"git clone https://{GITHUB_CLASSIC}@github.com/o/r", GITHUB_CLASSIC, "@github.com/o/r"),
    (f"gh auth login --with-token {GITHUB_FINE}", GITHUB_FINE, "gh auth login"),
    (f"notify {SLACK} '#ops'", SLACK, "'#ops'"),
    (f"call --header X-Session:{JWT}", JWT, "call --header"),
    (f"echo '{PEM}' > /root/.ssh/id_rsa", PEM_BODY, "-----END RSA PRIVATE KEY-----' > /root/.ssh/id_rsa"),
    (f"start --seed {RANDOM} --port 80", RANDOM, "--port 80"),
    ('{"auths": {"r.example": {"password": "s3cret"}}}', "s3cret", '{"auths": {"r.example": {"password": "<'),
    ("credentials:\n  api_token: s3cret\n  user: bob", "s3cret", "user: bob"),
]


@pytest.mark.parametrize(("text", "secret", "kept"), MASKED)
def test_it_masks_the_secret_and_keeps_the_rest_of_the_line(text: str, secret: str, kept: str) -> None:
    out = redact_text(text, KEY)
    assert secret not in out
    assert kept in out
    assert any(m.secret for m in masked(out))
    assert redact_text(out, KEY) == out


def test_a_secret_named_env_instruction_loses_its_whole_value_spaces_and_all() -> None:
    # As the classic builder records ENV DB_PASSWORD "spaced value" (and BuildKit likewise): unquoted.
    out = redact_text("/bin/sh -c #(nop)  ENV API_TOKEN=tok en OTHER=a b", KEY)
    assert out == f"/bin/sh -c #(nop)  ENV API_TOKEN=<redacted:secret,len=6,hmac={hmac16('tok en')}> OTHER=a b"


def test_the_hash_in_history_matches_the_hash_in_the_env_list() -> None:
    (env,) = redact_env(["DB_PASSWORD=hunter2"], KEY)
    line = redact_text("/bin/sh -c #(nop)  ENV DB_PASSWORD=hunter2", KEY)
    assert line.endswith(env)


def test_references_say_where_a_secret_comes_from_and_are_kept() -> None:
    text = "app --password=${DB_PASSWORD} --token=$(cat /run/secrets/token)"
    assert redact_text(text, KEY) == text


# -- free text: what is not ------------------------------------------------------------


ORDINARY = [
    "apt-get install -y curl",
    "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates",
    "sshd -D",
    "/usr/sbin/sshd -D -e",
    "sshd: root@pts/0",
    "PATH=/usr/bin",
    "/bin/sh -c #(nop) ADD file:5d6a5ef4a1ce4a3a1bd1b1d9a7d39a5e0c0b0a0a in / ",
    "/bin/sh -c #(nop)  ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    '/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]',
    "mysql -p -h db",
    "mkdir -p /var/lib/mysql",
    "docker run -p 8080:80 -u 1000:1000 nginx",
    "docker login --password-stdin -u bob registry.example.com",
    "app --password-file=/run/secrets/pw --no-password x",
    "gunicorn --workers 4 --bind 0.0.0.0:8000 app.wsgi:application",
    "java -XX:+UseContainerSupport -XX:MaxRAMPercentage=75.0 -jar /app/app.jar",
    "gpg --batch --keyserver hkps://keys.openpgp.org --recv-keys B42F6819007F00F88E364FD4036A9C25BF357DD4",
    "echo 'd8dab549b09672b03356aa2257699f3de3b58c96e74eb26a8b495fbdc9cf6fbe  node.tar.xz' | sha256sum -c -",
    "containerd-shim-runc-v2 -namespace moby -id 6674f87a71e685f5d8693d37d354ba9ac80677f4ac2b0f0fcf4fdb41ede1b36a",
    "wget -O /usr/local/bin/gosu https://github.com/tianon/gosu/releases/download/1.17/gosu-amd64",
    "/usr/lib/x86_64-linux-gnu/perl/5.36.0/Math/BigInt/FastCalc.pm",
    "cp /usr/share/ca-certificates/mozilla/Autoridad_de_Certificacion_Firmaprofesional_CIF_A62634068.crt /x",
    "tail -f /var/log/sshd.log",
    "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_it_leaves_ordinary_commands_alone(text: str) -> None:
    assert redact_text(text, KEY) == text


def test_redacting_twice_changes_nothing_even_on_text_mixed_from_all_of_the_above() -> None:
    texts = [t for t, _secret, _kept in MASKED] + ORDINARY
    prefixes = ["", "ENV ", "/bin/sh -c #(nop)  ENV ", "|2 ", "curl ", "mysql "]
    separators = [" ", "; ", " && ", "\n", "=", ":", "/", "", '"', "'", " -p", " --password ", "@"]
    rng = random.Random(7)  # noqa: S311 - test data, seeded so every run tests the same texts
    for _ in range(1000):
        text = rng.choice(prefixes) + rng.choice(separators).join(rng.sample(texts, rng.randint(1, 4)))
        once = redact_text(text, KEY)
        assert redact_text(once, KEY) == once, text
        assert redact_text(once, b"another key") == once, text


# -- the snapshot ----------------------------------------------------------------------


def leaky_snapshot() -> HostSnapshot:
    health = {"Test": ["CMD-SHELL", "wget -q http://u:hcpw@localhost/"]}
    image = f.image(
        "leaky:1",
        Config={"Env": ["PATH=/bin", "DB_PASSWORD=hunter2", "API_TOKEN_FILE=/run/secrets/t", "EMPTY_SECRET="]},
        ContainerConfig={
            "Env": ["DB_PASSWORD=hunter2"],
            "Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV DB_PASSWORD=hunter2"],
        },
        history=[
            {"Id": "<missing>", "CreatedBy": "|1 GITHUB_TOKEN=ghx /bin/sh -c apt-get update", "Size": 0},
            {"Id": "<missing>", "CreatedBy": "/bin/sh -c #(nop)  ENV DB_PASSWORD=hunter2", "Size": 0},
            {"Id": "<missing>", "CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / ", "Size": 0},
        ],
    )
    container = f.container(
        "app",
        Path="sh",
        Args=["-c", "sleep 300; : --password=cmdpw"],
        Config={
            "Env": ["DB_PASSWORD=runpw", "PATH=/bin"],
            "Cmd": ["sh", "-c", "sleep 300; : --password=cmdpw"],
            "Entrypoint": ["/entry.sh", "--token=entrytok"],
            "Healthcheck": health,
        },
        HostConfig={"LogConfig": {"Type": "splunk", "Config": {"splunk-token": "logtok", "splunk-index": "main"}}},
        top={
            "Titles": ["UID", "PID", "PPID", "COMM", "CMD"],
            "Processes": [["root", "10", "1", "sh", "sh -c sleep 300; : --password=cmdpw"]],
        },
    )
    service = f.service("api")
    service["Spec"]["TaskTemplate"]["ContainerSpec"].update(Env=["DB_PASSWORD=svcpw"], Args=["--token=svctok"])
    facts = f.facts(
        argv=("/usr/bin/dockerd", "--registry-mirror=https://u:mirrorpw@mirror.example"),
        environment={"DOCKER_CONTENT_TRUST": "1", "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "rootpass"},
        dockerd_environment={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/etc/docker/certs"},
        contents={
            "/etc/default/docker": 'DOCKER_OPTS="--registry-mirror=https://u:filepw@mirror.example"\n',
            "/etc/docker/daemon.json": json.dumps({"log-driver": "splunk", "log-opts": {"splunk-token": "jsontok"}}),
        },
    )
    return f.snapshot(containers=[container], images=[image], services=(service,), host_facts=facts)


VALUES = ["hunter2", "ghx", "cmdpw", "runpw", "entrytok", "hcpw", "svcpw", "svctok", "mirrorpw", "rootpass", "filepw"]
VALUES += ["logtok", "jsontok"]


def test_no_value_is_left_in_a_redacted_snapshot() -> None:
    snap = leaky_snapshot()
    text = snap.to_json()
    assert all(v in text for v in VALUES)
    out = redact_snapshot(snap, KEY).to_json()
    assert [v for v in VALUES if v in out] == []
    for name in ("DB_PASSWORD=<redacted:secret,len=7", "GITHUB_TOKEN=<redacted:secret", "API_TOKEN_FILE=<redacted"):
        assert name in out


def test_the_values_the_checks_read_verbatim_are_kept() -> None:
    facts = redact_snapshot(leaky_snapshot(), KEY).facts
    assert facts is not None
    assert facts.environment["DOCKER_CONTENT_TRUST"] == "1"
    assert facts.dockerd_environment == {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/etc/docker/certs"}
    assert parse_marker(facts.environment["DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"]) == Redacted(
        8, True, hmac16("rootpass")
    )
    assert facts.dockerd is not None and facts.dockerd.argv[1].startswith("--registry-mirror=https://u:<redacted:")
    daemon_json = json.loads(facts.contents["/etc/docker/daemon.json"])  # still a JSON document
    assert daemon_json["log-driver"] == "splunk"
    assert parse_marker(daemon_json["log-opts"]["splunk-token"]) == Redacted(7, True, hmac16("jsontok"))
    (container,) = redact_snapshot(leaky_snapshot(), KEY).containers or ()
    assert container.host_config["LogConfig"]["Config"]["splunk-index"] == "main"


def test_redaction_is_idempotent() -> None:
    once = redact_snapshot(leaky_snapshot(), KEY)
    assert redact_snapshot(once, KEY) == once
    assert redact_snapshot(once, b"another key") == once


def test_the_dict_form_redacts_a_stored_snapshot_as_the_object_form_does() -> None:
    snap = leaky_snapshot()
    stored = json.loads(snap.to_json())
    before = copy.deepcopy(stored)
    scrubbed = redact_snapshot_dict(stored, KEY)
    assert stored == before  # the input is left as it was
    assert scrubbed == json.loads(redact_snapshot(snap, KEY).to_json())
    assert redact_snapshot_dict(scrubbed, KEY) == scrubbed
    assert HostSnapshot.from_json(json.dumps(scrubbed)) == redact_snapshot(snap, KEY)


def test_the_dict_form_copes_with_parts_that_were_not_collected() -> None:
    stored = json.loads(dataclasses.replace(f.snapshot(), containers=None, images=None, facts=None).to_json())
    assert redact_snapshot_dict(stored, KEY) == stored


def test_image_checks_give_the_same_verdicts_and_evidence_on_redacted_data() -> None:
    snap = leaky_snapshot()
    redacted = redact_snapshot(snap, KEY)
    for check_id in ("4.6", "4.7", "4.9", "4.10"):
        before, after = IMAGE_CHECKS[check_id](snap), IMAGE_CHECKS[check_id](redacted)
        assert [(x.status, x.object) for x in after] == [(x.status, x.object) for x in before], check_id
    (secrets_finding,) = IMAGE_CHECKS["4.10"](redacted)
    assert secrets_finding.evidence["variables"] == ["DB_PASSWORD", "GITHUB_TOKEN"]
    assert secrets_finding.evidence == IMAGE_CHECKS["4.10"](snap)[0].evidence  # masked values, no hashes
    assert [line["step"] for line in secrets_finding.evidence["lines"]] == [0, 1]
    (update,) = IMAGE_CHECKS["4.7"](redacted)
    assert update.evidence["layers"] == [
        f"|1 GITHUB_TOKEN=<redacted:secret,len=3,hmac={hmac16('ghx')}> /bin/sh -c apt-get update"
    ]


def test_sshd_is_still_found_in_a_redacted_process_list() -> None:
    top = {"Titles": ["PID", "CMD"], "Processes": [["1", "/usr/sbin/sshd -D -o PermitRootLogin=yes --password=x"]]}
    snap = redact_snapshot(f.snapshot(containers=[f.container("ssh", top=top)]), KEY)
    (finding,) = RUNTIME_CHECKS["5.7"](snap)
    assert finding.status is Status.WARN
    assert finding.evidence["processes"][0].startswith("/usr/sbin/sshd -D -o PermitRootLogin=yes --password=<redacted:")


@pytest.mark.parametrize("profile", ["default", "misconfigured", "hardened"])
def test_every_fixture_gives_the_same_results_redacted(profile: str) -> None:
    snap = HostSnapshot.from_json((HOSTS / f"{profile}.json").read_bytes())
    redacted = redact_snapshot(snap, KEY)
    assert redact_snapshot_dict(json.loads(snap.to_json()), KEY) == json.loads(redacted.to_json())

    def results(s: HostSnapshot) -> list[tuple[Any, ...]]:
        return [(r.check_id, r.status, r.object, r.message, r.evidence) for r in evaluate(s)]

    assert results(redacted) == results(snap)
