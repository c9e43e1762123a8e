"""Resource proposals from observed peaks (pure)."""

from cubelab_hub.domain.pipelines import Task
from cubelab_hub.domain.proposals import TUNING_MIN_RUNS, propose, propose_resources
from cubelab_hub.domain.templates import JobTemplate

GIB = 2**30


def test_no_proposal_before_enough_measured_runs():
    peaks = [(1.0, GIB)] * (TUNING_MIN_RUNS - 1) + [(None, GIB), (1.0, None)]
    assert propose("train", "1", "2G", peaks) is None


def test_peak_times_factor_rounded_up_and_limit_kept_when_above():
    peaks = [(0.5, GIB)] * (TUNING_MIN_RUNS - 1) + [(2.2, 3 * GIB)]
    proposal = propose("train", "1~8", "2G~16G", peaks)
    # 2.2 x 1.4 = 3.08 -> 4 cores; 3 GiB x 1.4 = 4.2 -> 5 GiB; the larger limits stay
    assert proposal.to_dict() == {
        "task": "train", "current": {"cpu": "1~8", "memory": "2G~16G"}, "proposed": {"cpu": "4~8", "memory": "5G~16G"},
        "runs": TUNING_MIN_RUNS, "peak_cpu": 2.2, "peak_memory": 3 * GIB,
    }


def test_limit_raised_to_the_new_request_and_no_proposal_when_nothing_changes():
    peaks = [(2.2, 3 * GIB)] * TUNING_MIN_RUNS
    assert (propose("t", "1", "2G", peaks).cpu, propose("t", "1", "2G", peaks).memory) == ("4", "5G")
    assert propose("t", "4", "5G", peaks) is None
    assert propose("t", "lots", "2G", peaks) is None  # an unparsable request is left alone


def test_pipeline_task_exemptions():
    peaks = [(2.2, 3 * GIB)] * TUNING_MIN_RUNS
    task = Task("burn", "t", cpu="1", memory="2G")
    assert propose_resources(task, JobTemplate("t", image="i"), peaks).cpu == "4"
    assert propose_resources(task, None, peaks) is None
    assert propose_resources(task, JobTemplate("t", image="i", env={"NO_RESOURCE_CHECK": "true"}), peaks) is None
    assert propose_resources(task, JobTemplate("t", image="i", env={"TASK_RESOURCE_CPU": "2"}), peaks) is None
    assert propose_resources(task, JobTemplate("t", kind="logical"), peaks) is None
