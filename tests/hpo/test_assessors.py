"""AssessorDriver: NNI's Medianstop and Curvefitting stop clearly bad trials and keep good ones."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.hpo import AssessorDriver

GOOD_CURVE = [0.5, 0.62, 0.7, 0.75, 0.78, 0.8, 0.81, 0.82]


def finish(driver: AssessorDriver, key: str, curve: list[float]) -> None:
    for step in range(1, len(curve) + 1):
        driver.assess(key, curve[:step])
    driver.trial_end(key, True)


def test_medianstop_stops_a_clearly_bad_trial_and_keeps_a_good_one():
    driver = AssessorDriver("Medianstop", {"start_step": 2}, "maximize")
    for key in ("t1", "t2", "t3"):
        finish(driver, key, GOOD_CURVE)
    assert driver.assess("bad", [0.1, 0.12]) is True
    assert driver.assess("good", [0.55, 0.66]) is False
    assert driver.assess("early", [0.01]) is False  # before start_step nothing is judged


def test_medianstop_follows_the_direction():
    driver = AssessorDriver("Medianstop", {"start_step": 1}, "minimize")
    for key in ("t1", "t2"):
        finish(driver, key, [1.0, 0.8, 0.6])
    assert driver.assess("high-loss", [5.0, 4.0]) is True
    assert driver.assess("low-loss", [0.9, 0.7]) is False


def test_medianstop_with_nothing_finished_stops_nothing():
    driver = AssessorDriver("Medianstop", {}, "maximize")
    assert driver.assess("only", [0.0, 0.0, 0.0]) is False


def test_curvefitting_stops_a_curve_far_below_the_best_and_keeps_one_like_it():
    driver = AssessorDriver("Curvefitting", {"epoch_num": 8, "start_step": 4, "threshold": 0.9}, "maximize")
    for step in range(1, len(GOOD_CURVE) + 1):
        driver.assess("best", GOOD_CURVE[:step])
    # another trial judged between the best one's last result and its end: NNI's assessor
    # would record that trial's curve as the best one's
    driver.assess("other", [0.3, 0.31, 0.32, 0.33])
    driver.trial_end("best", True)
    assert driver.assess("bad", [0.1, 0.2, 0.25, 0.28, 0.3, 0.31, 0.32]) is True  # heads for about 0.33
    assert driver.assess("good", GOOD_CURVE[:6]) is False


def test_unknown_assessor_and_curvefitting_when_minimizing_name_the_field():
    with pytest.raises(FieldError) as error:
        AssessorDriver("Median", {}, "maximize")
    assert error.value.field == "assessor" and "Medianstop" in error.value.accepted
    with pytest.raises(FieldError) as error:
        AssessorDriver("Curvefitting", {}, "minimize")
    assert error.value.field == "assessor"
