"""CIS section 2: the Docker daemon's configuration.

Where ``docker info`` (or the default bridge network) states the effective
value, it decides; otherwise the daemon's own command line merged with its
daemon.json does. A check that needs the command line SKIPs when the dockerd
serving the audited socket was not identified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockerbench.checks._helpers import NotCollected, info, note, passed, require_facts, setting_ref, warn
from dockerbench.daemonconfig import DaemonConfig, effective, parse_argv
from dockerbench.results import Finding, ObjectRef
from dockerbench.snapshot import HostSnapshot, JSONDict

CheckFn = Callable[[HostSnapshot], list[Finding]]

DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
# dockerd always treats loopback registries as insecure; nobody configured them.
DEFAULT_INSECURE_CIDRS = frozenset({"127.0.0.0/8", "::1/128"})
# Drivers that keep logs on this host only.
LOCAL_LOG_DRIVERS = frozenset({"json-file", "local", "none"})
ICC_OPTION = "com.docker.network.bridge.enable_icc"


def daemon_config(snap: HostSnapshot) -> DaemonConfig:
    """The serving dockerd's effective configuration, or NotCollected saying why it is unknown."""
    facts = require_facts(snap)
    if facts.dockerd is None:
        raise NotCollected(
            facts.errors.get("dockerd")
            or "the dockerd serving this socket was not identified, so its flags are unknown"
        )
    flags, _ = parse_argv(facts.dockerd.argv)
    path = str(flags.get("config-file") or facts.roles.get("daemon.json") or DEFAULT_DAEMON_JSON)
    text = facts.contents.get(path)
    fact = facts.files.get(path)
    exists = facts.roles.get("daemon.json") == path or (fact is not None and fact.exists)
    if text is None and exists:
        raise NotCollected(facts.errors.get(path) or f"{path} exists but its content was not collected")
    cfg = effective(facts.dockerd.argv, text)
    broken = [e for e in cfg.errors if "daemon.json" in e]
    if broken:
        raise NotCollected(f"{path} cannot be read as dockerd would: {broken[0]}")
    return cfg


def _source(cfg: DaemonConfig, key: str) -> str:
    return cfg.source.get(key, "default")


def _security_options(doc: JSONDict) -> list[str]:
    return [str(o) for o in doc.get("SecurityOptions") or ()]


def _has_security_option(doc: JSONDict, name: str) -> bool:
    return any(o == f"name={name}" or o.startswith(f"name={name},") for o in _security_options(doc))


def _default_bridge(snap: HostSnapshot) -> JSONDict | None:
    for net in snap.networks or ():
        options = net.get("Options") or {}
        if options.get("com.docker.network.bridge.default_bridge") == "true":
            return net
    for net in snap.networks or ():
        if net.get("Name") == "bridge" and net.get("Driver") == "bridge":
            return net
    return None


# -- 2.1 ---------------------------------------------------------------------


