"""NNI's built-in tuning algorithms as CubeLab loads them: where each class lives,
which arguments CubeLab sets itself, and how a seed reaches the ones whose
constructor takes none.

NNI keeps this table in ``builtin_algorithms.yml`` and loads it through
``nni.tools.package_utils``, which copies a config file into the interpreter's
prefix on first use; CubeLab names the classes here instead and never writes there.
``nni`` (1 s or more to import) is imported only when a class is loaded.
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Algorithm:
    """One NNI algorithm: ``builtin`` is NNI's name for it (``config.tuner.name``)."""

    builtin: str
    module: str
    cls: str
    kind: str = "tuner"  # "tuner" | "advisor" | "assessor"
    fixed_args: dict[str, Any] = field(default_factory=dict)  # arguments NNI's own table adds
    # NoMoreTrialError means "none right now": the tuner keeps the id and proposes for it
    # later, on its own (through ``st_callback``); for every other tuner it means "none ever"
    defers: bool = False


_HPO = "nni.algorithms.hpo."

TUNER_ALGORITHMS: dict[str, Algorithm] = {
    a.builtin: a
    for a in (
        Algorithm("TPE", _HPO + "tpe_tuner", "TpeTuner"),
        Algorithm("Random", _HPO + "random_tuner", "RandomTuner"),
        Algorithm("Anneal", _HPO + "hyperopt_tuner", "HyperoptTuner", fixed_args={"algorithm_name": "anneal"}),
        Algorithm("Evolution", _HPO + "evolution_tuner", "EvolutionTuner", defers=True),
        Algorithm("SMAC", _HPO + "smac_tuner", "SMACTuner"),
        Algorithm("Batch", _HPO + "batch_tuner", "BatchTuner"),
        Algorithm("GridSearch", _HPO + "gridsearch_tuner", "GridSearchTuner"),
        Algorithm("Metis", _HPO + "metis_tuner", "MetisTuner"),
        Algorithm("GP", _HPO + "gp_tuner", "GPTuner"),
        Algorithm("PBT", _HPO + "pbt_tuner", "PBTTuner", defers=True),
        Algorithm("DNGO", _HPO + "dngo_tuner", "DNGOTuner"),
        Algorithm("Hyperband", _HPO + "hyperband_advisor", "Hyperband", kind="advisor"),
        Algorithm("BOHB", _HPO + "bohb_advisor", "BOHB", kind="advisor"),
    )
}

ASSESSOR_ALGORITHMS: dict[str, Algorithm] = {
    a.builtin: a
    for a in (
        Algorithm("Medianstop", _HPO + "medianstop_assessor", "MedianstopAssessor", kind="assessor"),
        Algorithm("Curvefitting", _HPO + "curvefitting_assessor", "CurvefittingAssessor", kind="assessor"),
    )
}


def import_nni() -> Any:
    """``import nni``, without the stdout log handler NNI installs on import (the
    control plane's own logging configuration receives NNI's records instead)."""
    import nni

    nni.silence_stdout()
    return nni


def load_class(algorithm: Algorithm) -> type:
    """The algorithm's class; ImportError when NNI or a package it needs is missing."""
    import_nni()
    module = importlib.import_module(algorithm.module)
    return getattr(module, algorithm.cls)


def constructor_args(cls: type, algorithm: Algorithm, user_args: dict, direction: str, seed: int | None) -> dict:
    """Keyword arguments for ``cls``: NNI's fixed ones, the user's, then
    ``optimize_mode`` from the objective's direction and ``seed`` where the
    constructor takes them (the user cannot override either)."""
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = dict(algorithm.fixed_args)
    kwargs.update(user_args)
    if "optimize_mode" in accepted:
        kwargs["optimize_mode"] = "minimize" if direction == "minimize" else "maximize"
    else:
        kwargs.pop("optimize_mode", None)
    if "seed" in accepted and seed is not None:
        kwargs["seed"] = seed
    return kwargs


def takes_seed(cls: type) -> bool:
    return "seed" in inspect.signature(cls.__init__).parameters


# Evolution draws from the ``random`` module's global generator as well as its own
# RandomState; the module's ``random`` name is replaced once by a proxy that uses the
# generator of the driver calling it (a context variable: each experiment's worker
# thread sees its own), and the global one when none is set.
_python_random: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar("cubelab_hpo_random", default=None)


class _RandomProxy:
    def __getattr__(self, name: str) -> Any:
        return getattr(_python_random.get() or random, name)


def _install_random_proxy(module_name: str) -> None:
    module = importlib.import_module(module_name)
    if not isinstance(getattr(module, "random", None), _RandomProxy):
        module.random = _RandomProxy()


class SeededCalls:
    """Makes calls into an algorithm draw from generators seeded by ``seed``:
    ``with seeded:`` around every call into the tuner."""

    def __init__(self, algorithm: Algorithm, seed: int | None):
        self._rng = random.Random(seed) if seed is not None else None
        self._token: contextvars.Token | None = None
        if self._rng is not None and algorithm.builtin == "Evolution":
            _install_random_proxy(algorithm.module)

    def __enter__(self) -> SeededCalls:
        self._token = _python_random.set(self._rng)
        return self

    def __exit__(self, *exc: object) -> None:
        _python_random.reset(self._token)


def seed_after_space(tuner: Any, algorithm: Algorithm, seed: int | None) -> None:
    """Seed the tuners that create an unseeded ``RandomState`` in
    ``update_search_space`` (called right after it). PBT is not among them: it
    also draws from NumPy's global generator between epochs, so it stays unseeded."""
    if seed is None:
        return
    import numpy as np

    if algorithm.builtin == "Evolution":
        # the first population was drawn with the unseeded state: draw it again
        tuner.random_state = np.random.RandomState(seed)
        tuner.population = []
        for _ in range(tuner.population_size):
            tuner._random_generate_individual()
