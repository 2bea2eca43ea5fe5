"""The host's own fixes: a daemon.json (section 2), audit rules (section 1) and a permissions script (section 3).

Each function reads one snapshot and its results and writes one file for a person to review, each line
naming the check it fixes; nothing is applied. A change that cannot be written as a line that works on
this host (it needs the user's input, or the option is given as a dockerd flag, which daemon.json cannot
override: dockerd refuses to start when an option is in both) is a ``Change`` with ``review`` set, and
is left out of the file.

``HOST_FIXES`` says, for every section 1, 2 and 3 check, what it gets: ``"fix: ..."`` (written as a
working line), ``"review: ..."`` (named in the bundle, a person decides or supplies something) or
``"advice: ..."`` (nothing to write: the catalog's remediation is the advice), and why.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockerbench.catalog import BY_ID
from dockerbench.checks._helpers import NotCollected
from dockerbench.checks.daemon import daemon_config
from dockerbench.checks.files import MODE_LIMITS, OWNERS
from dockerbench.daemonconfig import BOOL_FLAGS, LIST_FLAGS, MAP_FLAGS, RENAMED, SHORT_FLAGS, DaemonConfig
from dockerbench.fixes.model import Change, FileFix
from dockerbench.results import Result, Status
from dockerbench.snapshot import HostSnapshot

__all__ = ["HOST_FIXES", "audit_rules", "daemon_json_patch", "permissions_script"]

# What each section 3 check wants (an owner, or a mode limit): the checks' own tables, so a fix cannot drift
# from what the check judges.
_OWNERS: dict[str, str] = {check_id: f"{user}:{group}" for check_id, (user, group) in OWNERS.items()}
_LIMITS: dict[str, int] = MODE_LIMITS
_SOCKET_CHECKS = frozenset({"3.15", "3.16", "3.23", "3.24"})

_AUDIT_FIX = "fix: an auditctl watch on the exact path found, in audit.rules"
_OWNER_FIX = "fix: chown of the exact file found, in permissions.sh"
_MODE_FIX = "fix: chmod of the exact file found to the check's limit (bits only removed), in permissions.sh"
_SOCKET = " (dockerd re-creates its socket when it starts: make it last in its --group / socket unit too)"

HOST_FIXES: dict[str, str] = {
    "1.1.1": "advice: a separate partition for the data root means repartitioning and moving the data, "
    "with the daemon stopped",
    "1.1.2": "review: only a person can tell which members of the docker group should be there",
    **{f"1.1.{n}": _AUDIT_FIX for n in range(3, 19)},
    "1.2.1": "advice: host hardening is the OS benchmark's job, not a file dockerbench can write",
    "1.2.2": "advice: upgrading the engine is a package upgrade to plan, not a configuration line",
    "2.1": "advice: rootless mode is a reinstall of the daemon under a user, not a daemon.json key",
    "2.2": 'fix: "icc": false in daemon.json (review when iptables stays off: dockerd refuses icc=false '
    "without iptables; or when given as a flag)",
    "2.3": 'fix: "log-level": "info" / "debug": false in daemon.json (review when given as a flag)',
    "2.4": 'fix: "iptables": true in daemon.json (review when given as a flag)',
    "2.5": "review: the registry must serve TLS with a trusted certificate before it leaves insecure-registries, "
    "or every pull and push to it breaks",
    "2.6": "review: changing the storage driver hides every image, container and layer of the old one",
    "2.7": "review: TLS needs a CA and a server certificate for this host that only its owner can issue",
    "2.8": "advice: default ulimits depend on the workloads; the check only informs",
    "2.9": 'review: "userns-remap" needs a subordinate uid/gid mapping, and moves images and volumes under '
    "the remapped root",
    "2.10": "review: only the owner knows whether the changed cgroup parent is intended",
    "2.11": "review: the base device size may have been raised on purpose",
    "2.12": "review: needs an authorization plugin installed, and its policy",
    "2.13": "review: needs the address of the central log server",
    "2.14": 'fix: "no-new-privileges": true in daemon.json (review when given as a flag)',
    "2.15": 'fix: "live-restore": true in daemon.json (review in swarm mode, which refuses it, or when given '
    "as a flag)",
    "2.16": 'fix: "userland-proxy": false in daemon.json (review when given as a flag)',
    "2.17": "advice: a custom seccomp profile is written for the workloads; the check only informs",
    "2.18": 'fix: "experimental": false in daemon.json (review when given as a flag)',
    **{cid: _OWNER_FIX + (_SOCKET if cid in _SOCKET_CHECKS else "") for cid in _OWNERS},
    **{cid: _MODE_FIX + (_SOCKET if cid in _SOCKET_CHECKS else "") for cid in _LIMITS},
}
HOST_FIXES = dict(sorted(HOST_FIXES.items(), key=lambda item: [int(n) for n in item[0].split(".")]))


def _title(check_id: str) -> str:
    rec = BY_ID.get(check_id)
    return _one_line(rec.title) if rec else ""


def _one_line(text: str) -> str:
    """Text safe on one comment line: no line breaks or other control characters."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", text).strip()


