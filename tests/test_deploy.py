"""The deployment: docs/deployment.md's production environment passes `manage.py check --deploy` untouched;
docker-compose.yml validates with the real docker-compose, holds no secret, and gives `web` that same environment.

The image itself is not built here (no registry is reachable from CI to pull python:3.11-slim).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
SECRETS = ("DJANGO_SECRET_KEY", "DOCKERBENCH_ENCRYPTION_KEY", "POSTGRES_PASSWORD")
FAKE_ENV = {  # noqa: S105 - placeholders that prove the values come from the environment
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    # As long as a real one (50+ characters), so the compose environment passes check --deploy as it is.
    "DJANGO_SECRET_KEY": "test-secret-key-from-the-environment-0123456789-abcdefghij",
    "DOCKERBENCH_ENCRYPTION_KEY": "test-encryption-key",
    "POSTGRES_PASSWORD": "test-postgres-password",
}
# The public name in the documented environment; tests put their own in its place.
DOC_HOST = "dash.example.com"
# The values the documentation leaves to the reader (<...>): the secrets and where the services are.
DOC_PLACEHOLDERS = {"DJANGO_SECRET_KEY", "DOCKERBENCH_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"}
# Variables a site must set itself; docker-compose.yml has no sensible default for them.
SITE_SPECIFIC = {"DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS"}
NO_ISSUES = "System check identified no issues (0 silenced)."


def documented_block(marker: str) -> str:
    """The fenced block that follows ``<!-- marker: ... -->`` in docs/deployment.md."""
    text = DEPLOYMENT_DOC.read_text()
    found = re.search(rf"<!-- {re.escape(marker)}:[^>]*-->\s*```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert found, f"docs/deployment.md has no block after <!-- {marker}: ... -->"
    return found.group(1)


def documented_environment(*, host: str = DOC_HOST, origin: str | None = None, **placeholders: str) -> dict[str, str]:
    """docs/deployment.md's production environment, with ``host`` for the public name (``origin`` for the
    public origin, default https://host) and the reader's values (``placeholders``) filled in."""
    environment: dict[str, str] = {}
    for line in documented_block("production-environment").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"not NAME=value: {line!r}"
        environment[name] = value
    left = {name for name, value in environment.items() if value.startswith("<")}
    assert left == DOC_PLACEHOLDERS, f"the documented placeholders changed: {sorted(left)}"
    missing = DOC_PLACEHOLDERS - set(placeholders)
    assert not missing, f"fill in {sorted(missing)}"
    environment.update({name: placeholders[name] for name in DOC_PLACEHOLDERS})
    public = origin or f"https://{host}"
    return {
        name: value.replace(f"https://{DOC_HOST}", public).replace(DOC_HOST, host)
        for name, value in environment.items()
    }


