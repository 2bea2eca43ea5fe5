"""evaluate(snapshot) -> results: runs the registered checks in catalog order."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dockerbench.catalog import EXTRA_RECOMMENDATIONS, RECOMMENDATIONS, section_of
from dockerbench.checks import REGISTRY
from dockerbench.checks._helpers import NotCollected
from dockerbench.results import Result, Status
from dockerbench.snapshot import HostSnapshot

log = logging.getLogger(__name__)


def select(
    sections: Iterable[str] | None = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> list[str]:
    """Check ids in catalog order, filtered: the CIS ones, then our own (``EXTRA_RECOMMENDATIONS``, "S.1").

    ``include``/``exclude`` take ids or id prefixes: "5" is all of section 5,
    "1.1" all of 1.1.x, "5.4" only 5.4 (not 5.40), "S" all of our own.
    Section letters match in either case ("s.1" is "S.1").
    """
    sections_set = {s.upper() for s in sections or ()}
    inc = [p.upper() for p in include or ()]
    exc = [p.upper() for p in exclude or ()]

    def matches(check_id: str, patterns: list[str]) -> bool:
        return any(check_id == p or check_id.startswith(p + ".") for p in patterns)

    ids = []
    for rec in (*RECOMMENDATIONS, *EXTRA_RECOMMENDATIONS):
        if sections_set and section_of(rec.id) not in sections_set:
            continue
        if inc and not matches(rec.id, inc):
            continue
        if matches(rec.id, exc):
            continue
        ids.append(rec.id)
    return ids


def evaluate(snapshot: HostSnapshot, check_ids: Iterable[str] | None = None) -> list[Result]:
    """Run the checks on a snapshot. A crashing check becomes ERROR, never a crash."""
    results: list[Result] = []
    for check_id in check_ids if check_ids is not None else select():
        check = REGISTRY.get(check_id)
        if check is None:
            results.append(Result(check_id, Status.ERROR, "no check is registered for this id"))
            continue
        try:
            findings = check(snapshot)
        except NotCollected as exc:
            results.append(Result(check_id, Status.SKIP, f"not collected: {exc}"))
            continue
        except Exception as exc:  # a buggy check must not stop the audit
            log.exception("check %s failed", check_id)
            results.append(Result(check_id, Status.ERROR, f"{type(exc).__name__}: {exc}"))
            continue
        if not findings:
            results.append(Result(check_id, Status.ERROR, "the check returned no verdict"))
            continue
        results.extend(Result(check_id, f.status, f.message, f.object, f.evidence) for f in findings)
    return results