def check_2_1(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is None:
        return [note("Review whether the daemon can run rootless; docker info was not collected to tell")]
    rootless = _has_security_option(doc, "rootless")
    userns = _has_security_option(doc, "userns")
    if rootless:
        message = "The daemon runs rootless"
    elif userns:
        message = "The daemon runs as root with user namespace remapping; review whether rootless mode is possible"
    else:
        message = "The daemon runs as root without user namespaces; review whether rootless mode is possible"
    return [note(message, rootless=rootless, userns_remap=userns)]


# -- 2.2 ---------------------------------------------------------------------


def check_2_2(snap: HostSnapshot) -> list[Finding]:
    bridge = _default_bridge(snap)
    value = ((bridge or {}).get("Options") or {}).get(ICC_OPTION)
    if value in ("true", "false"):
        name = str((bridge or {}).get("Name") or "bridge")
        evidence = {"network": name, "option": ICC_OPTION, "value": value}
        if value == "false":
            return [passed("Inter-container traffic is disabled on the default bridge", **evidence)]
        return [
            warn(
                "Inter-container traffic is allowed on the default bridge", ObjectRef("network", name, name), **evidence
            )
        ]
    cfg = daemon_config(snap)
    icc = cfg.get("icc", True)
    evidence = {"icc": str(icc).lower(), "source": _source(cfg, "icc")}
    if icc is False:
        return [passed("icc is disabled", **evidence)]
    return [
        warn("icc is enabled: containers on the default bridge can reach each other", setting_ref("icc"), **evidence)
    ]


# -- 2.3 ---------------------------------------------------------------------


def check_2_3(snap: HostSnapshot) -> list[Finding]:
    if (snap.info or {}).get("Debug") is True:
        return [warn("The daemon runs in debug mode, which logs at debug level", setting_ref("debug"), debug=True)]
    cfg = daemon_config(snap)
    level = cfg.get("log-level")
    if cfg.get("debug") is True:
        return [warn("debug is enabled, which sets the log level to debug", setting_ref("debug"), debug=True)]
    if level in (None, "", "info"):
        return [passed("The log level is info", log_level="info", source=_source(cfg, "log-level"))]
    return [
        warn(
            f"The log level is {level}, not info",
            setting_ref("log-level"),
            log_level=str(level),
            source=_source(cfg, "log-level"),
        )
    ]


# -- 2.4 ---------------------------------------------------------------------


def check_2_4(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    value = cfg.get("iptables", True)
    evidence = {"iptables": str(value).lower(), "source": _source(cfg, "iptables")}
    if value is False:
        return [warn("iptables management is disabled", setting_ref("iptables"), **evidence)]
    return [passed("Docker manages iptables", **evidence)]


# -- 2.5 ---------------------------------------------------------------------


def check_2_5(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is not None and isinstance(doc.get("RegistryConfig"), dict):
        reg = doc["RegistryConfig"]
        cidrs = [str(c) for c in reg.get("InsecureRegistryCIDRs") or () if str(c) not in DEFAULT_INSECURE_CIDRS]
        names = sorted(
            str(name)
            for name, index in (reg.get("IndexConfigs") or {}).items()
            if isinstance(index, dict) and index.get("Secure") is False
        )
        source = "docker info"
    else:
        cfg = daemon_config(snap)
        configured = [str(r) for r in cfg.get("insecure-registries") or ()]
        cidrs = [r for r in configured if "/" in r and r not in DEFAULT_INSECURE_CIDRS]
        names = [r for r in configured if "/" not in r]
        source = _source(cfg, "insecure-registries")
    found = [
        warn(f"Insecure registry {r}", ObjectRef("setting", "insecure-registries", r), registry=r, source=source)
        for r in [*cidrs, *names]
    ]
    return found or [passed("No insecure registries beyond the loopback default", source=source)]


# -- 2.6 ---------------------------------------------------------------------


def check_2_6(snap: HostSnapshot) -> list[Finding]:
    driver = (snap.info or {}).get("Driver")
    source = "docker info"
    if not driver:
        cfg = daemon_config(snap)
        driver = cfg.get("storage-driver")
        source = _source(cfg, "storage-driver")
        if not driver:
            raise NotCollected("the storage driver is unknown: no docker info and none configured")
    if driver == "aufs":
        return [warn("The aufs storage driver is in use", setting_ref("storage-driver"), driver=driver, source=source)]
    return [passed(f"The storage driver is {driver}", driver=str(driver), source=source)]


# -- 2.7 ---------------------------------------------------------------------


def _tcp_hosts(cfg: DaemonConfig) -> list[str]:
    hosts = cfg.get("hosts") or []
    if isinstance(hosts, str):
        hosts = [hosts]
    local = ("unix://", "fd://", "npipe://")
    return [str(h) for h in hosts if not str(h).startswith(local)]


def check_2_7(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    tcp = _tcp_hosts(cfg)
    if not tcp:
        return [info("The daemon does not listen on TCP", hosts=[str(h) for h in cfg.get("hosts") or []])]
    verify = cfg.get("tlsverify") is True
    # DOCKER_TLS_VERIFY in dockerd's own environment turns --tlsverify on unless it is set explicitly.
    env_verify = require_facts(snap).dockerd_environment.get("DOCKER_TLS_VERIFY", "")
    if env_verify and not cfg.is_set("tlsverify"):
        verify = True
    tls = verify or cfg.get("tls") is True
    evidence: dict[str, Any] = {"tls": tls, "tlsverify": verify}
    if env_verify:
        evidence["DOCKER_TLS_VERIFY"] = env_verify
    if verify:
        return [passed("TCP listeners require client certificates", hosts=tcp, **evidence)]
    message = "without client certificate verification" if tls else "without TLS"
    return [
        warn(f"The daemon listens on {h} {message}", ObjectRef("setting", "hosts", h), host=h, **evidence) for h in tcp
    ]


# -- 2.8 ---------------------------------------------------------------------


def _ulimit_text(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('Soft')}:{value.get('Hard')}"
    return str(value)


def check_2_8(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    limits = cfg.get("default-ulimits") or {}
    if not isinstance(limits, dict) or not limits:
        return [info("No default ulimit is set; containers inherit the daemon's limits", default_ulimits={})]
    shown = {str(name): _ulimit_text(value) for name, value in sorted(limits.items())}
    return [
        info(
            "Review the default ulimits against your policy",
            default_ulimits=shown,
            source=_source(cfg, "default-ulimits"),
        )
    ]


# -- 2.9 ---------------------------------------------------------------------


def check_2_9(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is not None and doc.get("SecurityOptions") is not None:
        options = _security_options(doc)
        if _has_security_option(doc, "userns"):
            return [passed("User namespace remapping is enabled", security_options=options)]
        if _has_security_option(doc, "rootless"):
            return [passed("The daemon runs rootless, inside a user namespace", security_options=options)]
        return [warn("User namespace remapping is not enabled", setting_ref("userns-remap"), security_options=options)]
    cfg = daemon_config(snap)
    remap = cfg.get("userns-remap")
    if remap:
        return [passed("User namespace remapping is enabled", userns_remap=str(remap))]
    return [warn("User namespace remapping is not enabled", setting_ref("userns-remap"), userns_remap="")]


# -- 2.10 --------------------------------------------------------------------


def check_2_10(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    parent = cfg.get("cgroup-parent")
    if parent:
        return [
            warn(
                f"The default cgroup parent is changed to {parent}; confirm this is intended",
                setting_ref("cgroup-parent"),
                cgroup_parent=str(parent),
                source=_source(cfg, "cgroup-parent"),
            )
        ]
    return [passed("The default cgroup parent is unchanged", cgroup_parent="")]


# -- 2.11 --------------------------------------------------------------------


def check_2_11(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    opts = cfg.get("storage-opts") or []
    if isinstance(opts, str):
        opts = [opts]
    found = [
        warn(f"The base device size is changed: {o}", setting_ref("storage-opts"), storage_opt=str(o))
        for o in opts
        if str(o).strip().startswith("dm.basesize")
    ]
    return found or [passed("The base device size is unchanged", storage_opts=[str(o) for o in opts])]


# -- 2.12 --------------------------------------------------------------------


def check_2_12(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is not None and isinstance(doc.get("Plugins"), dict):
        plugins = [str(p) for p in doc["Plugins"].get("Authorization") or ()]
        source = "docker info"
    else:
        cfg = daemon_config(snap)
        plugins = [str(p) for p in cfg.get("authorization-plugins") or ()]
        source = _source(cfg, "authorization-plugins")
    if plugins:
        return [passed("Authorization plugins are enabled", plugins=plugins, source=source)]
    return [warn("No authorization plugin is enabled", setting_ref("authorization-plugins"), plugins=[], source=source)]


# -- 2.13 --------------------------------------------------------------------


def check_2_13(snap: HostSnapshot) -> list[Finding]:
    driver = (snap.info or {}).get("LoggingDriver")
    source = "docker info"
    if not driver:
        cfg = daemon_config(snap)
        driver = cfg.get("log-driver") or "json-file"
        source = _source(cfg, "log-driver")
    if driver in LOCAL_LOG_DRIVERS:
        return [
            warn(
                f"The default log driver {driver} keeps logs on this host only",
                setting_ref("log-driver"),
                log_driver=driver,
                source=source,
            )
        ]
    return [passed(f"The default log driver is {driver}", log_driver=str(driver), source=source)]


# -- 2.14 --------------------------------------------------------------------


def check_2_14(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    value = cfg.get("no-new-privileges", False)
    evidence = {"no_new_privileges": str(value).lower(), "source": _source(cfg, "no-new-privileges")}
    if value is True:
        return [passed("Containers cannot gain new privileges by default", **evidence)]
    return [warn("no-new-privileges is not set daemon-wide", setting_ref("no-new-privileges"), **evidence)]


# -- 2.15 --------------------------------------------------------------------


def check_2_15(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is not None and "LiveRestoreEnabled" in doc:
        swarm = str((doc.get("Swarm") or {}).get("LocalNodeState") or "")
        if doc.get("LiveRestoreEnabled") is True:
            return [passed("Live restore is enabled", live_restore=True, source="docker info")]
        if swarm == "active":
            return [passed("Live restore does not apply: swarm mode is active", live_restore=False, swarm=swarm)]
        return [warn("Live restore is disabled", setting_ref("live-restore"), live_restore=False, source="docker info")]
    cfg = daemon_config(snap)
    if cfg.get("live-restore") is True:
        return [passed("Live restore is enabled", live_restore=True, source=_source(cfg, "live-restore"))]
    return [
        warn(
            "Live restore is disabled",
            setting_ref("live-restore"),
            live_restore=False,
            source=_source(cfg, "live-restore"),
        )
    ]


# -- 2.16 --------------------------------------------------------------------


def check_2_16(snap: HostSnapshot) -> list[Finding]:
    cfg = daemon_config(snap)
    value = cfg.get("userland-proxy", True)
    evidence = {"userland_proxy": str(value).lower(), "source": _source(cfg, "userland-proxy")}
    if value is False:
        return [passed("The userland proxy is disabled", **evidence)]
    return [warn("The userland proxy is enabled", setting_ref("userland-proxy"), **evidence)]


# -- 2.17 --------------------------------------------------------------------


def check_2_17(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is not None and doc.get("SecurityOptions") is not None:
        seccomp = [o for o in _security_options(doc) if o == "name=seccomp" or o.startswith("name=seccomp,")]
        if not seccomp:
            return [info("Seccomp is not enabled in this daemon; review whether it should be", seccomp_profile="")]
        fields = dict(part.partition("=")[::2] for part in seccomp[0].split(","))
        profile = fields.get("profile", "default")
        return [
            info(
                f"The daemon-wide seccomp profile is {profile}; review it suits your workloads", seccomp_profile=profile
            )
        ]
    cfg = daemon_config(snap)
    profile = str(cfg.get("seccomp-profile") or "default")
    return [
        info(f"The daemon-wide seccomp profile is {profile}; review it suits your workloads", seccomp_profile=profile)
    ]


# -- 2.18 --------------------------------------------------------------------


def check_2_18(snap: HostSnapshot) -> list[Finding]:
    doc = snap.info
    if doc is not None and "ExperimentalBuild" in doc:
        enabled = doc.get("ExperimentalBuild") is True
        source = "docker info"
    else:
        cfg = daemon_config(snap)
        enabled = cfg.get("experimental") is True
        source = _source(cfg, "experimental")
    if enabled:
        return [
            warn("Experimental features are enabled", setting_ref("experimental"), experimental=True, source=source)
        ]
    return [passed("Experimental features are disabled", experimental=False, source=source)]


CHECKS: dict[str, CheckFn] = {
    "2.1": check_2_1,
    "2.2": check_2_2,
    "2.3": check_2_3,
    "2.4": check_2_4,
    "2.5": check_2_5,
    "2.6": check_2_6,
    "2.7": check_2_7,
    "2.8": check_2_8,
    "2.9": check_2_9,
    "2.10": check_2_10,
    "2.11": check_2_11,
    "2.12": check_2_12,
    "2.13": check_2_13,
    "2.14": check_2_14,
    "2.15": check_2_15,
    "2.16": check_2_16,
    "2.17": check_2_17,
    "2.18": check_2_18,
}
