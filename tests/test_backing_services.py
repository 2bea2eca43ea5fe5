"""The test run talks to the real services scripts/services.sh starts: PostgreSQL and Redis.

Both fail, never skip, when the service is missing: make test must not pass on SQLite by accident.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import redis
from django.db import connection

pytestmark = pytest.mark.django_db


def test_it_runs_on_the_database_database_url_names() -> None:
    scheme = urlsplit(os.environ.get("DATABASE_URL", "sqlite:///var/db.sqlite3")).scheme
    expected = "postgresql" if scheme.startswith("postg") else "sqlite"
    assert connection.vendor == expected
    if expected == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), split_part(current_setting('server_version'), '.', 1)")
            name, major = cursor.fetchone()
        # pytest-django's throwaway database (test_<name>_pid<n>), never the real one.
        assert name.startswith("test_")
        assert int(major) >= 15


def test_redis_answers_at_redis_url(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        key = f"dockerbench-test:{os.getpid()}"
        client.set(key, "ok", ex=60)
        assert client.get(key) == b"ok"
        client.delete(key)
    finally:
        client.close()
