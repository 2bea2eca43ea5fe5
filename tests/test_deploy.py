"""The deployment files: docker-compose.yml validates with the real docker-compose, and holds no secret.

The image itself is not built here (no registry is reachable from CI to pull python:3.11-slim).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = ("DJANGO_SECRET_KEY", "DOCKERBENCH_ENCRYPTION_KEY", "POSTGRES_PASSWORD")
FAKE_ENV = {  # noqa: S105 - placeholders that prove the values come from the environment
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "DJANGO_SECRET_KEY": "test-secret-key",
    "DOCKERBENCH_ENCRYPTION_KEY": "test-encryption-key",
    "POSTGRES_PASSWORD": "test-postgres-password",
}


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
    assert set(services) == {"web", "worker", "beat", "redis", "postgres"}
    assert "gunicorn config.wsgi" in _command(services["web"])
    assert _command(services["worker"]).startswith("celery -A config worker")
    assert _command(services["beat"]).startswith("celery -A config beat")
    assert "django_celery_beat.schedulers:DatabaseScheduler" in _command(services["beat"])
    assert "postgres-data" in " ".join(str(volume) for volume in services["postgres"]["volumes"])


def test_the_app_services_share_the_environment_from_the_variables(config: dict) -> None:
    for name in ("web", "worker", "beat"):
        environment = config["services"][name]["environment"]
        assert environment["DJANGO_SECRET_KEY"] == FAKE_ENV["DJANGO_SECRET_KEY"]
        assert environment["DOCKERBENCH_ENCRYPTION_KEY"] == FAKE_ENV["DOCKERBENCH_ENCRYPTION_KEY"]
        assert environment["DATABASE_URL"] == "postgres://dockerbench:test-postgres-password@postgres:5432/dockerbench"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_only_the_worker_gets_the_docker_socket_and_read_only(config: dict) -> None:
    mounts = {
        name: [str(volume) for volume in service.get("volumes", [])] for name, service in config["services"].items()
    }
    assert mounts["worker"] == ["/var/run/docker.sock:/var/run/docker.sock:ro"]
    assert not any(
        "docker.sock" in volume for name, volumes in mounts.items() if name != "worker" for volume in volumes
    )


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
