"""Remote engines audited end to end: a second dockerd over tcp with mutual TLS, and over SSH.

The second dockerd runs in its own network namespace with certificates made
by the test (the tls_engine fixture); the sshd runs on loopback and its
sessions reach that same dockerd, so every assertion on DockerRootDir proves
the audit really went to the remote engine and not to the host's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from dockerbench.catalog import EXTRA_RECOMMENDATIONS
from dockerbench.collect import CollectError, CollectOptions, collect_snapshot
from dockerbench.collect.docker_api import SSHOptions, Target, TLSOptions, connect
from dockerbench.results import Status
from dockerbench.runner import evaluate
from dockerbench.tests.daemons import TEST_IMAGE, Sshd, TlsEngine

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text())


def _tls(engine: TlsEngine, *, ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> Target:
    pki = engine.pki
    return Target(
        url=engine.url,
        tls=TLSOptions(str(ca or pki.ca), str(cert or pki.client_cert), str(key or pki.client_key)),
        timeout=20,
    )


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    # HOME points to an empty directory so no ~/.ssh/known_hosts or ~/.docker of the machine takes part.
    env = {**os.environ, "HOME": str(home)}
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CERT_PATH", None)
    return subprocess.run(
        [sys.executable, "-m", "dockerbench", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _by_object(results, check_id: str) -> dict[str, Status]:
    return {r.object.name: r.status for r in results if r.check_id == check_id and r.object is not None}


def _assert_one_clear_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- tcp + mutual TLS ---------------------------------------------------------


def test_it_audits_a_tls_engine_end_to_end(tls_engine):
    snap = collect_snapshot(_tls(tls_engine), CollectOptions(facts="none"))
    results = evaluate(snap)

    assert snap.info is not None
    assert snap.info["DockerRootDir"] == str(tls_engine.daemon.data_root)
    assert snap.connection["tls"] is True
    assert snap.containers is not None
    names = {c.name for c in snap.containers}
    assert set(tls_engine.containers) <= names
    assert {i.name for i in snap.images or ()} >= {TEST_IMAGE}
    # The verdicts are about the remote engine's own containers.
    assert _by_object(results, "5.4")["remote-loose"] is Status.WARN  # --cap-add NET_ADMIN
    assert "remote-hardened" not in _by_object(results, "5.4")
    assert _by_object(results, "5.13")["remote-loose"] is Status.WARN  # writable root filesystem
    assert "remote-hardened" not in _by_object(results, "5.13")
    assert not [r for r in results if r.status is Status.ERROR]


def test_it_trusts_the_daemon_ca_not_the_ca_bundle_of_the_environment(tls_engine, monkeypatch, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(tls_engine.pki.other_ca.read_bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))

    snap = collect_snapshot(_tls(tls_engine), CollectOptions(facts="none"))

    assert snap.info is not None
    assert snap.info["DockerRootDir"] == str(tls_engine.daemon.data_root)


def test_it_fails_on_a_wrong_ca_even_when_the_environment_holds_the_right_one(tls_engine, monkeypatch, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(tls_engine.pki.ca.read_bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))

    with pytest.raises(CollectError, match="TLS verification"):
        collect_snapshot(_tls(tls_engine, ca=tls_engine.pki.other_ca), CollectOptions(facts="none"))


def test_it_names_tls_verification_when_the_ca_is_wrong(tls_engine):
    with pytest.raises(CollectError) as err:
        connect(_tls(tls_engine, ca=tls_engine.pki.other_ca))

    message = str(err.value)
    assert message.startswith(f"TLS verification of {tls_engine.url} failed")
    assert "not signed by the CA in" in message
    assert str(tls_engine.pki.other_ca) in message
    assert "\n" not in message


def test_it_names_the_client_certificate_when_the_daemon_rejects_it(tls_engine):
    pki = tls_engine.pki
    with pytest.raises(CollectError) as err:
        connect(_tls(tls_engine, cert=pki.other_client_cert, key=pki.other_client_key))

    message = str(err.value)
    assert message.startswith(f"TLS handshake with {tls_engine.url} failed")
    assert f"rejected our client certificate {pki.other_client_cert}" in message
    assert "\n" not in message


def test_it_says_so_when_the_daemon_wants_a_client_certificate_and_got_none(tls_engine):
    target = Target(url=tls_engine.url, tls=TLSOptions(ca_cert=str(tls_engine.pki.ca)), timeout=20)
    with pytest.raises(CollectError, match="the daemon requires a client certificate"):
        connect(target)


def test_it_says_tls_is_needed_when_talking_plain_http_to_a_tls_port(tls_engine):
    with pytest.raises(CollectError, match="requires TLS"):
        connect(Target(url=tls_engine.url, timeout=20))


def test_the_cli_audits_a_tls_engine_with_a_probe_container(tls_engine, tmp_path):
    pki = tls_engine.pki
    out = tmp_path / "out.json"
    proc = _cli(
        "-H", tls_engine.url,
        "--tlscacert", str(pki.ca), "--tlscert", str(pki.client_cert), "--tlskey", str(pki.client_key),
        "--facts", "probe", "--probe-image", TEST_IMAGE,
        "--json", str(out),
        home=tmp_path,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["host"]["target"] == tls_engine.url
    assert report["summary"]["checks"] == 117 + len(EXTRA_RECOMMENDATIONS)  # the CIS checks and our own (S.x)
    checks = {c["id"]: c for c in report["checks"]}
    assert "remote-loose" in {r["object"]["name"] for r in checks["5.4"]["results"] if r["object"]}
    assert "[WARN] 5.4" in proc.stdout
    # The probe leaves nothing behind on the audited engine.
    client = tls_engine.daemon.client()
    try:
        assert {row["Names"][0].lstrip("/") for row in client.containers(all=True)} == set(tls_engine.containers)
    finally:
        client.close()


def test_the_cli_exits_2_with_one_line_on_a_wrong_ca(tls_engine, tmp_path):
    pki = tls_engine.pki
    proc = _cli(
        "-H", tls_engine.url,
        "--tlscacert", str(pki.other_ca), "--tlscert", str(pki.client_cert), "--tlskey", str(pki.client_key),
        "--facts", "none", "--json", str(tmp_path / "out.json"),
        home=tmp_path,
    )  # fmt: skip

    assert proc.returncode == 2
    _assert_one_clear_line(proc.stderr, "dockerbench: TLS verification of", "not signed by the CA")
    assert proc.stdout == ""
    assert not (tmp_path / "out.json").exists()


# -- ssh ----------------------------------------------------------------------


def _ssh_cli(engine: Sshd, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli("-H", engine.url, "--ssh-key", str(engine.client_key), *extra, home=tmp_path)


def test_the_cli_audits_an_engine_over_ssh_end_to_end(tls_engine, ssh_engine, tmp_path):
    out, snap_file = tmp_path / "out.json", tmp_path / "snap.json"
    proc = _ssh_cli(
        ssh_engine,
        tmp_path,
        "--ssh-known-hosts", str(ssh_engine.known_hosts),
        "--json", str(out), "--save-snapshot", str(snap_file), "-q",
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["host"]["target"] == ssh_engine.url
    snap = json.loads(snap_file.read_text())
    assert snap["connection"]["scheme"] == "ssh"
    assert snap["info"]["DockerRootDir"] == str(tls_engine.daemon.data_root)
    assert {c["name"] for c in snap["containers"]} >= set(tls_engine.containers)
    # Host facts came over the same SSH connection details (auto picks ssh for ssh://).
    assert snap["connection"]["facts"] == "ssh"
    assert snap["facts"] is not None, snap["missing"].get("facts")
    assert snap["facts"]["method"] == "ssh"


def test_it_refuses_an_unknown_ssh_host_key_by_default(ssh_engine, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = Target(
        url=ssh_engine.url, ssh=SSHOptions(key_file=str(ssh_engine.client_key), known_hosts=str(empty)), timeout=20
    )
    with pytest.raises(CollectError, match="SSH host key of .* is unknown"):
        connect(target)

    proc = _ssh_cli(ssh_engine, tmp_path, "--ssh-known-hosts", str(empty), "--facts", "none")
    assert proc.returncode == 2
    _assert_one_clear_line(proc.stderr, "SSH host key of", "is unknown")


def test_it_accepts_an_unknown_ssh_host_key_when_asked(tls_engine, ssh_engine, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    out = tmp_path / "out.json"
    proc = _ssh_cli(
        ssh_engine, tmp_path, "--ssh-known-hosts", str(empty), "--ssh-accept-unknown-host",
        "--facts", "none", "--json", str(out), "-q",
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["host"]["target"] == ssh_engine.url
    assert empty.read_text() == ""  # trusting it once does not write it down


def test_it_refuses_an_ssh_host_key_that_does_not_match(ssh_engine, tmp_path):
    other_key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{ssh_engine.port} {' '.join(Path(f'{other_key}.pub').read_text().split()[:2])}\n")
    target = Target(
        url=ssh_engine.url, ssh=SSHOptions(key_file=str(ssh_engine.client_key), known_hosts=str(known)), timeout=20
    )
    with pytest.raises(CollectError, match="does not match known_hosts"):
        connect(target)


def test_it_names_ssh_authentication_when_the_key_is_refused(ssh_engine, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    target = Target(
        url=ssh_engine.url,
        ssh=SSHOptions(key_file=str(stranger), known_hosts=str(ssh_engine.known_hosts)),
        timeout=20,
    )
    with pytest.raises(CollectError, match="SSH authentication to .* failed"):
        connect(target)
