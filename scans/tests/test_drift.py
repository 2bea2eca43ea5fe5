from __future__ import annotations

import pytest

from scans.drift import new_since, suspicious_changes, suspicious_reason


@pytest.mark.parametrize(
    ("kind", "path", "words"),
    [
        ("A", "/bin/evil", "executable"),
        ("C", "/usr/local/bin/kubectl", "executable"),
        ("A", "/usr/lib/x86_64-linux-gnu/libc.so.6", "library"),
        ("A", "/lib64/ld-linux-x86-64.so.2", "library"),
        ("C", "/usr/sbin/sshd", "executable"),
        ("C", "/etc/passwd", "/etc/passwd"),
        ("C", "/etc/shadow", "/etc/shadow"),
        ("D", "/etc/shadow", "deleted"),
        ("C", "/etc/group", "/etc/group"),
        ("C", "/etc/sudoers", "sudo"),
        ("A", "/etc/sudoers.d/90-backdoor", "sudo"),
        ("C", "/etc/crontab", "scheduled job"),
        ("A", "/etc/cron.d/miner", "scheduled job"),
        ("A", "/etc/cron.hourly/x", "scheduled job"),
        ("A", "/var/spool/cron/crontabs/root", "scheduled job"),
        ("A", "/root/.ssh/authorized_keys", "SSH authorized keys"),
        ("C", "/home/app/.ssh/authorized_keys2", "SSH authorized keys"),
    ],
)
def test_it_flags_changes_worth_a_look_with_a_reason(kind: str, path: str, words: str) -> None:
    reason = suspicious_reason(kind, path)
    assert reason is not None and words in reason


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("C", "/bin"),  # the directory entry itself changes whenever anything in it does
        ("C", "/usr/lib"),
        ("D", "/usr/bin/apt"),  # removing a binary is not planting one
        ("A", "/tmp/bin/x"),
        ("A", "/var/lib/app/data.db"),
        ("C", "/etc/passwd-"),
        ("A", "/etc/cron.d"),
        ("C", "/root/.ssh/known_hosts"),
        ("A", "/app/binary"),
    ],
)
def test_it_leaves_ordinary_changes_alone(kind: str, path: str) -> None:
    assert suspicious_reason(kind, path) is None


def test_suspicious_changes_keep_the_path_as_given_and_the_order() -> None:
    changes = [["C", "/etc"], ["C", "/etc/passwd"], ["A", "/tmp/<img src=x>"], ["A", "/bin/<img src=x>"]]
    flagged = suspicious_changes(changes)
    assert [(f["kind"], f["path"]) for f in flagged] == [("C", "/etc/passwd"), ("A", "/bin/<img src=x>")]
    assert all(f["reason"] for f in flagged)


def test_new_since_keeps_what_the_previous_diff_did_not_have() -> None:
    previous = [["C", "/etc"], ["A", "/etc/app.conf"]]
    current = [["C", "/etc"], ["C", "/etc/app.conf"], ["A", "/tmp/new"]]
    assert new_since(current, previous) == [["C", "/etc/app.conf"], ["A", "/tmp/new"]]


def test_new_since_with_no_previous_diff_is_everything() -> None:
    assert new_since([["A", "/x"]], None) == [["A", "/x"]]
    assert new_since([], []) == []
