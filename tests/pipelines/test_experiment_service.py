"""The experiment service against a real database (SQLite and PostgreSQL), the
run service and the named fake engines of ``support.engines``, with a tuner
that proposes a fixed list of parameters (NNI's tuners have their own tests):
trials in flight, metrics from the trial channel and from stdout, the
assessor, failures, the goal, stop and resume, a control-plane restart, and
project deletion."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from support.engines import FailingEngine, HangingEngine, InstantEngine, ManualEngine

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.experiments import ExperimentRow, TrialMetricRow, TrialRow
from cubelab_hub.controlplane.models.pipelines import RunRow
from cubelab_hub.controlplane.services.experiments import ExperimentManager, history_records, read_experiment_view, trial_views
from cubelab_hub.controlplane.services.runs import RunManager
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates
from cubelab_hub.domain.errors import Conflict, FieldError, FieldErrors, NotFound


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.upgrade()
    ensure_builtin_templates(database)
    return database


@dataclass
class Proposal:
    parameter_id: int
    parameters: dict


class ListTuner:
    """Proposes the given parameter sets in order, then is exhausted; records
    every call the controller makes."""

    def __init__(self, space: list[dict], history: list | None = None):
        self.space = space
        self.history = list(history or [])
        self.next = max((h["parameter_id"] for h in self.history), default=-1) + 1
        self.calls: list[tuple] = []

    def request(self, count):
        out = []
        while len(out) < count and self.next < len(self.space):
            out.append(Proposal(self.next, self.space[self.next]))
            self.next += 1
        self.calls.append(("request", count, [p.parameter_id for p in out]))
        return out

    @property
    def exhausted(self):
        return self.next >= len(self.space)

    def report_intermediate(self, parameter_id, sequence, value):
        self.calls.append(("intermediate", parameter_id, sequence, value))

    def report_final(self, parameter_id, value):
        self.calls.append(("final", parameter_id, value))

    def trial_end(self, parameter_id, succeeded):
        self.calls.append(("end", parameter_id, succeeded))


class ThresholdAssessor:
    """Stops a trial whose latest intermediate result is below 0.5."""

    def __init__(self):
        self.ended = []

    def assess(self, trial_key, history):
        return history[-1] < 0.5

    def trial_end(self, trial_key, succeeded):
        self.ended.append((trial_key, succeeded))


SPACE = [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}, {"lr": 0.4}, {"lr": 0.5}, {"lr": 0.6}]


class Setup:
    """A run service and an experiment service on one engine, with the tuners
    and assessors they built."""

    def __init__(self, db, engine, space=SPACE, keep_runs_on_shutdown=False, nni=False, tuner_cls=None, checkpoint_dir=None):
        self.db = db
        self.engine = engine
        self.runs = RunManager(db, {engine.name: engine}, default_engine=engine.name, keep_runs_on_shutdown=keep_runs_on_shutdown)
        self.runs.flush_delay = 0.01
        self.tuners: list[ListTuner] = []
        self.assessors: list[ThresholdAssessor] = []
        self.envs: list[tuple] = []

        def tuner_factory(exp, history):
            tuner = (tuner_cls or ListTuner)(space, history)
            self.tuners.append(tuner)
            return tuner

        def assessor_factory(exp):
            if not exp.assessor:
                return None
            assessor = ThresholdAssessor()
            self.assessors.append(assessor)
            return assessor

        def trial_env(exp, trial_id, seq):
            self.envs.append((exp.id, trial_id, seq))
            return {"NNI_TRIAL_JOB_ID": trial_id, "NNI_TRIAL_COMMAND_CHANNEL": f"http://{trial_id}:token-{trial_id}@cp/ch"}

        if nni:  # NNI's own tuners and assessors, rebuilt from the records
            self.records: list[list] = []  # what each tuner was rebuilt from

            def history(trials):
                self.records.append(history_records(trials))
                return self.records[-1]

            self.manager = ExperimentManager(db, self.runs, trial_env=trial_env, poll_seconds=0.05, history=history,
                                             checkpoint_dir=checkpoint_dir)
            return
        self.manager = ExperimentManager(db, self.runs, trial_env=trial_env, tuner_factory=tuner_factory,
                                         assessor_factory=assessor_factory, history=lambda trials: trials, poll_seconds=0.05)

    def experiment(self, exp_id) -> dict:
        self.runs.flush()
        with self.db.session() as s:
            return read_experiment_view(s, s.get(ExperimentRow, exp_id))

    def trials(self, exp_id) -> list[dict]:
        with self.db.session() as s:
            return trial_views(s, s.scalars(select(TrialRow).where(TrialRow.experiment_id == exp_id).order_by(TrialRow.seq)).all())

    async def until(self, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.runs.settle()
            value = what()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise TimeoutError(f"not reached: {what}")

    async def running_runs(self, n: int) -> list[str]:
        """Until exactly ``n`` runs are running, each known to its trial."""
        def attached():
            running = self.engine.running()
            with self.db.session() as s:
                known = set(s.scalars(select(TrialRow.run_id).where(TrialRow.run_id.in_(running))))
            return running if len(running) == n and known == set(running) else None

        return await self.until(attached)


def body(name="exp", **changes) -> dict:
    data = {"name": name, "project": "proj", "search_space": {"lr": {"_type": "uniform", "_value": [0, 1]}},
            "tuner": "Random", "trial": {"template": "python", "args": {"--script": "train.py"}},
            "objective": {"metric": "accuracy", "direction": "maximize"}, "trial_concurrency": 2, "max_trials": 3}
    data.update(changes)
    return data


async def test_trials_run_in_parallel_report_metrics_and_the_experiment_ends_at_max_trials(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(), "alice", False)
    first, second = await s.running_runs(2)
    trials = s.trials(exp_id)
    assert [(t["seq"], t["status"], t["parameters"]) for t in trials] == [(1, "running", {"lr": 0.1}), (2, "running", {"lr": 0.2})]
    # each trial's run is a one-task pipeline with its parameters as argv and the channel's variables
    spec = s.engine.submitted[0]
    assert spec.trigger == "trial" and spec.runner == "alice" and spec.project == "proj"
    [task] = spec.pipeline.tasks
    assert task.extra_args == ["--lr=0.1"] and task.env["NNI_TRIAL_JOB_ID"] == trials[0]["id"]
    # the channel's URL (its token) goes to the engine as a secret variable, and is not stored with the run
    assert "NNI_TRIAL_COMMAND_CHANNEL" not in task.env
    assert spec.secret_env == {"NNI_TRIAL_COMMAND_CHANNEL": f"http://{trials[0]['id']}:token-{trials[0]['id']}@cp/ch"}
    with db.session() as session:
        assert "token-" not in str(session.get(RunRow, spec.run_id).spec)
    # what the trial channel hands the SDK, and what trials report through it
    params = await s.manager.trial_parameters(trials[0]["id"])
    assert params == {"parameter_id": 0, "parameter_source": "algorithm", "parameters": {"lr": 0.1}, "parameter_index": 0}
    for i, value in enumerate((0.5, 0.6)):
        await s.manager.record_metric(trials[0]["id"], "intermediate", i + 1, None, {"accuracy": value, "loss": 1})
    await s.manager.record_metric(trials[0]["id"], "final", 1, 0.7, 0.7)
    await s.manager.record_metric(trials[1]["id"], "final", 1, None, {"default": 0.9})
    await s.engine.end(first)
    await s.engine.end(second)
    [third] = await s.running_runs(1)
    await s.manager.record_metric(s.trials(exp_id)[2]["id"], "final", 1, 0.8, 0.8)
    await s.engine.end(third)
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert (view["status"], view["end_reason"]) == ("succeeded", "max_trials")
    assert view["progress"] == {"trials": 3, "max_trials": 3, "pending": 0, "running": 0, "succeeded": 3, "failed": 0,
                                "early_stopped": 0, "cancelled": 0}
    assert view["best"] == {"trial_id": trials[1]["id"], "seq": 2, "value": 0.9, "parameters": {"lr": 0.2}}
    assert [(t["status"], t["final_value"], t["intermediate_count"]) for t in s.trials(exp_id)] == [
        ("succeeded", 0.7, 2), ("succeeded", 0.9, 0), ("succeeded", 0.8, 0)]
    calls = s.tuners[0].calls
    assert ("intermediate", 0, 1, 0.5) in calls and ("intermediate", 0, 2, 0.6) in calls
    assert calls.index(("final", 0, 0.7)) < calls.index(("end", 0, True))
    assert {c for c in calls if c[0] == "end"} == {("end", 0, True), ("end", 1, True), ("end", 2, True)}
    # no more than max_trials were ever asked for
    assert sum(len(c[2]) for c in calls if c[0] == "request") == 3
    # ended trials are closed to the channel
    assert await s.manager.trial_closed(trials[0]["id"]) and await s.manager.trial_parameters(trials[0]["id"]) is None
    assert await s.manager.trial_closed("trial-000000000000")


async def test_failed_trials_count_and_end_the_experiment_at_max_failed_trials(db):
    s = Setup(db, FailingEngine())
    exp_id = await s.manager.create(body(max_trials=5, max_failed_trials=1), "alice", False)
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert (view["status"], view["end_reason"]) == ("failed", "max_failed_trials")
    trials = s.trials(exp_id)
    failed = [t for t in trials if t["status"] == "failed"]
    # two running at once: a third may have started (and failed) before the second failure was seen
    assert len(failed) >= 2 and len(trials) <= 3 and all(t["message"] for t in failed)
    assert {t["status"] for t in trials} <= {"failed", "cancelled"}
    assert ("end", 0, False) in s.tuners[0].calls


async def test_the_assessor_stops_a_bad_trial_early_and_says_why(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(assessor="Medianstop", trial_concurrency=1, max_trials=2), "alice", False)
    [run_id] = await s.running_runs(1)
    trial = s.trials(exp_id)[0]
    await s.manager.record_metric(trial["id"], "intermediate", 1, 0.9, 0.9)
    assert s.trials(exp_id)[0]["status"] == "running"
    await s.manager.record_metric(trial["id"], "intermediate", 2, 0.1, 0.1)
    stopped = s.trials(exp_id)[0]
    assert stopped["status"] == "early-stopped"
    assert "Medianstop assessor" in stopped["message"] and "2 intermediate result" in stopped["message"]
    assert run_id in s.engine.cancelled
    assert ("end", 0, False) in s.tuners[0].calls and s.assessors[0].ended == [(trial["id"], False)]
    # the next trial takes its place; a late report of the stopped one is not recorded
    await s.running_runs(1)
    await s.manager.record_metric(trial["id"], "final", 1, 0.95, 0.95)
    assert s.trials(exp_id)[0]["final_value"] is None


async def test_stdout_metrics_are_read_from_the_log_and_the_last_one_is_final(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(trial_concurrency=1, max_trials=1,
                                         trial={"template": "python", "args": {"--script": "t.py"}, "metrics": "stdout"}),
                                    "alice", False)
    [run_id] = await s.running_runs(1)
    s.engine.write(run_id, "starting\nepoch 1: accuracy=0.5 loss=0.3\n")
    s.engine.write(run_id, "epoch 2: loss=0.2\nepoch 2: accura")
    s.engine.write(run_id, "cy=0.75\n")
    trial_id = s.trials(exp_id)[0]["id"]
    await s.until(lambda: s.trials(exp_id)[0]["intermediate_count"] == 2)
    await s.engine.end(run_id)
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert view["best"]["value"] == 0.75 and view["best"]["trial_id"] == trial_id
    assert s.trials(exp_id)[0]["final_value"] == 0.75
    assert [c for c in s.tuners[0].calls if c[0] in ("intermediate", "final")] == [
        ("intermediate", 0, 1, 0.5), ("intermediate", 0, 2, 0.75), ("final", 0, 0.75)]


async def test_reaching_the_goal_ends_the_experiment_and_cancels_running_trials(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(objective={"metric": "accuracy", "goal": 0.9}, max_trials=10), "alice", False)
    first, second = await s.running_runs(2)
    await s.manager.record_metric(s.trials(exp_id)[0]["id"], "final", 1, 0.95, 0.95)
    await s.engine.end(first)
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert (view["status"], view["end_reason"]) == ("succeeded", "goal")
    assert [t["status"] for t in s.trials(exp_id)] == ["succeeded", "cancelled"]
    assert second in s.engine.cancelled


async def test_stop_cancels_running_trials_and_resume_goes_on_from_the_recorded_ones(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(max_trials=4), "alice", False)
    first, second = await s.running_runs(2)
    await s.manager.record_metric(s.trials(exp_id)[0]["id"], "final", 1, 0.4, 0.4)
    await s.engine.end(first)
    await s.running_runs(2)
    await s.manager.stop(exp_id)
    view = s.experiment(exp_id)
    assert (view["status"], view["end_reason"], view["message"]) == ("stopped", "stopped", "stopped")
    assert [t["status"] for t in s.trials(exp_id)] == ["succeeded", "cancelled", "cancelled"]
    assert s.engine.running() == []
    with pytest.raises(Conflict):
        await s.manager.rerun_trial(exp_id, s.trials(exp_id)[0]["id"])
    await s.manager.resume(exp_id)
    await s.running_runs(1)  # 3 of 4 created: one more
    rebuilt = s.tuners[-1]
    assert len(s.tuners) == 2 and [(h["parameter_id"], h["status"]) for h in rebuilt.history] == [
        (0, "succeeded"), (1, "cancelled"), (2, "cancelled")]
    assert s.trials(exp_id)[3]["parameters"] == {"lr": 0.4}
    # a re-run: same parameters, a new trial the tuner did not propose
    rerun_id = await s.manager.rerun_trial(exp_id, s.trials(exp_id)[0]["id"])
    rerun = s.trials(exp_id)[4]
    assert (rerun["id"], rerun["parameters"], rerun["source_trial_id"]) == (rerun_id, {"lr": 0.1}, s.trials(exp_id)[0]["id"])
    assert (await s.manager.trial_parameters(rerun_id))["parameter_source"] == "customized"
    for run_id in await s.running_runs(2):
        await s.engine.end(run_id)
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert view["end_reason"] == "max_trials" and view["progress"]["trials"] == 5


async def test_a_restarted_control_plane_picks_running_experiments_up(db):
    before = Setup(db, HangingEngine("engine"), keep_runs_on_shutdown=True)
    exp_id = await before.manager.create(body(max_trials=3), "alice", False)
    await before.until(lambda: len([t for t in before.trials(exp_id) if t["status"] == "running"]) == 2)
    await before.manager.record_metric(before.trials(exp_id)[0]["id"], "intermediate", 1, 0.3, 0.3)
    await before.manager.shutdown()
    await before.runs.settle()
    assert before.experiment(exp_id)["status"] == "running"
    # the next control plane: its engine of the same name finishes what it adopts
    after = Setup(db, InstantEngine("engine"))
    # the trials' channel URLs were never stored: the restarted control plane derives them again
    after.runs.secret_env_for = lambda spec: {"NNI_TRIAL_COMMAND_CHANNEL": "derived-" + spec.pipeline.tasks[0].env["NNI_TRIAL_JOB_ID"]}
    await after.runs.start()
    await after.manager.start()
    view = await after.until(lambda: (v := after.experiment(exp_id))["status"] != "running" and v)
    assert view["end_reason"] == "max_trials"
    assert sorted(after.engine.reattached) == sorted(t["run_id"] for t in before.trials(exp_id)[:2])
    for trial in before.trials(exp_id)[:2]:
        assert after.engine._runs[trial["run_id"]].spec.secret_env == {"NNI_TRIAL_COMMAND_CHANNEL": "derived-" + trial["id"]}
    history = after.tuners[0].history
    assert [(h["parameter_id"], h["status"], h["intermediates"]) for h in history] == [(0, "running", [0.3]), (1, "running", [])]
    assert [t["status"] for t in after.trials(exp_id)] == ["succeeded"] * 3


async def test_trials_whose_runs_the_restart_failed_count_as_failed(db):
    before = Setup(db, HangingEngine("engine"))
    exp_id = await before.manager.create(body(max_trials=2, max_failed_trials=0), "alice", False)
    await before.until(lambda: len([t for t in before.trials(exp_id) if t["status"] == "running"]) == 2)
    await before.manager.shutdown()
    await before.runs.shutdown()  # a clean stop: local-like runs are failed with the reason
    after = Setup(db, InstantEngine("other"))
    await after.runs.start()
    await after.manager.start()
    view = await after.until(lambda: (v := after.experiment(exp_id))["status"] != "running" and v)
    assert (view["status"], view["end_reason"]) == ("failed", "max_failed_trials")
    assert {t["message"] for t in after.trials(exp_id)} == {"the control plane stopped while the run was in flight"}


async def test_invalid_experiments_are_refused_with_every_field_named(db):
    s = Setup(db, InstantEngine())
    with pytest.raises(FieldErrors) as caught:
        await s.manager.create(body(trial_concurrency=0, tuner="Nope"), "alice", False)
    assert {"trial_concurrency", "tuner"} <= {e.field for e in caught.value.errors}
    diags = await s.manager.diagnostics(body(trial={"template": "no-such-template"}), False)
    assert diags and diags[0]["field"].startswith("trial") and diags[0]["severity"] == "error"
    assert await s.manager.diagnostics(body(), False) == []
    await s.manager.create(body(), "alice", False)
    with pytest.raises(Conflict, match="already has an experiment named 'exp'"):
        await s.manager.create(body(), "bob", False)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ExperimentRow)) == 1


async def test_deleting_an_experiment_or_its_project_removes_trials_metrics_and_runs(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(), "alice", False)
    await s.running_runs(2)
    await s.manager.record_metric(s.trials(exp_id)[0]["id"], "intermediate", 1, 0.3, 0.3)
    other = await s.manager.create(body("other", project="other"), "alice", False)
    await s.running_runs(4)
    await s.manager.delete_project("proj")
    assert len(s.engine.running()) == 2  # the other project's trials run on
    with db.session() as session:
        assert session.get(ExperimentRow, exp_id) is None and session.get(ExperimentRow, other) is not None
        assert session.scalar(select(func.count()).select_from(TrialMetricRow)) == 0
        assert session.scalar(select(func.count()).select_from(RunRow).where(RunRow.project == "proj")) == 0
    await s.manager.delete(other)
    assert s.engine.running() == []
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(TrialRow)) == 0


async def test_with_nni_grid_search_the_experiment_ends_when_the_space_is_exhausted_and_resumes_from_its_records(db):
    s = Setup(db, ManualEngine(), nni=True)
    engine, manager = s.engine, s.manager
    exp_id = await manager.create(body(tuner="GridSearch", max_trials=10, search_space={"x": {"_type": "choice", "_value": [1, 2, 3]}}),
                                  "alice", False)
    for value in (0.3, 0.9, 0.6):
        run_id = (await s.until(lambda: engine.running()))[0]
        trial = await s.until(lambda run_id=run_id: next((t for t in s.trials(exp_id) if t["run_id"] == run_id), None))
        await manager.record_metric(trial["id"], "final", 1, None, {"accuracy": value})
        await engine.end(run_id)
        await s.until(lambda run_id=run_id: run_id not in engine.running())
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert (view["status"], view["end_reason"]) == ("succeeded", "search_space_exhausted")
    trials = s.trials(exp_id)
    assert sorted(t["parameters"]["x"] for t in trials) == [1, 2, 3] and view["best"]["value"] == 0.9
    await manager.resume(exp_id)
    view = await s.until(lambda: (v := s.experiment(exp_id))["status"] != "running" and v)
    assert view["end_reason"] == "search_space_exhausted" and len(s.trials(exp_id)) == 3


class DeferringTuner(ListTuner):
    """Like Evolution or PBT: has nothing to propose until a trial has ended."""

    def __init__(self, space, history=None):
        super().__init__(space, history)
        self.ended = 0

    def request(self, count):
        if self.next > self.ended:
            self.calls.append(("request", count, []))
            return []
        return super().request(min(count, 1))

    def trial_end(self, parameter_id, succeeded):
        super().trial_end(parameter_id, succeeded)
        self.ended += 1


async def test_the_tuner_is_asked_when_a_slot_frees_not_on_a_timer(db):
    s = Setup(db, ManualEngine(), tuner_cls=DeferringTuner)
    exp_id = await s.manager.create(body(trial_concurrency=2, max_trials=2), "alice", False)
    [first] = await s.running_runs(1)
    await asyncio.sleep(0.5)  # ten poll intervals
    # one proposal for two free slots; with nothing changed since, the tuner is not asked again
    assert [c for c in s.tuners[0].calls if c[0] == "request"] == [("request", 1, [0])]
    await s.manager.record_metric(s.trials(exp_id)[0]["id"], "final", 1, 0.5, 0.5)
    await s.engine.end(first)
    [second] = await s.running_runs(1)  # the freed slot: asked again at once, and it proposes
    assert s.trials(exp_id)[1]["parameters"] == {"lr": 0.2}
    await s.engine.end(second)
    await s.until(lambda: s.experiment(exp_id)["status"] != "running")


async def test_every_proposal_handed_out_ends_for_the_tuner_cancelled_and_stopped_ones_too(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(objective={"metric": "accuracy", "goal": 0.9}, max_trials=10), "alice", False)
    first, _ = await s.running_runs(2)
    await s.manager.record_metric(s.trials(exp_id)[0]["id"], "final", 1, 0.95, 0.95)
    await s.engine.end(first)
    await s.until(lambda: s.experiment(exp_id)["status"] != "running")
    assert {c for c in s.tuners[0].calls if c[0] == "end"} == {("end", 0, True), ("end", 1, False)}
    # stopped: the running trials are cancelled and the tuner hears of it before it goes
    other = await s.manager.create(body("other", max_trials=10), "alice", False)
    await s.until(lambda: len([t for t in s.trials(other) if t["status"] == "running"]) == 2)
    await s.manager.stop(other)
    assert {c for c in s.tuners[1].calls if c[0] == "end"} == {("end", 0, False), ("end", 1, False)}
    handed = {p for c in s.tuners[1].calls if c[0] == "request" for p in c[2]}
    assert handed == {0, 1}


async def test_a_seed_is_drawn_at_creation_stored_and_shown_in_the_spec(db):
    s = Setup(db, ManualEngine())
    drawn = await s.manager.create(body(), "alice", False)
    given = await s.manager.create(body("given", seed=7), "alice", False)
    seed = s.experiment(drawn)["spec"]["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**32
    assert s.experiment(given)["spec"]["seed"] == 7
    # the tuner is built with the stored seed, the same one a rebuild uses
    with db.session() as session:
        assert session.get(ExperimentRow, drawn).body["seed"] == seed
    await s.manager.delete(drawn)
    await s.manager.delete(given)


async def test_with_nni_tpe_a_rebuild_replays_the_trials_in_the_order_they_happened(db):
    s = Setup(db, ManualEngine(), nni=True)
    exp_id = await s.manager.create(body(tuner="TPE", max_trials=4), "alice", False)
    first, second = await s.running_runs(2)
    trials = s.trials(exp_id)
    await s.manager.record_metric(trials[1]["id"], "final", 1, 0.4, 0.4)
    await s.engine.end(second)  # the second proposal ends first
    await s.running_runs(2)
    proposed = [t["parameters"] for t in s.trials(exp_id)]
    await s.manager.stop(exp_id)
    await s.manager.resume(exp_id)
    await s.running_runs(1)
    records = {r.parameter_id: r for r in s.records[-1]}
    # the rebuilt tuner is given when each trial was proposed and ended, from the trial rows
    assert all(r.created_at is not None and r.finished_at is not None for r in records.values())
    assert records[1].finished_at < records[0].finished_at and records[0].created_at <= records[1].created_at
    assert (records[1].final, records[1].succeeded) == (0.4, True)
    assert [r.parameters for r in sorted(records.values(), key=lambda r: r.parameter_id)] == proposed
    await s.manager.stop(exp_id)


async def test_pbt_gets_a_checkpoint_directory_the_platform_chose_or_is_refused(db, tmp_path):
    refused = Setup(db, ManualEngine(), nni=True)
    pbt = body(tuner="PBT", tuner_args={"population_size": 2}, max_trials=2)
    with pytest.raises(FieldError) as caught:
        await refused.manager.create(pbt, "alice", False)
    assert caught.value.field == "tuner" and "checkpoint directory" in caught.value.message
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ExperimentRow)) == 0
    chosen = []

    def checkpoint_dir(exp):
        chosen.append(exp.id)
        return str(tmp_path / "alice" / ".cubelab" / "experiments" / str(exp.id) / "checkpoints")

    s = Setup(db, ManualEngine(), nni=True, checkpoint_dir=checkpoint_dir)
    exp_id = await s.manager.create(pbt, "alice", False)
    await s.running_runs(2)
    base = tmp_path / "alice" / ".cubelab" / "experiments" / str(exp_id) / "checkpoints"
    for trial in s.trials(exp_id):
        params = trial["parameters"]
        assert params["save_checkpoint_dir"].startswith(str(base) + "/")
        assert params["load_checkpoint_dir"].startswith(str(base) + "/")
    # the path is the platform's choice, not part of what the user posted
    assert "all_checkpoint_dir" not in s.experiment(exp_id)["spec"]["tuner_args"] and exp_id in chosen
    await s.manager.stop(exp_id)


async def test_one_trial_cancelled_by_an_admin_ends_for_the_tuner_and_the_experiment_goes_on(db):
    s = Setup(db, ManualEngine())
    exp_id = await s.manager.create(body(max_trials=4), "alice", False)
    first, second = await s.running_runs(2)
    trial = next(t for t in s.trials(exp_id) if t["run_id"] == first)
    assert exp_id in s.manager.active_experiment_ids()
    assert await s.manager.cancel_trial(trial["id"], "stopped by the admin root") is True
    assert first in s.engine.cancelled and second not in s.engine.cancelled
    cancelled = next(t for t in s.trials(exp_id) if t["id"] == trial["id"])
    assert (cancelled["status"], cancelled["message"]) == ("cancelled", "stopped by the admin root")
    assert [c for c in s.tuners[0].calls if c[0] == "end"] == [("end", SPACE.index(trial["parameters"]), False)]
    # the freed slot is filled by the next proposal; the experiment is still running
    await s.until(lambda: len([t for t in s.trials(exp_id) if t["status"] == "running"]) == 2)
    assert s.experiment(exp_id)["status"] == "running"
    # once ended, it cannot be cancelled again; an unknown trial is not found
    assert await s.manager.cancel_trial(trial["id"], "again") is False
    with pytest.raises(NotFound):
        await s.manager.cancel_trial("trial-000000000000", "nothing")
    await s.manager.stop(exp_id)
