"""The HPA v2 rule and its stabilization, as the local autoscaler uses them."""

import pytest

from cubelab_hub.domain.autoscaling import (
    Recommendation,
    describe_metrics,
    desired_replicas,
    prune,
    stabilize,
)


def test_ceil_of_current_times_ratio():
    # 2 replicas at 90% CPU, target 50%: ceil(2 * 90 / 50) = ceil(3.6) = 4
    assert desired_replicas(2, {"cpu": 90}, {"cpu": 50}, 1, 10) == 4
    # 4 replicas at 20%, target 50%: ceil(1.6) = 2
    assert desired_replicas(4, {"cpu": 20}, {"cpu": 50}, 1, 10) == 2


def test_the_largest_proposal_wins():
    assert desired_replicas(2, {"cpu": 30, "mem": 150}, {"cpu": 50, "mem": 50}, 1, 10) == 6


def test_within_tolerance_nothing_changes():
    assert desired_replicas(3, {"cpu": 54}, {"cpu": 50}, 1, 10) == 3
    assert desired_replicas(3, {"cpu": 46}, {"cpu": 50}, 1, 10) == 3
    assert desired_replicas(3, {"cpu": 56}, {"cpu": 50}, 1, 10) == 4


def test_clamped_to_min_and_max():
    assert desired_replicas(2, {"cpu": 500}, {"cpu": 50}, 1, 5) == 5
    assert desired_replicas(4, {"cpu": 1}, {"cpu": 50}, 2, 5) == 2


def test_a_missing_metric_blocks_scaling_down_not_up():
    assert desired_replicas(4, {"cpu": 10, "mem": None}, {"cpu": 50, "mem": 50}, 1, 10) == 4
    assert desired_replicas(4, {"cpu": 100}, {"cpu": 50, "gpu": 50}, 1, 10) == 8
    assert desired_replicas(4, {}, {"cpu": 50}, 1, 10) == 4


def test_no_replicas_means_min():
    assert desired_replicas(0, {"cpu": 90}, {"cpu": 50}, 2, 10) == 2


def test_bad_bounds_are_a_programming_error():
    with pytest.raises(ValueError):
        desired_replicas(1, {}, {"cpu": 50}, 3, 2)
    with pytest.raises(ValueError):
        desired_replicas(1, {"cpu": 1}, {"cpu": 0}, 1, 2)


def test_describe_metrics():
    assert describe_metrics({"cpu": 90.5}, {"cpu": 50, "mem": 60}) == "cpu 90.5% (target 50%), mem not measured (target 60%)"


def recs(*pairs):
    return [Recommendation(at, replicas) for at, replicas in pairs]


def test_scale_up_at_once_by_default():
    decision = stabilize(2, recs((0, 2), (10, 5)), now=10, why="cpu 125% (target 50%)")
    assert decision.changed and decision.replicas == 5
    assert decision.reason == "scale up from 2 to 5: cpu 125% (target 50%)"


def test_scale_down_waits_for_the_window():
    # a recommendation of 6 within the last 300 s holds 6 replicas at 6
    decision = stabilize(6, recs((0, 6), (100, 2)), now=100)
    assert not decision.changed and "highest recommendation of the last 300 s is 6" in decision.reason
    # once it is older than the window, the highest left wins
    decision = stabilize(6, recs((0, 6), (100, 4), (350, 2)), now=350)
    assert decision.replicas == 4 and decision.reason == "scale down from 6 to 4"


def test_scale_up_window_takes_the_lowest():
    decision = stabilize(2, recs((0, 3), (30, 8)), now=30, up_window=60)
    assert decision.replicas == 3
    decision = stabilize(2, recs((0, 2), (30, 8)), now=30, up_window=60)
    assert not decision.changed and "lowest recommendation of the last 60 s is 2" in decision.reason


def test_cooldown_holds_the_next_change():
    decision = stabilize(2, recs((100, 4)), now=100, cooldown=60, last_scaled_at=70)
    assert not decision.changed and "cooling down for 30 s more" in decision.reason
    assert stabilize(2, recs((100, 4)), now=100, cooldown=60, last_scaled_at=30).replicas == 4


def test_steady_and_empty():
    assert stabilize(3, recs((0, 3)), now=0).reason == "steady at 3"
    assert stabilize(3, [], now=0).reason == "no recommendation yet"


def test_prune_keeps_the_window_and_the_latest():
    history = recs((0, 1), (200, 2), (400, 3))
    assert prune(history, now=500, keep=300) == recs((200, 2), (400, 3))
    assert prune(history, now=5000, keep=300) == recs((400, 3))
