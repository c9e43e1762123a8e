"""An NNI advisor (a ``MsgDispatcherBase``: Hyperband) driven in-process.

An advisor normally talks to NNI's manager over a websocket; here its handlers
are called directly (``handle_initialize``, ``handle_request_trial_jobs``,
``handle_report_metric_data``, ``handle_trial_end``) and what it ``send``s is
captured. Its parameter ids are strings (``"0-2_0_5"``: bracket, round, number);
CubeLab's are integers, mapped both ways here.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from .algorithms import import_nni

Emit = Callable[[int, dict], None]

_classes: dict[type, type] = {}


def _in_process_class(base: type) -> type:
    """``base`` with no websocket, its ``send`` captured, and NNI's resume check
    (``Recoverable.is_created_in_previous_exp`` compares the advisor's string ids
    with an integer: TypeError on every metric, NNI issue 5263) answering no."""
    if base in _classes:
        return _classes[base]
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase

    class _Unconnected(MsgDispatcherBase):
        # the base class connects in __init__ unless the URL is NNI's own unit-test marker
        def __init__(self, command_channel_url: str | None = None):
            super().__init__("ws://_unittest_")

    class InProcess(base, _Unconnected):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            self.outbox: list[tuple[Any, Any]] = []
            super().__init__(*args, **kwargs)

        def send(self, command: Any, data: Any) -> None:
            self.outbox.append((command, data))

        def is_created_in_previous_exp(self, param_id: Any) -> bool:
            return False

    InProcess.__name__ = InProcess.__qualname__ = f"InProcess{base.__name__}"
    _classes[base] = InProcess
    return InProcess


class AdvisorBackend:
    """One advisor instance; every proposal it makes goes to ``emit(parameter_id, parameters)``."""

    def __init__(self, cls: type, kwargs: dict, search_space: dict, seed: int | None, direction: str, emit: Emit, new_id: Callable[[], int]):
        self._nni = import_nni()
        self.exhausted = False  # Hyperband starts a new round of brackets when one ends: never exhausted
        self._emit = emit
        self._new_id = new_id
        self._direction = direction
        self._ids: dict[int, str] = {}  # CubeLab's parameter id -> the advisor's
        self._metrics: set[int] = set()  # ids the advisor has a metric for
        self.advisor = _in_process_class(cls)(**kwargs)
        self.advisor.handle_initialize(search_space)
        if seed is not None:
            # Hyperband draws every configuration from this state, created unseeded by the line above
            import numpy as np

            self.advisor.random_state = np.random.RandomState(seed)
        self._drain()

    def _drain(self) -> bool:
        from nni.runtime.tuner_command_channel import CommandType

        made = False
        outbox, self.advisor.outbox = self.advisor.outbox, []
        for command, data in outbox:
            if command is CommandType.NewTrialJob:
                job = self._nni.load(data)
                parameter_id = self._new_id()
                self._ids[parameter_id] = job["parameter_id"]
                self._emit(parameter_id, job["parameters"])
                made = True
        # Initialized and NoMoreTrialJobs ("none right now", serial mode) need no answer
        return made

    def propose(self, new_id: Callable[[], int]) -> bool:
        self.advisor.handle_request_trial_jobs(1)
        return self._drain()

    def _metric(self, parameter_id: int, kind: str, sequence: int, value: float) -> None:
        advisor_id = self._ids.get(parameter_id)
        if advisor_id is None:
            return
        self.advisor.handle_report_metric_data({
            "parameter_id": advisor_id, "trial_job_id": str(parameter_id), "type": kind,
            "sequence": sequence, "value": self._nni.dump(value),
        })
        self._metrics.add(parameter_id)
        self._drain()

    def intermediate(self, parameter_id: int, sequence: int, value: float) -> None:
        self._metric(parameter_id, "PERIODICAL", sequence, value)

    def final(self, parameter_id: int, parameters: dict, value: float) -> None:
        self._metric(parameter_id, "FINAL", 0, value)

    def end(self, parameter_id: int, succeeded: bool, has_final: bool) -> None:
        advisor_id = self._ids.get(parameter_id)
        if advisor_id is None:
            return
        if parameter_id not in self._metrics:
            # A bracket ranks the configurations of a round by their metrics and takes
            # the top ones: a trial that ended without any would leave it short (IndexError).
            worst = -sys.float_info.max if self._direction != "minimize" else sys.float_info.max
            self.final(parameter_id, {}, worst)
        self.advisor.handle_trial_end({
            "trial_job_id": str(parameter_id), "event": "SUCCEEDED" if succeeded else "FAILED",
            "hyper_params": self._nni.dump({"parameter_id": advisor_id, "parameter_source": "algorithm", "parameters": {}}),
        })
        self._drain()

    def adopt(self, parameter_id: int, parameters: dict, proposed: bool) -> bool:
        """Make the advisor's bracket hold ``parameters`` for ``parameter_id`` (a rebuild
        whose replay proposed other values): the next round continues from those."""
        advisor_id = self._ids.get(parameter_id)
        if advisor_id is None:
            return True  # results for ids the advisor never proposed are not passed on
        bracket_id, round_, _ = advisor_id.split("_")
        configs = self.advisor.brackets[bracket_id].hyper_configs[int(round_)]
        if advisor_id in configs:
            configs[advisor_id] = dict(parameters)
        return True
