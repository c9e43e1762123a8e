"""Hyper-parameter experiments: the control plane is the tuner, trials are runs.

:class:`ExperimentManager` stores experiments and their trials, and drives one
controller per running experiment (an asyncio task): it keeps
``trial_concurrency`` trials in flight, asks the experiment's tuner for
parameters, starts each trial as a one-task run through :class:`RunManager`
(trigger ``trial``), records the metrics trials report (over the trial channel,
or as ``name=value`` lines of their log), lets the assessor stop bad trials
early, and ends the experiment when the domain's :func:`end_reason` says so,
recording why.

NNI's tuners and assessors are slow and not thread-safe: each controller calls
its drivers from one worker thread of its own, never on the event loop. Their
state is not stored: it is rebuilt from the recorded trials on resume and
after a control-plane restart (trials whose runs the restart marked failed
count as failed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete as delete_rows
from sqlalchemy import func, select

from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ...domain.experiments import (
    MAX_SEED,
    Experiment,
    better,
    end_reason,
    experiment_from_dict,
    experiment_warnings,
    final_status,
    metric_value,
    parse_metric_line,
    trial_pipeline,
)
from ...domain.pipelines import validate
from ...engines.base import RUN_FINAL, EngineError
from ..models.experiments import ExperimentRow, TrialMetricRow, TrialRow
from ..models.pipelines import RunRow, aware
from ..store import experiment_body, experiment_view, metric_view, row_to_experiment, trial_view
from .runs import RunManager
from .templates import load_catalog

log = logging.getLogger("cubelab.experiments")

TRIAL_ACTIVE = ("pending", "running")
TRIAL_FINAL = ("succeeded", "failed", "cancelled", "early-stopped")
EXPERIMENT_ACTIVE = ("running", "stopping")
EXPERIMENT_FINAL = ("stopped", "succeeded", "failed")
# the task name of every trial's one-task pipeline (domain trial_pipeline)
TRIAL_TASK = "trial"
# a trial's variables that are credentials: handed to the engine as the run's
# secret_env, never stored with the run (the control plane derives them again)
SECRET_TRIAL_ENV = ("NNI_TRIAL_COMMAND_CHANNEL",)

END_MESSAGES = {
    "max_trials": "ended: max_trials trials have run",
    "max_duration": "ended: max_duration has passed; trials still running were cancelled",
    "goal": "ended: the objective's goal was reached; trials still running were cancelled",
    "max_failed_trials": "failed: max_failed_trials trials failed",
    "search_space_exhausted": "ended: the tuner has no further parameters to try",
    "stopped": "stopped",
}
# tuners that need a directory every trial of the experiment reads and writes
# (NNI's all_checkpoint_dir: PBT's trials continue from each other's checkpoints)
CHECKPOINT_TUNERS = ("PBT",)
NO_CHECKPOINT_DIR = ("trials of this project run where the platform has no directory that every trial reaches "
                     "(on Kubernetes that is a ReadWriteMany volume mounted at the same path in every trial pod)")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_trial_id() -> str:
    return "trial-" + uuid.uuid4().hex[:12]


# ---------------------------------------------------------------- reading (sessions of the caller)


def trial_counts(session, experiment_ids: list[int]) -> dict[int, dict[str, int]]:
    """Trials per status of each experiment, in one query."""
    counts: dict[int, dict[str, int]] = {i: {} for i in experiment_ids}
    if not experiment_ids:
        return counts
    q = (select(TrialRow.experiment_id, TrialRow.status, func.count())
         .where(TrialRow.experiment_id.in_(experiment_ids)).group_by(TrialRow.experiment_id, TrialRow.status))
    for exp_id, status, n in session.execute(q).all():
        counts[exp_id][status] = n
    return counts


def read_experiment_view(session, row: ExperimentRow) -> dict:
    best = session.get(TrialRow, row.best_trial_id) if row.best_trial_id else None
    return experiment_view(row, trial_counts(session, [row.id])[row.id], best)


def experiment_views(session, rows: list[ExperimentRow]) -> list[dict]:
    counts = trial_counts(session, [r.id for r in rows])
    best_ids = [r.best_trial_id for r in rows if r.best_trial_id]
    best = {t.id: t for t in session.scalars(select(TrialRow).where(TrialRow.id.in_(best_ids)))} if best_ids else {}
    return [experiment_view(r, counts[r.id], best.get(r.best_trial_id)) for r in rows]


def intermediate_counts(session, trial_ids: list[str]) -> dict[str, int]:
    if not trial_ids:
        return {}
    q = (select(TrialMetricRow.trial_id, func.count()).where(TrialMetricRow.trial_id.in_(trial_ids),
                                                           TrialMetricRow.kind == "intermediate")
         .group_by(TrialMetricRow.trial_id))
    return dict(session.execute(q).all())


def trial_views(session, rows: list[TrialRow]) -> list[dict]:
    counts = intermediate_counts(session, [r.id for r in rows])
    return [trial_view(r, counts.get(r.id, 0)) for r in rows]


def intermediate_values(session, trial_id: str) -> list[float]:
    q = (select(TrialMetricRow.value).where(TrialMetricRow.trial_id == trial_id, TrialMetricRow.kind == "intermediate",
                                            TrialMetricRow.value.is_not(None))
         .order_by(TrialMetricRow.sequence, TrialMetricRow.id))
    return list(session.scalars(q).all())


def metrics_after(session, experiment_id: int, after: int, limit: int) -> tuple[list[dict], bool]:
    """Metric points of an experiment with ids above ``after``, oldest first; and
    whether more follow."""
    q = (select(TrialMetricRow, TrialRow.seq).join(TrialRow, TrialRow.id == TrialMetricRow.trial_id)
         .where(TrialRow.experiment_id == experiment_id, TrialMetricRow.id > after)
         .order_by(TrialMetricRow.id).limit(limit + 1))
    rows = session.execute(q).all()
    return [metric_view(m, seq) for m, seq in rows[:limit]], len(rows) > limit


# ---------------------------------------------------------------- the tuner, as the controller uses it


def default_tuner_factory(exp: Experiment, history: list) -> object:
    """NNI's tuner for ``exp`` (``hpo.tuners.TunerDriver``), rebuilt from ``history``."""
    from ...hpo.tuners import TunerDriver

    args = (exp.tuner, dict(exp.tuner_args), exp.search_space, exp.objective.direction, exp.seed)
    if history:
        return TunerDriver.rebuild(*args, history)
    return TunerDriver(*args)


