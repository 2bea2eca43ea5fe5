"""The checks, one module per CIS section (and ``secrets`` for our own, S.x), gathered in one explicit registry.

A check is a pure function ``HostSnapshot -> list[Finding]``. It returns one
WARN per offending object, or a single PASS; INFO/NOTE for manual
recommendations. It raises ``NotCollected`` when the data it needs is missing.
"""

from __future__ import annotations

from collections.abc import Callable

from dockerbench.checks import daemon, files, host, images, runtime, secops, secrets, swarm
from dockerbench.results import Finding
from dockerbench.snapshot import HostSnapshot

CheckFn = Callable[[HostSnapshot], list[Finding]]

REGISTRY: dict[str, CheckFn] = {
    **host.CHECKS,
    **daemon.CHECKS,
    **files.CHECKS,
    **images.CHECKS,
    **runtime.CHECKS,
    **secops.CHECKS,
    **swarm.CHECKS,
    **secrets.CHECKS,  # ours, beyond the benchmark: after the CIS checks, as runner.select orders them
}
