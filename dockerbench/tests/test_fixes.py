"""fixes_for: the host's and its containers' fixes together, for the stored host fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerbench.fixes import fixes_for
from dockerbench.results import Status
from dockerbench.runner import evaluate
from dockerbench.snapshot import HostSnapshot

FIXTURES = Path(__file__).parent / "fixtures" / "hosts"


@pytest.mark.parametrize("name", ["misconfigured", "default", "hardened"])
def test_every_warn_of_a_fixed_section_has_a_change_and_each_change_names_a_warn(name: str) -> None:
    snapshot = HostSnapshot.from_json((FIXTURES / f"{name}.json").read_text())
    results = evaluate(snapshot)
    fixes = fixes_for(snapshot, results)
    warned = {r.check_id for r in results if r.status is Status.WARN}
    files = [f for f in (fixes.daemon_json, fixes.audit_rules, fixes.permissions) if f is not None]
    changes = [c for f in files for c in f.changes] + [c for cf in fixes.containers for c in cf.changes]
    assert {c.check_id for c in changes} <= warned  # nothing is changed that nothing asked for
    for section in ("2", "3"):
        wanted = {c for c in warned if c.startswith(f"{section}.")}
        assert wanted <= {c.check_id for c in changes}, f"section {section} WARNs without a change"
    running = {c.name for c in snapshot.audited_containers}
    assert {cf.name for cf in fixes.containers} <= running
