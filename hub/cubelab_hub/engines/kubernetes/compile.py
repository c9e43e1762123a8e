"""Compile a pipeline run to an Argo Workflow: a pure function, data in, dict out.

No Kubernetes client here; the volumes, resources and node placement come from
the shared builders of :mod:`cubelab_hub.kube.objects`, so tasks, notebooks and
services place and mount the same way. The result is checked against Argo's and
Kubernetes' schemas in the tests (``tests/support/kube_schema.py``).

How a run maps onto Argo, and why:

- One DAG template (``pipeline``) with one DAG task per pipeline task, named as
  the task, and one container template per task (``task-<name>``). Edges become
  ``depends: "a && b"``: a skipped upstream counts as done, a failed one leaves the
  task Omitted (the local engine's ``upstream-failed``). ``failFast: false`` so
  other branches go on after a failure, as on the local engine.
- ``retries`` -> ``retryStrategy`` (policy ``Always``: an evicted or lost pod is
  retried like a failed one), ``retry_backoff`` -> its ``backoff``; ``timeout`` -> the pod's ``activeDeadlineSeconds``
  (IntOrString fields written as strings, as Argo's JSON schema types them).
- Skipped tasks, and tasks outside a partial run (``only_tasks``), are DAG tasks
  with ``when: "false"`` on a no-op template; a ``logical`` task is a zero-length
  ``suspend`` (Argo completes it without a pod).
- Every task writes its outputs into an ``emptyDir`` at ``/cubelab/out``
  (``KFJ_TASK_OUTPUT_DIR``). An output named in a downstream argument,
  ``{{tasks.prep.outputs.model}}``, becomes an Argo output parameter read from
  ``/cubelab/out/model`` and an input parameter of the downstream template. A
  reference to the whole directory (``outputs.path``) or to a ``path``-type output
  makes the directory an output artifact (so an artifact repository is needed
  only by pipelines that pass directories), unpacked downstream at
  ``/cubelab/upstream/<task>`` (and named by ``KFJ_UPSTREAM_<TASK>_OUTPUT_DIR``).
- The command line, environment layers and resources are the shared launch
  description (:mod:`..launch`), as on the local engine; this module translates
  it into a container. No shell sees argument values (the ``shell`` template
  runs its one command with ``bash -c``, by design).
- Argo substitutes ``{{...}}`` anywhere in a template and has no escape, so a
  user value with such a tag that is not a task-output reference is refused with
  a :class:`FieldError` rather than handed to Argo to reinterpret.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ...domain.argspec import REFERENCE_RE
from ...domain.errors import FieldError
from ...domain.formats import merge_mounts, parse_cpu, parse_gpu, parse_memory, parse_node_selector, parse_volume_mounts
from ...domain.pipelines import Task, topological_order
from ...domain.projects import ProjectSettings
from ...domain.retries import format_duration
from ...domain.templates import JobTemplate
from ...kube.objects import env_secret, node_selector_for, resources_for, secret_env_entries, volumes_and_mounts
from ..base import SUCCEEDED, RunSpec
from ..launch import Launch, Where, describe, effective_resources, upstream_dir_env

API_VERSION = "argoproj.io/v1alpha1"
DAG_TEMPLATE = "pipeline"
NOOP_TEMPLATE = "cubelab-noop"  # cannot clash: task templates are 'task-<name>'
OUTPUT_DIR = "/cubelab/out"
UPSTREAM_DIR = "/cubelab/upstream"
OUTPUT_VOLUME = "cubelab-out"
OUTPUT_ARTIFACT = "out"

# Downward-API values Cube Studio's job images read.
DOWNWARD_ENV = {
    "K8S_NODE_NAME": "spec.nodeName",
    "K8S_POD_NAMESPACE": "metadata.namespace",
    "K8S_POD_IP": "status.podIP",
    "K8S_HOST_IP": "status.hostIP",
    "K8S_POD_NAME": "metadata.name",
}
LABEL_RUN = "cubelab.io/run-id"
LABEL_TASK = "cubelab.io/task"
LABEL_PIPELINE = "cubelab.io/pipeline-id"
LABEL_PROJECT = "cubelab.io/project"
LABEL_TRIGGER = "cubelab.io/trigger"
ANNOTATION_RUN = "cubelab.io/run-id"

_TAG_RE = re.compile(r"\{\{.*?\}\}", re.S)
_NAME_CHARS_RE = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ClusterConfig:
    """Engine-wide settings of one cluster (from the control plane's config)."""

    service_account: str = "pipeline"  # needs Argo's executor role (workflowtaskresults)
    image_pull_secrets: tuple[str, ...] = ()
    gpu_resource_map: dict[str, str] | None = None  # vendor -> extended resource
    default_parallelism: int | None = None  # used when the pipeline sets none
    # Pods stay a while after they end so the engine can copy their logs.
    pod_gc_strategy: str = "OnPodCompletion"
    pod_gc_delay: str = "10m"
    ttl_seconds_after_completion: int = 7 * 24 * 3600
    image_pull_policy: str | None = None
    # True: every upstream's output directory reaches every downstream task, as
    # on the local engine (needs an artifact repository for every pipeline).
    pass_all_output_dirs: bool = False


@dataclass
class _Placement:
    node_selector: dict[str, str]
    org: list[str]


@dataclass
class _Plan:
    """What each task needs from the others, gathered before building templates."""

    mode: dict[str, str] = field(default_factory=dict)  # run | skip | reuse
    params_out: dict[str, set[str]] = field(default_factory=dict)  # task -> output parameters it must export
    dir_out: set[str] = field(default_factory=set)  # tasks whose output directory is an artifact


# ---------------------------------------------------------------- names


def _slug(text: str) -> str:
    return _NAME_CHARS_RE.sub("-", text.lower()).strip("-")


def _digest(text: str, size: int = 8) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:size]


