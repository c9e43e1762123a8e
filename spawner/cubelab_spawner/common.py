"""What both CubeLab spawners share: the form, validation against the hub's
facts (projects = groups, roles, running servers and the pipeline tasks the
control plane reports), remembering last choices, and stopping a server whose
project membership was revoked.

Where a kind takes an image (Kubernetes), the images built in the user's
projects are asked of the control plane (:mod:`.controlplane`) when the form
is drawn and again when a server starts, so they are offered and accepted; an
image in another project's repository is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import replace
from typing import Any

from tornado import web
from traitlets import Dict, Enum, Float, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from cubelab_hub.domain.admin_settings import RUNTIME_SETTINGS_FILE, effective_quota, runtime_from_document
from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.projects import PUBLIC, ProjectSettings, settings_from_properties
from cubelab_hub.domain.quotas import TASK_USAGE_FILE, usage_from_document
from cubelab_hub.domain.registries import image_host

from .controlplane import ControlPlaneClient, ControlPlaneError, ControlPlaneUnavailable
from .form import options_from_formdata, render_form
from .profiles import BuiltImage, Choice, Defaults, Facts, KindSpec, Usage, limits_for_roles, parse_choice, usage_of

CONTROLPLANE_SERVICE = "cubelab"  # the hub-managed service's name (platform/hubconfig.py)
TOKEN_SECONDS = 600  # the user's token for the control plane lives this long; renewed a minute before

# The last form a user submitted that failed validation, so the re-rendered form
# shows what they typed (JupyterHub re-renders the form from a fresh call).
_last_submitted: dict[str, dict[str, str]] = {}


class CubeSpawnerMixin(LoggingConfigurable):
    """Mixed into a JupyterHub Spawner (before the Spawner class in the MRO).

    A Configurable so its traits are real traits of the spawner: configure them
    on the spawner class, e.g. ``c.CubeLocalSpawner.role_limits``."""

    role_limits = Dict(
        {"user": {"cpu": "8", "memory": "32G", "gpu": 1}, "admin": {}},
        config=True,
        help="""Per-server maximums by JupyterHub role: role name -> {"cpu": "8",
        "memory": "32G", "gpu": 1}. A user gets the most generous of the roles they
        hold (admins hold "admin", everyone holds "user"); a missing key means no
        limit. A request over the limit is refused with a message naming the field.""",
    )
    default_project = Unicode(PUBLIC, config=True, help="Project preselected for a user with no previous choice.")
    default_kind = Unicode("jupyterlab", config=True, help="Kind preselected for a user with no previous choice.")
    default_cpu = Unicode("1~2", config=True, help="CPU preselected (and used when user_options give none), e.g. '2' or '1~4'.")
    default_memory = Unicode("2G~4G", config=True, help="Memory preselected (and used when user_options give none), e.g. '4G' or '1G~8G'.")
    default_gpu = Unicode("0", config=True, help="GPU preselected (and used when user_options give none), e.g. '0' or '1(V100)'.")
    task_usage_file = Unicode(
        "",
        config=True,
        help="""The file in which the control plane publishes what each project's running
        pipeline tasks and services' replicas hold; a project's quota counts them with
        its running servers.
        Empty: task-usage.json in $CUBELAB_DATA_DIR (the control plane's data directory).""",
    )
    runtime_settings_file = Unicode(
        "",
        config=True,
        help="""The file in which the control plane publishes the settings an admin changed at
        run time (role limits, the default project quota), read on every spawn; they win over
        role_limits here. Empty: runtime-settings.json in $CUBELAB_DATA_DIR.""",
    )
    stop_on_membership_revoked = Enum(
        ["stop", "keep"],
        "stop",
        config=True,
        help="""What a poll does when the server's user is no longer a member of its
        project: 'stop' (report the server stopped, so the hub stops it) or 'keep'.""",
    )

    controlplane_api_url = Unicode(
        config=True,
        help="""The control plane's REST API (.../services/cubelab/api/v1), asked for the images
        built in a project (offered in the form) and, on Kubernetes, to write a project's registry
        pull Secrets before its server starts. Default: CUBELAB_API_URL of the spawner's environment
        (set by `cubelab up`). Empty: neither.""",
    )
    controlplane_timeout = Float(
        3.0, config=True, help="Seconds the spawner waits for the control plane before going on without its answer.",
    )
    image_registries = List(
        Unicode(),
        config=True,
        help="""Registries (host[:port]) whose repositories are per project (host/<project>/<image>),
        such as the platform's local registry and the builds' push registry: an image there is
        offered to and accepted from its own project's servers only. Hosts of the images the
        control plane lists are added.""",
    )

    @default("controlplane_api_url")
    def _controlplane_api_url_default(self):
        return (getattr(self, "environment", None) or {}).get("CUBELAB_API_URL") or os.environ.get("CUBELAB_API_URL", "")

    @validate("role_limits")
    def _check_role_limits(self, proposal):
        from .profiles import Limits

        for role, limits in proposal.value.items():
            Limits.from_config(limits, f"role_limits.{role}")  # a bad setting fails at start-up
        return proposal.value

    # ------------------------------------------------------------ facts

    def cube_kinds(self) -> dict[str, KindSpec]:  # pragma: no cover - each spawner defines it
        raise NotImplementedError

    def cube_gpus_available(self) -> int | None:
        return None

    def cube_gpu_vendors(self) -> frozenset[str] | None:
        return None

    def cube_clusters(self) -> frozenset[str] | None:
        return None

    def cube_runtime_settings(self):
        """(role limits or None, default project quota or None) an admin set at
        run time. None, None when there are none; an unreadable file is logged and
        the configuration applies, as a spawn must not fail on it."""
        path = self.runtime_settings_file
        if not path:
            data_dir = os.environ.get("CUBELAB_DATA_DIR")
            if not data_dir:
                return None, None
            path = os.path.join(data_dir, RUNTIME_SETTINGS_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                return runtime_from_document(json.load(f))
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as exc:
            self.log.error("cannot read the run-time settings from %s: %s", path, exc)
            return None, None

    def cube_role_limits(self) -> dict:
        limits, _ = self.cube_runtime_settings()
        return self.role_limits if limits is None else limits

    def cube_projects(self) -> tuple[dict[str, ProjectSettings], dict[str, str]]:
        """The user's projects (their JupyterHub groups; ``public`` always) and
        the user's member role in each. A project without a quota gets the
        platform's default quota, when an admin set one."""
        _, default_quota = self.cube_runtime_settings()
        projects: dict[str, ProjectSettings] = {}
        roles: dict[str, str] = {}
        name = self.user.name
        for group in self.user.groups:
            properties = group.properties or {}
            try:
                projects[group.name] = settings_from_properties(properties)
            except FieldError as exc:
                # Validated on write; a bad stored value is an admin's problem to
                # fix, so the project is shown as unusable rather than crashing.
                self.log.error("project %s has invalid settings: %s", group.name, exc)
                continue
            role = (properties.get("member_roles") or {}).get(name)
            if role:
                roles[group.name] = role
        if PUBLIC not in projects:
            projects[PUBLIC] = settings_from_properties({})
        if default_quota is not None:
            projects = {name: replace(settings, quota=effective_quota(settings.quota, default_quota)) for name, settings in projects.items()}
        return projects, roles

    def cube_roles(self) -> list[str]:
        names = [role.name for role in getattr(self.user, "roles", [])]
        if self.user.admin and "admin" not in names:
            names.append("admin")
        if "user" not in names:
            names.append("user")
        return names

    def cube_task_usage(self) -> dict[str, Usage]:
        """Per project, what its running pipeline tasks and services' replicas
        hold, as the control plane last published it. Nothing when it has published nothing yet (no run
        since it started); an unreadable file is logged and counts nothing, as a
        spawn must not fail on the control plane's bookkeeping."""
        path = self.task_usage_file
        if not path:
            data_dir = os.environ.get("CUBELAB_DATA_DIR")
            if not data_dir:
                return {}
            path = os.path.join(data_dir, TASK_USAGE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                return usage_from_document(json.load(f))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.log.error("cannot read the running tasks' usage from %s: %s", path, exc)
            return {}

    def cube_usage(self) -> dict[str, Usage]:
        """Per project, what the *other* running or starting servers use, plus
        what its running pipeline tasks hold."""
        from jupyterhub import orm

        usage: dict[str, Usage] = {}
        db = self.user.db
        mine = self.orm_spawner.id if self.orm_spawner is not None else None
        query = db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None))
        for spawner in query:
            if spawner.id == mine:
                continue
            options = spawner.user_options or {}
            project = options.get("project")
            if not project:
                continue
            usage[project] = usage.get(project, Usage()) + usage_of(options)
        for project, tasks in self.cube_task_usage().items():
            usage[project] = usage.get(project, Usage()) + tasks
        return usage

    def cube_defaults(self) -> Defaults:
        return Defaults(
            project=self.default_project,
            kind=self.default_kind,
            cpu=self.default_cpu,
            memory=self.default_memory,
            gpu=self.default_gpu,
        )

    def cube_facts(self) -> Facts:
        projects, _ = self.cube_projects()
        return Facts(
            projects=projects,
            kinds=self.cube_kinds(),
            limits=limits_for_roles(self.cube_role_limits(), self.cube_roles()),
            usage=self.cube_usage(),
            gpus_available=self.cube_gpus_available(),
            gpu_vendors=self.cube_gpu_vendors(),
            clusters=self.cube_clusters(),
            defaults=self.cube_defaults(),
            built_images=dict(self._cube_built),
            image_registries=frozenset(self.image_registries) | self._cube_learned_registries,
            built_images_note=self._cube_built_note,
        )

    # ------------------------------------------------------------ the control plane

    _cube_built: dict[str, tuple[BuiltImage, ...]] = {}
    _cube_built_note: str | None = None
    _cube_learned_registries: frozenset[str] = frozenset()
    _cube_token: tuple[str, float] | None = None

    def cube_takes_images(self) -> bool:
        return any(k.takes_image and k.available for k in self.cube_kinds().values())

    def cube_controlplane(self) -> ControlPlaneClient:
        return ControlPlaneClient(self.controlplane_api_url, self.controlplane_timeout)

    def cube_controlplane_token(self) -> str:
        """A token of this user's for the control plane only, short-lived and reused until near its end."""
        now = time.monotonic()
        if self._cube_token is None or self._cube_token[1] < now:
            token = self.user.new_api_token(note="cubelab spawner: the control plane, as this user", expires_in=TOKEN_SECONDS,
                                            scopes=[f"access:services!service={CONTROLPLANE_SERVICE}"])
            self._cube_token = (token, now + TOKEN_SECONDS - 60)
        return self._cube_token[0]

    async def cube_load_built_images(self, projects) -> None:
        """The images built in ``projects``, asked of the control plane at
        once, each answer within the timeout; a project whose answer fails keeps
        none, and the note says why (the form shows it)."""
        if not self.cube_takes_images() or not self.controlplane_api_url:
            return
        client = self.cube_controlplane()
        names = sorted(projects)
        try:
            token = self.cube_controlplane_token()
        except Exception as exc:  # noqa: BLE001 - the form and the start go on without built images
            self.log.warning("%s: no token for the control plane: %s", self._log_name, exc)
            self._cube_built, self._cube_built_note = {}, ("Images built in your projects are not listed: no token for the control plane "
                                                        "could be made (the hub's log says why).")
            return
        answers = await asyncio.gather(*(client.images(name, token) for name in names), return_exceptions=True)
        built: dict[str, tuple[BuiltImage, ...]] = {}
        silent, refused = [], []
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, ControlPlaneError) and answer.status == 404:
                continue  # a project the control plane does not know (yet): nothing built there
            if isinstance(answer, BaseException):
                self.log.warning("%s: images of project %s: %s", self._log_name, name, answer)
                (silent if isinstance(answer, ControlPlaneUnavailable) or not isinstance(answer, ControlPlaneError) else refused).append(name)
                continue
            built[name] = tuple(answer)
        hosts = {image_host(i.reference) for images in built.values() for i in images}
        type(self)._cube_learned_registries = self._cube_learned_registries | frozenset(h for h in hosts if h)
        self._cube_built = built
        notes = []
        if silent:
            notes.append(f"Images built in {', '.join(silent)} are not listed: the control plane did not answer.")
        if refused:
            notes.append(f"Images built in {', '.join(refused)} are not listed: the control plane refused (the hub's log says why).")
        self._cube_built_note = " ".join(notes + ["Choose a listed image, or try again in a moment."]) if notes else None

    # ------------------------------------------------------------ form

    def cube_last_choices(self) -> dict[str, Any]:
        """This server's last options, else the user's most recently used
        server's, else nothing (defaults)."""
        if self.user_options:
            return dict(self.user_options)
        latest = None
        for spawner in getattr(self.user.orm_user, "_orm_spawners", []) or []:
            if spawner.user_options and (latest is None or (spawner.last_activity or 0) > (latest.last_activity or 0)):
                latest = spawner
        return dict(latest.user_options) if latest is not None else {}

    async def cube_options_form(self, spawner=None) -> str:
        projects, roles = self.cube_projects()
        await self.cube_load_built_images(projects)
        facts = self.cube_facts()
        current = _last_submitted.pop(self.user.name, None) or self.cube_last_choices()
        errors = None
        if current and current.get("_errors"):
            errors = [FieldError(**e) for e in current.pop("_errors")]
        return render_form(facts, current, roles, errors)

    def cube_options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, str]:
        options = options_from_formdata(formdata)
        try:
            choice = parse_choice(options, self.cube_facts())
        except FieldErrors as exc:
            remembered = dict(options)
            remembered["_errors"] = [{"field": e.field, "message": e.message, "accepted": e.accepted} for e in exc.errors]
            _last_submitted[self.user.name] = remembered
            raise invalid_options(exc) from None
        _last_submitted.pop(self.user.name, None)
        return choice.to_options()

    # ------------------------------------------------------------ start

    @default("apply_user_options")
    def _cube_apply_user_options_default(self):
        # JupyterHub 5.3+ calls this before start: validate there, so a bad
        # request fails fast with the message (and no "unhandled options" warning).
        if not getattr(self, "cube_enabled", True):
            return None

        async def apply(spawner, user_options):
            # the chosen project's built images, fresh: an API start never drew the form
            project = (user_options or {}).get("project") if isinstance(user_options, dict) else None
            projects, _ = spawner.cube_projects()
            if isinstance(project, str) and project in projects:
                await spawner.cube_load_built_images([project])
            return spawner.cube_choice()

        return apply

    def cube_choice(self) -> Choice:
        """Validate ``user_options`` again at start: the REST API can start a
        server without the form, and facts may have changed since."""
        try:
            choice = parse_choice(self.user_options or {}, self.cube_facts())
        except FieldErrors as exc:
            raise invalid_options(exc) from None
        # Store the canonical form, so the hub persists it (the next form and
        # the quota count read it back) and shows it.
        self.user_options = choice.to_options()
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = choice.to_options()
        return choice

    _cube_revoking = False

    async def cube_check_membership(self, status):
        """Poll hook: stop a running server whose user left its project, then
        report it stopped so the hub cleans up. (Reporting alone is not enough:
        a spawner's stop() trusts poll() and would leave the process running.)"""
        if status is not None or self._cube_revoking or self.stop_on_membership_revoked != "stop":
            return status
        project = self.cube_membership_revoked()
        if not project:
            return status
        self.log.warning("%s: %s is no longer a member of project %s; stopping the server", self._log_name, self.user.name, project)
        self._cube_revoking = True
        try:
            await self.stop()
        finally:
            self._cube_revoking = False
        return 1

    def cube_membership_revoked(self) -> str | None:
        """The project this server runs for if the user is no longer in it."""
        project = (self.user_options or {}).get("project")
        if not project or project == PUBLIC:
            return None
        if any(group.name == project for group in self.user.groups):
            return None
        return project


def invalid_options(exc: FieldErrors) -> web.HTTPError:
    """A 400 whose message JupyterHub shows as is (above the form, on the
    spawn-pending page, in the REST answer)."""
    message = " ".join(str(e) if str(e).endswith(".") else str(e) + "." for e in exc.errors)
    error = web.HTTPError(400, message.replace("%", "%%"), reason="Invalid server options")
    error.jupyterhub_message = message
    error.field_errors = exc.errors
    return error
