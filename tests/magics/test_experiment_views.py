"""What ``%cubelab experiments`` and ``%cubelab experiment`` show, from API
answers shaped as the REST API gives them (no platform needed)."""

from __future__ import annotations

import pytest

from cubelab_server.magics.experiments import (
    ExperimentWidget,
    experiment_rows,
    number,
    parse_events,
    progress_text,
    sort_trials,
    trials_table,
    widget_stats,
)


def experiment(**over) -> dict:
    exp = {
        "id": 3, "name": "lr-search", "project": "public", "creator": "ann", "status": "running", "end_reason": None,
        "spec": {"objective": {"metric": "accuracy", "direction": "maximize", "goal": None}, "max_trials": 10},
        "progress": {"trials": 6, "max_trials": 10, "pending": 1, "running": 2, "succeeded": 2, "failed": 1,
                     "early_stopped": 0, "cancelled": 0},
        "best": {"trial_id": "trial-b", "seq": 2, "value": 0.91234567, "parameters": {"lr": 0.01, "opt": "sgd"}},
    }
    exp.update(over)
    return exp


def trial(seq: int, value, status: str = "succeeded", **params) -> dict:
    return {"id": f"trial-{'abcdef'[seq - 1]}", "experiment_id": 3, "seq": seq, "status": status, "final_value": value,
            "parameters": params, "duration_seconds": None if value is None else 1.25 * seq}


TRIALS = [trial(1, 0.5, lr=0.1, opt="adam"), trial(2, 0.91234567, lr=0.01, opt="sgd"), trial(3, None, "running", lr=0.2, opt="sgd"),
          trial(4, 0.7, lr=0.001, opt={"_name": "sgd", "momentum": 0.9}), trial(5, None, "failed", lr=0.3, opt="adam")]


def test_list_rows_say_status_progress_and_best():
    rows = experiment_rows([experiment(), experiment(id=4, name="fresh", status="succeeded", best=None,
                                                     progress={"max_trials": 5, "succeeded": 4, "failed": 1})])
    assert rows[0] == {"name": "lr-search", "project": "public", "status": "running", "progress": "3/10",
                       "best": "0.912346 (trial 2)", "creator": "ann", "id": 3}
    assert rows[1]["progress"] == "5/5" and rows[1]["best"] == ""


def test_progress_counts_every_finished_trial_and_falls_back_to_the_spec_limit():
    exp = experiment(progress={"succeeded": 1, "failed": 1, "early_stopped": 1, "cancelled": 1, "running": 3})
    assert progress_text(exp) == "4/10"


@pytest.mark.parametrize("direction, order", [("maximize", [2, 4, 1, 3, 5]), ("minimize", [1, 4, 2, 3, 5])])
def test_trials_best_first_by_the_objectives_direction(direction, order):
    assert [t["seq"] for t in sort_trials(TRIALS, direction)] == order


def test_ties_keep_the_creation_order():
    tied = [trial(3, 0.5), trial(1, 0.5), trial(2, 0.5)]
    assert [t["seq"] for t in sort_trials(tied, "maximize")] == [1, 2, 3]
    assert [t["seq"] for t in sort_trials(tied, "minimize")] == [1, 2, 3]


def test_trials_table_has_a_column_per_parameter_and_highlights_the_best():
    table = trials_table(experiment(), TRIALS)
    assert table.columns == ["trial", "status", "accuracy", "lr", "opt", "duration", "id"]
    first = table.rows[0]
    assert first == {"trial": 2, "status": "succeeded", "accuracy": "0.912346", "lr": "0.01", "opt": "sgd",
                     "duration": "2.5s", "id": "trial-b"}
    # a nested choice's value is shown as compact JSON
    assert table.rows[1]["opt"] == '{"_name":"sgd","momentum":0.9}'
    assert table.rows[3]["accuracy"] == "" and table.rows[3]["duration"] == ""
    assert table.highlight == 0
    html = table._repr_html_()
    assert "<tr style='font-weight:600'><td style='text-align:left'>2</td>" in html
    assert "best first by accuracy (maximize)" in table.title
    assert "lr-search: running" in table.title


def test_a_parameter_named_like_a_fixed_column_is_kept_apart():
    clashing = {**trial(1, 0.3), "parameters": {"status": "x", "duration": 5}}
    table = trials_table(experiment(), [clashing])
    assert table.rows[0]["status"] == "succeeded" and table.rows[0]["param status"] == "x"
    assert table.rows[0]["param duration"] == "5"


def test_a_finished_experiment_says_why_it_ended():
    table = trials_table(experiment(status="succeeded", end_reason="goal"), TRIALS[:1])
    assert "succeeded (the goal was reached)" in table.title


def test_numbers_are_short_and_text_is_escaped_in_html():
    assert number(0.123456789) == "0.123457" and number(3) == "3" and number(None) == "" and number(True) == "True"
    html = trials_table(experiment(name="<b>x</b>"), [trial(1, 0.2, note="<script>")])._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_server_sent_events_are_parsed_across_lines_and_keepalives():
    stream = [
        ": keep-alive\n",
        "event: experiment\n", 'data: {"id": 3,\n', 'data: "status": "running"}\n', "\n",
        "event: trial\r\n", 'data: {"seq": 1}\r\n', "\r\n",
        "event: metric\n", "data: not json\n", "\n",
        'data: {"plain": true}\n', "\n",
    ]
    assert list(parse_events(stream)) == [("experiment", {"id": 3, "status": "running"}), ("trial", {"seq": 1}),
                                          ("message", {"plain": True})]


def test_widget_stats_say_what_is_done_and_the_best_so_far():
    text = widget_stats(experiment())
    assert "trials done 3/10" in text and "2 running" in text and "1 failed" in text and "1 pending" in text
    assert "best accuracy (maximize) so far 0.912346, trial 2: lr=0.01, opt=sgd" in text
    assert "no accuracy yet" in widget_stats(experiment(best=None))
    with_trial = widget_stats(experiment(), trial(4, 0.7))
    assert "trial 4:" in with_trial and "accuracy=0.7" in with_trial


def test_widget_follows_experiment_and_trial_events():
    pytest.importorskip("ipywidgets")
    view = ExperimentWidget(experiment())
    assert (view.bar.value, view.bar.max, view.bar.bar_style) == (3, 10, "info")
    view.on_event("trial", trial(6, 0.95))
    assert "trial 6:" in view.stats.value
    view.on_event("metric", {"trial_id": "trial-f", "value": 0.4})  # curves are the Lab's: nothing changes here
    final = experiment(status="succeeded", end_reason="max_trials",
                       progress={"max_trials": 10, "succeeded": 9, "failed": 1})
    view.on_event("experiment", final)
    assert (view.bar.value, view.bar.bar_style) == (10, "success")
    assert "every trial allowed ran" in view.header.value and "trial 6:" in view.stats.value