def label_value(text: str) -> str:
    """``text`` when it is a valid label value, else a readable part and a hash."""
    if _LABEL_VALUE_RE.match(text):
        return text
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:40].rstrip("-_.")
    return f"{readable}-{_digest(text)}" if readable else _digest(text, 16)


def workflow_name(spec: RunSpec) -> str:
    """Deterministic per run, so a submit repeated after a crash finds the same
    workflow instead of starting a second one."""
    run = _slug(spec.run_id)
    if run != spec.run_id.lower() or len(run) > 24 or not run:
        run = _digest(spec.run_id, 12)
    pipeline = _slug(spec.pipeline.name)[: 62 - len(run)].rstrip("-") or "run"
    return f"{pipeline}-{run}"


def env_secret_name(spec: RunSpec) -> str:
    """The Secret holding the run's ``secret_env``: named after its workflow."""
    return workflow_name(spec) + "-env"


def run_env_secret(spec: RunSpec, project: ProjectSettings | None = None, owner: dict | None = None) -> dict | None:
    """The Secret the run's pods read its ``secret_env`` from (None: it has none),
    created before the workflow and owned by it once it exists."""
    if not spec.secret_env:
        return None
    labels = {LABEL_RUN: label_value(spec.run_id), LABEL_PROJECT: label_value(spec.project)}
    return env_secret(env_secret_name(spec), run_namespace(spec, project), spec.secret_env, labels, owner)


def run_namespace(spec: RunSpec, project: ProjectSettings | None) -> str:
    """The project's namespace setting when it has one, else the run's."""
    return (project.namespace if project is not None and project.namespace else None) or spec.namespace


def _short_name(prefix: str, key: str) -> str:
    name = f"{prefix}-{key}"
    if len(name) <= 63:
        return name
    return f"{name[:54].rstrip('-')}-{_digest(key)}"


def task_template_name(task: str) -> str:
    return _short_name("task", task)


def _param_name(task: str, output: str) -> str:
    # task names have no '_', so '__' separates them from the output name
    return f"{task}__{output}"


# ---------------------------------------------------------------- checks


def _literal(text: Any, field_name: str) -> str:
    """A user string that goes into the workflow as it is."""
    text = str(text)
    tag = _TAG_RE.search(text)
    if tag:
        raise FieldError(
            field_name,
            f"'{tag.group(0)}' would be substituted by Argo on the kubernetes engine",
            "text without '{{...}}', or a reference {{tasks.<task>.outputs.<name>}} in an argument",
        )
    return text


