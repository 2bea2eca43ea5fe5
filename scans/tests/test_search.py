"""One search box across the fleet: hosts, containers and images by name, in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scans import queries
from scans.tests.factories import make_diff, make_host, make_scan
from tests.personas import make_user

pytestmark = pytest.mark.django_db

HX: dict[str, Any] = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "search-results"}
IMG = "<img src=x onerror=alert(1)>"


def fleet() -> None:
    web = make_host("web-prod-1")
    old = make_scan(web, when=timezone.now() - timedelta(days=1))
    make_diff(old, "retired-postgres", image="postgres:12")  # not in the latest scan: gone
    latest = make_scan(web)
    make_diff(latest, "/api", image="registry.example/api:2.1")
    make_diff(latest, "pg-main", image="postgres:16", running=False)
    db = make_host("db-1")
    make_diff(make_scan(db), "postgres-replica", image="postgres:16")
    make_host("never-scanned-web")


def test_results_are_grouped_by_kind_from_each_hosts_latest_scan() -> None:
    fleet()
    found = queries.fleet_search("WEB")
    assert [h.name for h in found.hosts] == ["never-scanned-web", "web-prod-1"]
    assert found.containers == [] and found.images == []

    found = queries.fleet_search("postgres")
    assert found.hosts == []
    assert [(c.name, c.host_name, c.image, c.running) for c in found.containers] == [
        ("postgres-replica", "db-1", "postgres:16", True)
    ]
    assert [(i.image, i.host_name, i.containers) for i in found.images] == [
        ("postgres:16", "db-1", 1),
        ("postgres:16", "web-prod-1", 1),
    ]
    assert [c.name for c in queries.fleet_search("api").containers] == ["api"]  # without Docker's "/"
    assert queries.fleet_search("p").empty  # too short to search


@pytest.mark.parametrize("hosts", [2, 30])
def test_search_runs_in_three_queries_and_says_when_there_are_more(django_assert_num_queries, hosts: int) -> None:
    for i in range(hosts):
        make_diff(make_scan(make_host(f"node-{i:02d}")), f"node-app-{i}", image="node:20")
    with django_assert_num_queries(3):
        found = queries.fleet_search("node", limit=10)
    assert len(found.hosts) == min(hosts, 10) and found.more["hosts"] == (hosts > 10)
    assert found.more == {"hosts": hosts > 10, "containers": hosts > 10, "images": hosts > 10}


def test_the_overview_searches_in_place_and_names_are_escaped() -> None:
    host = make_host(f"h{IMG}")
    make_diff(make_scan(host), f"c{IMG}", image=f"i{IMG}")
    user = make_user("viewer")
    assert user is not None
    client = Client()
    client.force_login(user)

    overview = client.get(reverse("scans:overview")).text
    assert 'id="fleet-search"' in overview and 'hx-target="#search-results"' in overview
    part = client.get(reverse("scans:search"), {"q": "onerror"}, **HX)
    assert part.status_code == 200 and part.text.lstrip().startswith('<div id="search-results"')
    # The host's name once per group (3), the container's name, and the image's twice: all as text.
    assert IMG not in part.text and part.text.count("&lt;img src=x onerror=alert(1)&gt;") == 6
    full = client.get(reverse("scans:search"), {"q": "nothing-like-this"}).text
    assert "No host, container or image name contains" in full and "<h1>Search the fleet</h1>" in full
