"""What a fix is: the dataclasses every part of dockerbench.fixes writes and reads."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Change:
    """One fix: what changes, for which check, and what it may break."""

    check_id: str
    what: str  # the change itself, as written: "--cap-drop ALL", '"icc": false', "chmod 644 /etc/docker/…"
    why: str  # what it fixes, in words
    may_break: str = ""  # what a reviewer should know before applying it; "" when nothing is expected
    review: str = ""  # non-empty: not written as a working line; the reason it needs a person


@dataclass(frozen=True)
class ContainerFix:
    """A container with WARN findings in sections 4 and 5: how it runs today, and hardened."""

    container_id: str
    name: str
    current_run: str  # a docker run command line reconstructed from its inspect data
    fixed_run: str
    current_compose: str  # a compose file (YAML) with the one service
    fixed_compose: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class FileFix:
    """One host file of the bundle (daemon.json, audit rules, permissions script) and what it changes."""

    filename: str
    content: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class HostFixes:
    host: str
    daemon_json: FileFix | None = None
    audit_rules: FileFix | None = None
    permissions: FileFix | None = None
    containers: tuple[ContainerFix, ...] = field(default_factory=tuple)
