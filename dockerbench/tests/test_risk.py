"""Risk weights and the rank the dashboard orders findings by."""

from __future__ import annotations

import pytest

from dockerbench import catalog, risk

# The extra checks another module adds to the catalog; read with getattr so this test runs before it lands.
ALL_IDS = list(catalog.ALL_BY_ID)

# By v1.6.0 title: privileged (5.5), sensitive host dirs (5.6), Docker socket (5.32), TCP without TLS (2.7),
# capabilities (5.4), host namespaces (5.10 net, 5.16 PID, 5.17 IPC, 5.21 UTS, 5.31 user), seccomp (5.22),
# no-new-privileges (5.26), AppArmor (5.2), SELinux (5.3).
HIGHEST_RISK = (
    ["5.5", "5.6", "5.32", "2.7", "5.4"] + ["5.10", "5.16", "5.17", "5.21", "5.31"] + ["5.22", "5.26", "5.2", "5.3"]
)


def test_every_check_has_a_weight_between_1_and_10():
    for check_id in [*ALL_IDS, "S.1", "S.2"]:
        assert check_id in risk.WEIGHTS, check_id
        assert isinstance(risk.WEIGHTS[check_id], int)
        assert 1 <= risk.WEIGHTS[check_id] <= 10, check_id


def test_no_weight_names_a_check_that_does_not_exist():
    assert set(risk.WEIGHTS) - set(ALL_IDS) <= {"S.1", "S.2"}


def test_the_ways_to_root_the_host_weigh_9_or_10():
    for check_id in HIGHEST_RISK:
        assert risk.weight(check_id) >= 9, check_id
    for check_id in ("5.5", "5.6", "5.32", "2.7"):
        assert risk.weight(check_id) == 10, check_id


def test_hygiene_and_manual_checks_weigh_less_than_the_ways_to_root():
    for check_id in ("1.1.3", "2.3", "2.13", "4.6", "5.27"):
        assert risk.weight(check_id) <= 3, check_id
    # 5.18 and 4.4 are the exceptions docs/risk.md explains: a host device in a container is the host, and 4.4
    # warns only for an image's critical vulnerabilities that have a fix.
    manual = [r.id for r in catalog.RECOMMENDATIONS if not r.automated and r.id not in ("5.18", "4.4")]
    assert max(risk.weight(i) for i in manual) <= 2


def test_an_unknown_check_gets_the_documented_default():
    assert risk.weight("9.99") == risk.DEFAULT_WEIGHT == 5


def test_rank_follows_the_formula():
    assert risk.rank(10, 1, 0) == 10
    assert risk.rank(3, 2, 30) == pytest.approx(3 * 2 * 2)
    assert risk.rank(9, 4, 45) == pytest.approx(9 * 4 * 2.5)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_rank_is_monotonic_in_each_argument(which):
    base = [5, 3, 20.0]
    ranks = []
    for step in range(0, 200, 7):
        args = list(base)
        args[which] = base[which] + step
        ranks.append(risk.rank(int(args[0]), int(args[1]), args[2]))
    assert ranks == sorted(ranks)
    assert ranks[-1] > ranks[0]


def test_age_stops_counting_at_90_days_and_never_counts_below_zero():
    assert risk.rank(4, 2, 90) == risk.rank(4, 2, 365) == pytest.approx(4 * 2 * 4)
    assert risk.rank(4, 2, -3) == risk.rank(4, 2, 0) == 8
