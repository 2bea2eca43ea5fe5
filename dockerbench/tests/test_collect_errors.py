"""Bad input against real daemons: each gives a clear one-line error or a SKIP, never a traceback or a false PASS.

The engines are our own (conftest.py, daemons.py): the session's second dockerd,
reached through its unix socket, and throwaway daemons a test may kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockerbench.catalog import section_of
from dockerbench.collect import CollectError, CollectOptions, collect_snapshot
from dockerbench.collect.docker_api import Target, TLSOptions, collect_api, connect
from dockerbench.report import render_json, render_text
from dockerbench.results import Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import PROBE_LABEL, HostSnapshot
from dockerbench.tests.daemons import (
    TEST_IMAGE,
    Dockerd,
    TlsEngine,
    free_port,
    run_container,
    throwaway_dockerd,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NO_FACTS = CollectOptions(facts="none")
# Section 5 recommendations judged on daemon-wide settings (swarm mode, AppArmor or SELinux
# off in the daemon) or by reviewing audit logs: they need no container list.
NOT_ABOUT_CONTAINERS = {"5.1", "5.2", "5.3", "5.23", "5.24"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CERT_PATH")}
    return subprocess.run(
        [sys.executable, "-m", "dockerbench", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _assert_one_clear_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@contextlib.contextmanager
def _containers(d: Dockerd) -> Iterator[list[str]]:
    """Ids appended by the test are force-removed afterwards, so the session's engine stays as it was."""
    ids: list[str] = []
    try:
        yield ids
    finally:
        client = d.client()
        try:
            for cid in ids:
                with contextlib.suppress(Exception):
                    client.remove_container(cid, force=True)
        finally:
            client.close()


def _wait_exited(d: Dockerd, cid: str) -> None:
    client = d.client()
    try:
        status = client.wait(cid, timeout=60)
        assert status["StatusCode"] == 0, client.logs(cid)
    finally:
        client.close()


# -- unreachable engines -------------------------------------------------------


def test_it_reports_a_closed_tcp_port_clearly():
    url = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(CollectError) as err:
        collect_snapshot(Target(url=url, timeout=5), NO_FACTS)
    assert str(err.value) == (
        f"cannot connect to the Docker engine at {url}: connection refused (is dockerd listening there?)"
    )

    proc = _cli("-H", url, "--facts", "none")
    assert proc.returncode == 2
    _assert_one_clear_line(proc.stderr, f"dockerbench: cannot connect to the Docker engine at {url}")


def test_it_reports_a_unix_socket_that_does_not_exist(tmp_path):
    url = f"unix://{tmp_path}/nothing-here.sock"
    with pytest.raises(CollectError) as err:
        collect_snapshot(Target(url=url, timeout=5), NO_FACTS)
    assert str(err.value) == f"no Docker engine at {url}: the socket does not exist"

    proc = _cli("-H", url, "--facts", "none")
    assert proc.returncode == 2
    _assert_one_clear_line(proc.stderr, "the socket does not exist")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on loopback that accepts connections (in the backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["tcp", "ssh"])
def test_it_gives_up_on_a_silent_engine_after_the_timeout(silent_port, scheme):
    url = f"{scheme}://root@127.0.0.1:{silent_port}" if scheme == "ssh" else f"tcp://127.0.0.1:{silent_port}"
    started = time.monotonic()
    with pytest.raises(CollectError, match=rf"^{url} did not answer .*within 1 s"):
        collect_snapshot(Target(url=url, timeout=1), NO_FACTS)
    assert time.monotonic() - started < 10

    proc = _cli("-H", url, "--timeout", "1", "--facts", "none")
    assert proc.returncode == 2
    _assert_one_clear_line(proc.stderr, f"dockerbench: {url} did not answer")