def default_assessor_factory(exp: Experiment) -> object | None:
    if not exp.assessor:
        return None
    from ...hpo.assessors import AssessorDriver

    return AssessorDriver(exp.assessor, dict(exp.assessor_args), exp.objective.direction)


def history_records(trials: list[dict]) -> list:
    """The tuner's view of recorded trials (``hpo.tuners.Record``)."""
    from ...hpo.tuners import Record

    return [Record(parameter_id=t["parameter_id"], parameters=t["parameters"], final=t["final_value"],
                   intermediates=t["intermediates"], ended=t["status"] in TRIAL_FINAL, succeeded=t["status"] == "succeeded",
                   created_at=t["created_at"], finished_at=t["finished_at"])
            for t in trials if t["parameter_id"] is not None]


@dataclass
class _Controller:
    """What one running experiment's controller holds."""

    exp_id: int
    exp: Experiment | None = None
    kind: str | None = None  # the trial template's kind (a notebook takes its parameters differently)
    tuner: object | None = None
    assessor: object | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False
    task: asyncio.Task | None = None
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="cubelab-tuner"))
    followers: dict[str, asyncio.Task] = field(default_factory=dict)  # trial id -> its stdout-metrics reader
    final_reported: set[str] = field(default_factory=set)  # trials whose final result the tuner has
    # the tuner is asked again only once something changed since it last had fewer
    # proposals than free slots (a trial ended, a result came in), never on a timer:
    # deferring tuners (Evolution, PBT) count every request as owed a proposal
    changes: int = 0
    asked_at: int | None = None

    async def call(self, fn, *args):
        """``fn(*args)`` on this experiment's worker thread (drivers are not thread-safe, and slow)."""
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)

    async def feed(self, fn, *args):
        """Tell the tuner something (a result, a trial's end): it may have proposals now."""
        result = await self.call(fn, *args)
        self.changes += 1
        self.wake.set()
        return result


