"""Hyper-parameter experiments: what a user defines, and the rules that drive one.

An experiment is an NNI search space (:mod:`.searchspace`), a tuner from NNI's
catalogue (run as a library by the control plane), an optional assessor, an
objective, and a trial: a one-task pipeline run per parameter set, which receives
its parameters as ``--name=value`` argv items (or papermill parameters for a
notebook) and through NNI's trial SDK.

This module holds the catalogue of tuners and assessors CubeLab offers (and why
the others are left out), the strict parser of an experiment's JSON, and the pure
rules the service applies: the trial's pipeline, Katib-style metric lines, the
objective's comparisons and when an experiment ends.

Pure Python.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError, FieldErrors
from .formats import parse_cpu, parse_gpu, parse_memory, parse_node_selector, parse_volume_mounts, validate_dns_label
from .pipelines import DEFAULT_CPU, DEFAULT_GPU, DEFAULT_MEMORY, MAX_RETRIES, Pipeline, Task
from .searchspace import SPACE_TYPES, grid_size, is_nested, iter_parameters, parse_search_space
from .templates import parse_env_lines

EXPERIMENT_STATUSES = ("running", "stopping", "stopped", "succeeded", "failed")
FINAL_STATUSES = ("stopped", "succeeded", "failed")
TRIAL_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled", "early-stopped")
FINAL_TRIAL_STATUSES = ("succeeded", "failed", "cancelled", "early-stopped")
END_REASONS = ("max_trials", "max_duration", "goal", "max_failed_trials", "search_space_exhausted", "stopped")
DIRECTIONS = ("maximize", "minimize")
METRIC_SOURCES = ("nni", "stdout")

MAX_CONCURRENCY = 64
MAX_TRIALS = 10_000
MAX_DURATION = 365 * 86400
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds below 2**32

METRIC_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
METRIC_NAME_ACCEPTED = "letters, digits, '_', '.' and '-', starting with a letter or '_' (NNI's own is 'default')"
DURATION_ACCEPTED = "seconds as a whole number, or text such as '30m', '2h', '1d', '1h30m'; 0 for no limit"
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class ArgRule:
    """One argument a tuner or assessor takes: its JSON type, bounds and meaning.

    ``type``: "int", "float", "choice" (one of ``choices``) or "object" (checked
    key by key against ``fields``). Bounds are inclusive unless ``exclusive``.
    """

    type: str
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple = ()
    required: bool = False
    fields: dict[str, ArgRule] = field(default_factory=dict)

    def accepted(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join("null" if c is None else str(c) for c in self.choices)
        if self.type == "object":
            return "an object with keys " + ", ".join(self.fields)
        what = "a whole number" if self.type == "int" else "a number"
        low = None if self.minimum is None else (f"> {self.minimum}" if self.exclusive_minimum else f">= {self.minimum}")
        high = None if self.maximum is None else f"<= {self.maximum}"
        bounds = " and ".join(b for b in (low, high) if b)
        return f"{what} {bounds}" if bounds else what

    def check(self, value: Any, field_name: str, errors: list[FieldError]) -> Any:
        """The value as the tuner takes it; appends a field-named error when refused."""
        if self.type == "choice":
            if value not in self.choices or isinstance(value, bool):
                errors.append(FieldError(field_name, f"{value!r} is not accepted", self.accepted()))
            return value
        if self.type == "object":
            if not isinstance(value, dict):
                errors.append(FieldError(field_name, "must be an object", self.accepted()))
                return {}
            return check_args(value, self.fields, field_name, errors)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(FieldError(field_name, f"{value!r} is not a number", self.accepted()))
            return value
        if self.type == "int" and not isinstance(value, int):
            if not (math.isfinite(value) and value == int(value)):
                errors.append(FieldError(field_name, f"{value!r} is not a whole number", self.accepted()))
                return value
            value = int(value)
        if not math.isfinite(value):
            errors.append(FieldError(field_name, f"{value!r} is not a finite number", self.accepted()))
            return value
        too_low = self.minimum is not None and (value <= self.minimum if self.exclusive_minimum else value < self.minimum)
        too_high = self.maximum is not None and value > self.maximum
        if too_low or too_high:
            errors.append(FieldError(field_name, f"{value} is out of range", self.accepted()))
        return float(value) if self.type == "float" else value

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"type": self.type, "description": self.description, "default": self.default,
                                "required": self.required, "accepted": self.accepted()}
        if self.minimum is not None:
            data["minimum"] = self.minimum
            data["exclusive_minimum"] = self.exclusive_minimum
        if self.maximum is not None:
            data["maximum"] = self.maximum
        if self.choices:
            data["choices"] = list(self.choices)
        if self.fields:
            data["fields"] = {k: v.to_dict() for k, v in self.fields.items()}
        return data


def check_args(data: dict, rules: dict[str, ArgRule], field_name: str, errors: list[FieldError]) -> dict:
    """``data`` checked against ``rules``: unknown keys, missing required ones and
    bad values are appended to ``errors``; returns the accepted values."""
    out = {}
    for key, value in data.items():
        rule = rules.get(key)
        where = f"{field_name}.{key}"
        if rule is None:
            accepted = ", ".join(rules) if rules else "none (this one takes no arguments)"
            errors.append(FieldError(where, f"'{key}' is not an argument here", accepted))
            continue
        if value is None and not rule.required and rule.type != "choice":
            continue  # null: the default
        out[key] = rule.check(value, where, errors)
    for key, rule in rules.items():
        if rule.required and key not in data:
            errors.append(FieldError(f"{field_name}.{key}", "is required", rule.accepted()))
    return out


@dataclass(frozen=True)
class TunerInfo:
    name: str  # as users write it
    builtin: str  # NNI's builtin name
    kind: str  # "tuner" | "advisor" (an advisor also decides when trials stop: Hyperband)
    types: frozenset[str]
    flat_only: bool  # nested choice refused
    args: dict[str, ArgRule]
    description: str

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "builtin": self.builtin,
            "kind": self.kind,
            "types": [t for t in SPACE_TYPES if t in self.types],
            "flat_only": self.flat_only,
            "args": {k: v.to_dict() for k, v in self.args.items()},
            "description": self.description,
        }


@dataclass(frozen=True)
class AssessorInfo:
    name: str
    builtin: str
    args: dict[str, ArgRule]
    description: str

    def to_dict(self) -> dict:
        return {"name": self.name, "builtin": self.builtin, "args": {k: v.to_dict() for k, v in self.args.items()},
                "description": self.description}


ALL_TYPES = frozenset(SPACE_TYPES)
# NNI's TPE and Random take a seed too; the experiment's own ``seed`` is the one
# place for it, so a seed given among the tuner's arguments is moved there.
SEEDED_TUNERS = ("TPE", "Random")

TUNERS: dict[str, TunerInfo] = {
    "TPE": TunerInfo(
        "TPE", "TPE", "tuner", ALL_TYPES, False,
        {"tpe_args": ArgRule("object", "TPE's advanced settings (NNI's TpeArguments); empty for NNI's defaults", fields={
            "constant_liar_type": ArgRule("choice", "the fake result given to running trials so concurrent proposals differ; null for none", "best", choices=("best", "worst", "mean", None)),
            "n_startup_jobs": ArgRule("int", "trials proposed at random before TPE's model is used", 20, minimum=0, maximum=10_000),
            "n_ei_candidates": ArgRule("int", "candidates sampled to pick each proposal", 24, minimum=1, maximum=10_000),
            "linear_forgetting": ArgRule("int", "trials after which older results weigh less", 25, minimum=1, maximum=10_000),
            "prior_weight": ArgRule("float", "weight of the search space itself as a prior", 1.0, minimum=0, maximum=1_000),
            "gamma": ArgRule("float", "share of the trials counted as good", 0.25, minimum=0, maximum=1, exclusive_minimum=True),
        })},
        "Tree-structured Parzen Estimator: models good and bad results; every type and nested choice. "
        "The default. A seed goes in the experiment's seed."),
    "Random": TunerInfo(
        "Random", "Random", "tuner", ALL_TYPES, False, {},
        "Random search: every type and nested choice; a strong baseline. A seed goes in the experiment's seed."),
    "Evolution": TunerInfo(
        "Evolution", "Evolution", "tuner", ALL_TYPES, False,
        {"population_size": ArgRule("int", "size of the population; best well above trial_concurrency", 32, minimum=1, maximum=99_999)},
        "Naive evolution: mutates the best of a random initial population; every type and nested choice."),
    "GridSearch": TunerInfo(
        "GridSearch", "GridSearch", "tuner", frozenset({"choice", "randint", "quniform"}), False, {},
        "Tries every combination once, then the experiment ends (search_space_exhausted). "
        "Only types with finitely many values: choice, randint, quniform."),
    "Batch": TunerInfo(
        "Batch", "Batch", "tuner", frozenset({"choice"}), True, {},
        "Runs the listed parameter sets in order: one choice parameter whose options are the sets, "
        'e.g. {"combo": {"_type": "choice", "_value": [{"lr": 0.1, "bs": 32}, {"lr": 0.01, "bs": 64}]}}; '
        "the experiment ends when all have run."),
    "Hyperband": TunerInfo(
        "Hyperband", "Hyperband", "advisor", ALL_TYPES, False,
        {"R": ArgRule("int", "the most budget a trial gets (the trial reads it as the parameter TRIAL_BUDGET, e.g. epochs)", 60, minimum=1, maximum=100_000),
         "eta": ArgRule("int", "each round keeps 1/eta of the trials and gives them eta times the budget", 3, minimum=2, maximum=100),
         "exec_mode": ArgRule("choice", "'parallelism' starts the next bracket while one is running; 'serial' waits", "parallelism", choices=("parallelism", "serial"))},
        "Hyperband: many trials on a small budget, the best continued on larger ones; trials must report "
        "intermediate results and read TRIAL_BUDGET. It keeps starting new brackets, so max_trials or max_duration ends the experiment."),
    "PBT": TunerInfo(
        "PBT", "PBT", "tuner", ALL_TYPES, True,
        {"population_size": ArgRule("int", "trials per generation", 10, minimum=1, maximum=99_999),
         "factor": ArgRule("float", "how far a perturbed value moves (times 1 +/- factor)", 0.2, minimum=0, maximum=1, exclusive_minimum=True),
         "resample_probability": ArgRule("float", "chance that a value is drawn afresh instead of perturbed", 0.25, minimum=0, maximum=1),
         "fraction": ArgRule("float", "share of the population replaced by copies of the best each generation", 0.2, minimum=0, maximum=0.5, exclusive_minimum=True)},
        "Population Based Training: generations of trials, each continuing from the checkpoint of a good one "
        "(the trial reads load_checkpoint_dir and save_checkpoint_dir among its parameters). Flat spaces only. "
        "all_checkpoint_dir is not an argument: checkpoints live in a directory the platform chooses, "
        "one that every trial can reach, not a path on the control plane's machine."),
}

# NNI builtin names and spellings users copy from NNI's docs -> the name offered
_ALIASES = {"batchtuner": "Batch", "pbttuner": "PBT", "grid": "GridSearch", "gridsearchtuner": "GridSearch",
            "randomtuner": "Random", "tpetuner": "TPE", "evolutiontuner": "Evolution", "hyperbandadvisor": "Hyperband"}

LEFT_OUT: dict[str, str] = {
    "Anneal": "NNI's Anneal tuner needs hyperopt 0.1.2, which is not installed: it fails on NumPy 2 (the platform runs NumPy 2.4); TPE covers its use",
    "GP": "NNI's GP tuner fails on NumPy 2 (in its random sampling of the target space); it also takes a numeric choice's bounds from its first and last values",
    "Metis": "NNI's Metis tuner fails in SciPy 1.17's minimize, and takes minutes per proposal",
    "BOHB": "NNI's BOHB advisor needs ConfigSpace, which is not installed: it fails on NumPy 2; Hyperband is offered",
    "SMAC": "NNI's SMAC tuner needs smac3, whose build needs swig (a C compiler toolchain on the control plane)",
    "DNGO": "NNI's DNGO tuner needs PyTorch (and pybnn) inside the control plane, gigabytes for one tuner",
}
_LEFT_OUT_ALIASES = {"annealtuner": "Anneal", "gptuner": "GP", "metistuner": "Metis", "bohbadvisor": "BOHB",
                     "smactuner": "SMAC", "dngotuner": "DNGO"}

ASSESSORS: dict[str, AssessorInfo] = {
    "Medianstop": AssessorInfo(
        "Medianstop", "Medianstop",
        {"start_step": ArgRule("int", "intermediate results a trial reports before it can be stopped", 0, minimum=0, maximum=9_999)},
        "Stops a trial whose best intermediate result so far is worse than the median of the other trials' "
        "running averages at the same step."),
    "Curvefitting": AssessorInfo(
        "Curvefitting", "Curvefitting",
        {"epoch_num": ArgRule("int", "intermediate results a complete trial reports (its epochs)", None, minimum=1, maximum=9_999, required=True),
         "start_step": ArgRule("int", "intermediate results before the curve is first fitted", 6, minimum=0, maximum=9_999),
         "threshold": ArgRule("float", "stop when the predicted final result is below this share of the best so far", 0.95, minimum=0, maximum=9_999),
         "gap": ArgRule("int", "intermediate results between two assessments", 1, minimum=1, maximum=9_999)},
        "Fits learning curves to a trial's intermediate results and stops it when its predicted final result "
        "is clearly worse than the best. Costs about half a second per assessment."),
}
_ASSESSOR_ALIASES = {"medianstopassessor": "Medianstop", "curvefittingassessor": "Curvefitting"}


def _lookup(name: str, catalogue: dict, aliases: dict) -> str | None:
    folded = name.strip().lower()
    for key in catalogue:
        if key.lower() == folded:
            return key
    return aliases.get(folded)


def find_tuner(name: str) -> TunerInfo | None:
    """The offered tuner ``name`` means, in any case or by NNI's builtin name."""
    key = _lookup(name, TUNERS, _ALIASES) if isinstance(name, str) else None
    return TUNERS.get(key) if key else None


