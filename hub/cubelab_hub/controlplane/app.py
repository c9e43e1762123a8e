"""The control plane: a JupyterHub-managed service owning CubeLab's resources.

Run by the hub (``c.JupyterHub.services``) as ``python -m cubelab_hub.controlplane``;
JupyterHub passes its URL, API URL and token in the environment
(``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN``).
Settings are traitlets: ``--ControlPlane.db_url=...`` or a config file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict, Float, Integer, List, Unicode, default
from traitlets.config import Application

from ..domain.access import Actor, allowed
from ..domain.admin_settings import effective_quota
from ..domain.errors import FieldError, FieldErrors
from ..domain.quotas import TASK_USAGE_FILE, Usage
from ..gateway.process import Gateway, GatewayError
from ..kube.clusters import Clusters
from ..platform import unix_groups
from ..registry.tokens import STATE_DIR as REGISTRY_STATE_DIR
from ..registry.tokens import RegistryTokens
from . import handlers as handlers_pkg
from .db import Database
from .handlers import admin_page, gateway_auth, service_proxy
from .hubclient import HubClient
from .models import AuditEvent
from .openapi import build_document
from .services.admin_clusters import AdminClusters
from .services.admin_overview import AdminOverview
from .services.admin_settings import AdminSettings
from .services.build_backends import KubernetesBuildBackend
from .services.builds import BuildManager
from .services.experiments import ExperimentManager
from .services.image_debug import ImageDebugger
from .services.image_imports import ImageImporter
from .services.images import ImageCatalog, RegistryImages
from .services.pull_secrets import PullSecrets, PullSecretsFailed, usable_credentials
from .services.registries import RegistryStore
from .services.runs import RunManager
from .services.scheduler import Scheduler
from .services.secret_box import KEY_FILE as REGISTRY_SECRETS_KEY_FILE
from .services.secret_box import SecretBox
from .services.servers import ServerExpiry, ServerManager
from .services.services import ServiceManager
from .services.templates import ensure_builtin_templates
from .services.trial_channel import KEY_FILE as TRIAL_CHANNEL_KEY_FILE
from .services.trial_channel import TrialChannel
from .services.usage import servers_in_use
from .services.usage_history import UsageHistory

API_PREFIX = "api/v1"


class ServiceRootHandler(web.RequestHandler):
    """The service's root (JupyterHub checks it): where the API and its document are."""

    def initialize(self, prefix: str):
        self.prefix = prefix

    def get(self):
        from .. import __version__

        self.finish({"name": "CubeLab control plane", "version": __version__,
                     "api": self.prefix + "/", "openapi": self.prefix + "/openapi.json"})


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """JupyterHub's OAuth callback with the application's ``HubOAuth``: the one
    that began the login holds its state (PKCE's code verifier) in memory."""

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]


def _add_audit_event(session, actor: str, project: str | None, action: str, detail: dict) -> None:
    session.add(AuditEvent(actor=actor, project=project, action=action, detail=detail))


