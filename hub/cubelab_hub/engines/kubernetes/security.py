"""The security context of a run's task pods: a pure step after compilation.

The pod-level context goes to the Workflow's ``spec.securityContext`` (Argo
gives it to every pod of the workflow); the container-level one to each
container template's ``container.securityContext``. Argo's own ``init`` and
``wait`` containers take theirs from the controller's configuration (its
``executor.securityContext``), which a cluster enforcing the "restricted"
profile sets to the same values.
"""

from __future__ import annotations

import copy

from ...kube.objects import DEFAULT_ID_RANGE, RESTRICTED, security_contexts_for


def secure_workflow(workflow: dict, pod_context: dict | None, container_context: dict | None) -> dict:
    """A copy of ``workflow`` whose pods and task containers carry the given contexts."""
    result = copy.deepcopy(workflow)
    spec = result.setdefault("spec", {})
    if pod_context is not None:
        spec["securityContext"] = copy.deepcopy(pod_context)
    if container_context is not None:
        for template in spec.get("templates") or []:
            if "container" in template:
                template["container"]["securityContext"] = copy.deepcopy(container_context)
    return result


def secure_for_runner(workflow: dict, runner: str, policy=RESTRICTED, id_range: tuple[int, int] = DEFAULT_ID_RANGE) -> dict:
    """``workflow`` with its tasks running as ``runner`` (the user who started
    the run; for a scheduled run, the pipeline's owner) under ``policy``."""
    pod_context, container_context = security_contexts_for(policy, runner, id_range)
    return secure_workflow(workflow, pod_context, container_context)