def _warns(results: Iterable[Result], section: str) -> list[Result]:
    return [r for r in results if r.status is Status.WARN and r.check_id.split(".")[0] == section]


def _host_name(snapshot: HostSnapshot) -> str:
    return _one_line(str((snapshot.info or {}).get("Name") or snapshot.target))


def _json_value(key: str, value: Any) -> str:
    return f"{json.dumps(key)}: {json.dumps(value)}"


# -- daemon.json (section 2) -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    check_id: str
    key: str
    value: Any
    why: str
    may_break: str = ""


# What each section 2 WARN needs a person for: what to change, and why it cannot be written here.
_REVIEWS: dict[str, tuple[str, str]] = {
    "2.5": (
        'remove the registry from "insecure-registries"',
        "serve the registry over TLS with a certificate this host trusts (certs.d) first: removing it before "
        "breaks every pull and push to it",
    ),
    "2.6": (
        '"storage-driver": "overlay2"',
        "a new storage driver hides every image, container and layer of aufs: save what you need and "
        "re-create it after the switch",
    ),
    "2.7": (
        '"tlsverify": true, "tlscacert", "tlscert", "tlskey"',
        "needs a CA and a server certificate for this host, which only its owner can issue",
    ),
    "2.9": (
        '"userns-remap": "default"',
        "needs a subordinate uid/gid range for the remap user; the daemon then keeps images and volumes under "
        "a new root, and containers that need --privileged, host namespaces or root-owned bind mounts may fail",
    ),
    "2.10": (
        'remove "cgroup-parent"',
        "only the owner knows whether the changed cgroup parent is intended",
    ),
    "2.11": (
        'remove "dm.basesize" from "storage-opts"',
        "the base device size may have been raised on purpose, for images that need it",
    ),
    "2.12": (
        '"authorization-plugins": ["<plugin>"]',
        "needs an authorization plugin installed and a policy for it; naming one that is not installed stops "
        "dockerd from starting",
    ),
    "2.13": (
        '"log-driver": "syslog", "log-opts": {"syslog-address": "<your log server>"}',
        "needs the address of the central log server",
    ),
}


def _was(cfg: DaemonConfig | None, key: str, default: Any) -> str:
    if cfg is None:
        return ""
    value = cfg.get(key, default)
    where = {"flag": "given as a flag", "daemon.json": "in daemon.json"}.get(cfg.source.get(key, ""), "the default")
    return f" (now {json.dumps(value)}, {where})"


