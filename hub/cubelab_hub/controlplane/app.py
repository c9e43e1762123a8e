"""The control plane: a JupyterHub-managed service owning CubeLab's resources.

Run by the hub (``c.JupyterHub.services``) as ``python -m cubelab_hub.controlplane``;
JupyterHub passes its URL, API URL and token in the environment
(``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN``).
Settings are traitlets: ``--ControlPlane.db_url=...`` or a config file.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict, Enum, Float, Integer, Unicode, default
from traitlets.config import Application

from . import handlers as handlers_pkg
from .db import Database
from .hubclient import HubClient
from .models import AuditEvent
from .openapi import build_document

API_PREFIX = "api/v1"


class ServiceRootHandler(web.RequestHandler):
    """The service's root (JupyterHub checks it): where the API and its document are."""

    def initialize(self, prefix: str):
        self.prefix = prefix

    def get(self):
        from .. import __version__

        self.finish({"name": "CubeLab control plane", "version": __version__,
                     "api": self.prefix + "/", "openapi": self.prefix + "/openapi.json"})


class ControlPlane(Application):
    name = "cubelab-controlplane"

    @default("log_level")
    def _log_level_default(self):
        return "INFO"

    @default("log_format")
    def _log_format_default(self):
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

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

    clusters = Dict(
        {"default": {}},
        config=True,
        help="Clusters projects may be assigned to: name -> {'kubeconfig': path, 'context': name}. "
        "A project's 'cluster' setting must name one of these.",
    )

    pipeline_engine = Enum(
        ["local", "kubernetes"],
        "local",
        config=True,
        help="Where pipeline runs execute: 'local' (processes on this machine) or 'kubernetes' "
        "(Argo Workflows in each project's cluster and namespace; see 'clusters').",
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

    keep_runs_on_shutdown = Bool(
        False,
        config=True,
        help="On a clean stop, leave local runs' processes running to be re-attached at the next start "
        "(default: cancel them and mark the runs failed with the reason).",
    )

    hub_cache_seconds = Float(
        5.0,
        config=True,
        help="How long answers from JupyterHub about users and groups are reused. "
        "Changes made through this API take effect at once regardless.",
    )

    token_cache_seconds = Integer(
        10,
        config=True,
        help="How long a validated API token or cookie is trusted before asking JupyterHub again "
        "(bounds how long a revoked token keeps working).",
    )

    # ------------------------------------------------------------------ state

    @property
    def cluster_names(self) -> list[str]:
        return list(self.clusters)

    def initialize(self, argv=None):
        super().initialize(argv)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.database = Database(self.db_url)
        self.database.upgrade()
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        api_url = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
        self.hub_client = HubClient(api_url, token, self.hub_cache_seconds)
        self.hub_auth = HubOAuth(api_token=token, api_url=api_url, cache_max_age=self.token_cache_seconds)
        self._groups: tuple[float, list[dict]] | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        # hooks other resources register from their module's setup(app)
        self.membership_revoked_hooks: list = []
        self.project_delete_hooks: list = []
        self.user_delete_hooks: list = []
        self.background_tasks: list = []
        self.shutdown_hooks: list = []
        self.routes, schemas, self.resource_modules = self._collect_resources()
        prefix = self.service_prefix.rstrip("/") + "/" + API_PREFIX
        self.openapi_document = build_document(self.routes, schemas, prefix)
        self.web_app = self._make_web_app(prefix)

    def _collect_resources(self):
        """Every module in ``handlers/`` with ``ROUTES`` is a REST resource;
        ``SCHEMAS`` feed the OpenAPI document; ``setup(app)`` registers hooks."""
        routes, schemas, modules = [], {}, []
        for info in sorted(pkgutil.iter_modules(handlers_pkg.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{handlers_pkg.__name__}.{info.name}")
            if hasattr(module, "ROUTES"):
                routes.extend(module.ROUTES)
                schemas.update(getattr(module, "SCHEMAS", {}))
                modules.append(module)
        return routes, schemas, modules

    def _make_web_app(self, prefix: str) -> web.Application:
        handlers = [(prefix + pattern, handler, kwargs) for pattern, handler, kwargs in self.routes]
        handlers.append((self.service_prefix.rstrip("/") + "/oauth_callback", HubOAuthCallbackHandler))
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
        with self.database.session() as session:
            session.add(AuditEvent(actor=actor, project=project, action=action, detail=detail))

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

    def _configure_pipeline_engines(self) -> None:
        if self.pipeline_engine != "kubernetes":
            return  # the runs resource makes the local engine itself
        from ..domain.projects import settings_from_properties
        from ..engines.kubernetes.compile import ClusterConfig
        from ..engines.kubernetes.engine import engine_for_clusters
        from ..engines.local.engine import LocalEngine

        async def project_settings(name: str):
            group = await self.hub_client.get_group(name)
            return settings_from_properties((group or {}).get("properties"))

        data = Path(self.data_dir)
        self.pipeline_engines = {
            "kubernetes": engine_for_clusters(
                self.clusters,
                default_cluster=next(iter(self.clusters), "default"),
                config=ClusterConfig(service_account=self.kubernetes_service_account),
                project_settings=project_settings,
                logs_dir=data / "k8s-logs",
            ),
            # kept so runs started on this machine before a switch can be re-attached
            "local": LocalEngine(data / "runs", workspace_for=lambda user: data / "workspaces" / user),
        }
        self.pipeline_default_engine = "kubernetes"

    def start(self):
        self._configure_pipeline_engines()
        for module in self.resource_modules:
            if hasattr(module, "setup"):
                module.setup(self)
        from ..platform import unix_groups

        unix_groups.install(self)  # projects as Unix groups, when users are Unix accounts
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
