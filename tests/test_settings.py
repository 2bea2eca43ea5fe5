"""config.settings: refuses an unsafe start, and reads DATABASE_URL / REDIS_URL from the environment.

Settings are evaluated once per process, so each environment is tried in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import BASE_DIR, parse_database_url

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-only-key"  # noqa: S105 - a throwaway value the tests look for
SETTINGS_VARS = ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "TIME_ZONE")

DUMP = """
import json
import django
django.setup()
from django.conf import settings
from django.db import connection
from config.celery import app
print(json.dumps({
    "debug": settings.DEBUG,
    "secret_key": settings.SECRET_KEY,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "database": {k: v for k, v in settings.DATABASES["default"].items() if k in ("ENGINE", "NAME", "HOST", "PORT",
                 "USER", "PASSWORD", "OPTIONS")},
    "driver": connection.Database.__name__,
    "time_zone": settings.TIME_ZONE,
    "broker_url": app.conf.broker_url,
    "beat_scheduler": app.conf.beat_scheduler,
}))
"""


def run_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", DUMP], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def dump_settings(**env: str) -> dict:
    proc = run_settings(**env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_it_refuses_to_start_without_a_secret_key_outside_debug() -> None:
    proc = run_settings()
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr
    assert "DJANGO_SECRET_KEY is not set" in proc.stderr


def test_it_refuses_an_empty_secret_key_when_debug_is_off() -> None:
    proc = run_settings(DJANGO_SECRET_KEY="", DJANGO_DEBUG="0")
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in proc.stderr


def test_debug_uses_a_dev_key_and_local_hosts() -> None:
    settings = dump_settings(DJANGO_DEBUG="1")
    assert settings["debug"] is True
    assert settings["secret_key"].startswith("django-insecure-")
    assert "localhost" in settings["allowed_hosts"]


def test_it_reads_the_environment() -> None:
    settings = dump_settings(
        DJANGO_SECRET_KEY=KEY,
        DJANGO_ALLOWED_HOSTS="bench.example.com, 10.0.0.5",
        TIME_ZONE="Europe/Paris",
    )
    assert settings["debug"] is False
    assert settings["secret_key"] == KEY
    assert settings["allowed_hosts"] == ["bench.example.com", "10.0.0.5"]
    assert settings["time_zone"] == "Europe/Paris"


def test_default_database_is_sqlite_under_var() -> None:
    settings = dump_settings(DJANGO_SECRET_KEY=KEY)
    assert settings["database"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["database"]["NAME"] == str(BASE_DIR / "var" / "db.sqlite3")


def test_postgres_database_url_uses_psycopg_3() -> None:
    settings = dump_settings(
        DJANGO_SECRET_KEY=KEY, DATABASE_URL="postgres://bench:p%40ss@db.internal:5433/dockerbench?sslmode=require"
    )
    assert settings["database"] == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "dockerbench",
        "USER": "bench",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "5433",
        "OPTIONS": {"sslmode": "require"},
    }
    assert settings["driver"] == "psycopg"


def test_celery_uses_redis_when_redis_url_is_set() -> None:
    settings = dump_settings(DJANGO_SECRET_KEY=KEY, REDIS_URL="redis://127.0.0.1:6379/3")
    assert settings["broker_url"] == "redis://127.0.0.1:6379/3"
    assert settings["beat_scheduler"] == "django_celery_beat.schedulers:DatabaseScheduler"


def test_celery_falls_back_to_a_serverless_broker() -> None:
    assert dump_settings(DJANGO_SECRET_KEY=KEY)["broker_url"] == "filesystem://"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@localhost/db", {"HOST": "localhost", "PORT": "", "USER": "u", "PASSWORD": "", "NAME": "db"}),
        ("pgsql://u:pw@[::1]:6543/db", {"HOST": "::1", "PORT": "6543", "USER": "u", "PASSWORD": "pw", "NAME": "db"}),
        ("postgres://u@%2Frun%2FPostgreSQL/db", {"HOST": "/run/PostgreSQL", "PORT": "", "NAME": "db"}),
    ],
)
def test_parse_database_url_postgres_variants(url: str, expected: dict[str, str]) -> None:
    parsed = parse_database_url(url)
    assert parsed["ENGINE"] == "django.db.backends.postgresql"
    assert {k: parsed[k] for k in expected} == expected


def test_parse_database_url_sqlite_paths() -> None:
    assert parse_database_url("sqlite:///var/x.sqlite3")["NAME"] == str(BASE_DIR / "var" / "x.sqlite3")
    assert parse_database_url("sqlite:////srv/bench/db.sqlite3")["NAME"] == "/srv/bench/db.sqlite3"
    assert parse_database_url("sqlite://:memory:")["NAME"] == ":memory:"


def test_parse_database_url_rejects_unknown_schemes() -> None:
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        parse_database_url("mysql://u@h/db")


def test_the_dashboards_address_for_links_must_be_an_http_url() -> None:
    proc = run_settings(DJANGO_SECRET_KEY=KEY, DOCKERBENCH_BASE_URL="javascript:alert(1)")
    assert proc.returncode != 0 and "DOCKERBENCH_BASE_URL must be an http:// or https:// URL" in proc.stderr
    fine = run_settings(DJANGO_SECRET_KEY=KEY, DOCKERBENCH_BASE_URL="https://dockerbench.example.com/")
    assert fine.returncode == 0, fine.stderr