def left_out_reason(name: str) -> str | None:
    key = _lookup(name, LEFT_OUT, _LEFT_OUT_ALIASES) if isinstance(name, str) else None
    return LEFT_OUT.get(key) if key else None


def find_assessor(name: str) -> AssessorInfo | None:
    key = _lookup(name, ASSESSORS, _ASSESSOR_ALIASES) if isinstance(name, str) else None
    return ASSESSORS.get(key) if key else None


def catalogue() -> dict:
    """The tuners, assessors and left-out tuners, shaped for ``GET /experiments/tuners``."""
    return {
        "tuners": [t.to_dict() for t in TUNERS.values()],
        "assessors": [a.to_dict() for a in ASSESSORS.values()],
        "left_out": [{"name": name, "reason": reason} for name, reason in LEFT_OUT.items()],
    }


# ---------------------------------------------------------------- the experiment


@dataclass
class Objective:
    metric: str = "default"
    direction: str = "maximize"
    goal: float | None = None  # reaching it ends the experiment

    def to_dict(self) -> dict:
        return {"metric": self.metric, "direction": self.direction, "goal": self.goal}

    @property
    def optimize_mode(self) -> str:
        """NNI's ``optimize_mode`` argument, derived from the direction."""
        return self.direction


@dataclass
class TrialSpec:
    template: str = "python"
    template_version: str | None = None
    args: dict[str, Any] = field(default_factory=dict)  # the template's arguments, as a pipeline task's
    cpu: str = DEFAULT_CPU
    memory: str = DEFAULT_MEMORY
    gpu: str = DEFAULT_GPU
    volume_mount: str = ""
    node_selector: str = ""
    retries: int = 0
    timeout: int = 0  # seconds, 0 = none
    env: dict[str, str] = field(default_factory=dict)
    metrics: str = "nni"  # "nni": the SDK over the trial channel; "stdout": Katib-style name=value lines

    def to_dict(self) -> dict:
        return {
            "template": self.template,
            "template_version": self.template_version,
            "args": dict(self.args),
            "cpu": self.cpu,
            "memory": self.memory,
            "gpu": self.gpu,
            "volume_mount": self.volume_mount,
            "node_selector": self.node_selector,
            "retries": self.retries,
            "timeout": self.timeout,
            "env": dict(self.env),
            "metrics": self.metrics,
        }


