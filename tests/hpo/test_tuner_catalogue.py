"""Every offered tuner runs on a search space with every type it claims, and every
left-out tuner still fails as its reason says: with other NNI, NumPy or SciPy
versions these tests say which list has become wrong.

The claims come from the domain catalogue (``TUNERS``, ``LEFT_OUT``) when it is
present, otherwise from the table below.
"""

from __future__ import annotations

import json
import math

import pytest

from cubelab_hub.hpo import TunerDriver

ALL_TYPES = frozenset(("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
                       "normal", "qnormal", "lognormal", "qlognormal"))

# one parameter of each type, with how to check a proposed value
SAMPLES = {
    "choice": ({"_type": "choice", "_value": [1, "a", 2.5]}, lambda v: v in (1, "a", 2.5)),
    "randint": ({"_type": "randint", "_value": [0, 10]}, lambda v: isinstance(v, int) and 0 <= v < 10),
    "uniform": ({"_type": "uniform", "_value": [0, 1]}, lambda v: 0 <= v <= 1),
    "quniform": ({"_type": "quniform", "_value": [0, 10, 2]}, lambda v: 0 <= v <= 10 and v % 2 == 0),
    "loguniform": ({"_type": "loguniform", "_value": [1e-4, 1e-1]}, lambda v: 1e-4 <= v <= 1e-1),
    "qloguniform": ({"_type": "qloguniform", "_value": [1, 100, 1]}, lambda v: 1 <= v <= 100 and v == round(v)),
    "normal": ({"_type": "normal", "_value": [0, 1]}, lambda v: math.isfinite(v)),
    "qnormal": ({"_type": "qnormal", "_value": [0, 1, 0.5]}, lambda v: (v / 0.5) == round(v / 0.5)),
    "lognormal": ({"_type": "lognormal", "_value": [0, 1]}, lambda v: v > 0),
    "qlognormal": ({"_type": "qlognormal", "_value": [0, 1, 0.5]}, lambda v: v >= 0 and (v / 0.5) == round(v / 0.5)),
}
NESTED = {"_type": "choice", "_value": [
    {"_name": "sgd", "lr": {"_type": "uniform", "_value": [0.01, 0.1]}},
    {"_name": "adam", "beta": {"_type": "choice", "_value": [0.9, 0.99]}},
]}

# name -> (types, flat_only): used until the domain catalogue is there
OWN_TUNERS = {
    "TPE": (ALL_TYPES, False),
    "Random": (ALL_TYPES, False),
    "Evolution": (ALL_TYPES, False),
    "GridSearch": (ALL_TYPES, False),
    "Hyperband": (ALL_TYPES, False),
    "PBT": (ALL_TYPES, True),
    "Batch": (frozenset({"choice"}), True),
}
OWN_LEFT_OUT = ("Anneal", "SMAC", "Metis", "GP", "DNGO", "BOHB")

try:
    from cubelab_hub.domain.experiments import LEFT_OUT, TUNERS

    OFFERED = {name: (frozenset(info.types), bool(info.flat_only)) for name, info in TUNERS.items()}
    LEFT = tuple(LEFT_OUT)
except ImportError:
    OFFERED, LEFT = OWN_TUNERS, OWN_LEFT_OUT


def tuner_args(name: str, tmp_path) -> dict:
    if name == "TPE":
        return {"tpe_args": {"n_startup_jobs": 3}}  # past the random start-up, into TPE's model
    if name == "Evolution":
        return {"population_size": 4}  # past the first population, into mutations
    if name == "PBT":
        return {"all_checkpoint_dir": str(tmp_path), "population_size": 3}
    if name == "Hyperband":
        return {"R": 9, "eta": 3}
    return {}


def drive(driver: TunerDriver, trials: int, intermediates: int = 0) -> list:
    proposals = []
    for number in range(trials):
        got = driver.request(1)
        if not got:
            break
        proposal = got[0]
        json.dumps(proposal.parameters)  # what the service stores and the trial receives
        proposals.append(proposal)
        for sequence in range(1, intermediates + 1):
            driver.report_intermediate(proposal.parameter_id, sequence, 0.1 * sequence + number % 3)
        driver.report_final(proposal.parameter_id, float(number % 3))
        driver.trial_end(proposal.parameter_id, True)
    return proposals


@pytest.mark.parametrize("name", sorted(OFFERED))
def test_offered_tuner_proposes_values_of_every_type_it_claims(name, tmp_path):
    types, flat_only = OFFERED[name]
    if name == "Batch":
        space = {"sets": {"_type": "choice", "_value": [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.01, "opt": "adam"}, {"lr": 0.5}]}}
        proposals = drive(TunerDriver(name, {}, space, "maximize", 1), 5)
        assert [p.parameters for p in proposals] == space["sets"]["_value"]
        return
    space = {f"p_{t}": SAMPLES[t][0] for t in sorted(types)}
    if name == "PBT":
        # the domain gives PBT choices of one kind only (NNI's PBT fails re-drawing a mixed one)
        space["p_choice"] = {"_type": "choice", "_value": [1, 2.5]}
    if not flat_only:
        space["optimizer"] = NESTED
    driver = TunerDriver(name, tuner_args(name, tmp_path), space, "maximize", 7)
    proposals = drive(driver, 8, intermediates=3 if name == "Hyperband" else 0)
    assert len(proposals) == 8
    for proposal in proposals:
        for t in types:
            value = proposal.parameters[f"p_{t}"]
            assert SAMPLES[t][1](value), (t, value)
        if not flat_only:
            chosen = proposal.parameters["optimizer"]
            assert chosen["_name"] in ("sgd", "adam")
            assert ("lr" in chosen) == (chosen["_name"] == "sgd")
    assert len({p.parameter_id for p in proposals}) == 8


# what each left-out tuner fails on, on a space of the types it was meant for
NUMERIC = {"c": {"_type": "choice", "_value": [1, 2, 4]}, "r": {"_type": "randint", "_value": [0, 10]},
           "u": {"_type": "uniform", "_value": [0, 1]}, "q": {"_type": "quniform", "_value": [0, 10, 2]}}
EXPECTED_FAILURE = {
    "GP": (NUMERIC, {"cold_start_num": 2}, "setting an array element with a sequence"),  # NumPy 2
    "Metis": (NUMERIC, {"cold_start_num": 2}, "'x0' must only have one dimension"),  # SciPy >= 1.11's minimize
    # not installed with the platform: hyperopt (Anneal), smac (its pyrfr needs swig to
    # build), torch (DNGO), ConfigSpace (BOHB); where one is installed, the tuner must fail still
    "Anneal": (NUMERIC, {}, None),
    "SMAC": (NUMERIC, {}, None),
    "DNGO": (NUMERIC, {}, None),
    "BOHB": (NUMERIC, {}, None),
}


@pytest.mark.parametrize("name", sorted(LEFT))
def test_left_out_tuner_still_fails(name):
    assert name in EXPECTED_FAILURE, f"{name} is left out for a reason this test does not check yet"
    space, args, message = EXPECTED_FAILURE[name]
    try:
        driver = TunerDriver(name, args, space, "maximize", 1)
    except ImportError as error:
        pytest.skip(f"{name} cannot be imported here ({error}); it is left out for that")
    with pytest.raises(Exception) as failure:
        drive(driver, 6)
    if message:
        assert message in str(failure.value) or message in repr(failure.value.__cause__), failure.value
