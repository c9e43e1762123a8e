"""The admin overview: what runs now across projects, and stopping it.

What is running comes from where it is already known, never from a scan of
every stored row: notebook servers from the hub's active users (``state=active``),
tasks and trials from :class:`~.runs.RunManager`'s running tasks, services from
:class:`~.services.ServiceManager`'s deployed ones, builds from
:class:`~.builds.BuildManager`'s queued and running ones. The rows that describe
them (who started them, their names, since when) are then read by primary key or
indexed column, in one short transaction. So a request costs what runs now,
however many runs, trials or builds are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from ...domain.admin_views import KINDS, RunningItem, split_id, user_activity
from ...domain.errors import NotFound
from ...domain.formats import parse_cpu, parse_memory
from ...domain.quotas import Usage, usage_of_options
from ..models.builds import BuildRow
from ..models.experiments import ExperimentRow, TrialRow
from ..models.pipelines import PipelineRow, RunRow, aware
from ..models.services import ServiceRow
from .services import replica_usage

log = logging.getLogger("cubelab.admin")


def _server_items(users: list[dict]) -> list[RunningItem]:
    items = []
    for user in users:
        for server_name, server in (user.get("servers") or {}).items():
            if server.get("stopped") or not (server.get("ready") or server.get("pending")):
                continue
            options = server.get("user_options") or {}
            status = "ready" if server.get("ready") else f"pending:{server.get('pending')}"
            started = server.get("started")
            items.append(RunningItem(
                kind="server", id=f"{user['name']}:{server_name}" if server_name else user["name"],
                name=server_name or "(default)", project=options.get("project") or None, user=user["name"], status=status,
                started=_parse_time(started), use=usage_of_options(options), cluster=options.get("cluster") or "local"))
    return items


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _build_use(body: dict) -> Usage:
    """What a running build holds: its CPU and memory limits (builds take no GPU)."""
    try:
        return Usage(parse_cpu(str(body.get("cpu")), "cpu").limit if body.get("cpu") else Usage().cpu,
                     parse_memory(str(body.get("memory")), "memory").limit if body.get("memory") else 0, 0)
    except Exception:  # a body stored before validation existed counts as nothing
        return Usage()


def _describe(session, tasks, build_ids: list[int], service_ids: list[int], run_ids: list[str], exp_ids: list[int]) -> dict:
    """The rows behind what runs now, read by primary key or indexed column only."""
    wanted_runs = sorted({run_id for run_id, *_ in tasks} | set(run_ids))
    runs = {}
    if wanted_runs:
        q = (select(RunRow.id, RunRow.runner, RunRow.trigger, RunRow.started_at, RunRow.created_at, RunRow.engine, PipelineRow.name)
             .outerjoin(PipelineRow, PipelineRow.id == RunRow.pipeline_id).where(RunRow.id.in_(wanted_runs)))
        runs = {row[0]: row for row in session.execute(q).all()}
    trial_runs = sorted(run_id for run_id, row in runs.items() if row.trigger == "trial")
    trials = {}
    if trial_runs:
        q = (select(TrialRow.run_id, TrialRow.id, TrialRow.experiment_id, TrialRow.seq, TrialRow.started_at, ExperimentRow.name,
                    ExperimentRow.creator)
             .join(ExperimentRow, ExperimentRow.id == TrialRow.experiment_id).where(TrialRow.run_id.in_(trial_runs)))
        trials = {row[0]: row for row in session.execute(q).all()}
    builds = {}
    if build_ids:
        q = select(BuildRow.id, BuildRow.project, BuildRow.image, BuildRow.creator, BuildRow.status, BuildRow.started_at,
                   BuildRow.created_at, BuildRow.body).where(BuildRow.id.in_(build_ids))
        builds = {row[0]: row for row in session.execute(q).all()}
    services = {}
    if service_ids:
        q = select(ServiceRow.id, ServiceRow.status, ServiceRow.desired_replicas, ServiceRow.deployed_at).where(ServiceRow.id.in_(service_ids))
        services = {row[0]: row for row in session.execute(q).all()}
    experiments = {}
    if exp_ids:
        experiments = dict(session.execute(select(ExperimentRow.id, ExperimentRow.creator).where(ExperimentRow.id.in_(exp_ids))).all())
    return {"runs": runs, "trials": trials, "builds": builds, "services": services, "experiments": experiments}


class AdminOverview:
    """What runs across projects, for admins; and stopping any of it (audited)."""

    def __init__(self, database, hub_client, runs, experiments, services, builds, audit: Callable):
        """``audit(actor, project, action, detail)``: the control plane's audit log."""
        self.db = database
        self.hub = hub_client
        self.runs = runs
        self.experiments = experiments
        self.services = services
        self.builds = builds
        self.audit = audit

    async def snapshot(self) -> tuple[list[RunningItem], dict[str, str], dict[int, str]]:
        """Everything running now, with the active runs (run id -> runner) and
        active experiments (id -> creator) that hold nothing at the moment."""
        tasks = self.runs.running_tasks()
        active_runs = self.runs.active_runs()
        running_services = self.services.running_services()
        active_builds = dict(self.builds.active_builds())
        exp_ids = self.experiments.active_experiment_ids()
        facts = await self.db.run(_describe, tasks, sorted(active_builds), [sid for sid, *_ in running_services],
                                  sorted(active_runs), exp_ids)
        items = _server_items(await self.hub.list_active_users())
        runs, trials = facts["runs"], facts["trials"]
        for run_id, project, task, held in tasks:
            run = runs.get(run_id)
            if run is None:
                continue  # ended and gone between the two reads
            started = aware(run.started_at or run.created_at)
            if run.trigger == "trial":
                trial = trials.get(run_id)
                if trial is None:
                    continue
                items.append(RunningItem(
                    kind="trial", id=trial.id, name=f"{trial.name} #{trial.seq}", project=project, user=trial.creator,
                    status="running", started=aware(trial.started_at) or started, use=held, cluster=run.engine,
                    run_id=run_id, experiment_id=trial.experiment_id))
            else:
                name = f"{run.name} / {task}" if run.name else task
                items.append(RunningItem(
                    kind="task", id=f"{run_id}:{task}", name=name, project=project, user=run.runner, status="running",
                    started=started, use=held, cluster=run.engine, run_id=run_id))
        for sid, service, local_replicas, on_kubernetes in running_services:
            row = facts["services"].get(sid)
            if row is None:
                continue
            # on this machine the replicas that exist hold their limits; on a cluster, the ones asked for
            replicas = row.desired_replicas if on_kubernetes else local_replicas
            use = Usage()
            for _ in range(replicas):
                use = use + replica_usage(service)
            items.append(RunningItem(
                kind="service", id=str(sid), name=service.name, project=service.project, user=service.owner, status=row.status,
                started=aware(row.deployed_at), use=use, cluster="kubernetes" if on_kubernetes else "local"))
        for build_id, remote in active_builds.items():
            row = facts["builds"].get(build_id)
            if row is None:
                continue
            items.append(RunningItem(
                kind="build", id=str(build_id), name=row.image, project=row.project, user=row.creator, status=row.status,
                started=aware(row.started_at or row.created_at), use=_build_use(row.body or {}) if row.status == "running" else Usage(),
                cluster="kubernetes" if remote else "local"))
        runners = {run_id: row.runner for run_id, row in runs.items() if run_id in active_runs}
        return items, runners, facts["experiments"]

    async def activity_by_user(self) -> tuple[list[RunningItem], dict]:
        """Everything running now, and per user what :func:`user_activity` counts."""
        items, runners, experiments = await self.snapshot()
        return items, user_activity(items, runners, experiments)

    async def stop(self, kind: str, item_id: str, actor: str) -> dict:
        """Stop one running item named by its kind and id (404 when nothing of
        that kind runs under that id), and record it in the audit log."""
        if kind not in KINDS:
            raise NotFound(f"there is no kind of running work named '{kind[:40]}'", "kind")
        items, _runners, _experiments = await self.snapshot()
        item = next((i for i in items if i.kind == kind and i.id == item_id), None)
        if item is None:
            raise NotFound(f"no {kind} '{item_id[:80]}' is running", "id")
        reason = f"stopped by the admin {actor}"
        if kind == "server":
            user, server_name = split_id(item_id)
            await self.hub.stop_server(user, server_name or "")
            status = "stopping"
        elif kind == "task":
            await self.runs.cancel(item.run_id)
            status = "cancelled"
        elif kind == "trial":
            await self.experiments.cancel_trial(item_id, reason)
            status = "cancelled"
        elif kind == "service":
            await self.services.stop(int(item_id), actor, status="stopped", message=reason)
            status = "stopped"
        else:
            await self.builds.cancel(int(item_id))
            status = "cancelled"
        await self.audit(actor, item.project, "admin.stop", {"kind": kind, "id": item_id, "name": item.name, "user": item.user})
        log.info("%s stopped %s %s of %s", actor, kind, item_id, item.user)
        return {"kind": kind, "id": item_id, "status": status}
