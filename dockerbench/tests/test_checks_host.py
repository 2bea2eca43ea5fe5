"""Section 1: host configuration."""

from __future__ import annotations

import pytest

from dockerbench.checks import host
from dockerbench.checks._helpers import NotCollected
from dockerbench.results import Status
from dockerbench.snapshot import MountFact
from dockerbench.tests import factories as f

ROOT_MOUNT = MountFact("/dev/sda1", "/", "ext4")


def snap_with(**fact_changes):
    return f.snapshot(host_facts=f.facts(**fact_changes))


def statuses(findings):
    return [x.status for x in findings]


# -- 1.1.1 ----------------------------------------------------------------------


def test_it_passes_when_the_data_root_is_its_own_mount():
    snap = snap_with(
        roles={"data-root": "/var/lib/docker"},
        mounts=(ROOT_MOUNT, MountFact("/dev/sdb1", "/var/lib/docker", "xfs")),
    )
    (finding,) = host.check_1_1_1(snap)
    assert finding.status is Status.PASS
    assert finding.evidence["source"] == "/dev/sdb1"


def test_it_warns_when_the_data_root_shares_the_root_filesystem():
    snap = snap_with(
        roles={"data-root": "/srv/docker"}, mounts=(ROOT_MOUNT, MountFact("/dev/sdc1", "/srv/other", "xfs"))
    )
    (finding,) = host.check_1_1_1(snap)
    assert finding.status is Status.WARN
    assert finding.object is not None and finding.object.id == "/srv/docker"
    assert finding.evidence["mounted_on"] == "/"


def test_it_accepts_the_parent_of_a_userns_remapped_data_root_as_the_mount():
    snap = snap_with(
        roles={"data-root": "/var/lib/docker/100000.100000"},
        mounts=(ROOT_MOUNT, MountFact("/dev/sdb1", "/var/lib/docker", "xfs")),
    )
    assert statuses(host.check_1_1_1(snap)) == [Status.PASS]


def test_it_falls_back_to_docker_info_for_the_data_root():
    snap = snap_with(mounts=(ROOT_MOUNT, MountFact("/dev/sdb1", "/var/lib/docker", "xfs")))
    assert statuses(host.check_1_1_1(snap)) == [Status.PASS]


def test_it_skips_the_partition_check_without_a_mount_table():
    with pytest.raises(NotCollected, match="mount table"):
        host.check_1_1_1(snap_with(roles={"data-root": "/var/lib/docker"}))


# -- 1.1.2 ----------------------------------------------------------------------


def test_it_lists_the_docker_group_members_for_review():
    (finding,) = host.check_1_1_2(snap_with(docker_group=("bob", "alice")))
    assert finding.status is Status.INFO
    assert finding.evidence["users"] == ["alice", "bob"]


def test_it_skips_the_docker_group_review_when_members_were_not_collected():
    with pytest.raises(NotCollected, match="cannot read /etc/group"):
        host.check_1_1_2(snap_with(docker_group=None, errors={"docker-group": "group docker: cannot read /etc/group"}))


def test_it_reports_an_empty_docker_group():
    (finding,) = host.check_1_1_2(snap_with(docker_group=()))
    assert finding.status is Status.INFO
    assert finding.evidence["users"] == []


def test_it_reviews_the_group_dockerd_was_told_to_use():
    (finding,) = host.check_1_1_2(snap_with(docker_group=("carol",), docker_group_name="dockeradmins"))
    assert "dockeradmins group" in finding.message
    assert finding.evidence == {"users": ["carol"], "group": "dockeradmins"}


# -- 1.1.3 - 1.1.18 -------------------------------------------------------------

AUDIT_ROLES = {
    "1.1.3": ("bin:dockerd", "/usr/sbin/dockerd"),
    "1.1.6": ("etc-docker", "/etc/docker"),
    "1.1.7": ("docker.service", "/lib/systemd/system/docker.service"),
    "1.1.8": ("containerd-sock", "/run/containerd/containerd.sock"),
    "1.1.9": ("docker.socket", "/lib/systemd/system/docker.socket"),
    "1.1.10": ("default-docker", "/etc/default/docker"),
    "1.1.11": ("daemon.json", "/etc/docker/daemon.json"),
    "1.1.12": ("containerd-config", "/etc/containerd/config.toml"),
    "1.1.13": ("sysconfig-docker", "/etc/sysconfig/docker"),
    "1.1.14": ("bin:containerd", "/usr/bin/containerd"),
    "1.1.15": ("bin:containerd-shim", "/usr/bin/containerd-shim"),
    "1.1.16": ("bin:containerd-shim-runc-v1", "/usr/bin/containerd-shim-runc-v1"),
    "1.1.17": ("bin:containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2"),
    "1.1.18": ("bin:runc", "/usr/sbin/runc"),
}


@pytest.mark.parametrize("check_id", sorted(AUDIT_ROLES))
def test_it_warns_when_no_audit_rule_watches_the_path(check_id):
    role, path = AUDIT_ROLES[check_id]
    snap = snap_with(roles={role: path}, audit_rules=("-w /usr/bin/unrelated -k other",), audit_source="auditctl")
    (finding,) = host.CHECKS[check_id](snap)
    assert finding.status is Status.WARN
    assert finding.object is not None and finding.object.id == path
    assert finding.evidence["path"] == path


@pytest.mark.parametrize("check_id", sorted(AUDIT_ROLES))
def test_it_passes_when_a_watch_names_the_path(check_id):
    role, path = AUDIT_ROLES[check_id]
    snap = snap_with(roles={role: path}, audit_rules=(f"-w {path} -p rwxa -k docker",))
    assert statuses(host.CHECKS[check_id](snap)) == [Status.PASS]


