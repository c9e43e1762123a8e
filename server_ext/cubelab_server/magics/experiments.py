"""What ``%cubelab experiments`` and ``%cubelab experiment`` show: the list's rows,
a live widget of one experiment, its trials best first, and the events that
keep the widget live (the API's server-sent events)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator

from .tables import Table, status_html

FINAL_EXPERIMENT = {"stopped", "succeeded", "failed"}
FINISHED_TRIAL_COUNTS = ("succeeded", "failed", "early_stopped", "cancelled")
END_REASONS = {
    "max_trials": "every trial allowed ran",
    "max_duration": "its time limit passed",
    "goal": "the goal was reached",
    "max_failed_trials": "too many trials failed",
    "search_space_exhausted": "the tuner has nothing left to propose",
    "stopped": "it was stopped",
}


def number(value) -> str:
    """A metric or parameter as people read it: 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):  # a nested choice's sub-space
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def done(progress: dict) -> int:
    return sum(int(progress.get(k) or 0) for k in FINISHED_TRIAL_COUNTS)


def progress_text(exp: dict) -> str:
    """``7/20`` (trials finished, of the most allowed)."""
    progress = exp.get("progress") or {}
    limit = progress.get("max_trials") or (exp.get("spec") or {}).get("max_trials")
    return f"{done(progress)}/{limit}" if limit else str(done(progress))


def objective(exp: dict) -> tuple[str, str]:
    """(metric, direction) of the experiment's objective."""
    spec = (exp.get("spec") or {}).get("objective") or {}
    return spec.get("metric") or "default", spec.get("direction") or "maximize"


def best_text(exp: dict) -> str:
    best = exp.get("best")
    if not best or best.get("value") is None:
        return ""
    return f"{number(best['value'])} (trial {best.get('seq')})"


def experiment_rows(items: Iterable[dict]) -> list[dict]:
    return [{"name": e["name"], "project": e["project"], "status": e["status"], "progress": progress_text(e),
             "best": best_text(e), "creator": e.get("creator"), "id": e["id"]} for e in items]


EXPERIMENT_COLUMNS = ["name", "project", "status", "progress", "best", "creator", "id"]


def sort_trials(trials: list[dict], direction: str) -> list[dict]:
    """Best first: trials with a final value by it (largest first when maximizing),
    then the others in the order they were created."""
    scored = [t for t in trials if t.get("final_value") is not None]
    other = [t for t in trials if t.get("final_value") is None]
    scored.sort(key=lambda t: (t["final_value"] if direction == "minimize" else -t["final_value"], t["seq"]))
    other.sort(key=lambda t: t["seq"])
    return scored + other


def parameter_names(trials: list[dict]) -> list[str]:
    names: list[str] = []
    for t in trials:
        for name in t.get("parameters") or {}:
            if name not in names:
                names.append(name)
    return names


def trials_table(exp: dict, trials: list[dict]) -> Table:
    """The experiment's trials, best first by its objective; one column per parameter."""
    metric, direction = objective(exp)
    ordered = sort_trials(trials, direction)
    params = parameter_names(ordered)
    # a parameter named like a fixed column keeps its value under a prefixed name
    fixed = {"trial", "status", metric, "duration", "id"}
    shown = {p: (f"param {p}" if p in fixed else p) for p in params}
    rows = []
    for t in ordered:
        row = {"trial": t["seq"], "status": t["status"], metric: number(t.get("final_value")),
               "duration": "" if t.get("duration_seconds") is None else f"{t['duration_seconds']:.1f}s", "id": t["id"]}
        for p in params:
            row[shown[p]] = number((t.get("parameters") or {}).get(p))
        rows.append(row)
    best_id = (exp.get("best") or {}).get("trial_id")
    highlight = next((i for i, t in enumerate(ordered) if t["id"] == best_id), None)
    title = (f"experiment {exp['name']}: {exp['status']}{end_text(exp)}; "
             f"{len(trials)} trials, best first by {metric} ({direction})")
    return Table(rows, ["trial", "status", metric, *shown.values(), "duration", "id"], title, highlight)


def end_text(exp: dict) -> str:
    reason = exp.get("end_reason")
    if not reason:
        return ""
    return f" ({END_REASONS.get(reason, reason)})"


def parse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    """(event, data) pairs of a server-sent event stream given line by line;
    comments (keep-alives) and events without JSON data are skipped."""
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                try:
                    yield event, json.loads("\n".join(data))
                except ValueError:
                    pass
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                event = value
            elif key == "data":
                data.append(value)


def widget_header(exp: dict) -> str:
    return (f"<div><b>{html.escape(exp['name'])}</b> · experiment {html.escape(str(exp['id']))} in "
            f"{html.escape(exp['project'])} · {status_html(exp['status'])}{html.escape(end_text(exp))}</div>")


def widget_stats(exp: dict, last_trial: dict | None = None) -> str:
    """Trials done, running and failed, the best so far and the trial last heard of."""
    progress = exp.get("progress") or {}
    metric, direction = objective(exp)
    parts = [f"trials done {progress_text(exp)}"]
    for key, label in (("running", "running"), ("pending", "pending"), ("failed", "failed"), ("early_stopped", "stopped early")):
        if progress.get(key):
            parts.append(f"{progress[key]} {label}")
    best = exp.get("best")
    if best and best.get("value") is not None:
        params = ", ".join(f"{k}={number(v)}" for k, v in (best.get("parameters") or {}).items())
        parts.append(f"best {metric} ({direction}) so far {number(best['value'])}, trial {best.get('seq')}: {params}")
    else:
        parts.append(f"no {metric} yet")
    text = " · ".join(html.escape(p) for p in parts)
    if last_trial is not None:
        value = number(last_trial.get("final_value"))
        text += (f"<br>trial {html.escape(str(last_trial.get('seq')))}: {status_html(last_trial.get('status', ''))}"
                 + (f" {html.escape(metric)}={html.escape(value)}" if value else ""))
    return f"<div>{text}</div>"


class ExperimentWidget:
    """An ipywidgets view of an experiment, updated in place: status, a progress
    bar of trials done, the best so far and the trial last heard of."""

    def __init__(self, exp: dict):
        import ipywidgets as widgets

        self.header = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=1, value=0, layout=widgets.Layout(width="50%"))
        self.stats = widgets.HTML()
        self.widget = widgets.VBox([self.header, self.bar, self.stats])
        self.exp = exp
        self.last_trial: dict | None = None
        self.update(exp)

    def update(self, exp: dict) -> None:
        self.exp = exp
        progress = exp.get("progress") or {}
        limit = progress.get("max_trials") or (exp.get("spec") or {}).get("max_trials") or 1
        self.bar.max = max(int(limit), 1)
        self.bar.value = min(done(progress), self.bar.max)
        self.bar.bar_style = {"succeeded": "success", "failed": "danger", "stopped": "warning"}.get(exp["status"], "info")
        self.header.value = widget_header(exp)
        self.stats.value = widget_stats(exp, self.last_trial)

    def on_event(self, kind: str, data: dict) -> None:
        if kind == "experiment":
            self.update(data)
        elif kind == "trial":
            self.last_trial = data
            self.stats.value = widget_stats(self.exp, self.last_trial)
