"""Section 3: ownership and permissions of the daemon's files."""

from __future__ import annotations

import pytest

from dockerbench.checks import files
from dockerbench.checks._helpers import NotCollected
from dockerbench.results import Status
from dockerbench.tests import factories as f

# check id -> (role, path, kind): each wants root:root
OWNERSHIP = {
    "3.1": ("docker.service", "/lib/systemd/system/docker.service", "file"),
    "3.3": ("docker.socket", "/lib/systemd/system/docker.socket", "file"),
    "3.5": ("etc-docker", "/etc/docker", "dir"),
    "3.9": ("tlscacert", "/etc/docker/tls/ca.pem", "file"),
    "3.11": ("tlscert", "/etc/docker/tls/server.pem", "file"),
    "3.13": ("tlskey", "/etc/docker/tls/server-key.pem", "file"),
    "3.17": ("daemon.json", "/etc/docker/daemon.json", "file"),
    "3.19": ("default-docker", "/etc/default/docker", "file"),
    "3.22": ("sysconfig-docker", "/etc/sysconfig/docker", "file"),
    "3.23": ("containerd-sock", "/run/containerd/containerd.sock", "socket"),
}

# check id -> (role, path, the most permissive mode allowed)
PERMISSIONS = {
    "3.2": ("docker.service", "/lib/systemd/system/docker.service", 0o644),
    "3.4": ("docker.socket", "/lib/systemd/system/docker.socket", 0o644),
    "3.6": ("etc-docker", "/etc/docker", 0o755),
    "3.10": ("tlscacert", "/etc/docker/tls/ca.pem", 0o444),
    "3.12": ("tlscert", "/etc/docker/tls/server.pem", 0o444),
    "3.14": ("tlskey", "/etc/docker/tls/server-key.pem", 0o400),
    "3.16": ("docker-sock", "/run/docker.sock", 0o660),
    "3.18": ("daemon.json", "/etc/docker/daemon.json", 0o644),
    "3.20": ("default-docker", "/etc/default/docker", 0o644),
    "3.21": ("sysconfig-docker", "/etc/sysconfig/docker", 0o644),
    "3.24": ("containerd-sock", "/run/containerd/containerd.sock", 0o660),
}


def host_with(role, fact):
    return f.snapshot(host_facts=f.facts(roles={role: fact.path}, files=[fact]))


@pytest.mark.parametrize("check_id", sorted(OWNERSHIP))
def test_it_passes_when_the_file_is_owned_by_root(check_id):
    role, path, kind = OWNERSHIP[check_id]
    (finding,) = files.CHECKS[check_id](host_with(role, f.file(path, kind=kind)))
    assert finding.status is Status.PASS
    assert finding.evidence["path"] == path


@pytest.mark.parametrize("check_id", sorted(OWNERSHIP))
def test_it_warns_when_the_file_is_not_owned_by_root(check_id):
    role, path, kind = OWNERSHIP[check_id]
    fact = f.file(path, kind=kind, user="alice", uid=1000, group="alice", gid=1000, mode=0o600)
    (finding,) = files.CHECKS[check_id](host_with(role, fact))
    assert finding.status is Status.WARN
    assert finding.object is not None and finding.object.id == path
    assert finding.evidence == {"path": path, "owner": "alice", "group": "alice", "mode": "600"}


def test_it_warns_when_only_the_group_is_wrong():
    fact = f.file("/etc/docker/daemon.json", group="staff", gid=50)
    (finding,) = files.check_3_17(host_with("daemon.json", fact))
    assert finding.status is Status.WARN
    assert finding.message == "/etc/docker/daemon.json is owned by root:staff, not root:root"


@pytest.mark.parametrize("check_id", sorted(PERMISSIONS))
def test_it_passes_at_exactly_the_limit(check_id):
    role, path, limit = PERMISSIONS[check_id]
    assert [x.status for x in files.CHECKS[check_id](host_with(role, f.file(path, mode=limit)))] == [Status.PASS]


@pytest.mark.parametrize("check_id", sorted(PERMISSIONS))
def test_it_passes_any_stricter_mode(check_id):
    role, path, limit = PERMISSIONS[check_id]
    stricter = limit & 0o700  # nothing for group and others
    assert [x.status for x in files.CHECKS[check_id](host_with(role, f.file(path, mode=stricter)))] == [Status.PASS]


@pytest.mark.parametrize("check_id", sorted(PERMISSIONS))
def test_it_warns_when_others_can_write(check_id):
    role, path, limit = PERMISSIONS[check_id]
    (finding,) = files.CHECKS[check_id](host_with(role, f.file(path, mode=limit | 0o002)))
    assert finding.status is Status.WARN
    assert finding.object is not None and finding.object.id == path
    assert finding.evidence["extra_bits"] == "002"


def test_it_warns_when_daemon_json_is_group_writable():
    (finding,) = files.check_3_18(host_with("daemon.json", f.file("/etc/docker/daemon.json", mode=0o664)))
    assert finding.status is Status.WARN
    assert finding.evidence == {
        "path": "/etc/docker/daemon.json",
        "owner": "root",
        "group": "root",
        "mode": "664",
        "extra_bits": "020",
    }