# ---------------------------------------------------------------- the plan


def _task_mode(spec: RunSpec, task: Task) -> str:
    if spec.only_tasks is not None and task.name not in spec.only_tasks:
        previous = spec.reuse.get(task.name)
        return "reuse" if previous is not None and previous.status == SUCCEEDED else "skip"
    return "skip" if task.skip else "run"


def _output_type(spec: RunSpec, task: str, output: str) -> str | None:
    template = spec.templates.get(task)
    out = template.output(output) if template else None
    return out.type.lower() if out else None


def _plan(spec: RunSpec, pass_all_dirs: bool) -> _Plan:
    plan = _Plan()
    for task in spec.pipeline.tasks:
        plan.mode[task.name] = _task_mode(spec, task)
        plan.params_out[task.name] = set()
    for task in spec.pipeline.tasks:
        if plan.mode[task.name] != "run":
            continue
        ancestors = spec.pipeline.ancestors(task.name)
        for value in task.args.values():
            if not isinstance(value, str):
                continue
            for match in REFERENCE_RE.finditer(value):
                upstream, output = match.group(1), match.group(2)
                if upstream not in ancestors or plan.mode.get(upstream) != "run":
                    continue  # reported (or resolved) when the argument is rendered
                if output == "path" or _output_type(spec, upstream, output) == "path":
                    plan.dir_out.add(upstream)
                else:
                    plan.params_out[upstream].add(output)
        if pass_all_dirs:
            plan.dir_out.update(a for a in ancestors if plan.mode.get(a) == "run")
    return plan


# ---------------------------------------------------------------- arguments


@dataclass
class _Inputs:
    """What one task template takes from its upstreams."""

    parameters: dict[str, str] = field(default_factory=dict)  # input name -> '{{tasks.T.outputs.parameters.X}}'
    dirs: list[str] = field(default_factory=list)  # upstream tasks whose directory is unpacked here
    empty_dirs: list[str] = field(default_factory=list)  # skipped upstreams: an empty directory stands in


def _resolve(value: str, task: Task, spec: RunSpec, plan: _Plan, inputs: _Inputs, field_name: str) -> tuple[str, bool]:
    """Replace references in one argument value. Returns the text and whether it
    still holds an Argo parameter (its value then is only known at run time)."""
    ancestors = spec.pipeline.ancestors(task.name)
    _literal(REFERENCE_RE.sub("", value), field_name)
    dynamic = False

    def repl(match: re.Match) -> str:
        nonlocal dynamic
        upstream, output = match.group(1), match.group(2)
        ref = match.group(0)
        if upstream not in ancestors:
            raise FieldError(field_name, f"{ref} refers to task '{upstream}', which is not upstream of '{task.name}'", f"add an edge {upstream} -> {task.name}")
        mode = plan.mode[upstream]
        is_dir = output == "path"
        is_path = _output_type(spec, upstream, output) == "path"
        if mode == "run":
            if is_dir or is_path:
                if upstream not in inputs.dirs:
                    inputs.dirs.append(upstream)
                base = f"{UPSTREAM_DIR}/{upstream}"
                return base if is_dir else f"{base}/{output}"
            name = _param_name(upstream, output)
            inputs.parameters[name] = f"{{{{tasks.{upstream}.outputs.parameters.{output}}}}}"
            dynamic = True
            return f"{{{{inputs.parameters.{name}}}}}"
        if mode == "skip":
            if is_dir:
                if upstream not in inputs.empty_dirs:
                    inputs.empty_dirs.append(upstream)
                return f"{UPSTREAM_DIR}/{upstream}"
            raise FieldError(field_name, f"{ref}: task '{upstream}' is skipped in this run and writes no output '{output}'", "a reference to a task that runs")
        previous = spec.reuse[upstream]
        if is_dir or is_path:
            raise FieldError(
                field_name,
                f"{ref}: task '{upstream}' is reused from an earlier run, whose output directory the kubernetes engine cannot pass on",
                "re-run the whole pipeline",
            )
        if output not in previous.outputs:
            raise FieldError(field_name, f"{ref}: task '{upstream}' recorded no output '{output}' in the earlier run", "re-run the whole pipeline")
        return _literal(previous.outputs[output], field_name)

    text = REFERENCE_RE.sub(repl, value)
    return text, dynamic


