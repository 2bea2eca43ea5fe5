"""What the checks produce: statuses, findings and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status, not a password; the recommendation is met
    WARN = "WARN"  # it is not met; one result per offending object
    INFO = "INFO"  # worth knowing, nothing to judge automatically
    NOTE = "NOTE"  # a manual recommendation: here is what to review
    SKIP = "SKIP"  # the data this check needs was not collected; never a PASS
    ERROR = "ERROR"  # the check itself failed; the rest of the run went on


@dataclass(frozen=True)
class ObjectRef:
    """The thing a finding is about."""

    kind: str  # "container", "image", "file", "setting", "network", "node", "service", "user", "host"
    id: str = ""
    name: str = ""


@dataclass(frozen=True)
class Finding:
    """One verdict of a check, before the runner stamps it with the check id."""

    status: Status
    message: str = ""
    object: ObjectRef | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """One row of an audit: a check's verdict on one object (or on the host)."""

    check_id: str
    status: Status
    message: str = ""
    object: ObjectRef | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
