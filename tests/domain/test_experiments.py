"""Experiments: the tuner catalogue (checked against NNI 3.0 itself), the strict
parser with field-named errors, a trial's pipeline and argv, Katib-style metric
lines, and the rules that end an experiment."""

import importlib
import inspect
import math
from pathlib import Path

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.experiments import (
    ASSESSORS,
    END_REASONS,
    EXPERIMENT_STATUSES,
    LEFT_OUT,
    TRIAL_STATUSES,
    TUNERS,
    Experiment,
    Objective,
    TrialSpec,
    better,
    catalogue,
    end_reason,
    experiment_from_dict,
    experiment_warnings,
    final_status,
    find_tuner,
    free_slots,
    metric_value,
    parse_metric_line,
    trial_argv,
    trial_pipeline,
)
from cubelab_hub.domain.pipelines import Task, has_errors, pipeline_from_dict, task_from_dict, validate
from cubelab_hub.domain.searchspace import SPACE_TYPES
from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates

SPACE = {"lr": {"_type": "loguniform", "_value": [1e-4, 0.1]}, "batch": {"_type": "choice", "_value": [16, 32, 64]}}
NESTED = {"opt": {"_type": "choice", "_value": [{"_name": "sgd", "m": {"_type": "uniform", "_value": [0, 1]}}, {"_name": "adam"}]}}


def body(**overrides):
    data = {"name": "mnist-hpo", "project": "vision", "search_space": SPACE, "trial": {"args": {"--script": "train.py"}}}
    data.update(overrides)
    return data


def errors_of(data) -> dict:
    with pytest.raises(FieldErrors) as info:
        experiment_from_dict(data)
    found = {}
    for error in info.value.errors:
        assert error.field not in found, f"{error.field} reported twice"
        assert error.accepted, f"{error.field} has no accepted form"
        found[error.field] = error
    return found


# ---------------------------------------------------------------- parsing


def test_a_minimal_experiment_gets_the_documented_defaults():
    exp = experiment_from_dict(body())
    assert exp == Experiment(name="mnist-hpo", project="vision", search_space=SPACE, trial=TrialSpec(args={"--script": "train.py"}))
    assert (exp.tuner, exp.trial_concurrency, exp.max_trials, exp.max_duration, exp.max_failed_trials, exp.seed) == ("TPE", 1, 10, 0, None, None)
    assert exp.objective == Objective("default", "maximize", None)
    assert exp.trial.metrics == "nni" and exp.trial.template == "python"


def test_a_full_experiment_round_trips_through_its_json():
    data = body(
        description="lr sweep", tuner="evolution", tuner_args={"population_size": 20}, assessor="medianstop",
        assessor_args={"start_step": 3}, objective={"metric": "val_acc", "direction": "maximize", "goal": 0.99},
        trial={"template": "python", "args": {"--script": "train.py"}, "cpu": "2", "memory": "4G", "gpu": "1(V100)",
               "volume_mount": "data(pvc):/data", "node_selector": "disk=ssd", "retries": 1, "timeout": "1h",
               "env": "EPOCHS=5", "metrics": "stdout"},
        trial_concurrency=4, max_trials=40, max_duration="2h", max_failed_trials=3, seed=7, id=12, creator="alice",
    )
    exp = experiment_from_dict(data)
    assert (exp.tuner, exp.assessor, exp.max_duration, exp.trial.timeout, exp.trial.env) == ("Evolution", "Medianstop", 7200, 3600, {"EPOCHS": "5"})
    assert (exp.id, exp.creator, exp.objective.goal) == (12, "alice", 0.99)
    again = exp.to_dict()
    assert experiment_from_dict(again) == exp
    assert again["tuner_args"] == {"population_size": 20} and again["max_duration"] == 7200