class ExperimentManager:
    """Experiments as stored, their controllers, and the trial channel's backend."""

    def __init__(self, database, runs: RunManager, *, trial_env: Callable | None = None, is_admin: Callable | None = None,
                 tuner_factory: Callable = default_tuner_factory, assessor_factory: Callable = default_assessor_factory,
                 history: Callable = history_records, poll_seconds: float = 2.0, checkpoint_dir: Callable | None = None):
        """``trial_env(exp, trial_id, seq) -> dict``: the variables a trial needs to
        reach the trial channel; ``is_admin(name)`` (may be a coroutine): whether
        an experiment's creator is an admin (their trials' runs are checked as
        theirs); ``tuner_factory(exp, history)`` and ``assessor_factory(exp)``
        build the drivers, ``history(trials)`` turns recorded trials into what
        the tuner is rebuilt from; ``poll_seconds``: how often a controller looks
        at its trials' runs when no event woke it; ``checkpoint_dir(exp)`` (may be a
        coroutine): a directory, as trials see it, that every trial of ``exp``
        can write, or None; PBT is refused where there is none."""
        self.db = database
        self.runs = runs
        self.trial_env = trial_env
        self.is_admin = is_admin
        self.tuner_factory = tuner_factory
        self.assessor_factory = assessor_factory
        self.history = history
        self.poll_seconds = poll_seconds
        self.checkpoint_dir = checkpoint_dir
        self._controllers: dict[int, _Controller] = {}
        self._run_owner: dict[str, int] = {}  # run id -> experiment id, for the runs of active trials
        runs.add_run_listener(self._on_run_final)

    # ------------------------------------------------------------ validation and creation

    async def diagnostics(self, body: dict, admin: bool) -> list[dict]:
        """Everything wrong with an experiment body, as the form shows it while
        the user types: ``[{field, message, accepted, severity}]``."""
        try:
            exp = experiment_from_dict(body)
        except FieldErrors as exc:
            return [_diagnostic(e) for e in exc.errors]
        except FieldError as exc:
            return [_diagnostic(exc)]
        warnings = [_diagnostic(w, "warning") for w in experiment_warnings(exp)]
        return await self._trial_diagnostics(exp, admin) + warnings

    async def _trial_diagnostics(self, exp: Experiment, admin: bool) -> list[dict]:
        """What the trial's run would be refused for (its template, arguments,
        resources), found on a trial with placeholder parameters."""
        catalog = await self.db.run(load_catalog)
        pipeline = trial_pipeline(exp, "trial-000000000000", {}, {})
        diags = []
        for d in validate(pipeline, catalog, admin):
            name = "trial" + (f".{d.field}" if d.field else "")
            diags.append({"field": name, "message": d.message, "accepted": (d.extra or {}).get("accepted"),
                          "severity": d.severity})
        return diags

    async def create(self, body: dict, creator: str, admin: bool) -> int:
        """Validate, store (names are unique per project) and start at once."""
        exp = experiment_from_dict(body)
        errors = [d for d in await self._trial_diagnostics(exp, admin) if d["severity"] == "error"]
        if errors:
            raise FieldErrors([FieldError(d["field"], d["message"], d["accepted"]) for d in errors])
        exp.creator = creator
        if exp.seed is None:
            # drawn once and stored: a tuner rebuilt after a restart or a resume
            # replays the same proposals, and the spec says which seed ran
            exp.seed = secrets.randbelow(MAX_SEED + 1)
        if exp.tuner in CHECKPOINT_TUNERS and await self._checkpoint_dir(dataclasses.replace(exp, id=0)) is None:
            raise FieldError("tuner", f"{exp.tuner} needs a checkpoint directory shared by all trials: {NO_CHECKPOINT_DIR}",
                             "a tuner other than " + " or ".join(CHECKPOINT_TUNERS))

        def insert(session) -> int:
            if session.scalar(select(ExperimentRow.id).where(ExperimentRow.project == exp.project,
                                                             ExperimentRow.name == exp.name)) is not None:
                raise Conflict(f"project '{exp.project}' already has an experiment named '{exp.name}'", "name")
            now = utcnow()
            row = ExperimentRow(name=exp.name, project=exp.project, creator=creator, body=experiment_body(exp),
                                status="running", end_reason=None, message="", created_at=now, started_at=now)
            session.add(row)
            session.flush()
            return row.id

        exp_id = await self.db.run(insert)
        self._start_controller(exp_id)
        return exp_id

    async def _checkpoint_dir(self, exp: Experiment) -> str | None:
        if self.checkpoint_dir is None:
            return None
        answer = self.checkpoint_dir(exp)
        return await answer if hasattr(answer, "__await__") else answer

    async def _tuner_experiment(self, exp: Experiment) -> Experiment:
        """``exp`` as its tuner is built from: with the checkpoint directory the
        platform chose where the tuner needs one (never a user's path)."""
        if exp.tuner not in CHECKPOINT_TUNERS:
            return exp
        path = await self._checkpoint_dir(exp)
        if path is None:
            raise FieldError("tuner", f"{exp.tuner} needs a checkpoint directory shared by all trials: {NO_CHECKPOINT_DIR}")
        return dataclasses.replace(exp, tuner_args={**exp.tuner_args, "all_checkpoint_dir": path})

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """After a restart (RunManager has re-attached or failed the trials' runs):
        experiments that were running go on; one that was stopping stops."""
        rows = await self.db.run(lambda session: session.execute(
            select(ExperimentRow.id, ExperimentRow.status).where(ExperimentRow.status.in_(EXPERIMENT_ACTIVE))).all())
        for exp_id, status in rows:
            if status == "stopping":
                await self.stop(exp_id)
            elif exp_id not in self._controllers:
                self._start_controller(exp_id)

    async def shutdown(self) -> None:
        """Controllers stop; experiments stay 'running' in the database, so the next
        start picks them up (their trials' runs are RunManager's to stop or keep)."""
        await asyncio.gather(*(self._halt(ctrl) for ctrl in list(self._controllers.values())))

    async def stop(self, exp_id: int) -> None:
        """Stop an experiment: its controller ends, its running trials are cancelled."""
        def mark(session) -> bool:
            row = session.get(ExperimentRow, exp_id)
            if row is None:
                raise NotFound.of("experiment", str(exp_id))
            if row.status not in EXPERIMENT_ACTIVE:
                return False
            row.status = "stopping"
            return True

        if not await self.db.run(mark):
            return
        ctrl = self._controllers.get(exp_id)
        if ctrl is not None:
            await self._halt(ctrl, release=False)
        try:
            await self._cancel_active_trials(exp_id, "the experiment was stopped", ctrl)
        finally:
            if ctrl is not None:
                self._release(ctrl)
        await self.db.run(_end, exp_id, "stopped", "stopped", END_MESSAGES["stopped"])

    async def resume(self, exp_id: int) -> None:
        """Go on from the recorded trials (the tuner is rebuilt from them)."""
        def mark(session) -> None:
            row = session.get(ExperimentRow, exp_id)
            if row is None:
                raise NotFound.of("experiment", str(exp_id))
            if row.status not in EXPERIMENT_FINAL:
                raise Conflict(f"experiment {exp_id} is {row.status}; only a stopped or ended experiment resumes")
            row.status, row.end_reason, row.message = "running", None, ""
            # max_duration counts from here
            row.started_at, row.finished_at = utcnow(), None

        await self.db.run(mark)
        self._start_controller(exp_id)

    def active_experiment_ids(self) -> list[int]:
        """The experiments whose controllers run now (the admin overview counts them)."""
        return list(self._controllers)

    async def cancel_trial(self, trial_id: str, reason: str) -> bool:
        """Cancel one active trial: marked cancelled with ``reason``, its tuner
        told (the slot is free, so the controller may propose another), its run
        cancelled; the experiment goes on. False when it had already ended."""
        def read(session):
            row = session.get(TrialRow, trial_id)
            return None if row is None else (row.experiment_id, row.parameter_id)

        found = await self.db.run(read)
        if found is None:
            raise NotFound.of("trial", trial_id)
        exp_id, parameter_id = found
        run_id = await self.db.run(_finish_trial, trial_id, "cancelled", reason, None)
        if run_id is None:
            return False
        ctrl = self._controllers.get(exp_id)
        if ctrl is not None and ctrl.tuner is not None:
            await self._trial_ended(ctrl, trial_id, parameter_id, trial_id in ctrl.final_reported)
        if run_id:
            self._run_owner.pop(run_id, None)
            await self.runs.cancel(run_id)
        return True

    async def delete(self, exp_id: int) -> None:
        """Stop, then delete the experiment with its trials, metrics and trial runs."""
        await self.stop(exp_id)

        def remove(session) -> None:
            run_ids = [r for r in session.scalars(select(TrialRow.run_id).where(TrialRow.experiment_id == exp_id)) if r]
            if run_ids:
                session.execute(delete_rows(RunRow).where(RunRow.id.in_(run_ids)))
            session.execute(delete_rows(ExperimentRow).where(ExperimentRow.id == exp_id))

        await self.db.run(remove)

    async def delete_project(self, project: str) -> None:
        """Before a project goes: its experiments stop and go, with their trial runs."""
        ids = await self.db.run(lambda session: session.scalars(
            select(ExperimentRow.id).where(ExperimentRow.project == project)).all())
        for exp_id in ids:
            await self.delete(exp_id)

    async def rerun_trial(self, exp_id: int, trial_id: str) -> str:
        """A new trial with the parameters of ``trial_id``, in the running
        experiment (its controller watches it); the tuner did not propose it, so
        its results are recorded but not told to the tuner."""
        ctrl = self._controllers.get(exp_id)

        def read(session) -> dict:
            row = session.get(TrialRow, trial_id)
            exp = session.get(ExperimentRow, exp_id)
            if row is None or row.experiment_id != exp_id or exp is None:
                raise NotFound.of("trial", trial_id)
            if exp.status != "running":
                raise Conflict(f"experiment {exp_id} is {exp.status}; resume it to re-run a trial")
            return row.parameters

        parameters = await self.db.run(read)
        if ctrl is None or ctrl.exp is None or ctrl.stopping:
            raise Conflict(f"experiment {exp_id} is starting or stopping; try again in a moment")
        return await self._start_trial(ctrl, None, parameters, source_trial_id=trial_id)

    # ------------------------------------------------------------ the trial channel's backend

    async def trial_parameters(self, trial_id: str) -> dict | None:
        """What ``nni.get_next_parameter()`` receives; None for a trial unknown or ended."""
        def read(session):
            row = session.get(TrialRow, trial_id)
            if row is None or row.status in TRIAL_FINAL:
                return None
            return row.parameter_id, row.parameters

        found = await self.db.run(read)
        if found is None:
            return None
        parameter_id, parameters = found
        return {"parameter_id": parameter_id, "parameter_source": "algorithm" if parameter_id is not None else "customized",
                "parameters": parameters, "parameter_index": 0}

    async def trial_closed(self, trial_id: str) -> bool:
        def closed(session) -> bool:
            row = session.get(TrialRow, trial_id)
            return row is None or row.status in TRIAL_FINAL

        return await self.db.run(closed)

    async def record_metric(self, trial_id: str, kind: str, sequence: int, value: float | None, raw: object) -> None:
        """A result a trial reported: stored, told to the tuner, and (intermediate
        results) shown to the assessor, which may stop the trial early."""
        if kind not in ("intermediate", "final"):
            raise ValueError(f"metric kind {kind!r} is neither 'intermediate' nor 'final'")
        info = await self.db.run(_store_metric, trial_id, kind, sequence, value, raw)
        if info is None:
            return  # unknown or ended: nothing more is recorded for it
        exp_id, parameter_id, value = info
        ctrl = self._controllers.get(exp_id)
        if ctrl is None or ctrl.tuner is None or value is None:
            return
        if kind == "final":
            if parameter_id is not None:
                await ctrl.feed(ctrl.tuner.report_final, parameter_id, value)
            ctrl.final_reported.add(trial_id)
            return
        if parameter_id is not None:
            await ctrl.feed(ctrl.tuner.report_intermediate, parameter_id, sequence, value)
        await self._assess(ctrl, trial_id)

    async def _assess(self, ctrl: _Controller, trial_id: str) -> None:
        if ctrl.assessor is None:
            return
        history = await self.db.run(intermediate_values, trial_id)
        if not history or not await ctrl.call(ctrl.assessor.assess, trial_id, history):
            return
        reason = (f"stopped early by the {ctrl.exp.assessor} assessor after {len(history)} intermediate result(s) "
                  f"(last {history[-1]:g}): its curve is unlikely to beat the trials recorded so far "
                  f"({ctrl.exp.objective.direction} {ctrl.exp.objective.metric})")
        run_id = await self.db.run(_finish_trial, trial_id, "early-stopped", reason, None)
        if run_id is None:
            return  # it ended meanwhile
        parameter_id = await self.db.run(lambda session: session.get(TrialRow, trial_id).parameter_id)
        await self._trial_ended(ctrl, trial_id, parameter_id, False)
        if run_id:
            await self.runs.cancel(run_id)
        ctrl.wake.set()

    # ------------------------------------------------------------ controllers

    def _on_run_final(self, run_id: str, status: str) -> None:
        exp_id = self._run_owner.pop(run_id, None)
        ctrl = self._controllers.get(exp_id) if exp_id is not None else None
        if ctrl is not None:
            ctrl.wake.set()

    def _start_controller(self, exp_id: int) -> None:
        ctrl = _Controller(exp_id)
        self._controllers[exp_id] = ctrl
        ctrl.task = asyncio.get_running_loop().create_task(self._drive(ctrl))

    async def _halt(self, ctrl: _Controller, release: bool = True) -> None:
        """Let the controller end at its next look (never in the middle of starting
        a trial: no run is left without its trial), and its log readers stop."""
        ctrl.stopping = True
        ctrl.wake.set()
        if ctrl.task is not None:
            try:
                await ctrl.task
            except Exception:
                pass  # logged by _drive
        if release:
            self._release(ctrl)

    def _release(self, ctrl: _Controller) -> None:
        for follower in ctrl.followers.values():
            follower.cancel()
        ctrl.followers.clear()
        ctrl.worker.shutdown(wait=False)
        if self._controllers.get(ctrl.exp_id) is ctrl:
            del self._controllers[ctrl.exp_id]

    async def _drive(self, ctrl: _Controller) -> None:
        try:
            await self._control(ctrl)
        except Exception as exc:
            log.exception("the controller of experiment %s failed", ctrl.exp_id)
            if not ctrl.stopping:
                await self._cancel_active_trials(ctrl.exp_id, "the experiment failed", ctrl)
                await self.db.run(_end, ctrl.exp_id, "failed", None, f"the experiment's controller failed: {exc}")
        finally:
            if not ctrl.stopping:
                self._release(ctrl)

    async def _control(self, ctrl: _Controller) -> None:
        if not await self._restore(ctrl):
            return
        exp = ctrl.exp
        while not ctrl.stopping:
            ctrl.wake.clear()
            await self._reconcile(ctrl)
            if ctrl.stopping:
                return
            state = await self.db.run(_progress, ctrl.exp_id)
            reason = end_reason(exp, created=state["created"], succeeded=state["succeeded"], failed=state["failed"],
                                active=state["active"], elapsed=state["elapsed"], best=state["best"],
                                exhausted=bool(getattr(ctrl.tuner, "exhausted", False)))
            if reason in ("max_trials", "search_space_exhausted") and state["active"]:
                reason = None  # the last trials finish first
            free = min(exp.trial_concurrency - state["active"], exp.max_trials - state["created"])
            if reason is None and free > 0 and state["active"] == 0 and ctrl.asked_at == ctrl.changes:
                reason = "search_space_exhausted"  # nothing runs and the tuner proposed nothing: no more will come
            if reason is not None:
                await self._finish(ctrl, reason)
                return
            started = 0
            if free > 0 and ctrl.asked_at != ctrl.changes:
                asked_at = ctrl.changes
                proposals = await ctrl.call(ctrl.tuner.request, free)
                ctrl.asked_at = asked_at if len(proposals) < free else None
                for index, proposal in enumerate(proposals):
                    if ctrl.stopping:
                        for left in proposals[index:]:  # handed out, never run: ended for the tuner
                            await ctrl.call(ctrl.tuner.trial_end, left.parameter_id, False)
                        break
                    await self._start_trial(ctrl, proposal.parameter_id, proposal.parameters)
                    started += 1
            if started:
                continue  # look again at once: a trial may have ended already
            try:
                await asyncio.wait_for(ctrl.wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def _restore(self, ctrl: _Controller) -> bool:
        """Read the experiment, fail trials that never got their run, and build the
        tuner from what is recorded. False when the experiment cannot go on."""
        exp_id = ctrl.exp_id
        reason = "the control plane stopped before the trial's run was created"
        exp, trials = await self.db.run(_restore_rows, exp_id, reason)
        if exp is None:
            return False
        ctrl.exp = exp
        ctrl.kind = await self.db.run(_template_kind, exp)
        try:
            history = self.history(trials)
            ctrl.tuner = await ctrl.call(self.tuner_factory, await self._tuner_experiment(exp), history)
            ctrl.assessor = await ctrl.call(self.assessor_factory, exp)
        except Exception as exc:
            log.exception("experiment %s: the tuner could not be built", exp_id)
            await self._cancel_active_trials(exp_id, "the experiment failed")
            await self.db.run(_end, exp_id, "failed", None, f"the tuner '{exp.tuner}' could not be built: {exc}")
            return False
        for t in trials:
            if t["final_value"] is not None:
                ctrl.final_reported.add(t["id"])
            if t["status"] in TRIAL_ACTIVE and t["run_id"]:
                self._run_owner[t["run_id"]] = exp_id
                if exp.trial.metrics == "stdout":
                    self._follow(ctrl, t["id"], t["run_id"], t["engine"], skip=len(t["intermediates"]))
        return True

    async def _start_trial(self, ctrl: _Controller, parameter_id: int | None, parameters: dict,
                           source_trial_id: str | None = None) -> str:
        exp = ctrl.exp
        trial_id = new_trial_id()
        seq = await self.db.run(_insert_trial, ctrl.exp_id, trial_id, parameter_id, parameters, source_trial_id)
        try:
            env = dict(self.trial_env(exp, trial_id, seq)) if self.trial_env is not None else {}
            secret_env = {name: env.pop(name) for name in SECRET_TRIAL_ENV if name in env}
            pipeline = trial_pipeline(exp, trial_id, parameters, env, kind=ctrl.kind)
            admin = False
            if self.is_admin is not None:
                answer = self.is_admin(exp.creator)
                admin = bool(await answer if hasattr(answer, "__await__") else answer)
            run_id = await self.runs.create_trial(pipeline, exp.creator, admin, secret_env=secret_env)
        except Exception as exc:
            message = f"the trial's run could not be created: {getattr(exc, 'message', None) or exc}"
            if not isinstance(exc, (FieldError, FieldErrors, Conflict, NotFound)):
                log.exception("experiment %s: trial %s could not start", ctrl.exp_id, trial_id)
            await self.db.run(_finish_trial, trial_id, "failed", message, None)
            await self._trial_ended(ctrl, trial_id, parameter_id, False)
            return trial_id
        self._run_owner[run_id] = ctrl.exp_id
        engine = await self.db.run(_attach_run, trial_id, run_id)
        if exp.trial.metrics == "stdout":
            self._follow(ctrl, trial_id, run_id, engine, skip=0)
        ctrl.wake.set()
        return trial_id

    def _follow(self, ctrl: _Controller, trial_id: str, run_id: str, engine_name: str | None, skip: int) -> None:
        """Read a stdout-metrics trial's log as it grows: every line naming the
        objective's metric is an intermediate result (the first ``skip`` were
        recorded before a restart)."""
        engine = self.runs.engine_for(engine_name or "")
        if engine is None:
            return
        metric = ctrl.exp.objective.metric

        async def follow() -> None:
            seen = 0
            pending = b""
            try:
                async for chunk in engine.logs(run_id, TRIAL_TASK, follow=True):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        values = parse_metric_line(line.decode("utf-8", "replace"))
                        if metric not in values:
                            continue
                        seen += 1
                        if seen > skip:
                            await self.record_metric(trial_id, "intermediate", seen, values[metric], values)
                if pending:
                    values = parse_metric_line(pending.decode("utf-8", "replace"))
                    if metric in values and seen + 1 > skip:
                        await self.record_metric(trial_id, "intermediate", seen + 1, values[metric], values)
            except (EngineError, asyncio.CancelledError):
                pass
            except Exception:
                log.exception("reading the log of trial %s failed", trial_id)
            finally:
                ctrl.wake.set()

        ctrl.followers[trial_id] = asyncio.get_running_loop().create_task(follow())

    async def _reconcile(self, ctrl: _Controller) -> None:
        """Trials whose runs have ended end too: succeeded (with the final result
        reported, or for stdout metrics the last value of the objective),
        failed (with the run's reason) or cancelled."""
        ended = await self.db.run(_ended_runs, ctrl.exp_id)
        for trial_id, parameter_id, run_status, run_message in ended:
            follower = ctrl.followers.get(trial_id)
            if follower is not None and not follower.done():
                try:  # the log's last lines come after the task's end
                    await asyncio.wait_for(asyncio.shield(follower), 5)
                except TimeoutError:
                    pass
            ctrl.followers.pop(trial_id, None)
            status = {"succeeded": "succeeded", "cancelled": "cancelled"}.get(run_status, "failed")
            final = None
            if status == "succeeded" and trial_id not in ctrl.final_reported:
                final = await self.db.run(_final_from_intermediates, trial_id) if ctrl.exp.trial.metrics == "stdout" else None
            message = run_message if status != "succeeded" else ""
            if status == "succeeded" and final is None and trial_id not in ctrl.final_reported:
                message = f"the trial reported no final result for '{ctrl.exp.objective.metric}'"
            if await self.db.run(_finish_trial, trial_id, status, message, final) is None:
                continue  # ended meanwhile (early-stopped)
            if final is not None:
                if parameter_id is not None:
                    await ctrl.feed(ctrl.tuner.report_final, parameter_id, final)
                ctrl.final_reported.add(trial_id)
            await self._trial_ended(ctrl, trial_id, parameter_id, status == "succeeded")

    async def _trial_ended(self, ctrl: _Controller, trial_id: str, parameter_id: int | None, succeeded: bool) -> None:
        """Every proposal handed out ends once for the tuner, whether its trial ran,
        failed to start, was cancelled or stopped early (tuners count it as running
        until then); a freed slot is what makes the controller ask again."""
        if ctrl.tuner is not None and parameter_id is not None:
            await ctrl.call(ctrl.tuner.trial_end, parameter_id, succeeded)
        if ctrl.assessor is not None:
            await ctrl.call(ctrl.assessor.trial_end, trial_id, succeeded)
        ctrl.changes += 1
        ctrl.wake.set()

    async def _finish(self, ctrl: _Controller, reason: str) -> None:
        await self._cancel_active_trials(ctrl.exp_id, "the experiment ended: " + reason, ctrl)
        await self.db.run(_end, ctrl.exp_id, final_status(reason), reason, END_MESSAGES.get(reason, reason))

    async def _cancel_active_trials(self, exp_id: int, reason: str, ctrl: _Controller | None = None) -> None:
        """Cancel the runs of the experiment's active trials and mark those trials
        cancelled; the tuner of ``ctrl`` hears that they ended."""
        active = await self.db.run(_active_trials, exp_id)
        for trial_id, run_id, parameter_id in active:
            run_id = await self.db.run(_finish_trial, trial_id, "cancelled", reason, None)
            if run_id is not None and ctrl is not None and ctrl.tuner is not None:
                try:
                    # one whose final result was in counts as succeeded (_finish_trial)
                    await self._trial_ended(ctrl, trial_id, parameter_id, trial_id in ctrl.final_reported)
                except Exception:
                    log.exception("experiment %s: the tuner failed on the end of trial %s", exp_id, trial_id)
            if run_id:
                self._run_owner.pop(run_id, None)
                try:
                    await self.runs.cancel(run_id)
                except Exception:
                    log.exception("cancelling run %s of trial %s failed", run_id, trial_id)


# ---------------------------------------------------------------- units of work


def _template_kind(session, exp: Experiment) -> str | None:
    template = load_catalog(session).get(exp.trial.template, exp.trial.template_version)
    return template.kind if template is not None else None


def _diagnostic(error: FieldError, severity: str = "error") -> dict:
    return {"field": error.field, "message": error.message, "accepted": error.accepted, "severity": severity}


def _end(session, exp_id: int, status: str, reason: str | None, message: str) -> None:
    row = session.get(ExperimentRow, exp_id)
    if row is None:
        return
    row.status, row.end_reason, row.message, row.finished_at = status, reason, message, utcnow()


def _insert_trial(session, exp_id: int, trial_id: str, parameter_id, parameters: dict, source_trial_id) -> int:
    seq = (session.scalar(select(func.max(TrialRow.seq)).where(TrialRow.experiment_id == exp_id)) or 0) + 1
    session.add(TrialRow(id=trial_id, experiment_id=exp_id, seq=seq, parameter_id=parameter_id, parameters=parameters,
                         status="pending", message="", source_trial_id=source_trial_id, created_at=utcnow()))
    return seq


def _attach_run(session, trial_id: str, run_id: str) -> str | None:
    """The trial runs as ``run_id``; the run's engine."""
    row = session.get(TrialRow, trial_id)
    if row is not None and row.status == "pending":
        row.run_id, row.status, row.started_at = run_id, "running", utcnow()
    elif row is not None:
        row.run_id = run_id
    run = session.get(RunRow, run_id)
    return run.engine if run is not None else None


def _finish_trial(session, trial_id: str, status: str, message: str, final: float | None) -> str | None:
    """End an active trial; its run id ('' when it has none), None when it had
    already ended. A final value found now (stdout metrics) is stored with it."""
    row = session.get(TrialRow, trial_id)
    if row is None or row.status in TRIAL_FINAL:
        return None
    if status == "cancelled" and row.final_value is not None:
        # it had reported its result: what remained of its run did not matter
        status, message = "succeeded", f"its final result was in; its run was stopped ({message})"
    row.status, row.message, row.finished_at = status, message, utcnow()
    if final is not None:
        sequence = (session.scalar(select(func.count()).select_from(TrialMetricRow).where(
            TrialMetricRow.trial_id == trial_id, TrialMetricRow.kind == "final")) or 0) + 1
        session.add(TrialMetricRow(trial_id=trial_id, kind="final", sequence=sequence, value=final, raw=final,
                                   created_at=utcnow()))
        _set_final(session, row, final)
    return row.run_id or ""


def _set_final(session, trial: TrialRow, value: float) -> None:
    """A trial's final result, and the experiment's best if it is better."""
    trial.final_value = value
    exp = session.get(ExperimentRow, trial.experiment_id)
    direction = (exp.body.get("objective") or {}).get("direction", "maximize")
    if exp.best_trial_id is None or better(value, exp.best_value, direction):
        exp.best_trial_id, exp.best_value = trial.id, value


def _store_metric(session, trial_id: str, kind: str, sequence: int, value, raw):
    """Store a reported point of an active trial; (experiment id, parameter id,
    the objective's value) or None when the trial is unknown or has ended."""
    trial = session.get(TrialRow, trial_id)
    if trial is None or trial.status in TRIAL_FINAL:
        return None
    exp = session.get(ExperimentRow, trial.experiment_id)
    if value is None:
        value = metric_value(raw, (exp.body.get("objective") or {}).get("metric", "default"))
    session.add(TrialMetricRow(trial_id=trial_id, kind=kind, sequence=int(sequence), value=value, raw=raw, created_at=utcnow()))
    if kind == "final" and value is not None:
        _set_final(session, trial, value)
    # an update of the trial row tells event streams that it changed
    trial.updated_at = utcnow()
    return trial.experiment_id, trial.parameter_id, value


def _final_from_intermediates(session, trial_id: str) -> float | None:
    values = intermediate_values(session, trial_id)
    return values[-1] if values else None


def _ended_runs(session, exp_id: int) -> list[tuple]:
    """Active trials whose runs are final: (trial id, parameter id, run status, run message)."""
    q = (select(TrialRow.id, TrialRow.parameter_id, RunRow.status, RunRow.message)
         .join(RunRow, RunRow.id == TrialRow.run_id)
         .where(TrialRow.experiment_id == exp_id, TrialRow.status.in_(TRIAL_ACTIVE), RunRow.status.in_(tuple(RUN_FINAL))))
    return [tuple(r) for r in session.execute(q).all()]


def _active_trials(session, exp_id: int) -> list[tuple[str, str | None, int | None]]:
    return [tuple(r) for r in session.execute(select(TrialRow.id, TrialRow.run_id, TrialRow.parameter_id).where(
        TrialRow.experiment_id == exp_id, TrialRow.status.in_(TRIAL_ACTIVE))).all()]


def _progress(session, exp_id: int) -> dict:
    row = session.get(ExperimentRow, exp_id)
    counts = trial_counts(session, [exp_id])[exp_id]
    created = session.scalar(select(func.count()).select_from(TrialRow).where(
        TrialRow.experiment_id == exp_id, TrialRow.parameter_id.is_not(None))) or 0
    started = aware(row.started_at) or aware(row.created_at)
    return {"created": created, "succeeded": counts.get("succeeded", 0), "failed": counts.get("failed", 0),
            "active": counts.get("pending", 0) + counts.get("running", 0), "best": row.best_value,
            "elapsed": (utcnow() - started).total_seconds()}


def _seconds(dt: datetime | None) -> float | None:
    return aware(dt).timestamp() if dt is not None else None


def _restore_rows(session, exp_id: int, reason: str) -> tuple[Experiment | None, list[dict]]:
    row = session.get(ExperimentRow, exp_id)
    if row is None or row.status != "running":
        return None, []
    exp = row_to_experiment(row)
    trials = session.scalars(select(TrialRow).where(TrialRow.experiment_id == exp_id).order_by(TrialRow.seq)).all()
    now = utcnow()
    data = []
    for t in trials:
        if t.status in TRIAL_ACTIVE and not t.run_id:
            t.status, t.message, t.finished_at = "failed", reason, now
        engine = session.scalar(select(RunRow.engine).where(RunRow.id == t.run_id)) if t.run_id else None
        data.append({"id": t.id, "parameter_id": t.parameter_id, "parameters": t.parameters, "final_value": t.final_value,
                     "intermediates": intermediate_values(session, t.id), "status": t.status, "run_id": t.run_id,
                     "engine": engine, "created_at": _seconds(t.created_at), "finished_at": _seconds(t.finished_at)})
    return exp, data