def strong_secrets() -> dict[str, str]:
    """A fresh secret key as the documentation says to make one, and the test suite's Fernet key."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DOCKERBENCH_ENCRYPTION_KEY": os.environ["DOCKERBENCH_ENCRYPTION_KEY"],
    }


def check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py check --deploy` in a fresh interpreter with exactly ``environment`` (and PATH)."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is missing; run scripts/services.sh as root (it installs it)", pytrace=False)
    # An empty folder as the working directory: no stray .env file can fill in the variables.
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "--project-directory", str(ROOT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT / "tests"),
    )


def _command(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


@pytest.fixture(scope="module")
def config() -> dict:
    result = _compose("config", env=FAKE_ENV)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_config_is_valid() -> None:
    result = _compose("config", "-q", env=FAKE_ENV)
    assert result.returncode == 0, result.stderr


def test_it_has_web_worker_beat_redis_and_postgres(config: dict) -> None:
    services = config["services"]
    assert set(services) == {"web", "worker", "worker-interactive", "beat", "redis", "postgres"}
    assert "gunicorn config.wsgi" in _command(services["web"])
    assert _command(services["worker"]).startswith("celery -A config worker -Q celery,interactive,scheduled ")
    # A worker kept for the scans someone asks for: they never wait behind a night's scans.
    assert _command(services["worker-interactive"]).startswith("celery -A config worker -Q interactive ")
    assert _command(services["beat"]).startswith("celery -A config beat")
    assert "django_celery_beat.schedulers:DatabaseScheduler" in _command(services["beat"])
    assert "postgres-data" in " ".join(str(volume) for volume in services["postgres"]["volumes"])


def test_the_app_services_share_the_environment_from_the_variables(config: dict) -> None:
    for name in ("web", "worker", "worker-interactive", "beat"):
        environment = config["services"][name]["environment"]
        assert environment["DJANGO_SECRET_KEY"] == FAKE_ENV["DJANGO_SECRET_KEY"]
        assert environment["DOCKERBENCH_ENCRYPTION_KEY"] == FAKE_ENV["DOCKERBENCH_ENCRYPTION_KEY"]
        assert environment["DATABASE_URL"] == "postgres://dockerbench:test-postgres-password@postgres:5432/dockerbench"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_only_the_workers_get_the_docker_socket_and_read_only(config: dict) -> None:
    mounts = {
        name: [str(volume) for volume in service.get("volumes", [])] for name, service in config["services"].items()
    }
    workers = ("worker", "worker-interactive")
    for name in workers:
        assert [volume for volume in mounts[name] if "docker.sock" in volume] == [
            "/var/run/docker.sock:/var/run/docker.sock:ro"
        ]
    assert not any(
        "docker.sock" in volume for name, volumes in mounts.items() if name not in workers for volume in volumes
    )


def test_web_serves_the_reports_the_worker_stores_on_one_volume(config: dict) -> None:
    for name in ("web", "worker", "worker-interactive"):
        service = config["services"][name]
        assert service["environment"]["DOCKERBENCH_MEDIA_ROOT"] == "/app/var/media"
        assert any(str(volume).startswith("media:/app/var") for volume in service["volumes"]), name
    assert "media" in config["volumes"]


def test_it_refuses_to_start_without_the_secrets() -> None:
    for secret in SECRETS:
        env = {key: value for key, value in FAKE_ENV.items() if key != secret}
        result = _compose("config", "-q", env=env)
        assert result.returncode != 0, f"compose accepted a missing {secret}"
        assert secret in result.stderr


def test_no_secret_is_written_in_the_deploy_files() -> None:
    compose = COMPOSE.read_text()
    for secret in SECRETS:
        # Every value of a secret comes from the environment: ${NAME:?...}, never a literal.
        for line in compose.splitlines():
            if re.match(rf"\s*{secret}\s*:", line):
                assert re.search(rf"\$\{{{secret}:\?", line), line
    assert "${POSTGRES_PASSWORD:?" in compose.split("DATABASE_URL:", 1)[1].splitlines()[0]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^\s*ENV\s+.*(SECRET|PASSWORD|ENCRYPTION_KEY)", dockerfile, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "var", ".git"} <= set(ignored)


def test_the_documented_production_environment_passes_check_deploy() -> None:
    environment = documented_environment(
        **strong_secrets(), DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"]
    )
    assert "DJANGO_DEBUG" not in environment

    result = check_deploy(environment)

    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, NO_ISSUES, "")


def test_check_deploy_speaks_up_when_the_proxy_settings_are_missing() -> None:
    # The other side of the test above: the same environment without its HTTPS lines is not clean.
    environment = documented_environment(
        **strong_secrets(), DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"]
    )
    for name in ("DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_HSTS_SECONDS"):
        del environment[name]
    environment["DJANGO_SECRET_KEY"] = "short-key"  # noqa: S105 - the kind check --deploy refuses

    result = check_deploy(environment)

    assert result.returncode == 0  # warnings, not errors
    for warning in ("security.W004", "security.W008", "security.W009"):
        assert warning in result.stderr, result.stderr


def test_compose_gives_web_the_documented_environment_by_default(config: dict) -> None:
    documented = documented_environment(**dict.fromkeys(DOC_PLACEHOLDERS, ""))
    web = config["services"]["web"]["environment"]
    for name, value in documented.items():
        assert name in web, f"docker-compose.yml does not pass {name} to web"
        if name not in SITE_SPECIFIC | DOC_PLACEHOLDERS:
            assert str(web[name]) == value, f"{name}: compose defaults to {web[name]!r}, the docs say {value!r}"
    assert "DJANGO_DEBUG" not in web


def test_compose_passes_the_site_values_through() -> None:
    origin = "https://dashboard.corp.example:8443"
    result = _compose(
        "config",
        env={**FAKE_ENV, "DJANGO_ALLOWED_HOSTS": "dashboard.corp.example", "DJANGO_CSRF_TRUSTED_ORIGINS": origin},
    )
    assert result.returncode == 0, result.stderr
    web = yaml.safe_load(result.stdout)["services"]["web"]["environment"]
    assert (web["DJANGO_ALLOWED_HOSTS"], web["DJANGO_CSRF_TRUSTED_ORIGINS"]) == ("dashboard.corp.example", origin)


def test_the_compose_web_environment_passes_check_deploy(config: dict) -> None:
    web = {name: str(value) for name, value in config["services"]["web"]["environment"].items()}
    web["DATABASE_URL"] = os.environ["DATABASE_URL"]  # checks that need no database; the compose name resolves nowhere

    result = check_deploy(web)

    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, NO_ISSUES, "")


def test_web_is_published_on_loopback_for_the_proxy_only(config: dict) -> None:
    # web trusts X-Forwarded-For and X-Forwarded-Proto from whoever connects: only the proxy may.
    (port,) = config["services"]["web"]["ports"]
    published = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
    assert published.startswith("127.0.0.1:"), published