@dataclass
class Experiment:
    name: str
    project: str = "public"
    description: str = ""
    search_space: dict = field(default_factory=dict)
    tuner: str = "TPE"
    tuner_args: dict = field(default_factory=dict)
    assessor: str | None = None
    assessor_args: dict = field(default_factory=dict)
    objective: Objective = field(default_factory=Objective)
    trial: TrialSpec = field(default_factory=TrialSpec)
    trial_concurrency: int = 1
    max_trials: int = 10
    max_duration: int = 0  # seconds, 0 = none
    max_failed_trials: int | None = None  # None: it fails only when every trial failed
    seed: int | None = None
    id: int | None = None
    creator: str | None = None

    @property
    def tuner_info(self) -> TunerInfo:
        return TUNERS[self.tuner]

    @property
    def failures_allowed(self) -> int:
        """How many trials may fail before the experiment fails."""
        return self.max_trials - 1 if self.max_failed_trials is None else self.max_failed_trials

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "project": self.project,
            "description": self.description,
            "creator": self.creator,
            "search_space": self.search_space,
            "tuner": self.tuner,
            "tuner_args": dict(self.tuner_args),
            "assessor": self.assessor,
            "assessor_args": dict(self.assessor_args),
            "objective": self.objective.to_dict(),
            "trial": self.trial.to_dict(),
            "trial_concurrency": self.trial_concurrency,
            "max_trials": self.max_trials,
            "max_duration": self.max_duration,
            "max_failed_trials": self.max_failed_trials,
            "seed": self.seed,
        }