class ControlPlane(Application):
    name = "cubelab-controlplane"

    @default("log_level")
    def _log_level_default(self):
        return "INFO"

    @default("log_format")
    def _log_format_default(self):
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    # the hub's Clusters setting and the services' settings, on this service's command line (--help-all shows them)
    classes = [Clusters, ServiceManager, Gateway, BuildManager, KubernetesBuildBackend, ImageImporter]

    description = "CubeLab's control plane: projects, templates, pipelines, runs, schedules, services"

    data_dir = Unicode(
        config=True,
        help="Directory for the control plane's state (database, run logs, workspaces). "
        "Defaults to $CUBELAB_DATA_DIR, else ./cubelab-data.",
    )

    @default("data_dir")
    def _data_dir_default(self):
        return os.environ.get("CUBELAB_DATA_DIR") or os.path.abspath("cubelab-data")

    db_url = Unicode(
        config=True,
        help="SQLAlchemy URL of the control plane's database. Default: SQLite file "
        "'controlplane.sqlite' in data_dir. Any SQLAlchemy URL works (e.g. postgresql://...).",
    )

    @default("db_url")
    def _db_url_default(self):
        return f"sqlite:///{Path(self.data_dir) / 'controlplane.sqlite'}"

    db_pool_size = Integer(
        8,
        config=True,
        help="Worker threads (and database connections) that run the control plane's database work "
        "off its event loop; requests beyond this many wait their turn without blocking others. "
        "Keep it below the database's connection limit (PostgreSQL: max_connections) divided by "
        "the number of control planes sharing it.",
    )

    service_url = Unicode(
        config=True,
        help="Where this service listens. Set by JupyterHub as $JUPYTERHUB_SERVICE_URL; "
        "default http://127.0.0.1:10101.",
    )

    @default("service_url")
    def _service_url_default(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")

    service_prefix = Unicode(config=True, help="URL prefix of the service behind the proxy ($JUPYTERHUB_SERVICE_PREFIX).")

    @default("service_prefix")
    def _service_prefix_default(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/cubelab/")

    trial_channel_url = Unicode(
        config=True,
        help="Where experiment trials reach this control plane's API for NNI's trial channel "
        "(parameters and metrics): http://host:port followed by the API's path. Default: service_url + "
        "service_prefix + 'api/v1', which local trials reach; on Kubernetes set a URL pods reach, "
        "e.g. http://cubelab-controlplane.jhub.svc:10101/services/cubelab/api/v1.",
    )

    @default("trial_channel_url")
    def _trial_channel_url_default(self):
        return self.service_url.rstrip("/") + self.service_prefix.rstrip("/") + "/" + API_PREFIX

    pipeline_engine = Unicode(
        "local",
        config=True,
        help="Where pipeline runs execute by default: the name of an installed engine (entry point group "
        "'cubelab.engines'): 'local' (processes on this machine) or 'kubernetes' (Argo Workflows in each "
        "project's cluster and namespace; see Clusters.clusters). Each engine's own settings are its traitlets "
        "(--LocalEngine.runs_dir=..., --KubernetesEngine.service_account=...).",
    )

    pipeline_engine_choices = List(
        Unicode(),
        config=True,
        help="Further engines a project may run on instead of 'pipeline_engine', chosen by its 'engine' setting. "
        "The local engine is also kept when it is not chosen, only to re-attach runs started on it before a switch.",
    )

    kubernetes_server_namespace = Unicode(
        "default",
        config=True,
        help="Namespace of the notebook servers of projects without a 'namespace' setting on Kubernetes, where "
        "PUT /projects/{project}/pull-secrets writes their registries' pull Secrets; set it to CubeKubeSpawner.namespace.",
    )
    kubernetes_service_account = Unicode(
        "pipeline",
        config=True,
        help="Service account of pipeline pods on Kubernetes (needs Argo's executor role).",
    )

    scheduler_interval = Float(
        config=True,
        help="Seconds between the cron scheduler's looks at due ticks (default 10, or $CUBELAB_SCHEDULER_INTERVAL).",
    )

    @default("scheduler_interval")
    def _scheduler_interval_default(self):
        return float(os.environ.get("CUBELAB_SCHEDULER_INTERVAL", "10"))

    local_registry = Unicode(
        "",
        config=True,
        help="The platform's own image registry on this machine, as host:port (e.g. 127.0.0.1:5000), where builds "
        "push and from which images of the projects are pulled; set by `cubelab up` when it runs one. Empty: none.",
    )

    keep_runs_on_shutdown = Bool(
        False,
        config=True,
        help="On a clean stop, leave local runs' processes (and builds' buildah) running to be re-attached at the next start "
        "(default: cancel runs and mark them failed with the reason; stop builds, which start again from the layer cache).",
    )

    hub_cache_seconds = Float(
        5.0,
        config=True,
        help="How long answers from JupyterHub about users and groups are reused. "
        "Changes made through this API take effect at once regardless.",
    )

    image_shell_idle_timeout = Integer(
        600,
        config=True,
        help="Seconds an interactive shell in an image (GET /images/shell, a WebSocket) may go without a byte either way "
        "before it is ended and its container removed; a client may ask for less (idle_timeout), not more.",
    )

    image_shell_max_lifetime = Integer(
        1800,
        config=True,
        help="Seconds an interactive shell in an image may last at most, busy or not. It holds its project's build queue "
        "(as a debug command does), so this also bounds how long it holds up the project's builds.",
    )

    token_cache_seconds = Integer(
        10,
        config=True,
        help="How long a validated API token or cookie is trusted before asking JupyterHub again "
        "(bounds how long a revoked token keeps working).",
    )

    default_project_quota = Dict(
        {},
        config=True,
        help="The quota of projects that set none, as a project's quota: {'cpu': '32', 'memory': '128G', 'gpu': '8'} "
        "(a missing key: no limit). Admins may change it at run time (PATCH /admin/settings).",
    )

    usage_interval = Float(
        60.0,
        config=True,
        help="Seconds between the passes that record running notebook servers and services' replicas for usage over time "
        "(a server's hours are counted to within this much).",
    )

    admin_probe_timeout = Float(
        5.0,
        config=True,
        help="Seconds the admin page waits for a cluster's API server (reachability, nodes) before calling it unreachable.",
    )

    gateway_enabled = Bool(
        True,
        config=True,
        help="Run the services' gateway (nginx, see Gateway.*): one loopback port serving every service at its host "
        "(<name>.<ServiceManager.domain>). Off: services answer only on their replicas' own ports.",
    )

    # ------------------------------------------------------------------ state

    @property
    def clusters(self) -> Clusters:
        """The hub's ``Clusters`` setting, passed on this service's command line."""
        if self._clusters is None:
            self._clusters = Clusters(parent=self)
        return self._clusters

    _clusters: Clusters | None = None

    @property
    def cluster_names(self) -> list[str]:
        return self.clusters.names()

    @property
    def engine_names(self) -> list[str]:
        """Engines a project's 'engine' setting may name (the default first)."""
        return list(dict.fromkeys([self.pipeline_engine, *self.pipeline_engine_choices]))

    def initialize(self, argv=None):
        super().initialize(argv)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.database = Database(self.db_url, pool_size=self.db_pool_size)
        self.database.upgrade()
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        api_url = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
        self.hub_client = HubClient(api_url, token, self.hub_cache_seconds)
        self.hub_auth = HubOAuth(api_token=token, api_url=api_url, cache_max_age=self.token_cache_seconds)
        self._groups: tuple[float, list[dict]] | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._pull_secret_refreshes: set[asyncio.Task] = set()
        ensure_builtin_templates(self.database)
        self._build_services()
        self._wire_hooks()
        self.routes, schemas = handlers_pkg.collect()
        prefix = self.service_prefix.rstrip("/") + "/" + API_PREFIX
        self.openapi_document = build_document(self.routes, schemas, prefix)
        self.web_app = self._make_web_app(prefix)

    def _build_services(self) -> None:
        """Engines, then the services that use them, each given what it needs."""
        from ..engines.registry import UnknownEngine

        try:
            self._configure_pipeline_engines()
        except UnknownEngine as exc:
            self.log.critical("%s", exc)
            self.exit(1)
        self.pipeline_runs = RunManager(
            self.database, self.pipeline_engines, default_engine=self.pipeline_default_engine,
            keep_runs_on_shutdown=self.keep_runs_on_shutdown, engine_for_project=self.pipeline_engine_for_project,
            project_quota=self._project_quota, servers_in_use=lambda project: servers_in_use(self.hub_client, project),
            usage_file=Path(self.data_dir) / TASK_USAGE_FILE, secret_env_for=self._run_secret_env,
        )
        self.pipeline_scheduler = Scheduler(self.database, self.pipeline_runs, interval=self.scheduler_interval,
                                            is_admin=self._is_admin)
        # experiment trials' credentials: the key is made the first time a trial needs one
        self.trial_channel = TrialChannel(Path(self.data_dir) / TRIAL_CHANNEL_KEY_FILE)
        self.server_manager = ServerManager(self.database, self.hub_client, ServerExpiry(parent=self), audit=self.audit)
        # run-time overrides of settings (server expiry here; role limits and the default quota for the spawners)
        self.admin_settings = AdminSettings(self.database, self.hub_client, self.server_manager.expiry, self.data_dir,
                                            configured_quota=self.default_project_quota, audit=self.audit)
        self.admin_settings.load()
        self.experiments = ExperimentManager(self.database, self.pipeline_runs, trial_env=self._trial_env, is_admin=self._is_admin,
                                             checkpoint_dir=self._experiment_checkpoint_dir)
        # registry passwords, sealed with a key of the private state made when the first one is stored
        self.registries = RegistryStore(SecretBox(Path(self.data_dir) / REGISTRY_SECRETS_KEY_FILE))
        # their pull Secrets on Kubernetes: the engine (runs, trials), services, builds and the spawner's servers write them
        # clients connect on first use: a platform without Kubernetes never does
        self.pull_secrets = PullSecrets(self.database, self.registries, {name: self.clusters.access(name) for name in self.clusters.names()})
        # the local registry's tokens and the builds' service credentials; keys made by `cubelab up` or when first needed
        self.registry_tokens = RegistryTokens(Path(self.data_dir) / REGISTRY_STATE_DIR)
        self.service_manager = ServiceManager(
            self.database, self.data_dir, parent=self, project_quota=self._project_quota, others_in_use=self._tasks_and_servers_in_use,
            project_settings=self.project_settings, default_engine=self.pipeline_engine, clusters=self.clusters,
            on_usage_changed=self.pipeline_runs.usage_changed,
            on_routes_changed=self._apply_routes, pull_secrets=self.pull_secrets.write,
        )
        # services' replicas are published with the running tasks (the spawners' quota checks read
        # them) and counted by runs' quota checks
        self.pipeline_runs.add_usage_source(self.service_manager.in_use_by_project)
        self.gateway = Gateway(parent=self)
        if not self.gateway.prefix:
            self.gateway.prefix = str(Path(self.data_dir) / "gateway")
        # the gateway asks this process, at its own address, about every request to a project-only service
        url = urlparse(self.service_url)
        self.gateway.auth_address = f"{url.hostname or '127.0.0.1'}:{url.port or 80}"
        self.gateway.auth_path = self.service_prefix.rstrip("/") + "/" + gateway_auth.PATH
        self.gateway_running = False
        # builds of projects on Kubernetes: BuildKit Jobs pushing with the registries the project may use
        build_backend = KubernetesBuildBackend(parent=self, clusters=self.clusters, project_settings=self.project_settings,
                                               credentials=self._build_credentials, pull_secrets=self.pull_secrets.write)
        self.build_manager = BuildManager(self.database, self.data_dir, parent=self, push_to=self.local_registry or None,
                                          credential=self.registry_tokens.service_credential, kubernetes=build_backend,
                                          project_settings=self.project_settings, default_engine=self.pipeline_engine,
                                          archives=lambda: self.database.run(self.image_importer.references),
                                          project_quota=self._project_quota, others_in_use=self._build_others_in_use,
                                          on_usage_changed=self.pipeline_runs.usage_changed, keep_on_shutdown=self.keep_runs_on_shutdown)
        # running builds hold their limits in their project's quota: published for the spawners, counted by runs and services
        self.pipeline_runs.add_usage_source(self.build_manager.in_use_by_project)
        self.image_importer = ImageImporter(self.database, self.build_manager, parent=self)
        self.image_debugger = ImageDebugger(self.build_manager)
        self.usage_history = UsageHistory(self.database, self.hub_client, self.pipeline_runs, replicas=self._replicas,
                                          interval=self.usage_interval)
        kubernetes = "kubernetes" in self.engine_names or bool(self.clusters.clusters)
        self.admin_clusters = AdminClusters(self.clusters, local=self.pipeline_engine == "local" or "local" in self.engine_names,
                                            kubernetes=kubernetes, running=self.usage_history.running,
                                            probe_timeout=self.admin_probe_timeout)
        self.image_catalog = ImageCatalog(self.database, self.build_manager.registry,
                                          RegistryImages(self.local_registry, self.registry_tokens) if self.local_registry else None,
                                          hub=self.hub_client)
        # what runs across projects, for the admin page
        self.admin_overview = AdminOverview(self.database, self.hub_client, self.pipeline_runs, self.experiments,
                                            self.service_manager, self.build_manager, audit=self.audit)

    def _replicas(self) -> list:
        """The services' replicas on this machine now (the usage record reads them)."""
        supervisor = self.service_manager.supervisor
        return [replica for service_id in list(supervisor.replicas) for replica in supervisor.of(service_id)]

    def _on_kubernetes(self) -> bool:
        """Whether any project may run on Kubernetes (an engine of the platform is the Kubernetes one)."""
        return "kubernetes" in self.engine_names

    def registries_changed(self, project: str | None) -> None:
        """A registry was added, changed or deleted: its pull Secrets are written
        again, in the background, where the project (``None``: every project)
        already has some. Failures are logged (never with a secret)."""
        if not (self._on_kubernetes() or self.pull_secrets.connected()):
            return  # no project runs on Kubernetes, no server asked for Secrets there: no cluster to reach
        task = asyncio.get_running_loop().create_task(self.pull_secrets.refresh_everywhere(project))
        self._pull_secret_refreshes.add(task)
        task.add_done_callback(self._pull_secret_refreshes.discard)

    async def write_server_pull_secrets(self, cluster: str, project: str, namespace: str) -> list[str]:
        """The project's pull Secrets written into its servers' namespace; their names.
        :class:`PullSecretsFailed` (a 409 whose message holds no secret) when they cannot be."""
        try:
            return await self.pull_secrets.write_in_cluster(cluster, project, namespace)
        except PullSecretsFailed as exc:
            self.log.warning("registries: pull Secrets of project %s for its servers: %s", project, exc)
            raise

    async def _build_credentials(self, project: str):
        return await self.database.run(usable_credentials, self.registries, project)

    def _wire_hooks(self) -> None:
        """Who hears of what: a project deleted, a membership revoked, a user
        deleted; what runs in the background; what stops on shutdown."""
        # experiments first: their controllers stop before the runs they watch are cancelled
        self.project_delete_hooks: list = [self.experiments.delete_project, self.pipeline_runs.delete_project,
                                           self.service_manager.delete_project, self._delete_project_registries,
                                           self.build_manager.delete_project, self.image_importer.delete_project]
        self.membership_revoked_hooks: list = [self.server_manager.on_membership_revoked]
        self.user_delete_hooks: list = []
        # re-attaching runs first: the scheduler then sees them active, experiments find their trials' runs
        self.background_tasks: list = [self._start_runs_then_experiments, self.pipeline_scheduler.loop, self.server_manager.loop,
                                       self.usage_history.loop,
                                       self.service_manager.start, self._start_gateway, self.build_manager.start]
        # controllers stop before the runs do: a trial's run stopped by the shutdown is not taken for a failure now;
        # the gateway last, once no replica is left behind it
        self.shutdown_hooks: list = [self.experiments.shutdown, self.pipeline_runs.shutdown, self.service_manager.shutdown,
                                     self.build_manager.shutdown, self._stop_gateway, self._stop_pull_secrets]
        # projects as Unix groups, when users are Unix accounts (cubelab up as root)
        unix_groups.install(self)

    async def _delete_project_registries(self, project: str) -> None:
        await self.database.run(self.registries.delete_project, project)
        if self._on_kubernetes() or self.pull_secrets.connected():
            # its namespaces keep no credentials of a project that is gone
            await self.pull_secrets.remove_project_everywhere(project)

    async def _start_runs_then_experiments(self) -> None:
        await self.pipeline_runs.start()
        await self.experiments.start()

    def _trial_env(self, exp, trial_id: str, seq: int) -> dict[str, str]:
        """The variables that let a trial's NNI SDK reach the trial channel."""
        return self.trial_channel.trial_env(self.trial_channel_url, exp.id, trial_id, seq)

    def _run_secret_env(self, spec) -> dict[str, str]:
        """A re-attached trial run's channel URL, derived again (HMAC of its trial
        id) rather than stored: other runs have no secret variables."""
        if spec.trigger != "trial" or len(spec.pipeline.tasks) != 1:
            return {}
        trial_id = spec.pipeline.tasks[0].env.get("NNI_TRIAL_JOB_ID")
        if not trial_id:
            return {}
        return {"NNI_TRIAL_COMMAND_CHANNEL": self.trial_channel.channel_url(self.trial_channel_url, trial_id)}

    async def _experiment_checkpoint_dir(self, exp) -> str | None:
        """Where an experiment's trials share checkpoints (PBT): a directory of the
        creator's (as whom every trial runs) on the project's engine, if it has one."""
        engine = await self.pipeline_runs.project_engine(exp.project)
        return engine.shared_dir(exp.creator, f"experiments/{exp.id}/checkpoints")
    # ------------------------------------------------------------------ the services' gateway

    async def _start_gateway(self) -> None:
        """Start nginx with the routes of the services running now; services
        deployed meanwhile are routed by the ``routes_changed`` that follows."""
        if not self.gateway_enabled:
            return
        try:
            await self.gateway.start(self.service_manager.routes())
        except (GatewayError, FieldError, FieldErrors, OSError) as exc:
            self.log.error("the services' gateway did not start (%s); services answer on their replicas' ports only", exc)
            return
        self.gateway_running = True
        await self.service_manager.routes_changed()

    async def _stop_pull_secrets(self) -> None:
        await asyncio.gather(*self._pull_secret_refreshes, return_exceptions=True)
        await self.pull_secrets.close()

    async def _stop_gateway(self) -> None:
        self.gateway_running = False
        await self.gateway.stop()

    async def _apply_routes(self, routes) -> None:
        """ServiceManager's ``on_routes_changed``: reload the gateway when its routes differ."""
        if self.gateway_running and routes != self.gateway.routes:
            await self.gateway.apply(routes)

    def gateway_url(self, host: str) -> str:
        """Where a service's host is served: the gateway's port on this machine."""
        return f"http://{host}:{self.gateway.port}/"

    def service_hub_path(self, name: str) -> str:
        """The path, under the hub's URL, that forwards to a service for its project's members."""
        return service_proxy.path_of(self.service_prefix, name)

    async def may_reach_service(self, user: str, project: str) -> bool:
        """The gateway's question for a project-only service: the ``service:read`` rule."""
        model = await self.hub_client.get_user(user)
        if model is None:
            return False
        actor = Actor(name=user, admin=bool(model.get("admin")), projects=await self.projects_of(model))
        return allowed(actor, "service:read", project)

    async def _is_admin(self, name: str) -> bool:
        user = await self.hub_client.get_user(name)
        return bool(user and user.get("admin"))

    def _make_web_app(self, prefix: str) -> web.Application:
        handlers = [(prefix + pattern, handler, kwargs) for pattern, handler, kwargs in self.routes]
        handlers.append((self.service_prefix.rstrip("/") + "/oauth_callback", OAuthCallbackHandler))
        handlers.extend(gateway_auth.routes(self.service_prefix, self.may_reach_service))
        handlers.extend(admin_page.routes(self.service_prefix))
        handlers.extend(service_proxy.routes(self.service_prefix))
        handlers.append((self.service_prefix.rstrip("/") + "/?", ServiceRootHandler, {"prefix": prefix}))
        return web.Application(
            handlers,
            cubelab=self,
            hub_auth=self.hub_auth,
            cookie_secret=os.urandom(32),
            xsrf_cookies=True,
            log_function=self._log_request,
        )

    def _log_request(self, handler):
        status = handler.get_status()
        log = self.log.warning if status >= 500 else self.log.info if status >= 400 else self.log.debug
        log("%d %s %s %.1fms", status, handler.request.method, handler.request.uri, 1000 * handler.request.request_time())

    # ------------------------------------------------------------------ projects

    def is_project(self, group: dict) -> bool:
        return True

    async def project_groups(self, fresh: bool = False) -> list[dict]:
        now = time.monotonic()
        if fresh or self._groups is None or now - self._groups[0] > self.hub_cache_seconds:
            groups = [g for g in await self.hub_client.list_groups() if self.is_project(g)]
            self._groups = (now, groups)
        return self._groups[1]

    async def projects_of(self, user: dict) -> dict[str, str]:
        """project -> role for a hub user model."""
        names = set(user.get("groups") or [])
        if not names:
            return {}
        groups = {g["name"]: g for g in await self.project_groups()}
        if not names <= set(groups):
            groups = {g["name"]: g for g in await self.project_groups(fresh=True)}
        result = {}
        for name in names:
            group = groups.get(name)
            if group is None:
                continue
            roles = (group.get("properties") or {}).get("member_roles") or {}
            result[name] = roles.get(user["name"], "dev")
        return result

    def forget_groups(self, user: str | None = None) -> None:
        self._groups = None
        self.hub_client.forget_user(user)

    def forget_caches(self, user: str | None = None) -> None:
        self.forget_groups(user)
        self.hub_auth.cache.clear()

    def project_lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def audit(self, actor: str, project: str | None, action: str, detail: dict) -> None:
        await self.database.run(_add_audit_event, actor, project, action, detail)

    async def before_project_delete(self, project: str) -> None:
        for hook in self.project_delete_hooks:
            await hook(project)

    async def after_membership_revoked(self, project: str, user: str) -> None:
        for hook in self.membership_revoked_hooks:
            try:
                await hook(project, user)
            except Exception:
                self.log.exception("membership-revoked hook %s failed for %s in %s", hook, user, project)

    async def remove_user_everywhere(self, user: str) -> None:
        """Delete a hub user and every trace of their memberships."""
        for hook in self.user_delete_hooks:
            await hook(user)
        for group in await self.project_groups(fresh=True):
            roles = (group.get("properties") or {}).get("member_roles") or {}
            if user in roles:
                async with self.project_lock(group["name"]):
                    fresh = await self.hub_client.get_group(group["name"])
                    properties = dict(fresh.get("properties") or {})
                    properties["member_roles"] = {k: v for k, v in (properties.get("member_roles") or {}).items() if k != user}
                    await self.hub_client.set_group_properties(group["name"], properties)
        await self.hub_client.delete_user(user)
        self.forget_caches(user)

    # ------------------------------------------------------------------ run

    async def project_settings(self, name: str):
        """A project's typed settings, from its hub group (engines read them too)."""
        from ..domain.projects import settings_from_properties

        group = await self.hub_client.get_group(name)
        return settings_from_properties((group or {}).get("properties"))

    async def _project_quota(self, name: str):
        # a project without a quota of its own gets the platform's default (an admin setting)
        return effective_quota((await self.project_settings(name)).quota, self.admin_settings.default_quota())

    async def _tasks_and_servers_in_use(self, project: str):
        """What a project's servers, tasks and builds hold (services count their own)."""
        builds = self.build_manager.in_use_by_project().get(project, Usage()) if hasattr(self, "build_manager") else Usage()
        return self.pipeline_runs.tasks_in_use(project) + builds + await servers_in_use(self.hub_client, project)

    async def _build_others_in_use(self, project: str):
        """What a project holds beside its builds: a project's builds run one at a
        time, so a new build takes the running one's place rather than adding to it."""
        return (self.pipeline_runs.tasks_in_use(project) + self.service_manager.services_in_use(project)
                + await servers_in_use(self.hub_client, project))

    async def _engine_for_project(self, name: str) -> str | None:
        """The engine a project's 'engine' setting chose; None: the default."""
        if len(self.engine_names) == 1:
            return None  # nothing to choose: no need to ask the hub
        chosen = (await self.project_settings(name)).engine
        return chosen if chosen in self.engine_names else None

    def _configure_pipeline_engines(self) -> None:
        """Build the engines through the registry (entry points ``cubelab.engines``),
        each configured from this application's config. Raises
        :class:`~cubelab_hub.engines.registry.UnknownEngine` naming an unknown one."""
        from ..engines import registry

        # local too: runs started on this machine before a switch can be re-attached
        names = list(dict.fromkeys([*self.engine_names, "local"]))
        registry.check(names)
        self.pipeline_engines = {name: registry.build(name, config=self.config, parent=self) for name in names}
        self.pipeline_default_engine = self.pipeline_engine
        self.pipeline_engine_for_project = self._engine_for_project

    def start(self):
        asyncio.run(self._serve())

    async def _serve(self):
        # listen inside the running loop: tornado binds sockets to the current loop
        url = urlparse(self.service_url)
        self.http_server = HTTPServer(self.web_app, xheaders=True)
        self.http_server.listen(url.port or 80, url.hostname or "127.0.0.1")
        self.log.info("CubeLab control plane listening on %s (API at %s%s)", self.service_url, self.service_prefix, API_PREFIX)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(starter()) for starter in self.background_tasks]
        await stop.wait()
        self.log.info("CubeLab control plane stopping")
        self.http_server.stop()
        for task in tasks:
            task.cancel()
        for hook in self.shutdown_hooks:
            await hook()


main = ControlPlane.launch_instance
