"""Fixtures of the reports tests: storage in a folder of the test's own (for this process and for the workers it
starts), and the real SMTP server of the notifications tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from notifications.tests.conftest import smtp_server  # noqa: F401 - a fixture, shared with the notifications tests


@pytest.fixture
def media(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MEDIA_ROOT in a fresh folder; a Celery worker started after this fixture stores its files there too."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    monkeypatch.setenv("DOCKERBENCH_MEDIA_ROOT", str(root))
    return root


@pytest.fixture
def worker_mail(smtp_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811 - the fixture
    """The SMTP server, and the environment that points a worker started after this fixture at it."""
    monkeypatch.setenv("DJANGO_EMAIL_HOST", settings.EMAIL_HOST)
    monkeypatch.setenv("DJANGO_EMAIL_PORT", str(settings.EMAIL_PORT))
    monkeypatch.setenv("DJANGO_EMAIL_USE_TLS", "0")
    monkeypatch.setenv("DJANGO_EMAIL_FROM", settings.DEFAULT_FROM_EMAIL)
    return smtp_server