# ---------------------------------------------------------------- parsing

EXPERIMENT_KEYS = ("id", "name", "project", "description", "creator", "search_space", "tuner", "tuner_args",
                   "assessor", "assessor_args", "objective", "trial", "trial_concurrency", "max_trials",
                   "max_duration", "max_failed_trials", "seed")
OBJECTIVE_KEYS = ("metric", "direction", "goal")
TRIAL_KEYS = tuple(TrialSpec().to_dict())


def parse_duration(value: Any, field_name: str, maximum: int = MAX_DURATION) -> int:
    """Seconds, or '30m' / '2h' / '1d' / '1h30m' -> seconds; 0 means no limit."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FieldError(field_name, f"{value!r} is not a duration", DURATION_ACCEPTED)
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        match = _DURATION_RE.fullmatch(text)
        if text.isdigit():
            seconds = int(text)
        elif text and match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + s
        else:
            raise FieldError(field_name, f"'{value}' is not a duration", DURATION_ACCEPTED)
    if seconds < 0 or seconds > maximum:
        raise FieldError(field_name, f"{value!r} is outside 0..{maximum // 86400}d", DURATION_ACCEPTED)
    return seconds


def _whole(data: dict, key: str, field_name: str, default: Any, low: int, high: int | None, accepted: str, errors: list[FieldError]) -> Any:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError(field_name, f"{value!r} is not a whole number", accepted))
        return default
    if value < low or (high is not None and value > high):
        errors.append(FieldError(field_name, f"{value} is out of range", accepted))
        return default
    return value


def _text(data: dict, key: str, field_name: str, default: str, errors: list[FieldError], accepted: str = "text") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("cpu", "memory", "gpu"):
        value = str(value)
    if not isinstance(value, str):
        errors.append(FieldError(field_name, f"must be text, got {type(value).__name__}", accepted))
        return default
    return value


def _unknown_keys(data: dict, known: tuple, prefix: str, what: str, errors: list[FieldError]) -> None:
    for key in data:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else str(key)
            errors.append(FieldError(where, f"is not {what}", ", ".join(known)))


def objective_from_dict(data: Any, errors: list[FieldError], field_name: str = "objective") -> Objective:
    if data is None:
        return Objective()
    if not isinstance(data, dict):
        errors.append(FieldError(field_name, "must be an object", '{"metric": "default", "direction": "maximize", "goal": null}'))
        return Objective()
    _unknown_keys(data, OBJECTIVE_KEYS, field_name, "an objective field", errors)
    metric = _text(data, "metric", f"{field_name}.metric", "default", errors, METRIC_NAME_ACCEPTED)
    if not METRIC_NAME_RE.fullmatch(metric):
        errors.append(FieldError(f"{field_name}.metric", f"'{metric}' is not a metric name", METRIC_NAME_ACCEPTED))
    direction = data.get("direction", "maximize")
    if direction is None:
        direction = "maximize"
    if direction not in DIRECTIONS:
        errors.append(FieldError(f"{field_name}.direction", f"{direction!r} is not a direction", "maximize or minimize"))
        direction = "maximize"
    goal = data.get("goal")
    if goal is not None:
        if isinstance(goal, bool) or not isinstance(goal, (int, float)) or not math.isfinite(goal):
            errors.append(FieldError(f"{field_name}.goal", f"{goal!r} is not a finite number", "a number, or null for no goal"))
            goal = None
        else:
            goal = float(goal)
    return Objective(metric=metric, direction=direction, goal=goal)


def trial_from_dict(data: Any, errors: list[FieldError], field_name: str = "trial") -> TrialSpec:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.append(FieldError(field_name, "must be an object", '{"template": "python", "args": {"--script": "train.py"}, "cpu": "1", ...}'))
        return TrialSpec()
    _unknown_keys(data, TRIAL_KEYS, field_name, "a trial field", errors)
    template = _text(data, "template", f"{field_name}.template", "python", errors, "a template name")
    if not template:
        errors.append(FieldError(f"{field_name}.template", "is empty", "a template name such as 'python' or 'notebook'"))
    version = data.get("template_version")
    if version is not None and not isinstance(version, str):
        errors.append(FieldError(f"{field_name}.template_version", "must be text", "'Release' or 'Alpha'"))
        version = None
    args = data.get("args") or {}
    if isinstance(args, dict):
        _check_template_args(template, args, f"{field_name}.args", errors)
    else:
        errors.append(FieldError(f"{field_name}.args", "must be an object of flag -> value", '{"--script": "train.py"}'))
        args = {}
    strings = {}
    for key, parser, default in (("cpu", parse_cpu, DEFAULT_CPU), ("memory", parse_memory, DEFAULT_MEMORY), ("gpu", parse_gpu, DEFAULT_GPU),
                                 ("volume_mount", parse_volume_mounts, ""), ("node_selector", parse_node_selector, "")):
        value = _text(data, key, f"{field_name}.{key}", default, errors)
        try:
            parser(value, f"{field_name}.{key}")
        except FieldError as exc:
            errors.append(exc)
        strings[key] = value
    retries = _whole(data, "retries", f"{field_name}.retries", 0, 0, MAX_RETRIES, f"a whole number from 0 to {MAX_RETRIES}", errors)
    timeout = 0
    if data.get("timeout") not in (None, ""):
        try:
            timeout = parse_duration(data["timeout"], f"{field_name}.timeout")
        except FieldError as exc:
            errors.append(exc)
    env: dict[str, str] = {}
    try:
        env = parse_env_lines(data.get("env"), f"{field_name}.env")
    except FieldError as exc:
        errors.append(exc)
    for key in env:
        if key.startswith("NNI_"):
            errors.append(FieldError(f"{field_name}.env.{key}", "is set by the platform for every trial", "variables not starting with NNI_"))
    metrics = data.get("metrics", "nni") or "nni"
    if metrics not in METRIC_SOURCES:
        errors.append(FieldError(f"{field_name}.metrics", f"{metrics!r} is not a metrics source",
                                 "'nni' (nni.report_final_result and friends) or 'stdout' (lines such as 'accuracy=0.91')"))
        metrics = "nni"
    return TrialSpec(template=template, template_version=version or None, args=dict(args), retries=retries, timeout=timeout,
                     env=env, metrics=metrics, **strings)


def _check_template_args(template: str, args: dict, field_name: str, errors: list[FieldError]) -> None:
    """What the built-in python and notebook templates need before any trial can run
    (any other template's arguments are checked with the pipeline's rules)."""
    if template == "python" and not any(args.get(k) for k in ("--script", "--code")):
        errors.append(FieldError(f"{field_name}.--script", "is missing: the python trial needs a script or code",
                                 '{"--script": "train.py"} (a .py file in the workspace) or {"--code": "..."}'))
    if template == "notebook":
        if not args.get("--notebook"):
            errors.append(FieldError(f"{field_name}.--notebook", "is missing: the notebook trial needs a notebook", '{"--notebook": "train.ipynb"}'))
        if args.get("--parameters") not in (None, "") and not isinstance(args.get("--parameters"), dict):
            errors.append(FieldError(f"{field_name}.--parameters", "must be an object (the trial's parameters are added to it)", '{"epochs": 10}'))


def experiment_from_dict(data: Any) -> Experiment:
    """Parse and check an experiment's JSON; raises :class:`FieldErrors` with every
    problem, each naming its field and the accepted form."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("experiment", "must be an object", "{name, project, search_space, tuner, objective, trial, ...}")])
    errors: list[FieldError] = []
    _unknown_keys(data, EXPERIMENT_KEYS, "", "an experiment field", errors)

    name = data.get("name")
    try:
        validate_dns_label(name, "name")
    except FieldError as exc:
        errors.append(exc)
        name = name if isinstance(name, str) else ""
    project = data.get("project", "public")
    if not isinstance(project, str) or not project:
        errors.append(FieldError("project", "must be a project name", "the name of a project you belong to"))
        project = "public"
    description = _text(data, "description", "description", "", errors)

    space: dict = {}
    if "search_space" not in data or data["search_space"] in (None, {}):
        errors.append(FieldError("search_space", "is missing", 'an object of parameter name -> {"_type": ..., "_value": [...]}'))
    else:
        try:
            space = parse_search_space(data["search_space"])
        except FieldErrors as exc:
            errors.extend(exc.errors)

    tuner_name = data.get("tuner", "TPE")
    tuner_name = "TPE" if tuner_name is None else tuner_name
    info = find_tuner(tuner_name)
    seed = data.get("seed")
    tuner_args: dict = {}
    raw_tuner_args = data.get("tuner_args") or {}
    if not isinstance(raw_tuner_args, dict):
        errors.append(FieldError("tuner_args", "must be an object", "the tuner's arguments, e.g. {\"population_size\": 32}"))
        raw_tuner_args = {}
    if info is None:
        reason = left_out_reason(tuner_name)
        offered = ", ".join(TUNERS)
        if reason:
            errors.append(FieldError("tuner", f"'{tuner_name}' is not offered: {reason}", offered))
        else:
            errors.append(FieldError("tuner", f"{tuner_name!r} is not a tuner", offered))
    else:
        raw_tuner_args = dict(raw_tuner_args)
        if "optimize_mode" in raw_tuner_args:
            errors.append(FieldError("tuner_args.optimize_mode", "is derived from objective.direction", "objective.direction: maximize or minimize"))
            raw_tuner_args.pop("optimize_mode")
        if "seed" in raw_tuner_args and info.name in SEEDED_TUNERS:
            moved = raw_tuner_args.pop("seed")
            if seed is None:
                seed = moved
            elif moved != seed:
                errors.append(FieldError("tuner_args.seed", f"{moved!r} differs from the experiment's seed {seed!r}", "the seed in one place: the experiment's seed"))
        tuner_args = check_args(raw_tuner_args, info.args, "tuner_args", errors)
        if space:
            _check_space_for(info, space, errors)

    assessor = data.get("assessor")
    assessor_args: dict = {}
    raw_assessor_args = data.get("assessor_args") or {}
    if not isinstance(raw_assessor_args, dict):
        errors.append(FieldError("assessor_args", "must be an object", "the assessor's arguments, e.g. {\"start_step\": 5}"))
        raw_assessor_args = {}
    if assessor in (None, ""):
        assessor = None
        if raw_assessor_args:
            errors.append(FieldError("assessor_args", "is given without an assessor", "an assessor (" + ", ".join(ASSESSORS) + ") or no arguments"))
    else:
        found = find_assessor(assessor)
        if found is None:
            errors.append(FieldError("assessor", f"{assessor!r} is not an assessor", ", ".join(ASSESSORS) + ", or null for none"))
            assessor = None
        else:
            assessor = found.name
            raw_assessor_args = dict(raw_assessor_args)
            if "optimize_mode" in raw_assessor_args:
                errors.append(FieldError("assessor_args.optimize_mode", "is derived from objective.direction", "objective.direction: maximize or minimize"))
                raw_assessor_args.pop("optimize_mode")
            assessor_args = check_args(raw_assessor_args, found.args, "assessor_args", errors)

    objective = objective_from_dict(data.get("objective"), errors)
    if assessor == "Curvefitting":
        _check_curvefitting(assessor_args, objective, errors)
    trial = trial_from_dict(data.get("trial"), errors)

    concurrency = _whole(data, "trial_concurrency", "trial_concurrency", 1, 1, MAX_CONCURRENCY, f"a whole number from 1 to {MAX_CONCURRENCY}", errors)
    max_trials = _whole(data, "max_trials", "max_trials", 10, 1, MAX_TRIALS, f"a whole number from 1 to {MAX_TRIALS}", errors)
    max_duration = 0
    if data.get("max_duration") not in (None, ""):
        try:
            max_duration = parse_duration(data["max_duration"], "max_duration")
        except FieldError as exc:
            errors.append(exc)
    max_failed = _whole(data, "max_failed_trials", "max_failed_trials", None, 0, None,
                        "a whole number >= 0 (0: the first failure ends the experiment), or null: only when every trial failed", errors)
    if seed is not None:
        seed = _whole({"seed": seed}, "seed", "seed", None, 0, MAX_SEED, f"a whole number from 0 to {MAX_SEED}, or null for a random one", errors)

    if errors:
        raise FieldErrors(errors)
    return Experiment(
        name=name,
        project=project,
        description=description,
        search_space=space,
        tuner=info.name,
        tuner_args=tuner_args,
        assessor=assessor,
        assessor_args=assessor_args,
        objective=objective,
        trial=trial,
        trial_concurrency=concurrency,
        max_trials=max_trials,
        max_duration=max_duration,
        max_failed_trials=max_failed,
        seed=seed,
        id=data.get("id") if isinstance(data.get("id"), int) and not isinstance(data.get("id"), bool) else None,
        creator=data.get("creator") if isinstance(data.get("creator"), str) else None,
    )