@pytest.mark.parametrize("text,seconds", [(0, 0), ("0", 0), (90, 90), ("90", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                          ("1h30m", 5400), (" 2H ", 7200), ("1d12h", 129600), ("45s", 45)])
def test_max_duration_forms_are_seconds(text, seconds):
    assert experiment_from_dict(body(max_duration=text)).max_duration == seconds


def test_every_problem_is_reported_at_once_each_naming_its_field():
    errors = errors_of({
        "name": "Bad_Name", "project": "", "search_space": {"lr": {"_type": "uniform", "_value": [1, 0]}},
        "tuner": "TPE", "tuner_args": {"tpe_args": {"gamma": 0, "n_startup_jobs": -1, "bogus": 1}},
        "objective": {"metric": "1acc", "direction": "up", "goal": "high"},
        "trial": {"args": {}, "cpu": "lots", "memory": "4Q", "gpu": "-1", "volume_mount": "x", "node_selector": "a",
                  "retries": 99, "timeout": "soon", "env": {"NNI_PLATFORM": "x"}, "metrics": "tensorboard", "image": "x"},
        "trial_concurrency": 0, "max_trials": 10001, "max_duration": "3w", "max_failed_trials": -1, "seed": -5, "color": "red",
    })
    assert set(errors) == {
        "name", "project", "search_space.lr._value",
        "tuner_args.tpe_args.gamma", "tuner_args.tpe_args.n_startup_jobs", "tuner_args.tpe_args.bogus",
        "objective.metric", "objective.direction", "objective.goal",
        "trial.args.--script", "trial.cpu", "trial.memory", "trial.gpu", "trial.volume_mount", "trial.node_selector",
        "trial.retries", "trial.timeout", "trial.env.NNI_PLATFORM", "trial.metrics", "trial.image",
        "trial_concurrency", "max_trials", "max_duration", "max_failed_trials", "seed", "color",
    }
    assert "1 to 64" in errors["trial_concurrency"].accepted
    assert "1 to 10000" in errors["max_trials"].accepted
    assert "'30m', '2h', '1d'" in errors["max_duration"].accepted
    assert errors["objective.direction"].accepted == "maximize or minimize"
    assert "not a tuner field" not in str(errors["color"]) and "is not an experiment field" in str(errors["color"])


@pytest.mark.parametrize("data,field,needle", [
    ({"search_space": None}, "search_space", "is missing"),
    ({"search_space": {}}, "search_space", "is missing"),
    ({"search_space": []}, "search_space", "must be an object"),
    ({"trial_concurrency": 65}, "trial_concurrency", "out of range"),
    ({"trial_concurrency": 1.5}, "trial_concurrency", "not a whole number"),
    ({"trial_concurrency": True}, "trial_concurrency", "not a whole number"),
    ({"max_trials": 0}, "max_trials", "out of range"),
    ({"max_duration": -1}, "max_duration", "outside"),
    ({"max_duration": True}, "max_duration", "not a duration"),
    ({"max_duration": "400d"}, "max_duration", "outside"),
    ({"max_duration": "h"}, "max_duration", "not a duration"),
    ({"objective": {"goal": math.nan}}, "objective.goal", "not a finite number"),
    ({"objective": {"goal": True}}, "objective.goal", "not a finite number"),
    ({"objective": {"metric": "acc uracy"}}, "objective.metric", "is not a metric name"),
    ({"objective": {"metric": 3}}, "objective.metric", "must be text"),
    ({"objective": {"mode": "max"}}, "objective.mode", "is not an objective field"),
    ({"objective": "maximize"}, "objective", "must be an object"),
    ({"trial": "train.py"}, "trial", "must be an object"),
    ({"trial": {"template": "notebook", "args": {}}}, "trial.args.--notebook", "needs a notebook"),
    ({"trial": {"template": "notebook", "args": {"--notebook": "a.ipynb", "--parameters": "x=1"}}}, "trial.args.--parameters", "must be an object"),
    ({"trial": {"args": {"--script": "t.py"}, "template": ""}}, "trial.template", "is empty"),
    ({"trial": {"args": {"--script": "t.py"}, "env": "A"}}, "trial.env", "has no '='"),
    ({"trial": {"args": ["--script"]}}, "trial.args", "must be an object"),
    ({"trial": {"args": {"--script": "t.py"}, "template_version": 2}}, "trial.template_version", "must be text"),
    ({"seed": 2**32}, "seed", "out of range"),
    ({"seed": "abc"}, "seed", "not a whole number"),
    ({"tuner_args": [1]}, "tuner_args", "must be an object"),
    ({"assessor_args": {"start_step": 1}}, "assessor_args", "without an assessor"),
    ({"assessor": "Median"}, "assessor", "is not an assessor"),
    ({"name": None}, "name", "non-empty string"),
    ({"name": "x" * 64}, "name", "more than 63"),
    ({"description": 5}, "description", "must be text"),
])
def test_a_bad_value_is_refused_with_its_field(data, field, needle):
    errors = errors_of(body(**data))
    assert list(errors) == [field], errors
    assert needle in errors[field].message


def test_numbers_given_as_text_are_read_where_a_form_sends_text():
    exp = experiment_from_dict(body(trial_concurrency="3", max_trials="20", max_failed_trials="0", seed="11",
                                    trial={"args": {"--script": "t.py"}, "cpu": 2, "memory": "1G", "gpu": 0, "retries": "2"}))
    assert (exp.trial_concurrency, exp.max_trials, exp.max_failed_trials, exp.seed) == (3, 20, 0, 11)
    assert (exp.trial.cpu, exp.trial.gpu, exp.trial.retries) == ("2", "0", 2)


# ---------------------------------------------------------------- tuners and assessors


@pytest.mark.parametrize("written,name", [("tpe", "TPE"), ("TPE", "TPE"), ("random", "Random"), ("BatchTuner", "Batch"),
                                          ("gridsearch", "GridSearch"), ("PBTTuner", "PBT"), ("hyperband", "Hyperband")])
def test_tuner_names_as_users_write_them(written, name):
    assert find_tuner(written).name == name
    space = {"combo": {"_type": "choice", "_value": [1, 2]}}
    assert experiment_from_dict(body(tuner=written, search_space=space)).tuner == name


@pytest.mark.parametrize("name", ["Anneal", "GP", "GPTuner", "metis", "BOHB", "SMAC", "DNGO"])
def test_a_left_out_tuner_says_why(name):
    errors = errors_of(body(tuner=name))
    assert "is not offered:" in errors["tuner"].message
    assert errors["tuner"].accepted == "TPE, Random, Evolution, GridSearch, Batch, Hyperband, PBT"


def test_an_unknown_tuner_lists_the_offered_ones():
    errors = errors_of(body(tuner="Bayes"))
    assert errors["tuner"].message == "'Bayes' is not a tuner" and "Hyperband" in errors["tuner"].accepted


def test_optimize_mode_comes_from_the_objective():
    errors = errors_of(body(tuner_args={"optimize_mode": "minimize"}, assessor="Medianstop", assessor_args={"optimize_mode": "minimize"}))
    assert set(errors) == {"tuner_args.optimize_mode", "assessor_args.optimize_mode"}
    assert "objective.direction" in errors["tuner_args.optimize_mode"].message
    assert Objective(direction="minimize").optimize_mode == "minimize"


def test_a_seed_among_the_tuners_arguments_moves_to_the_experiments_seed():
    exp = experiment_from_dict(body(tuner="Random", tuner_args={"seed": 42}))
    assert exp.seed == 42 and exp.tuner_args == {}
    assert experiment_from_dict(body(tuner_args={"seed": 42}, seed=42)).seed == 42
    assert "differs" in errors_of(body(tuner_args={"seed": 1}, seed=2))["tuner_args.seed"].message
    # Evolution has no seed of its own: the experiment's seed is the place
    assert "is not an argument here" in errors_of(body(tuner="Evolution", tuner_args={"seed": 1}))["tuner_args.seed"].message


@pytest.mark.parametrize("tuner,args,field,needle", [
    ("Evolution", {"population_size": 0}, "tuner_args.population_size", "out of range"),
    ("Evolution", {"population_size": 2.5}, "tuner_args.population_size", "not a whole number"),
    ("Evolution", {"size": 3}, "tuner_args.size", "is not an argument here"),
    ("Hyperband", {"eta": 1}, "tuner_args.eta", "out of range"),
    ("Hyperband", {"R": "60"}, "tuner_args.R", "not a number"),
    ("Hyperband", {"exec_mode": "fast"}, "tuner_args.exec_mode", "is not accepted"),
    ("PBT", {"all_checkpoint_dir": "/tmp"}, "tuner_args.all_checkpoint_dir", "is not an argument here"),
    ("PBT", {"fraction": 0.9}, "tuner_args.fraction", "out of range"),
    ("PBT", {"factor": 0}, "tuner_args.factor", "out of range"),
    ("GridSearch", {"x": 1}, "tuner_args.x", "is not an argument here"),
    ("TPE", {"tpe_args": 3}, "tuner_args.tpe_args", "must be an object"),
    ("TPE", {"tpe_args": {"constant_liar_type": "median"}}, "tuner_args.tpe_args.constant_liar_type", "is not accepted"),
])
def test_tuner_arguments_are_checked_against_the_tuner(tuner, args, field, needle):
    space = {"x": {"_type": "choice", "_value": [1, 2]}}
    errors = errors_of(body(tuner=tuner, tuner_args=args, search_space=space))
    assert list(errors) == [field] and needle in errors[field].message


def test_accepted_tuner_arguments_keep_nnis_types():
    exp = experiment_from_dict(body(tuner="Hyperband", tuner_args={"R": 27.0, "eta": 3, "exec_mode": "serial"}))
    assert exp.tuner_args == {"R": 27, "eta": 3, "exec_mode": "serial"} and isinstance(exp.tuner_args["R"], int)
    exp = experiment_from_dict(body(tuner_args={"tpe_args": {"constant_liar_type": None, "gamma": 1, "n_startup_jobs": 5}}))
    assert exp.tuner_args == {"tpe_args": {"constant_liar_type": None, "gamma": 1.0, "n_startup_jobs": 5}}
    assert isinstance(exp.tuner_args["tpe_args"]["gamma"], float)


def test_search_space_types_are_checked_against_the_tuner():
    space = {"lr": {"_type": "uniform", "_value": [0, 1]}, "opt": {"_type": "choice", "_value": [
        {"_name": "sgd", "m": {"_type": "normal", "_value": [0, 1]}}, {"_name": "adam"}]}, "n": {"_type": "randint", "_value": [1, 4]}}
    errors = errors_of(body(tuner="GridSearch", search_space=space))
    assert set(errors) == {"search_space.lr._type", "search_space.opt._value[0].m._type"}
    assert errors["search_space.lr._type"].message == "GridSearch does not take uniform"
    assert errors["search_space.lr._type"].accepted == "with GridSearch: choice, randint, quniform"


def test_flat_only_tuners_refuse_nested_choice():
    errors = errors_of(body(tuner="PBT", search_space=NESTED))
    assert list(errors) == ["search_space.opt._value"] and "nested" in errors["search_space.opt._value"].message
    assert experiment_from_dict(body(tuner="TPE", search_space=NESTED)).search_space == NESTED


def test_pbt_refuses_a_choice_mixing_numbers_and_text():
    mixed = {"bs": {"_type": "choice", "_value": [16, "auto"]}}
    errors = errors_of(body(tuner="PBT", search_space=mixed))
    assert list(errors) == ["search_space.bs._value"] and "all numbers or all text" in errors["search_space.bs._value"].message
    same = {"bs": {"_type": "choice", "_value": [16, 32.5]}, "opt": {"_type": "choice", "_value": ["sgd", "adam"]}}
    assert experiment_from_dict(body(tuner="PBT", search_space=same)).search_space == same
    assert experiment_from_dict(body(tuner="TPE", search_space=mixed)).search_space == mixed


def test_batch_takes_one_choice_of_parameter_sets():
    sets = {"combo": {"_type": "choice", "_value": [{"lr": 0.1, "bs": 32}, {"lr": 0.01, "bs": 64}]}}
    assert experiment_from_dict(body(tuner="Batch", search_space=sets)).search_space == sets
    errors = errors_of(body(tuner="Batch"))
    assert set(errors) == {"search_space", "search_space.lr._type"}
    assert "exactly one parameter" in errors["search_space"].message


def test_assessor_arguments():
    exp = experiment_from_dict(body(assessor="curvefitting", assessor_args={"epoch_num": 20, "threshold": 0.9}))
    assert exp.assessor == "Curvefitting" and exp.assessor_args == {"epoch_num": 20, "threshold": 0.9}
    errors = errors_of(body(assessor="Curvefitting", assessor_args={"gap": 0}))
    assert set(errors) == {"assessor_args.epoch_num", "assessor_args.gap"}
    assert errors["assessor_args.epoch_num"].message == "is required"
    assert "below epoch_num" in errors_of(body(assessor="Curvefitting", assessor_args={"epoch_num": 5}))["assessor_args.start_step"].accepted
    assert "not a metric to minimize" in errors_of(body(assessor="Curvefitting", assessor_args={"epoch_num": 20},
                                                        objective={"direction": "minimize"}))["assessor"].message
    assert experiment_from_dict(body(assessor="Medianstop", objective={"direction": "minimize"})).assessor_args == {}
    assert experiment_from_dict(body(assessor=None, assessor_args={})).assessor is None


def test_catalogue_shape_for_the_tuner_picker():
    data = catalogue()
    assert [t["name"] for t in data["tuners"]] == ["TPE", "Random", "Evolution", "GridSearch", "Batch", "Hyperband", "PBT"]
    by_name = {t["name"]: t for t in data["tuners"]}
    assert by_name["TPE"]["types"] == list(SPACE_TYPES)
    assert by_name["GridSearch"]["types"] == ["choice", "randint", "quniform"]
    assert by_name["Batch"]["types"] == ["choice"] and by_name["Batch"]["flat_only"]
    assert by_name["PBT"]["flat_only"] and not by_name["TPE"]["flat_only"]
    assert by_name["Hyperband"]["kind"] == "advisor"
    assert by_name["Evolution"]["args"]["population_size"]["default"] == 32
    assert by_name["TPE"]["args"]["tpe_args"]["fields"]["gamma"]["accepted"] == "a number > 0 and <= 1"
    assert "all_checkpoint_dir" in by_name["PBT"]["description"]
    assert {a["name"] for a in data["assessors"]} == {"Medianstop", "Curvefitting"}
    assert {x["name"] for x in data["left_out"]} == {"Anneal", "GP", "Metis", "BOHB", "SMAC", "DNGO"}
    assert all(x["reason"] for x in data["left_out"])
    assert not set(TUNERS) & set(LEFT_OUT)


def _nni_algorithms() -> dict:
    yaml = pytest.importorskip("yaml")
    nni = pytest.importorskip("nni")
    path = Path(nni.__file__).parent / "runtime" / "default_config" / "builtin_algorithms.yml"
    data = yaml.safe_load(path.read_text())
    return {algo["builtinName"]: algo for kind in ("tuners", "assessors") for algo in data[kind]}


def _nni_class(algo: dict):
    module, _, name = algo["className"].rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_catalogue_matches_nni_3_0():
    algorithms = _nni_algorithms()
    for info in TUNERS.values():
        algo = algorithms[info.builtin]
        assert (info.kind == "advisor") == (algo["className"].endswith(("Hyperband", "BOHB")))
        params = inspect.signature(_nni_class(algo).__init__).parameters
        for arg, rule in info.args.items():
            assert arg in params, f"{info.name} has no argument {arg}"
            if arg != "tpe_args":
                assert params[arg].default == rule.default, (info.name, arg)
        assert "optimize_mode" not in info.args
    from nni.algorithms.hpo.tpe_tuner import TpeArguments

    tpe_fields = inspect.signature(TpeArguments).parameters
    for key, rule in TUNERS["TPE"].args["tpe_args"].fields.items():
        assert tpe_fields[key].default == rule.default, key
    for info in ASSESSORS.values():
        params = inspect.signature(_nni_class(algorithms[info.builtin]).__init__).parameters
        for arg, rule in info.args.items():
            assert arg in params
            if not rule.required:
                assert params[arg].default == rule.default, (info.name, arg)
    for name in LEFT_OUT:
        assert name in algorithms, f"{name} is not an NNI builtin"


def test_statuses_and_reasons():
    assert EXPERIMENT_STATUSES == ("running", "stopping", "stopped", "succeeded", "failed")
    assert TRIAL_STATUSES == ("pending", "running", "succeeded", "failed", "cancelled", "early-stopped")
    assert set(END_REASONS) == {"max_trials", "max_duration", "goal", "max_failed_trials", "search_space_exhausted", "stopped"}
    assert {reason: final_status(reason) for reason in END_REASONS} == {
        "max_trials": "succeeded", "max_duration": "succeeded", "goal": "succeeded", "max_failed_trials": "failed",
        "search_space_exhausted": "succeeded", "stopped": "stopped"}


def test_warnings_for_what_cannot_happen():
    def warned(**data):
        return {w.field: w.message for w in experiment_warnings(experiment_from_dict(body(**data)))}

    assert warned() == {}
    assert "never run at once" in warned(trial_concurrency=8, max_trials=4)["trial_concurrency"]
    assert "slots stay empty" in warned(tuner="Evolution", tuner_args={"population_size": 2}, trial_concurrency=4)["tuner_args.population_size"]
    assert "tuner_args.population_size" in warned(tuner="PBT", trial_concurrency=12, max_trials=20)
    assert warned(tuner="Evolution", trial_concurrency=4) == {}
    grid = {"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "randint", "_value": [0, 4]}}
    assert warned(tuner="GridSearch", search_space=grid, max_trials=12) == {}
    assert warned(tuner="GridSearch", search_space=grid, max_trials=5) == {"max_trials": "GridSearch has 12 parameter sets; max_trials 5 runs only the first 5"}
    sets = {"combo": {"_type": "choice", "_value": [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]}}
    assert "has 3 parameter sets" in warned(tuner="Batch", search_space=sets, max_trials=2)["max_trials"]
    assert all(w.accepted for w in experiment_warnings(experiment_from_dict(body(trial_concurrency=8, max_trials=4))))


# ---------------------------------------------------------------- trials


def test_trial_argv():
    params = {"lr": 0.001, "small": 1e-05, "batch": 32, "opt": "sgd", "flag": True, "none": None,
              "nested": {"_name": "sgd", "m": 0.9}, "text": "a b=c"}
    assert trial_argv(params) == ["--lr=0.001", "--small=1e-05", "--batch=32", "--opt=sgd", "--flag=true", "--none=null",
                                  '--nested={"_name":"sgd","m":0.9}', "--text=a b=c"]
    assert trial_argv({}) == []


def test_trial_pipeline_for_a_script_is_one_valid_task_with_the_parameters_as_argv():
    exp = experiment_from_dict(body(creator="alice", trial={"args": {"--script": "train.py", "--args": "--epochs 3"},
                                                            "cpu": "2", "memory": "1G", "retries": 1, "timeout": 600, "env": {"A": "1", "B": "2"}}))
    pipeline = trial_pipeline(exp, "trial-0123456789ab", {"lr": 0.01, "batch": 32}, {"B": "platform", "NNI_TRIAL_JOB_ID": "trial-0123456789ab"})
    assert (pipeline.name, pipeline.project, pipeline.creator) == ("mnist-hpo", "vision", "alice")
    [task] = pipeline.tasks
    assert (task.name, task.template, task.cpu, task.memory, task.retries, task.timeout) == ("trial", "python", "2", "1G", 1, 600)
    assert task.args == {"--script": "train.py", "--args": "--epochs 3"}
    assert task.extra_args == ["--lr=0.01", "--batch=32"]
    # the platform's variables win over the user's
    assert task.env == {"A": "1", "B": "platform", "NNI_TRIAL_JOB_ID": "trial-0123456789ab"}
    assert validate(pipeline, TemplateCatalog(builtin_templates())) == []
    # the experiment's own trial spec is left as it was
    assert exp.trial.args == {"--script": "train.py", "--args": "--epochs 3"} and exp.trial.env == {"A": "1", "B": "2"}


def test_trial_pipeline_for_a_notebook_passes_papermill_parameters():
    exp = experiment_from_dict(body(trial={"template": "notebook", "args": {"--notebook": "train.ipynb", "--parameters": {"epochs": 3, "lr": 1}}}))
    pipeline = trial_pipeline(exp, "trial-1", {"lr": 0.5, "opt": "adam"}, {})
    [task] = pipeline.tasks
    assert task.args["--parameters"] == {"epochs": 3, "lr": 0.5, "opt": "adam"} and task.extra_args == []
    assert exp.trial.args["--parameters"] == {"epochs": 3, "lr": 1}
    assert not has_errors(validate(pipeline, TemplateCatalog(builtin_templates())))
    # a notebook-kind template of another name, as the caller resolved it
    exp = experiment_from_dict(body(trial={"template": "papermill", "args": {"--notebook": "t.ipynb"}}))
    assert trial_pipeline(exp, "trial-2", {"x": 1}, {}, kind="notebook").tasks[0].args["--parameters"] == {"x": 1}


# ---------------------------------------------------------------- a task's extra_args


def test_extra_args_round_trip_and_are_left_out_when_empty():
    assert "extra_args" not in Task("a", "python").to_dict()
    task = Task("a", "python", args={"--script": "t.py"}, extra_args=["--lr=0.1"])
    assert task.to_dict()["extra_args"] == ["--lr=0.1"]
    assert task_from_dict(task.to_dict(), 0) == task
    pipeline = pipeline_from_dict({"name": "p", "tasks": [task.to_dict()]})
    assert pipeline.tasks[0].extra_args == ["--lr=0.1"]


@pytest.mark.parametrize("value", ["--lr=0.1", ["--lr", 1], {"lr": 1}])
def test_extra_args_must_be_a_list_of_strings(value):
    with pytest.raises(FieldErrors) as info:
        task_from_dict({"name": "a", "template": "python", "extra_args": value}, 2)
    [error] = info.value.errors
    assert error.field == "tasks[2].extra_args" and "list of strings" in error.message and error.accepted


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize("line,expected", [
    ("epoch 1: accuracy=0.91 loss=0.2", {"accuracy": 0.91, "loss": 0.2}),
    ("accuracy = 0.5", {"accuracy": 0.5}),
    ("lr=1e-3 step=-2 x=+.5 y=3.", {"lr": 0.001, "step": -2.0, "x": 0.5, "y": 3.0}),
    ("val.acc=0.7, val-loss=1E+2;", {"val.acc": 0.7, "val-loss": 100.0}),
    ("the accuracy=0.8.", {"accuracy": 0.8}),
    ("loss=0.3 loss=0.2", {"loss": 0.2}),
    ("loss=nan acc=inf f=-inf g=NaN", {}),
    ("huge=1e999", {}),
    ("name=resnet50 tag=v1", {}),
    ("x=1.2.3 y=12abc", {}),
    ("no metrics here", {}),
    ("", {}),
    ("url?a=1&b=2", {"a": 1.0, "b": 2.0}),
    ("--lr=0.1", {}),
    ("2acc=0.5", {}),
])
def test_parse_metric_line(line, expected):
    assert parse_metric_line(line) == expected


@pytest.mark.parametrize("value,metric,expected", [
    (0.9, "default", 0.9),
    (3, "default", 3.0),
    ({"default": 0.8, "loss": 0.1}, "default", 0.8),
    ({"default": 0.8, "loss": 0.1}, "loss", 0.1),
    ({"default": 0.8}, "loss", 0.8),
    ('{"default": 0.7}', "default", 0.7),
    ('"0.5"', "default", None),
    ("0.25", "default", 0.25),
    ("not json", "default", None),
    ({"loss": 0.1}, "default", None),
    (True, "default", None),
    (None, "default", None),
    (math.nan, "default", None),
    ({"default": math.inf}, "default", None),
    ([0.5], "default", None),
])
def test_metric_value(value, metric, expected):
    assert metric_value(value, metric) == expected


def test_better():
    assert better(0.5, None, "maximize") and better(0.5, None, "minimize")
    assert better(0.6, 0.5, "maximize") and not better(0.5, 0.5, "maximize") and not better(0.4, 0.5, "maximize")
    assert better(0.4, 0.5, "minimize") and not better(0.5, 0.5, "minimize")


# ---------------------------------------------------------------- when an experiment ends


def ends(exp, **state):
    values = {"created": 0, "succeeded": 0, "failed": 0, "active": 0, "elapsed": 0.0, "best": None, "exhausted": False}
    values.update(state)
    return end_reason(exp, **values)


def test_nothing_ends_a_fresh_experiment():
    exp = Experiment("e", max_trials=5, max_duration=60)
    assert ends(exp) is None
    assert ends(exp, created=3, succeeded=1, active=2, elapsed=30, best=0.5) is None


def test_max_trials_waits_for_the_last_active_trials():
    exp = Experiment("e", max_trials=5)
    assert ends(exp, created=5, succeeded=3, active=2) is None
    assert ends(exp, created=5, succeeded=5) == "max_trials"


def test_goal_in_either_direction():
    exp = Experiment("e", objective=Objective(goal=0.9))
    assert ends(exp, best=0.89, created=2, active=1) is None
    assert ends(exp, best=0.9, created=2, active=1) == "goal"
    low = Experiment("e", objective=Objective(direction="minimize", goal=0.1))
    assert ends(low, best=0.2) is None and ends(low, best=0.1) == "goal"
    assert ends(Experiment("e"), best=1e9) is None


def test_max_failed_trials():
    assert ends(Experiment("e", max_trials=10, max_failed_trials=2), created=3, failed=2, active=1) is None
    assert ends(Experiment("e", max_trials=10, max_failed_trials=2), created=4, failed=3, active=1) == "max_failed_trials"
    assert ends(Experiment("e", max_failed_trials=0), created=1, failed=1) == "max_failed_trials"
    # None: only when every trial failed
    assert ends(Experiment("e", max_trials=3), created=3, failed=2, succeeded=1) == "max_trials"
    assert ends(Experiment("e", max_trials=3), created=3, failed=3) == "max_failed_trials"


def test_max_duration_ends_at_once():
    exp = Experiment("e", max_duration=60)
    assert ends(exp, elapsed=59.9, active=2) is None
    assert ends(exp, elapsed=60, active=2) == "max_duration"
    assert ends(Experiment("e"), elapsed=10**9) is None


def test_an_exhausted_space_waits_for_active_trials():
    exp = Experiment("e", max_trials=100)
    assert ends(exp, exhausted=True, created=6, active=1) is None
    assert ends(exp, exhausted=True, created=6, succeeded=6) == "search_space_exhausted"


def test_reasons_are_checked_in_the_documented_order():
    exp = Experiment("e", max_trials=4, max_duration=10, max_failed_trials=0, objective=Objective(goal=1.0))
    everything = {"created": 4, "failed": 1, "succeeded": 3, "active": 0, "elapsed": 20, "best": 1.0, "exhausted": True}
    assert ends(exp, **everything) == "goal"
    assert ends(exp, **{**everything, "best": 0.5}) == "max_failed_trials"
    assert ends(exp, **{**everything, "best": 0.5, "failed": 0}) == "max_trials"
    assert ends(exp, **{**everything, "best": 0.5, "failed": 0, "created": 3}) == "max_duration"
    assert ends(exp, **{**everything, "best": 0.5, "failed": 0, "created": 3, "elapsed": 1}) == "search_space_exhausted"


def test_free_slots():
    exp = Experiment("e", trial_concurrency=3, max_trials=5)
    assert free_slots(exp, created=0, active=0) == 3
    assert free_slots(exp, created=2, active=2) == 1
    assert free_slots(exp, created=4, active=0) == 1
    assert free_slots(exp, created=5, active=0) == 0
    assert free_slots(exp, created=3, active=4) == 0
