"""An experiment's tuner: NNI's tuning algorithms behind one small interface.

:class:`TunerDriver` proposes parameters (``request``), learns from results
(``report_intermediate``, ``report_final``, ``trial_end``) and says when no
proposal will ever come again (``exhausted``: GridSearch or Batch done, a finite
space fully proposed). After a control-plane restart, :meth:`TunerDriver.rebuild`
replays the recorded trials into a fresh tuner, so that with the same seed its
next proposals are those of a tuner that never stopped.

Values are the objective's numbers as reported; the direction reaches NNI as
``optimize_mode``. A driver is not thread-safe and may be slow: call it from one
worker thread per experiment, never on the event loop. ``nni`` is imported when
the first driver is built, not with this module.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import FieldError
from .algorithms import TUNER_ALGORITHMS, constructor_args, load_class

DIRECTIONS = ("maximize", "minimize")


@dataclass
class Proposal:
    parameter_id: int
    parameters: dict


@dataclass
class Record:
    """One trial as recorded, for :meth:`TunerDriver.rebuild`.

    ``created_at`` / ``finished_at`` (seconds, any clock): when the trial was proposed
    and when it ended. With them the replay follows the order things happened (which
    TPE and Evolution depend on once several trials run at once); without them each
    trial is replayed as if it ended before the next was proposed."""

    parameter_id: int
    parameters: dict
    final: float | None = None
    intermediates: list[float] = field(default_factory=list)
    ended: bool = False
    succeeded: bool = False
    created_at: float | None = None
    finished_at: float | None = None


def builtin_name(tuner: str) -> str:
    """NNI's name for the tuner users call ``tuner`` (the domain catalogue's
    ``builtin`` where it has one; otherwise the name itself)."""
    try:
        from ..domain.experiments import TUNERS
    except ImportError:
        return tuner
    info = TUNERS.get(tuner)
    return info.builtin if info is not None else tuner


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers (tuners return np.float64 and
    np.int64 that the JSON encoder and equality with stored values trip on)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


class TunerDriver:
    def __init__(self, tuner: str, tuner_args: dict, search_space: dict, direction: str, seed: int | None = None):
        if direction not in DIRECTIONS:
            raise FieldError("objective.direction", f"unknown direction {direction!r}", " or ".join(DIRECTIONS))
        algorithm = TUNER_ALGORITHMS.get(builtin_name(tuner))
        if algorithm is None:
            raise FieldError("tuner", f"unknown tuner {tuner!r}", ", ".join(sorted(TUNER_ALGORITHMS)))
        self.tuner = tuner
        self.algorithm = algorithm
        self.direction = direction
        self.seed = seed
        self._next_id = 0
        self._ready: deque[Proposal] = deque()  # proposed, not yet handed out
        self._parameters: dict[int, dict] = {}  # every proposal, by id
        self._finals: set[int] = set()
        self._ended: set[int] = set()
        self._unknown: set[int] = set()  # recorded ids the rebuilt tuner never proposed and could not adopt
        self.replay_mismatches = 0  # rebuilt trials whose replay proposed other values (see rebuild)
        if algorithm.builtin == "Batch":
            _check_batch_space(search_space)
        cls = load_class(algorithm)
        kwargs = constructor_args(cls, algorithm, dict(tuner_args or {}), direction, seed)
        if algorithm.builtin == "PBT" and not kwargs.get("all_checkpoint_dir"):
            raise FieldError(
                "tuner_args.all_checkpoint_dir", "PBT needs a directory where trials save and load checkpoints",
                "a path every trial can read and write (a shared volume)",
            )
        if algorithm.kind == "advisor":
            from .advisor_backend import AdvisorBackend

            self._backend: Any = AdvisorBackend(cls, kwargs, search_space, seed, direction, self._emit, self._new_id)
        else:
            from .tuner_backend import TunerBackend

            self._backend = TunerBackend(algorithm, cls, kwargs, search_space, seed, self._emit)

    def _new_id(self) -> int:
        parameter_id = self._next_id
        self._next_id += 1
        return parameter_id

    def _emit(self, parameter_id: int, parameters: Any) -> None:
        if parameter_id in self._parameters:
            return  # a rebuilt tuner's late proposal for an id the records already hold
        parameters = plain(parameters)
        self._parameters[parameter_id] = parameters
        self._ready.append(Proposal(parameter_id, parameters))

    # -- the interface the experiment service uses

    def request(self, count: int) -> list[Proposal]:
        """Up to ``count`` proposals; fewer (or none) when the tuner has none now.
        Every proposal handed out must later get ``trial_end`` (run or not): tuners
        count it as running until then."""
        out: list[Proposal] = []
        while len(out) < count:
            if self._ready:
                out.append(self._ready.popleft())
                continue
            if self._backend.exhausted or not self._backend.propose(self._new_id):
                break
        return out

    @property
    def exhausted(self) -> bool:
        """No proposal will ever come again."""
        return self._backend.exhausted and not self._ready

    def report_intermediate(self, parameter_id: int, sequence: int, value: float) -> None:
        if parameter_id not in self._parameters or parameter_id in self._ended or not _finite(value):
            return
        if parameter_id in self._unknown:
            return
        self._backend.intermediate(parameter_id, sequence, float(value))

    def report_final(self, parameter_id: int, value: float) -> None:
        """The trial's result; only the first one counts (tuners learn each trial once)."""
        if parameter_id not in self._parameters or parameter_id in self._finals or parameter_id in self._ended:
            return
        if not _finite(value):
            return
        self._finals.add(parameter_id)
        if parameter_id in self._unknown:
            return
        self._backend.final(parameter_id, self._parameters[parameter_id], float(value))

    def trial_end(self, parameter_id: int, succeeded: bool) -> None:
        if parameter_id not in self._parameters or parameter_id in self._ended:
            return
        self._ended.add(parameter_id)
        # a proposal ended before it was handed out (the experiment stopped) is not handed out later
        self._ready = deque(p for p in self._ready if p.parameter_id != parameter_id)
        if parameter_id in self._unknown:
            return
        self._backend.end(parameter_id, succeeded, parameter_id in self._finals)

    # -- restart

    @classmethod
    def rebuild(cls, tuner: str, tuner_args: dict, search_space: dict, direction: str, seed: int | None, history: list[Record]) -> TunerDriver:
        """A driver in the state it would be in had the recorded trials just happened.

        The trials are replayed in order: each recorded proposal is asked of the
        tuner again under its own id, then its results and end are fed back. With a
        seed (and the same NNI) the tuner proposes what it proposed before, so its
        state, random generators included, is the uninterrupted one. Where it proposes
        something else (no seed), the tuner is told the recorded values instead where
        it keeps them (TPE, GridSearch, Random, Hyperband); ``replay_mismatches``
        counts those trials. New ids continue after the largest recorded one."""
        driver = cls(tuner, tuner_args, search_space, direction, seed)
        records = sorted(history, key=lambda r: r.parameter_id)
        timed = bool(records) and all(r.created_at is not None for r in records)
        events: list[tuple[float, int, int, Record]] = []
        for index, record in enumerate(records):
            if timed:
                events.append((float(record.created_at), 1, record.parameter_id, record))
                if record.ended:
                    events.append((float(record.finished_at if record.finished_at is not None else record.created_at), 0, record.parameter_id, record))
            else:
                events.append((float(index), 1, record.parameter_id, record))
                if record.ended:
                    events.append((index + 0.5, 0, record.parameter_id, record))
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        proposed: set[int] = set()
        position = 0  # records before this index are proposed

        def propose_up_to(record: Record) -> None:
            nonlocal position
            while position < len(records) and records[position].parameter_id <= record.parameter_id:
                driver._replay_proposal(records[position])
                proposed.add(records[position].parameter_id)
                position += 1

        for _, kind, _, record in events:
            propose_up_to(record)
            if kind == 1:
                if not record.ended:
                    driver._replay_results(record)
            else:
                driver._replay_results(record)
                driver.trial_end(record.parameter_id, record.succeeded)
        if records:
            driver._next_id = max(driver._next_id, records[-1].parameter_id + 1)
        return driver

    def _replay_proposal(self, record: Record) -> None:
        parameter_id = record.parameter_id
        if not any(p.parameter_id == parameter_id for p in self._ready) and not self._backend.exhausted:
            self._next_id = max(self._next_id, parameter_id)
            self._backend.propose(self._new_id)
        made = next((p for p in self._ready if p.parameter_id == parameter_id), None)
        if made is not None:
            self._ready.remove(made)
        recorded = plain(record.parameters)
        if made is None or made.parameters != recorded:
            self.replay_mismatches += 1
            if not self._backend.adopt(parameter_id, recorded, made is not None):
                self._unknown.add(parameter_id)
        self._parameters[parameter_id] = recorded

    def _replay_results(self, record: Record) -> None:
        for sequence, value in enumerate(record.intermediates, start=1):
            self.report_intermediate(record.parameter_id, sequence, value)
        if record.final is not None:
            self.report_final(record.parameter_id, record.final)


BATCH_ACCEPTED = 'one choice whose values are whole parameter sets: {"sets": {"_type": "choice", "_value": [{"lr": 0.1}, {"lr": 0.01}]}}'


def _check_batch_space(space: dict) -> None:
    """Batch proposes each value of its single choice as a trial's parameters, so each must be a set of them."""
    spec = next(iter(space.values())) if isinstance(space, dict) and len(space) == 1 else None
    values = spec.get("_value") if isinstance(spec, dict) and spec.get("_type") == "choice" else None
    if not isinstance(values, list) or not values or not all(isinstance(v, dict) for v in values):
        raise FieldError("search_space", "the Batch tuner takes one choice of parameter sets", BATCH_ACCEPTED)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
