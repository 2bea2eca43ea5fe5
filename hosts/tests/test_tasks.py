"""The connection test through a real Celery worker on Redis, against the real dockerd."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosts.models import ConnectionTest
from hosts.services import create_host
from tests.personas import HX, persona_client
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_test_connection_is_run_by_the_worker_and_the_page_polls_until_it_answers(
    start_worker, docker_url: str
) -> None:
    worker = start_worker()
    host = create_host("local", docker_url)
    client = persona_client("operator")
    response = client.post(reverse("hosts:test-connection", args=[host.pk]), headers=HX)
    assert response.status_code == 200  # answered at once: the web request does not wait on the engine

    test = wait_for(
        lambda: ConnectionTest.objects.filter(host=host, status=ConnectionTest.Status.OK).first(),
        timeout=30,
        what="the worker to run the connection test",
    )
    assert isinstance(test, ConnectionTest) and test.docker_version, worker.log_text()[-2000:]
    poll = client.get(reverse("hosts:connection-test", args=[test.pk]), headers=HX)
    assert poll.status_code == 286 and f"Connected: Docker {test.docker_version}.".encode() in poll.content
    assert "hosts.tasks.run_connection_test" in worker.log_text()
