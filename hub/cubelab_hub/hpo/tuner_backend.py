"""An NNI ``Tuner`` (TPE, Random, Evolution, GridSearch, ...) driven the way NNI's
message dispatcher drives it, without NNI's manager: proposals through
``generate_multiple_parameters`` (whose ``st_callback`` carries the ones a tuner
makes later, on its own), final results through ``receive_trial_result``, ends
through ``trial_end``.
"""

from __future__ import annotations

from typing import Any, Callable

from .algorithms import Algorithm, SeededCalls, import_nni, seed_after_space

Emit = Callable[[int, dict], None]


class TunerBackend:
    """One tuner instance; every proposal it makes goes to ``emit(parameter_id, parameters)``."""

    def __init__(self, algorithm: Algorithm, cls: type, kwargs: dict, search_space: dict, seed: int | None, emit: Emit):
        self.algorithm = algorithm
        self.exhausted = False
        self._emit = emit
        self._seeded = SeededCalls(algorithm, seed)
        with self._seeded:
            self.tuner = cls(**kwargs)
            self.tuner.update_search_space(search_space)
            seed_after_space(self.tuner, algorithm, seed)

    def propose(self, new_id: Callable[[], int]) -> bool:
        """Ask for one proposal; False when none came (``exhausted`` says whether one ever will)."""
        parameter_id = new_id()
        with self._seeded:
            made = self.tuner.generate_multiple_parameters([parameter_id], st_callback=self._late)
        if made:
            self._emit(parameter_id, made[0])
            return True
        if not self.algorithm.defers:
            self.exhausted = True
        return False

    def _late(self, parameter_id: int, parameters: Any, *args: Any, **kwargs: Any) -> None:
        self._emit(parameter_id, parameters)

    def intermediate(self, parameter_id: int, sequence: int, value: float) -> None:
        """Classic tuners learn from final results only."""

    def final(self, parameter_id: int, parameters: dict, value: float) -> None:
        with self._seeded:
            self.tuner.receive_trial_result(parameter_id, parameters, value)

    def end(self, parameter_id: int, succeeded: bool, has_final: bool) -> None:
        # A trial whose final result the tuner already has ends as a success for the
        # tuner: Evolution and PBT would otherwise forget it a second time (KeyError).
        with self._seeded:
            self.tuner.trial_end(parameter_id, succeeded or has_final)

    def adopt(self, parameter_id: int, parameters: dict, proposed: bool) -> bool:
        """Make the tuner believe it proposed ``parameters`` for ``parameter_id`` (a
        rebuild whose replay proposed something else, e.g. an unseeded tuner, or
        nothing: ``proposed`` False). False: the tuner does not know the id, and
        results for it must not reach it (Evolution and PBT raise on unknown ids)."""
        tuner = self.tuner
        if hasattr(tuner, "_running_params") and hasattr(tuner, "dedup"):  # TPE learns from its own copy
            from nni.common.hpo_utils import format_parameters

            formatted = format_parameters(parameters, tuner.space)
            tuner._params[parameter_id] = formatted
            tuner._running_params[parameter_id] = formatted
            tuner.dedup.add_history(formatted)
        elif hasattr(tuner, "history") and isinstance(tuner.history, set):  # GridSearch: never propose it again
            tuner.history.add(import_nni().dump(parameters, sort_keys=True))
        elif getattr(tuner, "dedup", None) is not None:  # Random
            from nni.common.hpo_utils import format_parameters

            tuner.dedup.add_history(format_parameters(parameters, tuner.space))
        # Evolution and PBT keep their own encoding of what they proposed: they learn
        # the result under the values they proposed themselves
        return proposed or not self.algorithm.defers