def test_it_refuses_a_client_certificate_without_its_key(silent_port, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    with pytest.raises(CollectError, match="needs both a client certificate"):
        connect(Target(url=f"tcp://127.0.0.1:{silent_port}", tls=TLSOptions(client_cert=str(cert)), timeout=1))


def test_it_reports_a_url_it_cannot_use(tmp_path):
    proc = _cli("-H", "ftp://example.invalid", "--facts", "none")
    assert proc.returncode == 2
    _assert_one_clear_line(proc.stderr, "the URL must be unix:///path, tcp://host:port or ssh://user@host")


# -- a daemon that stops answering ------------------------------------------------


def test_a_daemon_stopped_mid_collection_skips_section_5_and_never_passes_it():
    with throwaway_dockerd() as d:
        for i in range(30):
            run_container(d, f"doomed-{i}", start=False)
        stopped_at: list[int] = []

        def stop_after_first_objects(kind: str, done: int, total: int) -> None:
            if kind == "container" and not stopped_at:
                stopped_at.append(done)
                d.kill()

        # Info and version came before the daemon died, so the rest is recorded as missing
        # (collect_snapshot raises CollectError only when the engine cannot be reached at all).
        snap = collect_snapshot(
            Target(url=d.unix_url, timeout=10),
            CollectOptions(facts="none", workers=2),
            progress=stop_after_first_objects,
        )
        assert stopped_at == [1]

    assert snap.containers is None, "a partial container list must not be reported"
    assert "could not examine every container" in snap.missing["containers"]
    assert "the engine" in snap.missing["containers"]
    assert snap.images is None and "images" in snap.missing
    results = evaluate(snap)
    section5 = [r for r in results if section_of(r.check_id) == "5"]
    skipped = {r.check_id for r in section5 if r.status is Status.SKIP}
    assert {r.check_id for r in section5} - skipped <= NOT_ABOUT_CONTAINERS
    assert len(skipped) >= 25
    assert not [r for r in section5 if r.status in (Status.WARN, Status.ERROR)]
    assert not [r for r in section5 if r.status is Status.PASS and r.check_id not in NOT_ABOUT_CONTAINERS]
    for r in section5:
        if r.status is Status.SKIP:
            assert "could not examine every container" in r.message, r
    # The snapshot with its reasons survives the JSON round trip, and the reports render.
    again = HostSnapshot.from_json(snap.to_json())
    assert again.missing == snap.missing
    json.loads(json.dumps(render_json(again, results), default=str))
    assert "[SKIP] 5.4" in render_text(again, results)


# -- objects that change under our feet -------------------------------------------


def _remove_once_listed(d: Dockerd, container_id: str):
    """A progress callback that removes the container as soon as the collection has listed the containers."""

    def progress(kind: str, done: int, total: int) -> None:
        if kind == "listed":
            client = d.client()
            try:
                client.remove_container(container_id, force=True)
            finally:
                client.close()

    return progress


def test_a_container_removed_between_list_and_inspect_is_named_in_vanished(tls_engine: TlsEngine):
    d = tls_engine.daemon
    with _containers(d) as ids:
        ids.append(run_container(d, "vanishing", start=False))
        ids.append(run_container(d, "staying", start=False))

        snap = collect_snapshot(Target(url=d.unix_url, timeout=20), NO_FACTS, progress=_remove_once_listed(d, ids[0]))

    assert snap.containers is not None
    names = {c.name for c in snap.containers}
    assert "staying" in names
    assert "vanishing" not in names
    assert set(tls_engine.containers) <= names
    assert snap.missing["vanished"] == "removed during collection: vanishing"
    results = evaluate(snap)
    assert not [r for r in results if r.status is Status.ERROR]


def test_another_audits_probe_removed_during_collection_leaves_nothing_missing(tls_engine: TlsEngine):
    # Two hosts registered for one engine, scanned at once: each sees the other's probe container come and go.
    d = tls_engine.daemon
    with _containers(d) as ids:
        c = d.client()
        try:
            probe = c.create_container(TEST_IMAGE, ["true"], name="dockerbench-probe-other", labels={PROBE_LABEL: "1"})
        finally:
            c.close()
        ids.append(probe["Id"])

        snap = collect_snapshot(Target(url=d.unix_url, timeout=20), NO_FACTS, progress=_remove_once_listed(d, ids[0]))

    assert snap.containers is not None
    assert "dockerbench-probe-other" not in {c.name for c in snap.containers}
    assert set(tls_engine.containers) <= {c.name for c in snap.containers}
    assert "vanished" not in snap.missing


def test_a_container_with_thousands_of_changed_files_is_collected_whole_and_quickly(tls_engine: TlsEngine):
    d = tls_engine.daemon
    script = "mkdir /many && cd /many && i=0; while [ $i -lt 5000 ]; do : > f$i; i=$((i+1)); done"
    with _containers(d) as ids:
        ids.append(run_container(d, "many-files", script))
        _wait_exited(d, ids[0])
        client = connect(Target(url=d.unix_url, timeout=20))
        try:
            started = time.perf_counter()
            parts = collect_api(client)
            elapsed = time.perf_counter() - started
        finally:
            client.close()

    assert parts.containers is not None
    (many,) = [c for c in parts.containers if c.name == "many-files"]
    assert many.diff is not None, many.errors
    files = {e.path for e in many.diff if e.path.startswith("/many/")}
    assert len(files) == 5000
    assert {e.kind for e in many.diff if e.path.startswith("/many/")} == {"A"}
    assert elapsed < 5, f"collecting a 5000-file diff took {elapsed:.1f} s"


def test_non_utf8_file_names_in_a_diff_are_collected_and_reported(tls_engine: TlsEngine, tmp_path):
    d = tls_engine.daemon
    # \377\376 is not UTF-8; the engine's JSON carries it as U+FFFD.
    script = "mkdir /odd && : > \"/odd/$(printf 'bad-\\377\\376-name')\" && mkdir \"/odd/$(printf 'dir-\\351')\""
    with _containers(d) as ids:
        ids.append(run_container(d, "odd-names", script))
        _wait_exited(d, ids[0])
        snap = collect_snapshot(Target(url=d.unix_url, timeout=20), NO_FACTS)

        out, saved = tmp_path / "report.json", tmp_path / "snap.json"
        proc = _cli("-H", d.unix_url, "--facts", "none", "--json", str(out), "--save-snapshot", str(saved))

    assert snap.containers is not None
    (odd,) = [c for c in snap.containers if c.name == "odd-names"]
    assert odd.diff is not None, odd.errors
    paths = {e.path for e in odd.diff if e.path.startswith("/odd/")}
    assert len(paths) == 2
    assert all("\ufffd" in p for p in paths), paths
    results = evaluate(snap)
    text = render_text(snap, results, verbose=True)
    assert "Traceback" not in text
    json.loads(json.dumps(render_json(snap, results), default=str))
    again = HostSnapshot.from_json(snap.to_json())
    assert again.containers == snap.containers

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    json.loads(out.read_text())
    saved_snap = HostSnapshot.from_json(saved.read_bytes())
    assert saved_snap.containers is not None
    assert {e.path for c in saved_snap.containers if c.name == "odd-names" for e in c.diff or ()} >= paths