@pytest.mark.parametrize("check_id", sorted(AUDIT_ROLES))
def test_it_reports_info_when_the_audited_path_is_not_on_this_host(check_id):
    # A relative argv[0] does not tell where dockerd lives either.
    snap = snap_with(audit_rules=(), argv=("dockerd", "-H", "fd://"))
    (finding,) = host.CHECKS[check_id](snap)
    assert finding.status is Status.INFO


def test_it_audits_the_dockerd_binary_the_daemon_was_started_from():
    snap = snap_with(argv=("/opt/docker/dockerd", "-H", "fd://"), audit_rules=("-w /usr/bin/dockerd -k docker",))
    (finding,) = host.check_1_1_3(snap)
    assert finding.status is Status.WARN
    assert finding.evidence["path"] == "/opt/docker/dockerd"


def test_it_does_not_count_a_rule_for_a_longer_path_as_auditing_the_shorter_one():
    snap = snap_with(roles={"bin:containerd": "/usr/bin/containerd"}, audit_rules=("-w /usr/bin/containerd-shim -k d",))
    assert statuses(host.check_1_1_14(snap)) == [Status.WARN]


def test_it_counts_a_watch_on_a_parent_directory_as_auditing_the_file():
    snap = snap_with(roles={"daemon.json": "/etc/docker/daemon.json"}, audit_rules=("-w /etc/docker -k docker",))
    (finding,) = host.check_1_1_11(snap)
    assert finding.status is Status.PASS
    assert finding.evidence["watched"] == "/etc/docker"


def test_it_ignores_commented_and_never_rules():
    rules = ("# -w /etc/docker -k docker", "-a never,exit -F dir=/etc/docker -k quiet")
    snap = snap_with(roles={"etc-docker": "/etc/docker"}, audit_rules=rules)
    assert statuses(host.check_1_1_6(snap)) == [Status.WARN]


def test_it_reads_syscall_rules_with_a_path_field():
    rules = ("-a always,exit -S all -F path=/var/run/containerd -F perm=rwa -F key=docker",)
    snap = snap_with(roles={"containerd-sock": "/run/containerd/containerd.sock"}, audit_rules=rules)
    (finding,) = host.check_1_1_4(snap)
    assert finding.status is Status.PASS
    assert finding.evidence["path"] == "/run/containerd"


def test_it_audits_run_containerd_when_the_host_has_it():
    snap = snap_with(files=[f.file("/run/containerd", kind="dir", mode=0o711)], audit_rules=())
    (finding,) = host.check_1_1_4(snap)
    assert finding.status is Status.WARN
    assert finding.evidence["path"] == "/run/containerd"


def test_it_prefers_the_containerd_dir_role_to_the_socket_directory():
    rules = ("-w /run/containerd -k docker",)
    roles = {"containerd-dir": "/run/containerd", "containerd-sock": "/var/run/docker/containerd/containerd.sock"}
    (finding,) = host.check_1_1_4(snap_with(roles=roles, audit_rules=rules))
    assert finding.status is Status.PASS
    assert finding.evidence["path"] == "/run/containerd"


def test_it_audits_the_directory_of_a_containerd_socket_kept_by_dockerd():
    rules = ("-w /run/docker/containerd -k docker",)
    snap = snap_with(roles={"containerd-sock": "/var/run/docker/containerd/containerd.sock"}, audit_rules=rules)
    (finding,) = host.check_1_1_4(snap)
    assert finding.status is Status.PASS
    assert finding.evidence["path"] == "/var/run/docker/containerd"


def test_it_audits_the_real_data_root():
    rules = ("-w /var/lib/docker -k docker",)
    snap = snap_with(roles={"data-root": "/srv/docker"}, audit_rules=rules)
    (finding,) = host.check_1_1_5(snap)
    assert finding.status is Status.WARN
    assert finding.evidence["path"] == "/srv/docker"


def test_it_reports_info_when_the_audited_file_was_found_missing():
    snap = snap_with(
        roles={"default-docker": "/etc/default/docker"}, files=[f.missing_file("/etc/default/docker")], audit_rules=()
    )
    (finding,) = host.check_1_1_10(snap)
    assert finding.status is Status.INFO
    assert finding.evidence["path"] == "/etc/default/docker"


def test_it_skips_the_audit_checks_when_the_rules_were_unreadable():
    snap = snap_with(roles={"etc-docker": "/etc/docker"}, audit_rules=None, errors={"audit": "permission denied"})
    with pytest.raises(NotCollected, match="permission denied"):
        host.check_1_1_6(snap)


def test_it_warns_when_auditd_has_no_rules_at_all():
    snap = snap_with(roles={"etc-docker": "/etc/docker"}, audit_rules=())
    assert statuses(host.check_1_1_6(snap)) == [Status.WARN]


# -- 1.2 ------------------------------------------------------------------------


def test_it_notes_host_hardening_for_review_with_the_os():
    (finding,) = host.check_1_2_1(f.snapshot())
    assert finding.status is Status.NOTE
    assert finding.evidence["OperatingSystem"] == "Debian GNU/Linux 12 (bookworm)"


def test_it_reports_the_engine_version_for_review():
    (finding,) = host.check_1_2_2(f.snapshot())
    assert finding.status is Status.INFO
    assert finding.evidence["version"] == "20.10.24"


def test_it_skips_the_version_review_without_a_version():
    snap = f.snapshot(version=None, info=None, missing={"version": "connection refused"})
    with pytest.raises(NotCollected, match="connection refused"):
        host.check_1_2_2(snap)
