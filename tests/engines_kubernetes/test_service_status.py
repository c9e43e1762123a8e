"""A service's state read from its Deployment and pods (kube/service_status.py, pure)."""

from __future__ import annotations

from cubelab_hub.kube.service_status import deployment_state, pod_state


def deployment(wanted=2, generation=1, **status):
    return {"metadata": {"name": "web", "generation": generation}, "spec": {"replicas": wanted}, "status": status}


def test_a_rollout_is_running_once_every_replica_is_updated_ready_and_alone():
    done = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}
    assert deployment_state(deployment(**done)).state == "running"
    assert deployment_state(deployment(**{**done, "readyReplicas": 1, "availableReplicas": 1})).state == "deploying"
    # a surge pod of the previous template still there
    old_left = deployment_state(deployment(**{**done, "replicas": 3}))
    assert old_left.state == "deploying" and "1 of the previous version still running" in old_left.message
    # the controller has not seen the latest spec: whatever the counts say, not done
    assert deployment_state(deployment(generation=2, **done)).message == "the new spec is not picked up yet"
    assert deployment_state(deployment(wanted=0, observedGeneration=1)).state == "running"


def test_a_stuck_rollout_fails_with_the_controllers_message():
    stuck = deployment(observedGeneration=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet web-1 has timed out progressing."}])
    state = deployment_state(stuck)
    assert state.state == "failed" and state.message == "0 of 2 replica(s) ready; ReplicaSet web-1 has timed out progressing."
    quota = deployment(observedGeneration=1, conditions=[
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": 'pods "web-1" is forbidden: exceeded quota'}])
    assert deployment_state(quota).state == "failed" and "exceeded quota" in deployment_state(quota).message


def test_no_deployment_is_absent():
    assert deployment_state(None).state == "absent"


def pod(phase="Running", ready="True", waiting=None, restarts=0, deleting=False):
    state = {"waiting": waiting} if waiting else {"running": {}}
    meta = {"name": "web-1"}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "startTime": "2025-01-01T00:00:00Z",
                                         "conditions": [{"type": "Ready", "status": ready}],
                                         "containerStatuses": [{"name": "service", "ready": ready == "True", "restartCount": restarts, "state": state}]}}


def test_pods_as_replicas():
    assert pod_state(pod()).status == "healthy"
    pulling = pod_state(pod(phase="Pending", ready="False", waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginx:nope"'}))
    assert (pulling.status, pulling.message) == ("starting", 'ImagePullBackOff: Back-off pulling image "nginx:nope"')
    crashing = pod_state(pod(ready="False", waiting={"reason": "CrashLoopBackOff"}, restarts=4))
    assert (crashing.status, crashing.restarts, crashing.message) == ("unhealthy", 4, "CrashLoopBackOff")
    assert pod_state(pod(deleting=True)).status == "stopping"
    assert pod_state(pod(phase="Failed", ready="False")).status == "failed"