def _check_curvefitting(args: dict, objective: Objective, errors: list[FieldError]) -> None:
    # NNI's curve models extrapolate a growing curve such as accuracy; a loss is predicted wrongly
    if objective.direction != "maximize":
        errors.append(FieldError("assessor", "Curvefitting predicts growing curves only (such as accuracy), not a metric to minimize",
                                 "Medianstop, or objective.direction maximize"))
    epochs, start = args.get("epoch_num"), args.get("start_step", ASSESSORS["Curvefitting"].args["start_step"].default)
    if isinstance(epochs, int) and isinstance(start, int) and start >= epochs:
        errors.append(FieldError("assessor_args.start_step", f"{start} is not less than epoch_num {epochs}: no trial would ever be assessed",
                                 "a whole number below epoch_num"))


def _choice_kind(option) -> str:
    if isinstance(option, bool):
        return "bool"
    return "number" if isinstance(option, (int, float)) else type(option).__name__


def _check_space_for(info: TunerInfo, space: dict, errors: list[FieldError]) -> None:
    """The search space's types and shape against what ``info`` supports."""
    accepted = ", ".join(t for t in SPACE_TYPES if t in info.types)
    for where, _name, spec in iter_parameters(space):
        if spec["_type"] not in info.types:
            errors.append(FieldError(f"{where}._type", f"{info.name} does not take {spec['_type']}", f"with {info.name}: {accepted}"))
    if info.flat_only and is_nested(space):
        nested = [where for where, _n, spec in iter_parameters(space)
                  if spec["_type"] == "choice" and spec["_value"] and all(isinstance(o, dict) and "_name" in o for o in spec["_value"])]
        for where in nested:
            errors.append(FieldError(f"{where}._value", f"{info.name} does not take nested choices", "options without \"_name\" sub-spaces (a flat space)"))
    if info.name == "PBT":
        # NNI 3.0's PBT re-draws a choice through NumPy, which turns a list mixing numbers and text into text:
        # the drawn value is then not found among the options and the tuner fails mid-experiment
        for where, _n, spec in iter_parameters(space):
            if spec["_type"] == "choice" and len({_choice_kind(o) for o in spec["_value"]}) > 1:
                errors.append(FieldError(f"{where}._value", "PBT takes a choice whose options are all numbers or all text",
                                         "options of one kind, e.g. [16, 32, 64] or [\"sgd\", \"adam\"]"))
    if info.name == "Batch" and len(space) != 1:
        errors.append(FieldError("search_space", f"Batch takes exactly one parameter, got {len(space)}",
                                 'one choice whose options are the parameter sets, e.g. {"combo": {"_type": "choice", "_value": [{"lr": 0.1}, {"lr": 0.01}]}}'))