def _settings(result: Result, cfg: DaemonConfig | None) -> list[_Setting]:
    """The daemon.json keys that fix one section 2 WARN, as far as they can be written."""
    cid = result.check_id
    if cid == "2.2":
        return [
            _Setting(
                cid,
                "icc",
                False,
                "containers on the default bridge can no longer reach each other" + _was(cfg, "icc", True),
                "containers on the default bridge that talk to each other (--link) need a user-defined network",
            )
        ]
    if cid == "2.3":
        out = []
        debug = result.evidence.get("debug") is True or (cfg is not None and cfg.get("debug") is True)
        if debug:
            out.append(_Setting(cid, "debug", False, "the daemon logs at info, not debug" + _was(cfg, "debug", False)))
        level = cfg.get("log-level") if cfg is not None else result.evidence.get("log_level")
        if level not in (None, "", "info") or not debug:
            out.append(_Setting(cid, "log-level", "info", "the daemon logs at info" + _was(cfg, "log-level", "info")))
        return out
    if cid == "2.4":
        return [
            _Setting(
                cid,
                "iptables",
                True,
                "Docker manages the iptables rules its networks need" + _was(cfg, "iptables", True),
                "Docker adds its own chains and NAT rules: if another tool manages this firewall, check they "
                "agree (your own rules go in DOCKER-USER)",
            )
        ]
    if cid == "2.14":
        return [
            _Setting(
                cid,
                "no-new-privileges",
                True,
                "containers cannot gain privileges through setuid binaries" + _was(cfg, "no-new-privileges", False),
                "programs that rely on setuid or file capabilities inside a container (sudo, ping) stop working",
            )
        ]
    if cid == "2.15":
        return [
            _Setting(
                cid,
                "live-restore",
                True,
                "containers keep running while the daemon restarts" + _was(cfg, "live-restore", False),
            )
        ]
    if cid == "2.16":
        iptables_off = cfg is not None and cfg.get("iptables", True) is False
        return [
            _Setting(
                cid,
                "userland-proxy",
                False,
                "published ports are forwarded by iptables, not docker-proxy" + _was(cfg, "userland-proxy", True),
                "published ports then depend on iptables NAT"
                + (" (off on this host: they become unreachable until 2.4 is fixed)" if iptables_off else "")
                + "; reaching them on localhost needs route_localnet on some kernels",
            )
        ]
    if cid == "2.18":
        return [
            _Setting(
                cid,
                "experimental",
                False,
                "experimental features are turned off" + _was(cfg, "experimental", False),
                "anything that uses an experimental feature (checkpoints) stops working",
            )
        ]
    return []


def _canonical_flag(arg: str) -> str:
    name = arg.partition("=")[0]
    name = SHORT_FLAGS.get(name, name.lstrip("-"))
    name = RENAMED.get(name, name)
    return LIST_FLAGS.get(name) or MAP_FLAGS.get(name) or name


def _flag_words(argv: tuple[str, ...], key: str) -> str:
    """The words of dockerd's command line that set ``key``, as typed (``--iptables=false``)."""
    words: list[str] = []
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-"):
            continue
        name = _canonical_flag(arg)
        takes_value = "=" not in arg and name not in BOOL_FLAGS and i < len(args)
        if name == key:
            words.append(shlex.join([arg, args[i]]) if takes_value else shlex.quote(arg))
        if takes_value:
            i += 1
    return " ".join(words) or f"--{key}"


