"""The daemon's effective configuration: dockerd's command line merged with daemon.json.

Options are named by their daemon.json keys ("insecure-registries",
"log-level", ...), whichever of the two places set them. dockerd refuses to
start when the same option is in both, so the merge never has to pick a winner;
if a host somehow has both, the command line is reported, as it is what the
operator typed last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Flags that take no value (``--icc`` alone means true; ``--icc=false`` is explicit).
BOOL_FLAGS = {
    "debug",
    "experimental",
    "icc",
    "init",
    "ip-forward",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "live-restore",
    "no-new-privileges",
    "raw-logs",
    "rootless",
    "selinux-enabled",
    "tls",
    "tlsverify",
    "userland-proxy",
    "validate",
    "version",
    "help",
}

SHORT_FLAGS = {
    "-H": "host",
    "-D": "debug",
    "-l": "log-level",
    "-g": "data-root",
    "-s": "storage-driver",
    "-b": "bridge",
    "-G": "group",
    "-p": "pidfile",
}

# Flags that may repeat, and the daemon.json key that holds their list.
LIST_FLAGS = {
    "host": "hosts",
    "insecure-registry": "insecure-registries",
    "registry-mirror": "registry-mirrors",
    "storage-opt": "storage-opts",
    "authorization-plugin": "authorization-plugins",
    "label": "labels",
    "dns": "dns",
    "dns-opt": "dns-opts",
    "dns-search": "dns-search",
    "exec-opt": "exec-opts",
    "allow-nondistributable-artifacts": "allow-nondistributable-artifacts",
    "default-address-pool": "default-address-pools",
}

# Flags of the form key=value that may repeat, and their daemon.json map.
MAP_FLAGS = {"log-opt": "log-opts", "default-ulimit": "default-ulimits", "add-runtime": "runtimes"}

RENAMED = {"graph": "data-root"}


@dataclass(frozen=True)
class DaemonConfig:
    options: dict[str, Any] = field(default_factory=dict)  # effective, by daemon.json key
    source: dict[str, str] = field(default_factory=dict)  # key -> "flag" or "daemon.json"
    config_file: str = "/etc/docker/daemon.json"
    errors: tuple[str, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def is_set(self, key: str) -> bool:
        return key in self.options


def _bool(value: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    return value


def parse_argv(argv: tuple[str, ...] | list[str]) -> tuple[dict[str, Any], list[str]]:
    """Parse dockerd's arguments into daemon.json-style options."""
    options: dict[str, Any] = {}
    errors: list[str] = []
    args = list(argv[1:]) if argv and not argv[0].startswith("-") else list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("daemon",):  # ``docker daemon`` of old releases
            continue
        if not arg.startswith("-"):
            errors.append(f"unexpected argument {arg!r}")
            continue
        name, eq, value = arg.partition("=")
        name = SHORT_FLAGS.get(name, name.lstrip("-"))
        name = RENAMED.get(name, name)
        if name in BOOL_FLAGS:
            options[name] = _bool(value) if eq else True
            continue
        if not eq:
            if i >= len(args):
                errors.append(f"flag --{name} has no value")
                break
            value = args[i]
            i += 1
        if name in LIST_FLAGS:
            options.setdefault(LIST_FLAGS[name], []).append(value)
        elif name in MAP_FLAGS:
            key, _, val = value.partition("=")
            options.setdefault(MAP_FLAGS[name], {})[key] = val
        else:
            options[name] = value
    return options, errors


def effective(argv: tuple[str, ...] | list[str] | None, daemon_json_text: str | None) -> DaemonConfig:
    """Merge the command line and daemon.json into one DaemonConfig."""
    flags, errors = parse_argv(argv or ())
    options: dict[str, Any] = {}
    source: dict[str, str] = {}
    if daemon_json_text is not None and daemon_json_text.strip():
        try:
            loaded = json.loads(daemon_json_text)
        except ValueError as exc:
            errors.append(f"daemon.json is not valid JSON: {exc}")
        else:
            if isinstance(loaded, dict):
                for key, value in loaded.items():
                    options[key] = value
                    source[key] = "daemon.json"
            else:
                errors.append("daemon.json does not hold a JSON object")
    for key, value in flags.items():
        options[key] = value
        source[key] = "flag"
    config_file = str(flags.get("config-file") or "/etc/docker/daemon.json")
    return DaemonConfig(options, source, config_file, tuple(errors))