def experiment_warnings(exp: Experiment) -> list[FieldError]:
    """What is allowed but probably not meant: the experiment runs, yet part of
    what it asks for cannot happen. For the form's "warning" diagnostics."""
    warnings: list[FieldError] = []
    if exp.max_trials < exp.trial_concurrency:
        warnings.append(FieldError("trial_concurrency", f"{exp.trial_concurrency} trials never run at once: max_trials is {exp.max_trials}",
                                   f"a trial_concurrency up to max_trials ({exp.max_trials})"))
    population = exp.tuner_args.get("population_size", exp.tuner_info.args["population_size"].default) if exp.tuner in ("Evolution", "PBT") else None
    if population is not None and population < exp.trial_concurrency:
        warnings.append(FieldError("tuner_args.population_size", f"{population} is less than trial_concurrency {exp.trial_concurrency}: "
                                   f"{exp.tuner} proposes at most a population at a time, so slots stay empty",
                                   f"a population_size of at least trial_concurrency ({exp.trial_concurrency})"))
    if exp.tuner in ("GridSearch", "Batch"):
        size = len(next(iter(exp.search_space.values()))["_value"]) if exp.tuner == "Batch" else grid_size(exp.search_space)
        if size is not None and size > exp.max_trials:
            warnings.append(FieldError("max_trials", f"{exp.tuner} has {size} parameter sets; max_trials {exp.max_trials} runs only the first {exp.max_trials}",
                                       f"max_trials of at least {size} to try them all"))
    return warnings


