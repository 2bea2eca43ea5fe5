"""The fact script's output, parsed from recordings of real runs (no daemon needed).

fixtures/facts/probe-two-dockerds.txt: a probe container started through a
second dockerd (own netns, data root and exec root) while the host's ran.
fixtures/facts/hostile-argv-and-path.txt: a local run while a process called
"dockerd" ran from a path and with arguments holding spaces, newlines and
bytes that are not UTF-8. Each .json beside it holds the truth of that run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dockerbench.collect.facts import FactsError, gather_facts, parse_mounts, parse_output
from dockerbench.snapshot import HostFacts, from_jsonable, to_jsonable

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def _load(name: str) -> tuple[bytes, dict[str, Any]]:
    return (FIXTURES / f"{name}.txt").read_bytes(), json.loads((FIXTURES / f"{name}.json").read_text())


class Replay:
    """Answers discover with a recording; later runs (stat of more paths) find nothing new."""

    def __init__(self, discover: bytes, method: str) -> None:
        self.discover = discover
        self.method = method
        self.calls: list[list[str]] = []

    def run(self, args: list[str]) -> bytes:
        self.calls.append(args)
        return self.discover if args[0] == "discover" else b"v 1\nend\n"


def _without(data: bytes, *tags: bytes) -> bytes:
    return b"".join(ln for ln in data.splitlines(keepends=True) if not ln.startswith(tags))


def test_it_picks_the_dockerd_holding_the_audited_socket() -> None:
    raw, truth = _load("probe-two-dockerds")
    facts = gather_facts(Replay(raw, "probe"), endpoint=truth["endpoint"], info={"DockerRootDir": "x"})
    assert facts.dockerd is not None
    assert (facts.dockerd.pid, list(facts.dockerd.argv)) == (truth["serving_pid"], truth["serving_argv"])
    assert facts.dockerd_match == "socket"


def test_without_socket_records_the_probe_uses_its_shim_address() -> None:
    raw, truth = _load("probe-two-dockerds")
    runner = Replay(_without(raw, b"listen ", b"fds "), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": "/elsewhere"})
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert facts.dockerd_match == "probe"


def test_without_socket_records_it_matches_the_data_root() -> None:
    raw, truth = _load("probe-two-dockerds")
    runner = Replay(_without(raw, b"listen ", b"fds ", b"anc "), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": truth["DockerRootDir"]})
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert facts.dockerd_match == "data-root"


def test_it_never_guesses_between_two_dockerds() -> None:
    raw, truth = _load("probe-two-dockerds")
    runner = Replay(_without(raw, b"listen ", b"fds ", b"anc "), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": "/nowhere"})
    assert facts.dockerd is None and facts.dockerd_match == ""
    assert "cannot tell which dockerd" in facts.errors["dockerd"]


def test_a_lone_dockerd_is_the_one() -> None:
    raw, truth = _load("probe-two-dockerds")
    others = tuple(
        ln.split(b" dockerd ")[0]
        for ln in raw.splitlines()
        if ln.startswith(b"proc ")
        and b" dockerd " in ln
        and not ln.startswith(f"proc {truth['serving_pid']} ".encode())
    )
    assert others  # the recording holds the host's dockerd too
    runner = Replay(_without(raw, b"listen ", b"fds ", b"anc ", *others), "probe")
    facts = gather_facts(runner, endpoint=truth["endpoint"], info={"DockerRootDir": "/nowhere"})
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert facts.dockerd_match == "only"


def test_the_managed_containerd_and_its_socket_are_the_serving_daemons() -> None:
    raw, truth = _load("probe-two-dockerds")
    disc = parse_output(raw)
    facts = gather_facts(Replay(raw, "probe"), endpoint=truth["endpoint"], info={"DockerRootDir": "x"})
    assert facts.containerd is not None
    (containerd,) = [p for p in disc.procs if p.pid == facts.containerd.pid]
    assert containerd.ppid == truth["serving_pid"]
    assert disc.canonical[truth["endpoint"][len("unix://") :]] == truth["endpoint"][len("unix://") :]


def test_hostile_argv_and_paths_are_decoded_exactly() -> None:
    raw, truth = _load("hostile-argv-and-path")
    disc = parse_output(raw)
    assert disc.complete and not disc.problems
    (proc,) = [p for p in disc.procs if p.pid == truth["pid"]]
    assert [os.fsencode(a).hex() for a in proc.argv] == truth["argv_hex"]
    assert any("\n" in a for a in proc.argv) and any(" " in a for a in proc.argv)
    script = os.fsdecode(bytes.fromhex(truth["script_hex"]))
    assert disc.stats[script].exists and disc.stats[script].kind == "file"


def test_hostile_strings_round_trip_through_json() -> None:
    raw, truth = _load("hostile-argv-and-path")
    disc = parse_output(raw)
    (proc,) = [p for p in disc.procs if p.pid == truth["pid"]]
    script = os.fsdecode(bytes.fromhex(truth["script_hex"]))
    facts = HostFacts(method="local", files={script: disc.stats[script]}, contents={script: "\udcff\n"})
    back = from_jsonable(HostFacts, json.loads(json.dumps(to_jsonable(facts))))
    assert back == facts
    assert os.fsencode(proc.argv[-4]) == b"\xff\xfenot utf-8"


def test_truncated_output_is_reported_not_raised() -> None:
    raw, truth = _load("probe-two-dockerds")
    cut = raw[: raw.index(b"\nmounts ")]
    facts = gather_facts(Replay(cut, "probe"), endpoint=truth["endpoint"], info={"DockerRootDir": "x"})
    assert "ended early" in facts.errors["script"]
    assert facts.dockerd is not None and facts.dockerd.pid == truth["serving_pid"]
    assert "mounts" in facts.errors


def test_malformed_lines_are_noted() -> None:
    disc = parse_output(b"v 1\nproc 12 notanumber dockerd x00\nstat zz ok\nwhat ever\nend\n")
    assert disc.complete
    assert len(disc.problems) == 3


def test_output_that_is_not_ours_raises() -> None:
    with pytest.raises(FactsError, match="no recognisable output"):
        parse_output(b"sh: syntax error\n")


def test_mount_fields_are_unescaped() -> None:
    (mount,) = parse_mounts("/dev/sda1 /mnt/with\\040space\\012nl ext4 rw,relatime 0 0\n")
    assert mount.target == "/mnt/with space\nnl"
    assert (mount.source, mount.fstype, mount.options) == ("/dev/sda1", "ext4", "rw,relatime")
