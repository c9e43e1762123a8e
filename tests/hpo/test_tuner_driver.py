"""TunerDriver: NNI's tuners behind request / report / trial_end / exhausted, seeds,
the objective's direction, Hyperband as an advisor, and rebuild after a restart."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.hpo import Record, TunerDriver

SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "units": {"_type": "randint", "_value": [8, 64]},
    "opt": {"_type": "choice", "_value": ["sgd", "adam", "rmsprop"]},
    "dropout": {"_type": "quniform", "_value": [0, 0.5, 0.1]},
}
ARGS = {
    "Random": {},
    "TPE": {"tpe_args": {"n_startup_jobs": 3}},
    "Evolution": {"population_size": 4},
}


def score(parameters: dict) -> float:
    return -abs(parameters["lr"] - 0.01) * 10 + parameters["units"] / 64


def run(driver: TunerDriver, trials: int, records: list[Record] | None = None) -> list[dict]:
    """``trials`` trials one after another, each reporting ``score`` and ending."""
    seen = []
    for _ in range(trials):
        (proposal,) = driver.request(1)
        value = score(proposal.parameters)
        driver.report_final(proposal.parameter_id, value)
        driver.trial_end(proposal.parameter_id, True)
        seen.append(proposal.parameters)
        if records is not None:
            records.append(Record(proposal.parameter_id, proposal.parameters, value, [], True, True))
    return seen


@pytest.mark.parametrize("name", ["Random", "TPE", "Evolution"])
def test_same_seed_same_proposals(name):
    first = run(TunerDriver(name, ARGS[name], SPACE, "maximize", seed=42), 10)
    again = run(TunerDriver(name, ARGS[name], SPACE, "maximize", seed=42), 10)
    other = run(TunerDriver(name, ARGS[name], SPACE, "maximize", seed=43), 10)
    assert first == again
    assert first != other


def test_direction_reaches_the_tuner():
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}

    def late_mean(direction: str) -> float:
        driver = TunerDriver("TPE", {"tpe_args": {"n_startup_jobs": 5}}, space, direction, seed=3)
        xs = []
        for _ in range(30):
            (p,) = driver.request(1)
            driver.report_final(p.parameter_id, p.parameters["x"])
            driver.trial_end(p.parameter_id, True)
            xs.append(p.parameters["x"])
        return sum(xs[-10:]) / 10

    assert late_mean("maximize") > 0.6
    assert late_mean("minimize") < 0.4


def test_request_gives_distinct_ids_and_parameters_as_plain_json_values():
    driver = TunerDriver("Evolution", {"population_size": 8}, SPACE, "minimize", seed=1)
    proposals = driver.request(3)
    assert [p.parameter_id for p in proposals] == [0, 1, 2]
    for p in proposals:
        assert type(p.parameters["dropout"]) is float and type(p.parameters["units"]) is int


def test_grid_search_is_exhausted_after_every_point_once():
    space = {"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "choice", "_value": ["x", "y"]}}
    driver = TunerDriver("GridSearch", {}, space, "maximize")
    got = driver.request(4)
    assert not driver.exhausted
    got += driver.request(4)
    assert len(got) == 6 and driver.exhausted
    assert sorted((p.parameters["a"], p.parameters["b"]) for p in got) == [(a, b) for a in (1, 2, 3) for b in ("x", "y")]
    assert driver.request(1) == []


def test_batch_proposes_each_set_once_then_is_exhausted():
    sets = [{"lr": 0.1}, {"lr": 0.01, "opt": "adam"}]
    driver = TunerDriver("Batch", {}, {"sets": {"_type": "choice", "_value": sets}}, "maximize")
    assert [p.parameters for p in driver.request(5)] == sets
    assert driver.exhausted


def test_batch_refuses_a_space_that_is_not_one_choice_of_sets():
    with pytest.raises(FieldError) as error:
        TunerDriver("Batch", {}, SPACE, "maximize")
    assert error.value.field == "search_space" and "_value" in error.value.accepted


def test_unknown_tuner_and_pbt_without_checkpoints_name_the_field():
    with pytest.raises(FieldError) as error:
        TunerDriver("Bayes", {}, SPACE, "maximize")
    assert error.value.field == "tuner" and "TPE" in error.value.accepted
    with pytest.raises(FieldError) as error:
        TunerDriver("PBT", {}, SPACE, "maximize")
    assert error.value.field == "tuner_args.all_checkpoint_dir"


@pytest.mark.parametrize("name", ["TPE", "Evolution"])
def test_results_out_of_the_ordinary_do_not_break_the_tuner(name):
    driver = TunerDriver(name, ARGS[name], SPACE, "maximize", seed=5)
    a, b, c, d = driver.request(4)
    driver.report_final(a.parameter_id, 1.0)
    driver.report_final(a.parameter_id, 2.0)  # a second final result: ignored
    driver.trial_end(a.parameter_id, False)  # failed after its final result (Evolution: KeyError in NNI)
    driver.trial_end(b.parameter_id, False)  # failed without a result
    driver.report_final(c.parameter_id, float("nan"))  # not a number: ignored
    driver.trial_end(c.parameter_id, True)
    driver.trial_end(d.parameter_id, True)
    driver.trial_end(d.parameter_id, True)
    driver.report_final(999, 1.0)  # never proposed
    assert len(run(driver, 6)) == 6


def test_hyperband_promotes_the_best_configurations_of_a_round_with_a_larger_budget():
    # R=9, eta=3: the first bracket runs 9 configurations with budget 1, then the best 3 with budget 3
    driver = TunerDriver("Hyperband", {"R": 9, "eta": 3}, SPACE, "maximize", seed=11)
    first = driver.request(9)
    assert len(first) == 9 and {p.parameters["TRIAL_BUDGET"] for p in first} == {1}
    values = {}
    for rank, p in enumerate(first):
        if rank == 8:
            driver.trial_end(p.parameter_id, False)  # failed before any metric: ranked last, not a crash
            continue
        for sequence in (1, 2, 3):
            driver.report_intermediate(p.parameter_id, sequence, rank * 0.1 * sequence)
        values[p.parameter_id] = rank
        driver.report_final(p.parameter_id, float(rank))
        driver.trial_end(p.parameter_id, True)
    promoted = driver.request(3)
    best = sorted(values, key=values.get, reverse=True)[:3]
    strip = lambda params: {k: v for k, v in params.items() if k != "TRIAL_BUDGET"}  # noqa: E731
    by_id = {p.parameter_id: strip(p.parameters) for p in first}
    assert sorted(map(repr, (strip(p.parameters) for p in promoted))) == sorted(repr(by_id[i]) for i in best)
    assert {p.parameters["TRIAL_BUDGET"] for p in promoted} == {3}
    assert all(p.parameter_id >= 9 for p in promoted)
    assert not driver.exhausted


# -- rebuild after a restart


@pytest.mark.parametrize("name", ["Random", "TPE", "Evolution"])
def test_rebuilt_driver_proposes_what_an_uninterrupted_one_would(name):
    uninterrupted = TunerDriver(name, ARGS[name], SPACE, "maximize", seed=9)
    records: list[Record] = []
    run(uninterrupted, 6, records)
    rebuilt = TunerDriver.rebuild(name, ARGS[name], SPACE, "maximize", 9, records)
    assert rebuilt.replay_mismatches == 0
    expected = run(uninterrupted, 5)
    assert run(rebuilt, 5) == expected
    # and the replay mattered: a fresh driver with the same seed starts over instead
    assert run(TunerDriver(name, ARGS[name], SPACE, "maximize", seed=9), 5) != expected


def test_rebuild_follows_the_recorded_order_of_concurrent_trials():
    # two trials at a time: TPE's liar and history depend on what ended before each proposal
    args = {"tpe_args": {"n_startup_jobs": 2}}
    uninterrupted = TunerDriver("TPE", args, SPACE, "minimize", seed=4)
    clock = 0.0
    records: dict[int, Record] = {}
    running = []
    for _ in range(4):
        for p in uninterrupted.request(2 - len(running)):
            clock += 1
            records[p.parameter_id] = Record(p.parameter_id, p.parameters, created_at=clock)
            running.append(p)
        done = running.pop(0)
        clock += 1
        value = score(done.parameters)
        uninterrupted.report_final(done.parameter_id, value)
        uninterrupted.trial_end(done.parameter_id, True)
        r = records[done.parameter_id]
        r.final, r.ended, r.succeeded, r.finished_at = value, True, True, clock
    still_running = running[0]
    records[still_running.parameter_id].intermediates = [0.5]

    rebuilt = TunerDriver.rebuild("TPE", args, SPACE, "minimize", 4, list(records.values()))
    assert rebuilt.replay_mismatches == 0
    for driver in (uninterrupted, rebuilt):
        driver.report_final(still_running.parameter_id, 0.25)
        driver.trial_end(still_running.parameter_id, True)
    assert run(rebuilt, 4) == run(uninterrupted, 4)


def test_rebuilt_grid_search_never_proposes_a_point_twice():
    space = {"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "choice", "_value": ["x", "y"]}}
    driver = TunerDriver("GridSearch", {}, space, "maximize")
    records = [Record(p.parameter_id, p.parameters, 1.0, [], True, True) for p in driver.request(4)]
    rebuilt = TunerDriver.rebuild("GridSearch", {}, space, "maximize", None, records)
    rest = rebuilt.request(10)
    points = [(r.parameters["a"], r.parameters["b"]) for r in records] + [(p.parameters["a"], p.parameters["b"]) for p in rest]
    assert len(rest) == 2 and len(set(points)) == 6 and rebuilt.exhausted
    assert min(p.parameter_id for p in rest) > max(r.parameter_id for r in records)


@pytest.mark.parametrize("name", ["TPE", "Evolution", "Random"])
def test_rebuild_without_a_seed_keeps_the_recorded_trials_and_continues(name):
    driver = TunerDriver(name, ARGS[name], SPACE, "maximize")
    records: list[Record] = []
    run(driver, 5, records)
    (running,) = driver.request(1)
    records.append(Record(running.parameter_id, running.parameters))  # still running at the restart
    rebuilt = TunerDriver.rebuild(name, ARGS[name], SPACE, "maximize", None, records)
    assert rebuilt.replay_mismatches > 0  # unseeded: the replay proposed other values
    rebuilt.report_final(running.parameter_id, 0.5)
    rebuilt.trial_end(running.parameter_id, True)
    more = rebuilt.request(3)
    assert len(more) == 3 and min(p.parameter_id for p in more) > running.parameter_id


def test_rebuilt_hyperband_continues_its_bracket():
    args = {"R": 9, "eta": 3}
    uninterrupted = TunerDriver("Hyperband", args, SPACE, "maximize", seed=2)
    records = []
    for rank, p in enumerate(uninterrupted.request(9)):
        uninterrupted.report_intermediate(p.parameter_id, 1, float(rank))
        uninterrupted.report_final(p.parameter_id, float(rank))
        uninterrupted.trial_end(p.parameter_id, True)
        records.append(Record(p.parameter_id, p.parameters, float(rank), [float(rank)], True, True))
    rebuilt = TunerDriver.rebuild("Hyperband", args, SPACE, "maximize", 2, records)
    assert rebuilt.replay_mismatches == 0
    assert [p.parameters for p in rebuilt.request(3)] == [p.parameters for p in uninterrupted.request(3)]
