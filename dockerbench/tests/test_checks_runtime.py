"""Focused tests for CIS section 5 (container runtime): one or more per check."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dockerbench.checks._helpers import NotCollected
from dockerbench.checks.runtime import CHECKS
from dockerbench.results import Finding, Status
from dockerbench.snapshot import PROBE_LABEL, ContainerSnapshot
from dockerbench.tests import factories as f

PASS, WARN, INFO, NOTE, SKIP = Status.PASS, Status.WARN, Status.INFO, Status.NOTE, Status.SKIP

AUTOMATED = [
    "5.2",
    "5.3",
    "5.4",
    "5.5",
    "5.6",
    "5.7",
    "5.8",
    "5.10",
    "5.11",
    "5.12",
    "5.13",
    "5.14",
    "5.15",
    "5.16",
    "5.17",
    "5.20",
    "5.21",
    "5.22",
    "5.25",
    "5.26",
    "5.27",
    "5.29",
    "5.31",
    "5.32",
]


def run(check_id: str, *cs: ContainerSnapshot, **snap_changes: Any) -> list[Finding]:
    return CHECKS[check_id](f.snapshot(containers=list(cs), **snap_changes))


def verdicts(findings: list[Finding]) -> list[tuple[Status, str | None]]:
    return [(x.status, x.object.name if x.object else None) for x in findings]


def bind(source: str, destination: str, rw: bool = True, propagation: str = "rprivate") -> dict[str, Any]:
    return {
        "Type": "bind",
        "Source": source,
        "Destination": destination,
        "Mode": "" if rw else "ro",
        "RW": rw,
        "Propagation": propagation,
    }


def ports(*bindings: tuple[str, str, str]) -> dict[str, Any]:
    """NetworkSettings.Ports from (container_port, host_ip, host_port) triples."""
    out: dict[str, list[dict[str, str]]] = {}
    for cport, ip, hport in bindings:
        out.setdefault(cport, []).append({"HostIp": ip, "HostPort": hport})
    return {"NetworkSettings": {"Ports": out}}


def unpublished(name: str) -> ContainerSnapshot:
    c = f.container(name)
    c.inspect["NetworkSettings"]["Ports"] = {}
    return c


def probe(**changes: Any) -> ContainerSnapshot:
    return f.container("dockerbench-probe", Config={"Labels": {PROBE_LABEL: "1"}}, **changes)


ANY_IP = "0.0.0.0"  # noqa: S104 - a binding under test, nothing listens here

APPARMOR = {"SecurityOptions": ["name=apparmor", "name=seccomp,profile=default"]}
SELINUX = {"SecurityOptions": ["name=selinux", "name=seccomp,profile=default"]}


# -- whole-section behaviour ----------------------------------------------------


@pytest.mark.parametrize("check_id", AUTOMATED)
def test_it_passes_each_automated_check_when_no_container_runs(check_id: str) -> None:
    info_changes = APPARMOR if check_id == "5.2" else SELINUX if check_id == "5.3" else None
    findings = run(check_id, info_changes=info_changes)
    assert [(x.status, x.evidence.get("containers")) for x in findings] == [(PASS, 0)]


@pytest.mark.parametrize("check_id", [*AUTOMATED, "5.9", "5.18", "5.19", "5.28", "5.30"])
def test_it_skips_when_containers_were_not_collected(check_id: str) -> None:
    info_changes = APPARMOR if check_id == "5.2" else SELINUX if check_id == "5.3" else None
    snap = f.snapshot(info_changes=info_changes, missing={"containers": "listing containers failed"})
    snap = dataclasses.replace(snap, containers=None)
    with pytest.raises(NotCollected, match="listing containers failed"):
        CHECKS[check_id](snap)


WORST = probe(
    HostConfig={
        "Privileged": True,
        "CapAdd": ["SYS_ADMIN"],
        "NetworkMode": "host",
        "PidMode": "host",
        "IpcMode": "host",
        "UTSMode": "host",
        "UsernsMode": "host",
        "Memory": 0,
        "SecurityOpt": ["seccomp=unconfined", "label=disable"],
        "CgroupParent": "/custom",
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
        "Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}],
    },
    Mounts=[bind("/", "/host"), bind("/var/run/docker.sock", "/var/run/docker.sock", propagation="rshared")],
    top={"Titles": ["PID", "CMD"], "Processes": [["1", "/usr/sbin/sshd -D"]]},
    **ports(("80/tcp", ANY_IP, "80")),
)


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_it_never_reports_the_probe_container(check_id: str) -> None:
    findings = run(check_id, WORST, info_changes={"SecurityOptions": ["name=apparmor", "name=selinux"]})
    assert all(x.object is None or x.object.name != "dockerbench-probe" for x in findings)


def test_it_leaves_stopped_containers_out() -> None:
    stopped = f.container("old", running=False, HostConfig={"Privileged": True})
    assert verdicts(run("5.5", stopped)) == [(PASS, None)]


# -- 5.1 ---------------------------------------------------------------------------


def test_it_passes_swarm_mode_when_inactive() -> None:
    assert verdicts(run("5.1")) == [(PASS, None)]


def test_it_warns_when_swarm_mode_is_active() -> None:
    (finding,) = run("5.1", info_changes=f.swarm_info())
    assert finding.status == WARN
    assert finding.evidence == {"state": "active", "manager": True}


# -- 5.2, 5.3 ------------------------------------------------------------------------


def test_it_warns_for_each_container_without_an_apparmor_profile() -> None:
    findings = run(
        "5.2",
        f.container("confined", AppArmorProfile="docker-default"),
        f.container("none", AppArmorProfile=""),
        f.container("unconfined", AppArmorProfile="unconfined"),
        info_changes=APPARMOR,
    )
    assert verdicts(findings) == [(WARN, "none"), (WARN, "unconfined")]
    assert findings[1].evidence == {"apparmor_profile": "unconfined"}


def test_it_reports_apparmor_not_applicable_when_the_daemon_lacks_it() -> None:
    assert verdicts(run("5.2", f.container("web", AppArmorProfile=""))) == [(INFO, None)]


def test_it_warns_for_each_container_without_selinux_confinement() -> None:
    label = "system_u:system_r:container_t:s0:c1,c2"
    findings = run(
        "5.3",
        f.container("labelled", ProcessLabel=label),
        f.container("disabled", ProcessLabel=label, HostConfig={"SecurityOpt": ["label=disable"]}),
        f.container("privileged", ProcessLabel=""),
        info_changes=SELINUX,
    )
    assert verdicts(findings) == [(WARN, "disabled"), (WARN, "privileged")]


def test_it_reports_selinux_not_applicable_when_the_daemon_lacks_it() -> None:
    assert verdicts(run("5.3", f.container("web"))) == [(INFO, None)]


# -- 5.4, 5.5 --------------------------------------------------------------------------


def test_it_warns_for_each_container_adding_non_default_capabilities() -> None:
    findings = run(
        "5.4",
        f.container("admin", HostConfig={"CapAdd": ["SYS_ADMIN", "CHOWN"]}),
        f.container("default-only", HostConfig={"CapAdd": ["CAP_NET_BIND_SERVICE", "chown"]}),
        f.container("all", HostConfig={"CapAdd": ["ALL"]}),
    )
    assert verdicts(findings) == [(WARN, "admin"), (WARN, "all")]
    assert findings[0].evidence == {"cap_add": ["SYS_ADMIN"]}


def test_it_warns_for_each_privileged_container() -> None:
    findings = run("5.5", f.container("db", HostConfig={"Privileged": True}), f.container("web"))
    assert verdicts(findings) == [(WARN, "db")]


# -- 5.6 ------------------------------------------------------------------------------


def test_it_warns_for_sensitive_host_directories_mounted_read_write() -> None:
    findings = run(
        "5.6",
        f.container("etc", Mounts=[bind("/etc/", "/host/etc")]),
        f.container("data", Mounts=[bind("/srv/data", "/data"), bind("/etc/localtime", "/etc/localtime", rw=False)]),
        f.container("volume", Mounts=[{"Type": "volume", "Name": "v", "Source": "/var/lib/docker/volumes/v/_data",
                                       "Destination": "/etc", "RW": True}]),
    )  # fmt: skip
    assert verdicts(findings) == [(WARN, "etc")]
    assert findings[0].evidence == {"mounts": [{"source": "/etc", "destination": "/host/etc", "rw": True}]}


def test_it_reports_read_only_sensitive_mounts_as_info() -> None:
    findings = run("5.6", f.container("root-ro", Mounts=[bind("/", "/host", rw=False)]))
    assert verdicts(findings) == [(INFO, "root-ro")]


# -- 5.7 ------------------------------------------------------------------------------


def _top(*commands: str) -> dict[str, Any]:
    titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    return {"Titles": titles, "Processes": [["root", "1", "0", "0", "10:00", "?", "00:00:00", c] for c in commands]}


def test_it_warns_for_each_container_running_sshd() -> None:
    findings = run(
        "5.7",
        f.container("ssh", top=_top("/usr/sbin/sshd -D", "sshd: root@pts/0")),
        f.container("logs", top=_top("tail -f /var/log/sshd.log")),
    )
    assert verdicts(findings) == [(WARN, "ssh")]
    assert findings[0].evidence == {"processes": ["/usr/sbin/sshd -D", "sshd: root@pts/0"]}


def _top_comm(*processes: tuple[str, str]) -> dict[str, Any]:
    """A process list with the COMM column, as the collector asks for it: (process name, argv) per process."""
    return {
        "Titles": ["UID", "PID", "PPID", "COMM", "CMD"],
        "Processes": [["root", str(10 + i), "1", comm, cmd] for i, (comm, cmd) in enumerate(processes)],
    }


def test_it_finds_sshd_by_its_process_name_whatever_argv_says() -> None:
    findings = run(
        "5.7",
        f.container("disguised", top=_top_comm(("sh", "sh /start.sh"), ("sshd", "sleep 300"))),
        f.container("session", top=_top_comm(("sshd-session", "sshd-session: root@pts/0"))),
        f.container("logs", top=_top_comm(("tail", "tail -f /var/log/sshd.log"), ("sshd.sh", "sh /sshd.sh"))),
        f.container("plain", top=_top_comm(("sshd", "/usr/sbin/sshd -D"))),
    )
    assert verdicts(findings) == [(WARN, "disguised"), (WARN, "session"), (WARN, "plain")]
    assert findings[0].evidence == {"processes": ["sleep 300 (process name sshd)"]}
    assert findings[2].evidence == {"processes": ["/usr/sbin/sshd -D"]}


def test_it_does_not_count_an_sshd_zombie() -> None:
    findings = run("5.7", f.container("reaped", top=_top_comm(("sshd", "[sshd] <defunct>"), ("sh", "sh"))))
    assert verdicts(findings) == [(PASS, None)]


def test_it_skips_sshd_for_a_container_whose_processes_were_not_collected() -> None:
    blind = f.container("blind")
    blind = ContainerSnapshot(blind.id, blind.name, blind.inspect, True, top=None, errors={"top": "timed out"})
    findings = run("5.7", blind, f.container("web"))
    assert verdicts(findings) == [(SKIP, "blind")]
    assert "timed out" in findings[0].message


# -- 5.8, 5.9, 5.14 ---------------------------------------------------------------------


def test_it_warns_for_each_container_publishing_a_host_port_below_1024() -> None:
    findings = run(
        "5.8",
        f.container("http", **ports(("80/tcp", ANY_IP, "80"), ("80/tcp", "::", "80"))),
        f.container("high", **ports(("80/tcp", "127.0.0.1", "1024"), ("443/tcp", "127.0.0.1", "8443"))),
    )
    assert verdicts(findings) == [(WARN, "http")]
    assert findings[0].evidence == {"ports": ["0.0.0.0:80->80/tcp", "[::]:80->80/tcp"]}


def test_it_lists_published_ports_as_info() -> None:
    findings = run("5.9", f.container("web"), unpublished("none"))
    assert verdicts(findings) == [(INFO, "web")]
    assert findings[0].evidence == {"ports": ["127.0.0.1:8080->80/tcp"]}


@pytest.mark.parametrize("check_id", ["5.9", "5.18", "5.19", "5.30"])
def test_it_never_passes_a_manual_recommendation_even_with_no_container(check_id: str) -> None:
    assert [(x.status, x.evidence) for x in run(check_id)] == [(INFO, {"containers": 0})]


def test_it_reports_open_ports_as_info_when_nothing_is_published() -> None:
    assert verdicts(run("5.9", unpublished("none"))) == [(INFO, None)]


def test_it_warns_for_each_container_bound_to_every_interface() -> None:
    findings = run(
        "5.14",
        f.container("wild", **ports(("80/tcp", ANY_IP, "8080"))),
        f.container("empty", **ports(("80/tcp", "", "8081"))),
        f.container("local", **ports(("80/tcp", "127.0.0.1", "8082"))),
    )
    assert verdicts(findings) == [(WARN, "wild"), (WARN, "empty")]
    assert findings[1].evidence == {"ports": ["*:8081->80/tcp"]}


# -- host namespaces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_id", "key"),
    [("5.10", "NetworkMode"), ("5.16", "PidMode"), ("5.17", "IpcMode"), ("5.21", "UTSMode"), ("5.31", "UsernsMode")],
)
def test_it_warns_for_each_container_sharing_a_host_namespace(check_id: str, key: str) -> None:
    findings = run(check_id, f.container("shared", HostConfig={key: "host"}), f.container("own"))
    assert verdicts(findings) == [(WARN, "shared")]
    assert findings[0].evidence == {key: "host"}


# -- limits ---------------------------------------------------------------------------


def test_it_warns_for_each_container_without_a_memory_limit() -> None:
    findings = run("5.11", f.container("unlimited", HostConfig={"Memory": 0}), f.container("limited"))
    assert verdicts(findings) == [(WARN, "unlimited")]


@pytest.mark.parametrize(
    ("host_config", "status"),
    [
        ({"CpuShares": 0}, WARN),
        ({"CpuShares": 1024}, WARN),
        ({"CpuShares": 512}, PASS),
        ({"NanoCpus": 500_000_000}, PASS),
        ({"CpuQuota": 50_000}, PASS),
        ({"CpusetCpus": "0"}, PASS),
    ],
)
def test_it_judges_cpu_shares_with_0_and_1024_as_default(host_config: dict[str, Any], status: Status) -> None:
    findings = run("5.12", f.container("c", HostConfig=host_config))
    assert [x.status for x in findings] == [status]


@pytest.mark.parametrize("limit", [None, 0, -1])
def test_it_warns_for_a_container_without_a_pids_limit(limit: int | None) -> None:
    findings = run("5.29", f.container("nolimit", HostConfig={"PidsLimit": limit}))
    assert verdicts(findings) == [(WARN, "nolimit")]


def test_it_passes_a_container_with_a_pids_limit() -> None:
    assert verdicts(run("5.29", f.container("limited", HostConfig={"PidsLimit": 100}))) == [(PASS, None)]


def test_it_warns_for_each_container_with_a_writable_root_filesystem() -> None:
    findings = run("5.13", f.container("rw"), f.container("ro", HostConfig={"ReadonlyRootfs": True}))
    assert verdicts(findings) == [(WARN, "rw")]


# -- 5.15 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "retries", "status"),
    [
        ("always", 0, WARN),
        ("unless-stopped", 0, WARN),
        ("on-failure", 0, WARN),
        ("on-failure", 10, WARN),
        ("on-failure", 5, PASS),
        ("no", 0, PASS),
        ("", 0, PASS),
    ],
)
def test_it_judges_the_restart_policy(name: str, retries: int, status: Status) -> None:
    c = f.container("c", HostConfig={"RestartPolicy": {"Name": name, "MaximumRetryCount": retries}})
    findings = run("5.15", c)
    assert [x.status for x in findings] == [status]
    if status == WARN:
        assert findings[0].evidence == {"restart_policy": name, "maximum_retry_count": retries}


def test_it_judges_a_swarm_task_by_its_service_restart_policy() -> None:
    labels = {"Labels": {"com.docker.swarm.service.id": "api-id"}}
    task = f.container("api.1.abc", Config=labels)
    capped = f.container("worker.1.def", Config={"Labels": {"com.docker.swarm.service.id": "worker-id"}})
    services = (
        f.service("api"),
        f.service("worker", restart={"Condition": "on-failure", "MaxAttempts": 3}),
    )
    findings = run("5.15", task, capped, services=services)
    assert verdicts(findings) == [(WARN, "api.1.abc")]
    assert findings[0].evidence["service_policy"] == {"service": "api", "condition": "any", "max_attempts": 0}


# -- 5.18, 5.19 --------------------------------------------------------------------------


def test_it_lists_containers_with_host_devices_as_info() -> None:
    dev = {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}
    findings = run("5.18", f.container("fuse", HostConfig={"Devices": [dev]}), f.container("web"))
    assert verdicts(findings) == [(INFO, "fuse")]
    assert findings[0].evidence == {"devices": ["/dev/fuse:/dev/fuse:rwm"]}


def test_it_lists_containers_without_ulimit_overrides_as_info() -> None:
    ulimit = {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    findings = run("5.19", f.container("default"), f.container("tuned", HostConfig={"Ulimits": [ulimit]}))
    assert verdicts(findings) == [(INFO, "default")]


# -- 5.20, 5.22, 5.25 ----------------------------------------------------------------


def test_it_warns_for_each_container_with_shared_mount_propagation() -> None:
    findings = run(
        "5.20",
        f.container("shared", Mounts=[bind("/mnt", "/mnt", propagation="rshared")]),
        f.container("slave", Mounts=[bind("/mnt", "/mnt", propagation="rslave")]),
    )
    assert verdicts(findings) == [(WARN, "shared")]
    assert findings[0].evidence == {"mounts": [{"source": "/mnt", "destination": "/mnt", "propagation": "rshared"}]}


def test_it_warns_for_each_container_with_seccomp_unconfined() -> None:
    findings = run(
        "5.22",
        f.container("eq", HostConfig={"SecurityOpt": ["seccomp=unconfined"]}),
        f.container("colon", HostConfig={"SecurityOpt": ["seccomp:unconfined"]}),
        f.container("nnp", HostConfig={"SecurityOpt": ["no-new-privileges"]}),
    )
    assert verdicts(findings) == [(WARN, "eq"), (WARN, "colon")]


def test_it_warns_for_containers_left_unconfined_by_the_daemon_seccomp_default() -> None:
    findings = run(
        "5.22",
        f.container("inherits"),
        f.container("own", HostConfig={"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ERRNO"}']}),
        info_changes={"SecurityOptions": ["name=seccomp,profile=unconfined"]},
    )
    assert verdicts(findings) == [(WARN, "inherits")]


def test_it_warns_for_each_container_with_a_cgroup_parent() -> None:
    findings = run("5.25", f.container("custom", HostConfig={"CgroupParent": "/mygroup"}), f.container("web"))
    assert verdicts(findings) == [(WARN, "custom")]
    assert findings[0].evidence == {"cgroup_parent": "/mygroup"}


# -- 5.23, 5.24, 5.28 -------------------------------------------------------------------


@pytest.mark.parametrize("check_id", ["5.23", "5.24"])
def test_it_notes_docker_exec_checks_with_live_exec_sessions(check_id: str) -> None:
    findings = run(check_id, f.container("busy", ExecIDs=["abc"]), f.container("idle"))
    assert [(x.status, x.evidence) for x in findings] == [(NOTE, {"containers_with_exec_sessions": ["busy"]})]


def test_it_points_out_containers_running_an_image_older_than_their_tag() -> None:
    current = f.image("web:1")
    stale = f.container("stale", Config={"Image": "web:1"}, Image="sha256:" + "f" * 64)
    fresh = f.container("fresh", Config={"Image": "web:1"}, Image=current.id)
    findings = CHECKS["5.28"](f.snapshot(containers=[stale, fresh], images=[current]))
    assert verdicts(findings) == [(INFO, "stale")]
    assert findings[0].evidence["tagged_image_id"] == current.id


def test_it_reports_image_freshness_as_info_when_all_are_current() -> None:
    assert verdicts(run("5.28", f.container("web"))) == [(INFO, None)]


# -- 5.26 ---------------------------------------------------------------------------------


def test_it_warns_for_each_container_that_may_gain_privileges() -> None:
    findings = run(
        "5.26",
        f.container("open"),
        f.container("closed", HostConfig={"SecurityOpt": ["no-new-privileges:true"]}),
        f.container("bare", HostConfig={"SecurityOpt": ["no-new-privileges"]}),
    )
    assert verdicts(findings) == [(WARN, "open")]


def test_it_passes_no_new_privileges_set_daemon_wide_on_the_command_line() -> None:
    facts = f.facts(argv=("/usr/bin/dockerd", "--no-new-privileges"))
    findings = run("5.26", f.container("open"), host_facts=facts)
    assert [(x.status, x.evidence) for x in findings] == [(PASS, {"source": "flag"})]


def test_it_passes_no_new_privileges_set_daemon_wide_in_daemon_json() -> None:
    facts = f.facts(contents={"/etc/docker/daemon.json": '{"no-new-privileges": true}'})
    assert verdicts(run("5.26", f.container("open"), host_facts=facts)) == [(PASS, None)]


def test_it_warns_for_a_container_that_turns_off_the_daemon_wide_no_new_privileges() -> None:
    facts = f.facts(argv=("/usr/bin/dockerd", "--no-new-privileges"))
    off = f.container("off", HostConfig={"SecurityOpt": ["no-new-privileges=false"]})
    assert verdicts(run("5.26", off, f.container("open"), host_facts=facts)) == [(WARN, "off")]


def test_it_skips_no_new_privileges_when_the_daemon_config_is_unknown() -> None:
    snap = f.snapshot(containers=[f.container("open")], facts=None, missing={"facts": "probe failed"})
    with pytest.raises(NotCollected, match="probe failed"):
        CHECKS["5.26"](snap)


# -- 5.27, 5.30 ---------------------------------------------------------------------------


def test_it_warns_for_each_container_without_a_health_check() -> None:
    healthy = f.container("checked", State={"Health": {"Status": "healthy", "FailingStreak": 0, "Log": []}})
    findings = run("5.27", f.container("unchecked"), healthy)
    assert verdicts(findings) == [(WARN, "unchecked")]


def test_it_lists_containers_on_the_default_bridge_as_info() -> None:
    own = f.container("own")
    own.inspect["NetworkSettings"]["Networks"] = {"appnet": {"NetworkID": "x"}}
    findings = run("5.30", f.container("default"), own)
    assert verdicts(findings) == [(INFO, "default")]


# -- 5.32 ---------------------------------------------------------------------------------


def test_it_warns_for_each_container_that_can_reach_the_docker_socket() -> None:
    findings = run(
        "5.32",
        f.container("sock", Mounts=[bind("/var/run/docker.sock", "/var/run/docker.sock")]),
        f.container("rundir", Mounts=[bind("/var/run", "/host/run", rw=False)]),
        f.container("custom", Mounts=[bind("/srv/engine/api.sock", "/api.sock")]),
        f.container("data", Mounts=[bind("/srv/data", "/data")]),
        f.container("proxy", Mounts=[bind("/run/proxy.sock", "/var/run/docker.sock")]),
        host_facts=f.facts(roles={"docker-sock": "/srv/engine/api.sock"}),
    )
    assert verdicts(findings) == [(WARN, "sock"), (WARN, "rundir"), (WARN, "custom")]
    assert findings[1].evidence == {
        "mounts": [
            {"source": "/var/run", "destination": "/host/run", "rw": False, "via": "directory holding the socket"}
        ]
    }