# ---------------------------------------------------------------- trials


def trial_argv(parameters: dict) -> list[str]:
    """``--name=value`` for each parameter: text as is, everything else as JSON
    (numbers as Python writes them, true/false, nested choices as objects)."""
    argv = []
    for name, value in parameters.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        argv.append(f"--{name}={text}")
    return argv


def trial_pipeline(exp: Experiment, trial_id: str, parameters: dict, env: dict[str, str], *, kind: str | None = None) -> Pipeline:
    """The one-task pipeline a trial runs: the experiment's trial with exactly this
    trial's parameters. ``kind``: the trial template's kind when the caller resolved
    it; else the built-in ``notebook`` template is the notebook kind.

    A notebook trial gets its parameters through papermill's ``--parameters``
    (merged over the ones the user set); every other kind as argv after its own."""
    spec = exp.trial
    args = dict(spec.args)
    extra_args: list[str] = []
    if (kind or ("notebook" if spec.template == "notebook" else None)) == "notebook":
        base = args.get("--parameters")
        args["--parameters"] = {**(base if isinstance(base, dict) else {}), **parameters}
    else:
        extra_args = trial_argv(parameters)
    task = Task(
        name="trial",
        template=spec.template,
        template_version=spec.template_version,
        args=args,
        cpu=spec.cpu,
        memory=spec.memory,
        gpu=spec.gpu,
        volume_mount=spec.volume_mount,
        node_selector=spec.node_selector,
        timeout=spec.timeout,
        retries=spec.retries,
        env={**spec.env, **env},
        extra_args=extra_args,
    )
    return Pipeline(
        name=exp.name,
        project=exp.project,
        description=f"trial {trial_id} of experiment {exp.name}",
        tasks=[task],
        creator=exp.creator,
    )


