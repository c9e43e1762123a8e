"""Early stopping: NNI's assessors (Medianstop, Curvefitting) behind one small interface.

:meth:`AssessorDriver.assess` takes a running trial's intermediate results so far
and answers whether to stop it; :meth:`AssessorDriver.trial_end` tells the
assessor how a trial ended, which is what later judgements compare against.
Curvefitting takes 0.3-0.6 s per judgement: call a driver from the experiment's
worker thread, never on the event loop. ``nni`` is imported when the first driver is built.
"""

from __future__ import annotations

import math
from typing import Any

from ..domain.errors import FieldError
from .algorithms import ASSESSOR_ALGORITHMS, constructor_args, load_class
from .tuners import DIRECTIONS


class AssessorDriver:
    def __init__(self, assessor: str, args: dict, direction: str):
        if direction not in DIRECTIONS:
            raise FieldError("objective.direction", f"unknown direction {direction!r}", " or ".join(DIRECTIONS))
        algorithm = ASSESSOR_ALGORITHMS.get(assessor)
        if algorithm is None:
            raise FieldError("assessor", f"unknown assessor {assessor!r}", ", ".join(sorted(ASSESSOR_ALGORITHMS)))
        if assessor == "Curvefitting" and direction == "minimize":
            # it fits rising learning curves and compares with the best final result times a threshold < 1
            raise FieldError("assessor", "Curvefitting predicts rising curves only", "Medianstop when objective.direction is minimize")
        self.assessor = assessor
        cls = load_class(algorithm)
        self._assessor: Any = cls(**constructor_args(cls, algorithm, dict(args or {}), direction, None))
        self._histories: dict[str, list[float]] = {}

    def assess(self, trial_key: str, history: list[float]) -> bool:
        """True: stop this trial early. ``history``: its intermediate results so far, in order."""
        values = [float(v) for v in history if _finite(v)]
        if not values:
            return False
        self._histories[trial_key] = values
        from nni.assessor import AssessResult

        return self._assessor.assess_trial(trial_key, values) is AssessResult.Bad

    def trial_end(self, trial_key: str, succeeded: bool) -> None:
        history = self._histories.pop(trial_key, None)
        if history is None:
            return  # never assessed: the assessor has nothing of it to remember
        # Curvefitting records the end of a trial from the last history it assessed,
        # whichever trial that was: give it this trial's own
        if hasattr(self._assessor, "trial_history"):
            self._assessor.trial_history = history
        self._assessor.trial_end(trial_key, succeeded)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
