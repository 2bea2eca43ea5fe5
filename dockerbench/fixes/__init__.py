"""Fixes, not advice: each host's and each container's own remediation, written from its snapshot.

Nothing here applies anything: every fix is a file to review. ``fixes_for(snapshot, results)`` gives the
host's fixes (``HostFixes``); ``bundle.layout(fixes)`` lays them out as the bundle the CLI (``--fixes DIR``),
the dashboard's download and the API write:

    README.md                              what each file is, and every change with its check id
    daemon.json                            the daemon.json to install: the host's own, merged with the fixes
    audit.rules                            auditd rules for the exact paths found (section 1)
    permissions.sh                         chown/chmod for the exact files and modes found (section 3)
    containers/<name>/run.sh               the container's hardened docker run line (today's in a comment)
    containers/<name>/compose.current.yml  the container as a compose service, as it runs today
    containers/<name>/compose.yml          the same service, hardened

Each ``Change`` names the check it fixes and what it may break; one that cannot be made safely from what
the snapshot shows is marked for review, with the reason, and is never written as a line that would fail.
"""

from __future__ import annotations

from dockerbench.fixes.containers import container_fixes
from dockerbench.fixes.host import audit_rules, daemon_json_patch, permissions_script
from dockerbench.fixes.model import Change, ContainerFix, FileFix, HostFixes
from dockerbench.results import Result
from dockerbench.snapshot import HostSnapshot

__all__ = ["Change", "ContainerFix", "FileFix", "HostFixes", "fixes_for"]


def fixes_for(snapshot: HostSnapshot, results: list[Result]) -> HostFixes:
    """Every fix the host's WARN results call for, written for its exact objects."""
    return HostFixes(
        host=str((snapshot.info or {}).get("Name") or snapshot.target),
        daemon_json=daemon_json_patch(snapshot, results),
        audit_rules=audit_rules(snapshot, results),
        permissions=permissions_script(snapshot, results),
        containers=tuple(container_fixes(snapshot, results)),
    )
