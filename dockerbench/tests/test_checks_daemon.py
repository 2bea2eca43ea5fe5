"""Section 2: the Docker daemon's configuration."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dockerbench.checks import daemon
from dockerbench.checks._helpers import NotCollected
from dockerbench.results import Status
from dockerbench.snapshot import HostFacts
from dockerbench.tests import factories as f

DAEMON_JSON = "/etc/docker/daemon.json"
ICC = "com.docker.network.bridge.enable_icc"


def configured(*flags: str, daemon_json: dict | None = None, **snapshot_changes):
    """A snapshot whose dockerd runs with ``flags`` and, if given, this daemon.json."""
    roles = {"daemon.json": DAEMON_JSON} if daemon_json is not None else {}
    contents = {DAEMON_JSON: json.dumps(daemon_json)} if daemon_json is not None else {}
    facts = f.facts(argv=("/usr/bin/dockerd", *flags), roles=roles, contents=contents)
    return f.snapshot(host_facts=facts, **snapshot_changes)


def unidentified(**snapshot_changes):
    """A snapshot where the serving dockerd could not be told apart."""
    return f.snapshot(
        host_facts=HostFacts(method="local", errors={"dockerd": "two dockerd processes"}), **snapshot_changes
    )


def only(findings):
    (finding,) = findings
    return finding


# -- the daemon's configuration --------------------------------------------------


def test_it_skips_flag_checks_when_the_serving_dockerd_is_unknown():
    with pytest.raises(NotCollected, match="two dockerd processes"):
        daemon.check_2_4(unidentified())


def test_it_skips_when_daemon_json_exists_but_was_not_read():
    facts = f.facts(roles={"daemon.json": DAEMON_JSON})
    with pytest.raises(NotCollected, match="content was not collected"):
        daemon.check_2_4(f.snapshot(host_facts=facts))


def test_it_skips_when_daemon_json_is_not_valid_json():
    facts = f.facts(roles={"daemon.json": DAEMON_JSON}, contents={DAEMON_JSON: "{nope"})
    with pytest.raises(NotCollected, match="not valid JSON"):
        daemon.check_2_16(f.snapshot(host_facts=facts))


def test_it_reads_the_daemon_json_named_by_config_file():
    facts = f.facts(
        argv=("/usr/bin/dockerd", "--config-file", "/srv/docker.json"),
        contents={"/srv/docker.json": '{"userland-proxy": false}'},
    )
    assert only(daemon.check_2_16(f.snapshot(host_facts=facts))).status is Status.PASS


# -- 2.1 -----------------------------------------------------------------------------


def test_it_notes_a_root_daemon_without_user_namespaces():
    finding = only(daemon.check_2_1(f.snapshot()))
    assert finding.status is Status.NOTE
    assert finding.evidence == {"rootless": False, "userns_remap": False}


def test_it_notes_a_rootless_daemon():
    snap = f.snapshot(info_changes={"SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]})
    finding = only(daemon.check_2_1(snap))
    assert finding.status is Status.NOTE
    assert finding.evidence["rootless"] is True


# -- 2.2 -----------------------------------------------------------------------------


def test_it_warns_when_the_default_bridge_allows_inter_container_traffic():
    finding = only(daemon.check_2_2(f.snapshot(networks=(f.network("none"), f.network("bridge")))))
    assert finding.status is Status.WARN
    assert finding.object is not None and finding.object.id == "bridge"
    assert finding.evidence["value"] == "true"


def test_it_passes_when_the_default_bridge_disables_icc():
    snap = f.snapshot(networks=(f.network("bridge", Options={ICC: "false"}),))
    assert only(daemon.check_2_2(snap)).status is Status.PASS


def test_it_trusts_the_bridge_over_the_configuration():
    # The network states the value in force even when the dockerd was not identified.
    snap = unidentified(networks=(f.network("bridge", Options={ICC: "false"}),))
    assert only(daemon.check_2_2(snap)).status is Status.PASS


def test_it_falls_back_to_icc_in_daemon_json():
    assert only(daemon.check_2_2(configured(daemon_json={"icc": False}))).status is Status.PASS
    assert only(daemon.check_2_2(configured("--icc=false"))).status is Status.PASS
    assert only(daemon.check_2_2(configured())).status is Status.WARN


# -- 2.3 -----------------------------------------------------------------------------


def test_it_passes_the_default_log_level():
    assert only(daemon.check_2_3(configured())).status is Status.PASS


def test_it_warns_when_the_log_level_is_debug():
    finding = only(daemon.check_2_3(configured("--log-level=debug")))
    assert finding.status is Status.WARN
    assert finding.evidence == {"log_level": "debug", "source": "flag"}


def test_it_passes_log_level_info_in_daemon_json():
    assert only(daemon.check_2_3(configured(daemon_json={"log-level": "info"}))).status is Status.PASS


def test_it_warns_when_the_daemon_runs_in_debug_mode():
    assert only(daemon.check_2_3(f.snapshot(info_changes={"Debug": True}))).status is Status.WARN
    assert only(daemon.check_2_3(configured("-D"))).status is Status.WARN


# -- 2.4 -----------------------------------------------------------------------------


def test_it_warns_when_iptables_is_disabled():
    finding = only(daemon.check_2_4(configured("--iptables=false")))
    assert finding.status is Status.WARN
    assert finding.evidence == {"iptables": "false", "source": "flag"}
    assert only(daemon.check_2_4(configured(daemon_json={"iptables": False}))).status is Status.WARN


def test_it_passes_when_iptables_is_left_on():
    assert only(daemon.check_2_4(configured(daemon_json={"iptables": True}))).status is Status.PASS


# -- 2.5 -----------------------------------------------------------------------------


def test_it_passes_the_loopback_insecure_registry_dockerd_always_adds():
    snap = f.snapshot(info_changes={"RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"]}})
    assert only(daemon.check_2_5(snap)).status is Status.PASS


def test_it_warns_once_per_insecure_registry():
    registry = {
        "InsecureRegistryCIDRs": ["10.0.0.0/8", "127.0.0.0/8"],
        "IndexConfigs": {
            "docker.io": {"Name": "docker.io", "Secure": True, "Official": True, "Mirrors": []},
            "registry.lan:5000": {"Name": "registry.lan:5000", "Secure": False, "Official": False, "Mirrors": []},
        },
    }
    findings = daemon.check_2_5(f.snapshot(info_changes={"RegistryConfig": registry}))
    assert [(x.status, x.object.name if x.object else "") for x in findings] == [
        (Status.WARN, "10.0.0.0/8"),
        (Status.WARN, "registry.lan:5000"),
    ]


def test_it_falls_back_to_the_configured_insecure_registries():
    snap = configured("--insecure-registry", "registry.lan:5000", info=None)
    assert [x.evidence["registry"] for x in daemon.check_2_5(snap)] == ["registry.lan:5000"]


# -- 2.6 -----------------------------------------------------------------------------


def test_it_warns_when_aufs_is_the_storage_driver():
    finding = only(daemon.check_2_6(f.snapshot(info_changes={"Driver": "aufs"})))
    assert finding.status is Status.WARN
    assert finding.evidence["driver"] == "aufs"


def test_it_passes_overlay2():
    assert only(daemon.check_2_6(f.snapshot())).status is Status.PASS


def test_it_skips_the_storage_driver_when_nothing_states_it():
    with pytest.raises(NotCollected):
        daemon.check_2_6(configured(info=None))


# -- 2.7 -----------------------------------------------------------------------------


def test_it_reports_info_when_the_daemon_does_not_listen_on_tcp():
    finding = only(daemon.check_2_7(configured("-H", "fd://", "-H", "unix:///run/docker.sock")))
    assert finding.status is Status.INFO


def test_it_warns_per_tcp_listener_without_tls():
    findings = daemon.check_2_7(configured("-H", "tcp://0.0.0.0:2375", "-H", "fd://", "-H", "tcp://10.0.0.1:2375"))
    assert [(x.status, x.evidence["host"]) for x in findings] == [
        (Status.WARN, "tcp://0.0.0.0:2375"),
        (Status.WARN, "tcp://10.0.0.1:2375"),
    ]
    assert findings[0].evidence["tls"] is False


def test_it_warns_when_tls_does_not_verify_clients():
    finding = only(daemon.check_2_7(configured(daemon_json={"hosts": ["tcp://0.0.0.0:2376"], "tls": True})))
    assert finding.status is Status.WARN
    assert "client certificate" in finding.message


def test_it_passes_tcp_with_tlsverify():
    snap = configured("-H", "tcp://0.0.0.0:2376", "--tlsverify", "--tlscacert", "/etc/docker/ca.pem")
    assert only(daemon.check_2_7(snap)).status is Status.PASS


def test_it_passes_tcp_when_dockerds_environment_sets_docker_tls_verify():
    snap = configured("-H", "tcp://0.0.0.0:2376", "--tls")
    assert snap.facts is not None
    facts = dataclasses.replace(snap.facts, dockerd_environment={"DOCKER_TLS_VERIFY": "1"})
    finding = only(daemon.check_2_7(dataclasses.replace(snap, facts=facts)))
    assert finding.status is Status.PASS
    assert finding.evidence["DOCKER_TLS_VERIFY"] == "1"


def test_an_explicit_tlsverify_false_wins_over_docker_tls_verify():
    snap = configured("-H", "tcp://0.0.0.0:2376", "--tls", "--tlsverify=false")
    assert snap.facts is not None
    facts = dataclasses.replace(snap.facts, dockerd_environment={"DOCKER_TLS_VERIFY": "1"})
    assert only(daemon.check_2_7(dataclasses.replace(snap, facts=facts))).status is Status.WARN


def test_it_skips_the_tls_check_when_the_serving_dockerd_is_unknown():
    with pytest.raises(NotCollected):
        daemon.check_2_7(unidentified())


# -- 2.8 -----------------------------------------------------------------------------


def test_it_reports_the_default_ulimits_for_review():
    snap = configured("--default-ulimit", "nproc=1024:2048", daemon_json=None)
    finding = only(daemon.check_2_8(snap))
    assert finding.status is Status.INFO
    assert finding.evidence == {"default_ulimits": {"nproc": "1024:2048"}, "source": "flag"}


def test_it_reads_default_ulimits_from_daemon_json():
    limits = {"nofile": {"Name": "nofile", "Hard": 200, "Soft": 100}}
    finding = only(daemon.check_2_8(configured(daemon_json={"default-ulimits": limits})))
    assert finding.evidence["default_ulimits"] == {"nofile": "100:200"}


def test_it_reports_info_when_no_default_ulimit_is_set():
    finding = only(daemon.check_2_8(configured()))
    assert finding.status is Status.INFO
    assert finding.evidence == {"default_ulimits": {}}


# -- 2.9 -----------------------------------------------------------------------------


def test_it_warns_when_user_namespaces_are_off():
    assert only(daemon.check_2_9(f.snapshot())).status is Status.WARN


def test_it_passes_when_docker_info_shows_userns():
    snap = f.snapshot(info_changes={"SecurityOptions": ["name=seccomp,profile=default", "name=userns"]})
    assert only(daemon.check_2_9(snap)).status is Status.PASS


def test_it_passes_a_rootless_daemon_for_user_namespaces():
    snap = f.snapshot(info_changes={"SecurityOptions": ["name=rootless"]})
    assert only(daemon.check_2_9(snap)).status is Status.PASS


def test_it_falls_back_to_userns_remap_in_the_configuration():
    assert only(daemon.check_2_9(configured("--userns-remap=default", info=None))).status is Status.PASS
    assert only(daemon.check_2_9(configured(info=None))).status is Status.WARN


# -- 2.10 ----------------------------------------------------------------------------


def test_it_warns_when_the_cgroup_parent_is_changed_in_daemon_json():
    finding = only(daemon.check_2_10(configured(daemon_json={"cgroup-parent": "/custom"})))
    assert finding.status is Status.WARN
    assert finding.evidence == {"cgroup_parent": "/custom", "source": "daemon.json"}


def test_it_passes_the_default_cgroup_parent():
    assert only(daemon.check_2_10(configured())).status is Status.PASS


# -- 2.11 ----------------------------------------------------------------------------


def test_it_warns_when_the_base_device_size_is_set():
    finding = only(daemon.check_2_11(configured("--storage-opt", "dm.basesize=50G")))
    assert finding.status is Status.WARN
    assert finding.evidence == {"storage_opt": "dm.basesize=50G"}


def test_it_passes_other_storage_options():
    assert only(daemon.check_2_11(configured(daemon_json={"storage-opts": ["overlay2.size=1G"]}))).status is Status.PASS


# -- 2.12 ----------------------------------------------------------------------------


def test_it_warns_without_an_authorization_plugin():
    assert only(daemon.check_2_12(f.snapshot())).status is Status.WARN


def test_it_passes_with_an_authorization_plugin():
    snap = f.snapshot(info_changes={"Plugins": {"Authorization": ["opa-docker-authz"]}})
    finding = only(daemon.check_2_12(snap))
    assert finding.status is Status.PASS
    assert finding.evidence["plugins"] == ["opa-docker-authz"]


# -- 2.13 ----------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["json-file", "local", "none"])
def test_it_warns_when_logs_stay_on_the_host(driver):
    finding = only(daemon.check_2_13(f.snapshot(info_changes={"LoggingDriver": driver})))
    assert finding.status is Status.WARN
    assert finding.evidence["log_driver"] == driver


def test_it_passes_a_remote_log_driver():
    assert only(daemon.check_2_13(f.snapshot(info_changes={"LoggingDriver": "syslog"}))).status is Status.PASS


# -- 2.14 ----------------------------------------------------------------------------


def test_it_warns_without_no_new_privileges():
    assert only(daemon.check_2_14(configured())).status is Status.WARN


def test_it_warns_when_no_new_privileges_is_explicitly_false():
    assert only(daemon.check_2_14(configured("--no-new-privileges=false"))).status is Status.WARN


def test_it_passes_with_no_new_privileges():
    assert only(daemon.check_2_14(configured("--no-new-privileges"))).status is Status.PASS
    assert only(daemon.check_2_14(configured(daemon_json={"no-new-privileges": True}))).status is Status.PASS


# -- 2.15 ----------------------------------------------------------------------------


def test_it_warns_when_live_restore_is_off():
    assert only(daemon.check_2_15(f.snapshot())).status is Status.WARN


def test_it_passes_when_live_restore_is_on():
    assert only(daemon.check_2_15(f.snapshot(info_changes={"LiveRestoreEnabled": True}))).status is Status.PASS


def test_it_passes_live_restore_in_swarm_mode():
    snap = f.snapshot(info_changes={"Swarm": {"LocalNodeState": "active"}})
    finding = only(daemon.check_2_15(snap))
    assert finding.status is Status.PASS
    assert finding.evidence["swarm"] == "active"


# -- 2.16 ----------------------------------------------------------------------------


def test_it_warns_when_the_userland_proxy_is_on():
    assert only(daemon.check_2_16(configured())).status is Status.WARN


def test_it_passes_when_the_userland_proxy_is_off():
    assert only(daemon.check_2_16(configured("--userland-proxy=false"))).status is Status.PASS


# -- 2.17 ----------------------------------------------------------------------------


def test_it_reports_the_default_seccomp_profile_for_review():
    finding = only(daemon.check_2_17(f.snapshot()))
    assert finding.status is Status.INFO
    assert finding.evidence == {"seccomp_profile": "default"}


def test_it_reports_a_custom_seccomp_profile():
    snap = f.snapshot(info_changes={"SecurityOptions": ["name=seccomp,profile=/etc/docker/seccomp.json"]})
    assert only(daemon.check_2_17(snap)).evidence == {"seccomp_profile": "/etc/docker/seccomp.json"}


# -- 2.18 ----------------------------------------------------------------------------


def test_it_warns_when_experimental_features_are_on():
    finding = only(daemon.check_2_18(f.snapshot(info_changes={"ExperimentalBuild": True})))
    assert finding.status is Status.WARN


def test_it_passes_without_experimental_features():
    assert only(daemon.check_2_18(f.snapshot())).status is Status.PASS


def test_it_falls_back_to_the_experimental_flag():
    assert only(daemon.check_2_18(configured("--experimental", info=None))).status is Status.WARN