def _as_flag(key: str, value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return shlex.quote(f"--{key}={text}")


def _host_daemon_json(snapshot: HostSnapshot, cfg: DaemonConfig | None) -> dict[str, Any]:
    """The daemon.json the daemon reads, as the host has it (in its order), or {} when it has none."""
    if cfg is None or snapshot.facts is None:
        return {}
    text = snapshot.facts.contents.get(cfg.config_file) or snapshot.facts.contents.get(
        snapshot.facts.roles.get("daemon.json", "")
    )
    if not text or not text.strip():
        return {}
    loaded = json.loads(text)  # daemon_config() has already refused a daemon.json that is not an object
    return dict(loaded) if isinstance(loaded, dict) else {}


def daemon_json_patch(snapshot: HostSnapshot, results: list[Result]) -> FileFix | None:
    """The daemon.json this daemon should read: the one it has, with the keys its section 2 WARNs call for.

    Every setting the host's daemon.json has is kept, in its order; keys are only added or altered. A key
    given as a dockerd flag is not written (dockerd refuses to start when an option is in both places): its
    Change is for review and names the flag to change instead. None when no section 2 check WARNs.
    """
    warns = _warns(results, "2")
    if not warns:
        return None
    unknown = ""
    cfg: DaemonConfig | None
    try:
        cfg = daemon_config(snapshot)
    except NotCollected as exc:
        cfg, unknown = None, str(exc)
    argv = snapshot.facts.dockerd.argv if snapshot.facts and snapshot.facts.dockerd else ()
    base = _host_daemon_json(snapshot, cfg)

    changes: list[Change] = []
    wanted: list[_Setting] = []
    seen: set[str] = set()
    for result in warns:
        if result.check_id in _REVIEWS:
            what, reason = _REVIEWS[result.check_id]
            if result.check_id == "2.5" and result.evidence.get("registry"):
                what = f'remove {json.dumps(result.evidence["registry"])} from "insecure-registries"'
            changes.append(Change(result.check_id, what, result.message, review=reason))
            continue
        for setting in _settings(result, cfg):
            if setting.key not in seen:
                seen.add(setting.key)
                wanted.append(setting)

    patched = dict(base)
    written: list[_Setting] = []
    for setting in wanted:
        if cfg is not None and cfg.source.get(setting.key) == "flag":
            changes.append(
                Change(
                    setting.check_id,
                    _json_value(setting.key, setting.value),
                    setting.why,
                    setting.may_break,
                    review=f"given as a flag on dockerd's command line ({_flag_words(argv, setting.key)}): "
                    f"daemon.json cannot override it and dockerd refuses to start when both set it; change the "
                    f"flag to {_as_flag(setting.key, setting.value)} (or remove it and keep this key)",
                )
            )
            continue
        patched[setting.key] = setting.value
        written.append(setting)

    # dockerd refuses icc=false while iptables is off: keep it out unless iptables ends up on.
    iptables_on = patched.get("iptables", cfg.get("iptables", True) if cfg is not None else True) is not False
    swarm = ((snapshot.info or {}).get("Swarm") or {}).get("LocalNodeState") == "active"
    for setting in written:
        review = ""
        if setting.key == "icc" and not iptables_on:
            how = _flag_words(argv, "iptables") if cfg is not None and cfg.source.get("iptables") == "flag" else ""
            review = (
                "dockerd refuses to start with icc=false while iptables is off"
                + (f" (given as the flag {how}; see 2.4)" if how else "")
                + ": turn iptables on first"
            )
        elif setting.key == "live-restore" and swarm:
            review = "dockerd refuses live-restore in swarm mode"
        if review:
            del patched[setting.key]
        elif unknown:
            # Kept in the file, which then holds only the changes: there is nothing known to merge them into.
            review = (
                f"this daemon's configuration is unknown ({unknown}): merge the key by hand into the daemon.json "
                "it reads, after checking its command line does not set it"
            )
        changes.append(
            Change(setting.check_id, _json_value(setting.key, setting.value), setting.why, setting.may_break, review)
        )
    order = {r.check_id: i for i, r in enumerate(warns)}
    changes.sort(key=lambda c: order.get(c.check_id, 0))
    return FileFix("daemon.json", json.dumps(patched, indent=2) + "\n", tuple(changes))


# -- audit rules (section 1) -----------------------------------------------------------------------

_AUDIT_CHECKS = frozenset(f"1.1.{n}" for n in range(3, 19))
# auditctl splits a rule on white space and knows no quoting.
_UNSAFE_AUDIT_PATH = re.compile(r"[\s\x00-\x1f\x7f]")


def _audit_permissions(check_id: str) -> str:
    """The -p filter the catalog's rule for this check uses ("wa" for busy trees), or "" for every access."""
    rec = BY_ID.get(check_id)
    for fix in rec.fixes if rec else ():
        if fix.kind == "audit rule":
            words = fix.text.split()
            if "-p" in words[:-1]:
                return words[words.index("-p") + 1]
    return ""


def audit_rules(snapshot: HostSnapshot, results: list[Result]) -> FileFix | None:
    """auditd watches (``-w PATH -k docker``) for the exact paths section 1's audit checks found unwatched.

    Each rule follows a ``# <check id> <title>`` comment; a path two checks share is watched once (auditctl
    refuses a duplicate rule). None when no audit check WARNs.
    """
    warns = [r for r in results if r.status is Status.WARN and r.check_id in _AUDIT_CHECKS]
    if not warns:
        return None
    lines = [
        f"# dockerbench: audit rules for {_host_name(snapshot)} (CIS Docker Benchmark v1.6.0, section 1.1)",
        "# Review, then install as /etc/audit/rules.d/docker.rules and load them with: augenrules --load",
    ]
    changes: list[Change] = []
    written: dict[str, str] = {}
    for result in warns:
        path = str(result.evidence.get("path") or (result.object.id if result.object else ""))
        perms = _audit_permissions(result.check_id)
        rule = f"-w {path} -p {perms} -k docker" if perms else f"-w {path} -k docker"
        why = f"auditd records {'writes and attribute changes to' if perms else 'every access to'} {path}"
        if not path.startswith("/") or _UNSAFE_AUDIT_PATH.search(path):
            review = "auditctl rules cannot hold this path (not absolute, or white space or control characters)"
            changes.append(Change(result.check_id, rule, why, review=review))
            continue
        lines += ["", f"# {result.check_id} {_title(result.check_id)}"]
        if path in written:
            lines.append(f"# already watched above, for {written[path]}")
        else:
            lines.append(rule)
            written[path] = result.check_id
        changes.append(Change(result.check_id, rule, why))
    return FileFix("audit.rules", "\n".join(lines) + "\n", tuple(changes))


# -- permissions (section 3) -----------------------------------------------------------------------


def _socket_note(check_id: str) -> str:
    if check_id not in _SOCKET_CHECKS:
        return ""
    return (
        "the daemon re-creates its socket when it starts: for the change to last, set the same in its "
        "--group flag or in the socket unit (SocketUser/SocketGroup/SocketMode)"
    )


def permissions_script(snapshot: HostSnapshot, results: list[Result]) -> FileFix | None:
    """A ``/bin/sh`` script of one chown/chmod per file section 3 found wrong, for the exact path found.

    chmod only removes bits: the mode becomes the current one within the check's limit (666 under 644 is
    644, 600 stays 600), so nothing gets looser. Per file, chown comes first, since chown may clear setuid
    bits. None when no section 3 check WARNs.
    """
    warns = [r for r in _warns(results, "3") if r.check_id in _OWNERS or r.check_id in _LIMITS]
    if not warns:
        return None
    by_path: dict[str, list[Result]] = {}
    changes: list[Change] = []
    for result in warns:
        path = str(result.evidence.get("path") or "")
        if not path.startswith("/"):
            review = f"no absolute path in the evidence ({path!r}): find the file by hand"
            changes.append(Change(result.check_id, "", result.message, review=review))
            continue
        by_path.setdefault(path, []).append(result)

    lines = [
        "#!/bin/sh",
        f"# dockerbench: ownership and permissions of the Docker files of {_host_name(snapshot)}",
        "# (CIS Docker Benchmark v1.6.0, section 3). Review, then run as root. Modes only lose bits.",
        "set -eu",
    ]
    for path, found in by_path.items():
        quoted = shlex.quote(path)
        owners = [r for r in found if r.check_id in _OWNERS]
        for i, result in enumerate(owners):
            owner = _OWNERS[result.check_id]
            what = f"chown {owner} {quoted}"
            if i and owner != _OWNERS[owners[0].check_id]:
                review = f"{owners[0].check_id} wants {_OWNERS[owners[0].check_id]} for the same file"
                changes.append(Change(result.check_id, what, result.message, review=review))
                continue
            may_break = _socket_note(result.check_id)
            if owner.endswith(":docker"):
                may_break = "fails, and stops the script, on a host without a docker group; " + may_break
            lines += ["", f"# {result.check_id} {_title(result.check_id)}"]
            lines += ["# done by the chown above"] if i else _command(what, path)
            changes.append(Change(result.check_id, what, f"{path} is owned by {owner}", may_break))
        modes = [r for r in found if r.check_id in _LIMITS]
        if not modes:
            continue
        target = _current_mode(modes[0])
        for result in modes:
            target &= _LIMITS[result.check_id]
        what = f"chmod {target:03o} {quoted}"
        for i, result in enumerate(modes):
            lines += ["", f"# {result.check_id} {_title(result.check_id)}"]
            lines += _command(what, path) if i == 0 else ["# done by the chmod above"]
            changes.append(
                Change(
                    result.check_id,
                    what,
                    f"{path} goes from {result.evidence.get('mode')} to {target:03o}",
                    _socket_note(result.check_id),
                )
            )
    return FileFix("permissions.sh", "\n".join(lines) + "\n", tuple(changes))


def _command(line: str, path: str) -> list[str]:
    """The command line, after a shellcheck directive when the quoted path holds what looks like an expansion."""
    if "$" in path or "`" in path:
        return ["# shellcheck disable=SC2016 # the $ or ` is part of the file's name, quoted on purpose", line]
    return [line]


def _current_mode(result: Result) -> int:
    """The file's mode as the check saw it; without it, the limit alone (the mode the check names)."""
    try:
        return int(str(result.evidence.get("mode")), 8)
    except ValueError:
        return 0o7777