# ---------------------------------------------------------------- metrics

# Katib's stdout collector: 'name=value' anywhere on a line. A name is not part of
# a longer word, and a value is a plain decimal (exponent allowed); nan and inf
# are no results.
_METRIC_TOKEN_RE = re.compile(
    r"(?<![A-Za-z0-9_.\-])([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_]|\.\d)"
)


def parse_metric_line(line: str) -> dict[str, float]:
    """``"epoch 1: accuracy=0.91 loss=2e-3"`` -> ``{"accuracy": 0.91, "loss": 0.002}``;
    ``{}`` when the line has none. A name given twice keeps its last value."""
    found: dict[str, float] = {}
    for match in _METRIC_TOKEN_RE.finditer(line):
        value = float(match.group(2))
        if math.isfinite(value):
            found[match.group(1)] = value
    return found


def metric_value(value: Any, metric: str = "default") -> float | None:
    """The objective's number in an NNI metric payload: a number, or an object
    holding ``metric`` (else NNI's ``default``); JSON text of either is read too.
    ``None`` when there is no finite number."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
        if isinstance(value, str):
            return None
    if isinstance(value, dict):
        value = value.get(metric, value.get("default"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def better(a: float, b: float | None, direction: str) -> bool:
    """Whether ``a`` beats ``b`` (anything beats no value yet)."""
    if b is None:
        return True
    return a > b if direction == "maximize" else a < b


def goal_reached(exp: Experiment, best: float | None) -> bool:
    goal = exp.objective.goal
    if goal is None or best is None:
        return False
    return best >= goal if exp.objective.direction == "maximize" else best <= goal


def end_reason(exp: Experiment, *, created: int, succeeded: int, failed: int, active: int, elapsed: float,
               best: float | None, exhausted: bool) -> str | None:
    """Why the experiment ends now, or ``None`` while it goes on.

    In this order: the goal is reached; more trials failed than allowed; all
    ``max_trials`` were created and none is active; ``max_duration`` has passed;
    the tuner has nothing more to propose and no trial is active. The goal, the
    failures and the duration end it at once (the service cancels active trials);
    the other two wait for the last trials' results, which may still reach the goal.
    ``succeeded`` is part of the signature for callers' clarity; the rules need only
    the failures.
    """
    del succeeded
    if goal_reached(exp, best):
        return "goal"
    if failed > exp.failures_allowed:
        return "max_failed_trials"
    if created >= exp.max_trials and active == 0:
        return "max_trials"
    if exp.max_duration and elapsed >= exp.max_duration:
        return "max_duration"
    if exhausted and active == 0:
        return "search_space_exhausted"
    return None


def final_status(reason: str) -> str:
    """The experiment's status once it ended for ``reason``."""
    if reason == "stopped":
        return "stopped"
    return "failed" if reason == "max_failed_trials" else "succeeded"


def free_slots(exp: Experiment, *, created: int, active: int) -> int:
    """How many trials may start now: within trial_concurrency and max_trials."""
    return max(0, min(exp.trial_concurrency - active, exp.max_trials - created))