# ---------------------------------------------------------------- one task


def _workspace(volume_mounts: list[dict]) -> str | None:
    """The user's directory on the first per-user claim (``/mnt/<user>``)."""
    for mount in volume_mounts:
        if mount.get("subPath"):
            return mount["mountPath"]
    return None


def _env(launch: Launch, task: Task, inputs: _Inputs, gpu_env: dict[str, str], spec: RunSpec) -> list[dict]:
    """The launch's environment, then where this task's outputs go and its
    upstreams' directories are unpacked, then the GPU visibility; the run's
    secret variables last, as references to its Secret (never their values)."""
    env = {k: v for k, v in launch.env.items() if k not in spec.secret_env}
    env["KFJ_TASK_OUTPUT_DIR"] = OUTPUT_DIR
    env.update(upstream_dir_env({up: f"{UPSTREAM_DIR}/{up}" for up in inputs.dirs + inputs.empty_dirs}))
    if gpu_env:
        env.update(gpu_env)
        env["CUDA_VISIBLE_DEVICES"] = ""  # as on the local engine: GPU '0' hides every card
    for key, value in env.items():
        _literal(value, f"tasks.{task.name}.env.{key}")  # names from users too (runner, pipeline)
    if launch.host_ports:
        env["PORT1"], env["PORT2"] = (str(p) for p in launch.host_ports)
    entries = [{"name": k, "value": v} for k, v in env.items() if k not in DOWNWARD_ENV]
    # where the pod runs, as Cube Studio's job images read it (the downward API)
    entries += [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": path}}} for k, path in DOWNWARD_ENV.items()]
    entries += secret_env_entries(env_secret_name(spec), sorted(spec.secret_env)) if spec.secret_env else []
    return entries


def _gpu_resource_name(resources: dict | None) -> str:
    """The extended resource the task's GPUs are requested as (GPU_RESOURCE_NAME), '' without GPUs."""
    limits = (resources or {}).get("limits") or {}
    return next((name for name in limits if name not in ("cpu", "memory", "ephemeral-storage")), "")


def _task_template(spec: RunSpec, task: Task, template: JobTemplate, plan: _Plan, project: ProjectSettings, config: ClusterConfig) -> dict:
    where = f"tasks.{task.name}"
    inputs = _Inputs()
    cpu_text, memory_text, gpu_text = effective_resources(task, template)
    try:
        cpu = parse_cpu(cpu_text, "cpu")
        memory = parse_memory(memory_text, "memory")
        gpu = parse_gpu(gpu_text, "gpu")
        resources, gpu_env = resources_for(cpu, memory, gpu, config.gpu_resource_map)
        task_selector = parse_node_selector(task.node_selector, "node_selector")
        placement = _Placement({**project.node_selector, **task_selector}, list(project.org))
        selector, affinity = node_selector_for("train", placement, gpu)
        mounts = merge_mounts(
            project.volume_mounts,
            parse_volume_mounts(template.volume_mount, "template.volume_mount"),
            parse_volume_mounts(task.volume_mount, "volume_mount"),
        )
        volumes, volume_mounts = volumes_and_mounts(mounts, spec.runner)
    except FieldError as exc:
        raise exc.prefixed(where) from None

    workspace = _workspace(volume_mounts)
    place = Where(python="python", output_dir=OUTPUT_DIR, namespace=run_namespace(spec, project), workspace=workspace,
                  environment=spec.cluster_name or "kubernetes", gpu_resource_name=_gpu_resource_name(resources),
                  image_pull_policy=config.image_pull_policy or "", image_pull_secrets=tuple(config.image_pull_secrets or ()))
    launch = describe(spec, task, template, place, lambda arg, raw, field_name: _resolve(raw, task, spec, plan, inputs, field_name), _literal)
    if config.pass_all_output_dirs:
        ancestors = spec.pipeline.ancestors(task.name)
        for ancestor in topological_order(spec.pipeline):
            if ancestor in ancestors and plan.mode[ancestor] == "run" and ancestor not in inputs.dirs:
                inputs.dirs.append(ancestor)
    command, args = launch.command, launch.args
    env = _env(launch, task, inputs, gpu_env, spec)

    volumes = [*volumes, {"name": OUTPUT_VOLUME, "emptyDir": {}}]
    volume_mounts = [*volume_mounts, {"name": OUTPUT_VOLUME, "mountPath": OUTPUT_DIR}]
    for upstream in inputs.empty_dirs:
        name = _short_name("cubelab-skipped", upstream)
        volumes.append({"name": name, "emptyDir": {}})
        volume_mounts.append({"name": name, "mountPath": f"{UPSTREAM_DIR}/{upstream}", "readOnly": True})

    if not launch.image:
        raise FieldError(f"{where}.template", f"template '{template.name}' has no image", "a template with an image, or an 'images' argument")
    container: dict[str, Any] = {"name": "main", "image": _literal(launch.image, f"{where}.args.images" if launch.values.get("images") else f"{where}.template.image")}
    if launch.host_ports:
        # Cube Studio's HostNetwork: the task listens on these host ports, announced as PORT1/PORT2
        container["ports"] = [{"containerPort": p, "hostPort": p, "protocol": "TCP"} for p in launch.host_ports]
    if config.image_pull_policy:
        container["imagePullPolicy"] = config.image_pull_policy
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    if launch.workdir:
        container["workingDir"] = _literal(launch.workdir, f"{where}.args.workdir" if launch.values.get("workdir") else f"{where}.template.workdir")
    elif workspace and template.kind in ("python", "shell"):
        container["workingDir"] = workspace  # the user's files, as locally
    container["env"] = env
    if resources:
        container["resources"] = resources
    container["volumeMounts"] = volume_mounts

    body: dict[str, Any] = {
        "name": task_template_name(task.name),
        "metadata": {"labels": {LABEL_TASK: task.name}},
    }
    input_section: dict[str, Any] = {}
    if inputs.parameters:
        input_section["parameters"] = [{"name": name} for name in inputs.parameters]
    if inputs.dirs:
        input_section["artifacts"] = [{"name": up, "path": f"{UPSTREAM_DIR}/{up}"} for up in inputs.dirs]
    if input_section:
        body["inputs"] = input_section
    output_section: dict[str, Any] = {}
    if plan.params_out[task.name]:
        output_section["parameters"] = [{"name": out, "valueFrom": {"path": f"{OUTPUT_DIR}/{out}"}} for out in sorted(plan.params_out[task.name])]
    if task.name in plan.dir_out:
        output_section["artifacts"] = [{"name": OUTPUT_ARTIFACT, "path": OUTPUT_DIR}]
    if output_section:
        body["outputs"] = output_section
    body["container"] = container
    body["volumes"] = volumes
    body["nodeSelector"] = selector
    if affinity:
        body["affinity"] = affinity
    if template.service_account:
        body["serviceAccountName"] = _literal(template.service_account, f"{where}.template.service_account")
    # activeDeadlineSeconds, retryStrategy.limit and backoff.factor are IntOrString in Argo,
    # which its JSON schema types as strings: written as strings, they pass both it and hera
    if task.timeout > 0:
        body["activeDeadlineSeconds"] = str(task.timeout)
    if task.retries > 0:
        backoff = task.backoff
        # duration and cap are duration strings; cap bounds each wait, as max_delay does on the local engine
        body["retryStrategy"] = {"limit": str(task.retries), "retryPolicy": "Always", "backoff": {
            "duration": format_duration(backoff.delay), "factor": str(backoff.factor), "cap": format_duration(backoff.max_delay)}}
    dag_task: dict[str, Any] = {"name": task.name, "template": body["name"]}
    arguments: dict[str, Any] = {}
    if inputs.parameters:
        arguments["parameters"] = [{"name": name, "value": ref} for name, ref in inputs.parameters.items()]
    if inputs.dirs:
        arguments["artifacts"] = [{"name": up, "from": f"{{{{tasks.{up}.outputs.artifacts.{OUTPUT_ARTIFACT}}}}}"} for up in inputs.dirs]
    if arguments:
        dag_task["arguments"] = arguments
    return {"template": body, "dag_task": dag_task}


# ---------------------------------------------------------------- the workflow


def compile_workflow(spec: RunSpec, project: ProjectSettings | None = None, config: ClusterConfig | None = None) -> dict:
    """The Argo Workflow for one run. Raises :class:`FieldError` naming the
    task field that cannot be compiled (the run then fails before it starts)."""
    config = config or ClusterConfig()
    project = project or ProjectSettings()
    pipeline = spec.pipeline
    try:
        order = topological_order(pipeline)
    except ValueError:
        raise FieldError("edges", "the pipeline has a cycle", "a DAG without cycles") from None
    tasks = {t.name: t for t in pipeline.tasks}
    plan = _plan(spec, config.pass_all_output_dirs)

    templates: list[dict] = []
    dag_tasks: list[dict] = []
    needs_noop = False
    for name in order:
        task = tasks[name]
        upstream = list(dict.fromkeys(u for u in pipeline.upstream(name) if u in tasks))
        mode = plan.mode[name]
        if mode != "run":
            dag_task = {"name": name, "template": NOOP_TEMPLATE, "when": "false"}
            needs_noop = True
        else:
            template = spec.templates.get(name)
            if template is None:
                raise FieldError(f"tasks.{name}.template", f"template '{task.template}' was not resolved for this run", "an existing template")
            if template.kind == "logical":
                dag_task = {"name": name, "template": NOOP_TEMPLATE}
                needs_noop = True
            else:
                built = _task_template(spec, task, template, plan, project, config)
                templates.append(built["template"])
                dag_task = built["dag_task"]
        if upstream:
            # after name and template, so the golden files read naturally
            dag_task = {"name": dag_task.pop("name"), "template": dag_task.pop("template"), "depends": " && ".join(upstream), **dag_task}
        dag_tasks.append(dag_task)

    dag = {"name": DAG_TEMPLATE, "dag": {"failFast": False, "tasks": dag_tasks}}
    all_templates = [dag]
    if needs_noop:
        all_templates.append({"name": NOOP_TEMPLATE, "suspend": {"duration": "0"}})
    all_templates.extend(templates)

    run_label = label_value(spec.run_id)
    labels = {LABEL_RUN: run_label, LABEL_PROJECT: label_value(spec.project), LABEL_TRIGGER: label_value(spec.trigger)}
    if pipeline.id is not None:
        labels[LABEL_PIPELINE] = str(pipeline.id)
    annotations = {
        ANNOTATION_RUN: spec.run_id,
        "cubelab.io/pipeline-name": pipeline.name,
        "cubelab.io/creator": spec.creator,
        "cubelab.io/runner": spec.runner,
    }
    workflow_spec: dict[str, Any] = {
        "entrypoint": DAG_TEMPLATE,
        "serviceAccountName": config.service_account,
        "podMetadata": {"labels": {LABEL_RUN: run_label}},
    }
    parallelism = pipeline.parallelism or config.default_parallelism
    if parallelism:
        workflow_spec["parallelism"] = parallelism
    workflow_spec["podGC"] = {"strategy": config.pod_gc_strategy}
    if config.pod_gc_delay:
        workflow_spec["podGC"]["deleteDelayDuration"] = config.pod_gc_delay
    if config.ttl_seconds_after_completion:
        workflow_spec["ttlStrategy"] = {"secondsAfterCompletion": config.ttl_seconds_after_completion}
    if config.image_pull_secrets:
        workflow_spec["imagePullSecrets"] = [{"name": name} for name in config.image_pull_secrets]
    workflow_spec["templates"] = all_templates
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": workflow_name(spec), "namespace": run_namespace(spec, project), "labels": labels, "annotations": annotations},
        "spec": workflow_spec,
    }