def test_it_warns_on_a_world_writable_mode_that_is_numerically_below_the_limit():
    # 606 < 644 as a number, yet others may write.
    (finding,) = files.check_3_2(host_with("docker.service", f.file("/lib/systemd/system/docker.service", mode=0o606)))
    assert finding.status is Status.WARN


def test_it_warns_when_a_setuid_bit_is_set():
    (finding,) = files.check_3_6(host_with("etc-docker", f.file("/etc/docker", kind="dir", mode=0o4755)))
    assert finding.status is Status.WARN
    assert finding.evidence["extra_bits"] == "4000"


def test_it_passes_a_socket_owned_by_root_and_the_docker_group():
    fact = f.file("/run/docker.sock", kind="socket", group="docker", gid=998, mode=0o660)
    assert [x.status for x in files.check_3_15(host_with("docker-sock", fact))] == [Status.PASS]


def test_it_warns_when_the_docker_socket_group_is_root():
    fact = f.file("/run/docker.sock", kind="socket", mode=0o660)
    (finding,) = files.check_3_15(host_with("docker-sock", fact))
    assert finding.status is Status.WARN
    assert finding.evidence["group"] == "root"


def test_it_skips_the_socket_owner_when_the_group_name_is_unknown():
    fact = f.file("/run/docker.sock", kind="socket", group="", gid=998, mode=0o660)
    (finding,) = files.check_3_15(host_with("docker-sock", fact))
    assert finding.status is Status.SKIP


@pytest.mark.parametrize("check_id", [*sorted(OWNERSHIP), "3.15", *sorted(PERMISSIONS)])
def test_it_reports_info_when_the_role_is_not_on_this_host(check_id):
    (finding,) = files.CHECKS[check_id](f.snapshot())
    assert finding.status is Status.INFO


def test_it_reports_info_when_the_file_was_found_missing():
    snap = f.snapshot(
        host_facts=f.facts(
            roles={"daemon.json": "/etc/docker/daemon.json"}, files=[f.missing_file("/etc/docker/daemon.json")]
        )
    )
    (finding,) = files.check_3_18(snap)
    assert finding.status is Status.INFO
    assert finding.message == "/etc/docker/daemon.json is not present on this host"


def test_it_skips_when_the_file_was_not_examined():
    snap = f.snapshot(host_facts=f.facts(roles={"daemon.json": "/etc/docker/daemon.json"}))
    with pytest.raises(NotCollected, match="not examined"):
        files.check_3_17(snap)


def test_it_skips_when_stat_failed():
    from dockerbench.snapshot import FileFact

    fact = FileFact("/etc/docker/daemon.json", exists=True, error="permission denied")
    with pytest.raises(NotCollected, match="permission denied"):
        files.check_3_18(host_with("daemon.json", fact))


def test_it_skips_without_host_facts():
    with pytest.raises(NotCollected, match="probe failed"):
        files.check_3_1(f.snapshot(host_facts=None, facts=None, missing={"facts": "probe failed"}))


# -- 3.7 / 3.8 --------------------------------------------------------------------

CA = "/etc/docker/certs.d/registry.example:5000/ca.crt"
CLIENT = "/etc/docker/certs.d/registry.example:5000/client.cert"
KEY = "/etc/docker/certs.d/registry.example:5000/client.key"


def certs_host(*facts):
    return f.snapshot(host_facts=f.facts(files=list(facts), registry_certs=tuple(x.path for x in facts)))


def test_it_warns_once_per_registry_certificate_not_owned_by_root():
    snap = certs_host(f.file(CA, mode=0o444), f.file(CLIENT, mode=0o444, user="bob", uid=1001))
    (finding,) = files.check_3_7(snap)
    assert finding.status is Status.WARN
    assert finding.object is not None and finding.object.id == CLIENT


def test_it_warns_when_a_registry_certificate_group_is_not_root():
    snap = certs_host(f.file(CA, mode=0o444, group="bob", gid=1001))
    assert [x.status for x in files.check_3_7(snap)] == [Status.WARN]


def test_it_passes_registry_certificates_owned_by_root():
    (finding,) = files.check_3_7(certs_host(f.file(CA, mode=0o444), f.file(CLIENT, mode=0o444)))
    assert finding.status is Status.PASS
    assert finding.evidence["certificates"] == 2


def test_it_warns_once_per_writable_registry_certificate():
    snap = certs_host(f.file(CA, mode=0o644), f.file(CLIENT, mode=0o664), f.file(KEY, mode=0o600))
    findings = files.check_3_8(snap)
    assert [(x.status, x.object.id if x.object else "") for x in findings] == [
        (Status.WARN, CA),
        (Status.WARN, CLIENT),
    ]


def test_it_passes_read_only_registry_certificates_and_leaves_keys_alone():
    snap = certs_host(f.file(CA, mode=0o444), f.file(KEY, mode=0o600))
    (finding,) = files.check_3_8(snap)
    assert finding.status is Status.PASS
    assert finding.evidence["paths"] == [CA]


def test_it_reports_info_when_there_are_no_registry_certificates():
    (finding,) = files.check_3_8(f.snapshot())
    assert finding.status is Status.INFO


def test_it_skips_a_registry_certificate_that_was_not_examined():
    snap = f.snapshot(host_facts=f.facts(registry_certs=(CA,)))
    (finding,) = files.check_3_8(snap)
    assert finding.status is Status.SKIP
