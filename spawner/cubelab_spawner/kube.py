"""``CubeKubeSpawner``: KubeSpawner with CubeLab's project profiles.

Configure with ``c.JupyterHub.spawner_class = "cubelab_spawner.kube.CubeKubeSpawner"``.
The user's choice plus the project's settings become KubeSpawner overrides
(:mod:`cubelab_spawner.objects`); everything else is KubeSpawner's. Before the
pod is created the control plane writes the project's registry pull Secrets
into its namespace (``PUT /projects/{project}/pull-secrets``, as the user) and
the pod lists them in ``imagePullSecrets`` after the admin's own. An admin who
sets ``profile_list`` gets plain KubeSpawner profiles instead of CubeLab's form.
"""

from __future__ import annotations

import copy

import kubernetes_asyncio.client
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from tornado import web
from traitlets import Dict, Integer, Tuple, Unicode, default, validate

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import DEFAULT_GPU_RESOURCES, parse_volume_mounts
from cubelab_hub.kube.clusters import Clusters, connect
from cubelab_hub.kube.objects import DEFAULT_ID_RANGE, check_id_range, check_security_policy

from .common import CubeSpawnerMixin, invalid_options
from .objects import DEFAULT_WORKSPACE, KubeSettings, check_volume_names, kube_overrides
from .profiles import KindSpec, kinds_from_config

# Every trait kube_overrides may set. The spawner object outlives a server (the
# hub reuses it for the next start), so each start begins from the admin's
# values again: no selector, GPU limit or volume of an earlier project lingers.
OVERRIDDEN_TRAITS = (
    "image", "cpu_guarantee", "cpu_limit", "mem_guarantee", "mem_limit", "extra_resource_limits",
    "environment", "node_selector", "node_affinity_required", "volumes", "volume_mounts",
    "default_url", "extra_labels", "namespace", "working_dir", "pod_security_context", "container_security_context",
    "image_pull_secrets",
)


class CubeKubeSpawner(CubeSpawnerMixin, KubeSpawner):
    kinds = Dict(
        {"jupyterlab": {}, "vscode": {}},
        config=True,
        help="""Kinds of server offered and their images: kind -> {"images": [...],
        "free_image_pattern": "regex", "display_name": ..., "default_url": ...}.
        Kinds: jupyterlab (/lab), vscode (/vscode/, needs code-server and
        cubelab in the image), rstudio (/rstudio/, needs jupyter-rsession-proxy).
        A kind without images uses KubeSpawner's `image`. The first image is the default.""",
    )
    gpu_resource_map = Dict(
        dict(DEFAULT_GPU_RESOURCES),
        config=True,
        help="GPU vendor -> extended resource name, e.g. {'nvidia': 'nvidia.com/gpu'}; '1(vendor,T)' picks from it, '1' uses 'nvidia'.",
    )
    default_volume_mounts = Unicode(
        DEFAULT_WORKSPACE,
        config=True,
        help="Mounts every server gets, in the mount syntax; a project's mount on the same path wins. "
        "The default gives each user /mnt/<username> of the claim kubeflow-user-workspace.",
    )
    security_contexts = Dict(
        {},
        config=True,
        help="""Security of each kind's pods: kind -> policy. 'restricted' (the default for every
        kind not listed): the server runs as the user's own uid and gid (hashed from the user name
        into user_id_range), runAsNonRoot, no privilege escalation, all capabilities dropped,
        seccomp RuntimeDefault: the Kubernetes "restricted" Pod Security Standard. 'none': no
        security context (the image's own user, e.g. an image that must start as root).
        {'pod': {...}, 'container': {...}}: these securityContexts (camelCase) instead.
        Merged over KubeSpawner's own pod_security_context / container_security_context.""",
    )
    user_id_range = Tuple(
        Integer(),
        Integer(),
        default_value=DEFAULT_ID_RANGE,
        config=True,
        help="(first id, how many ids): each user's pods run as a uid (= gid) hashed from the user name "
        "into this range. The Kubernetes engine's task pods use the same default, so a user's notebooks "
        "and tasks own the files they write alike; change both together.",
    )

    @validate("security_contexts")
    def _check_security_contexts(self, proposal):
        for kind, policy in proposal.value.items():
            try:
                check_security_policy(policy, f"security_contexts.{kind}")
            except FieldError as exc:
                raise ValueError(str(exc)) from None
        return proposal.value

    @validate("user_id_range")
    def _check_user_id_range(self, proposal):
        try:
            return check_id_range(proposal.value, "user_id_range")
        except FieldError as exc:
            raise ValueError(str(exc)) from None

    # cluster name -> ApiClient, shared by every spawner of this hub
    _cluster_clients: dict = {}
    _cube_cluster: str | None = None
    _cube_cluster_setting: Clusters | None = None

    @property
    def cube_cluster_setting(self) -> Clusters:
        """The platform's ``Clusters`` (``c.Clusters``, shared with the control plane)."""
        if self._cube_cluster_setting is None:
            self._cube_cluster_setting = Clusters(parent=self)
        return self._cube_cluster_setting

    @property
    def cluster_name(self) -> str:
        return self.cube_cluster_setting.default

    @validate("default_volume_mounts")
    def _check_default_mounts(self, proposal):
        parse_volume_mounts(proposal.value, "default_volume_mounts")  # fail at start-up
        return proposal.value

    @validate("kinds")
    def _check_kinds(self, proposal):
        kinds_from_config(proposal.value)
        return proposal.value

    # ------------------------------------------------------------ plain KubeSpawner fallback

    @property
    def cube_enabled(self) -> bool:
        # An admin's profile_list means plain KubeSpawner profiles (kept working).
        return not self.profile_list

    @default("options_form")
    def _options_form_default(self):
        if not self.cube_enabled:
            return super()._options_form_default()
        return self.cube_options_form

    @default("options_from_form")
    def _options_from_form_default(self):
        if not self.cube_enabled:
            return super()._options_from_form_default()
        return self.cube_options_from_form

    # ------------------------------------------------------------ facts

    def cube_kinds(self) -> dict[str, KindSpec]:
        return kinds_from_config(self.kinds)

    def cube_gpu_vendors(self):
        return frozenset(self.gpu_resource_map)

    def cube_clusters(self):
        return frozenset(self.cube_cluster_setting.names())

    # ------------------------------------------------------------ clusters
    # KubeSpawner talks to one cluster through self.api and class-wide
    # reflectors keyed by (kind, namespace). Servers of a project on another
    # cluster get that cluster's client, and reflectors keyed by cluster too.

    @property
    def cube_cluster(self) -> str:
        return self._cube_cluster or self.cluster_name

    async def cube_client(self, cluster: str):
        """The API client of ``cluster``; None for the hub's own cluster reached
        the ambient way (KubeSpawner's shared client)."""
        setting = self.cube_cluster_setting
        if setting.is_implicit_default(cluster):
            return None
        clients = CubeKubeSpawner._cluster_clients
        if cluster not in clients:
            access = setting.access(cluster)
            if access is None:
                raise web.HTTPError(400, f"cluster '{cluster}' is not configured on this hub (Clusters.clusters)")
            client = await connect(access)
            if clients.setdefault(cluster, client) is not client:  # another start got there first
                await client.close()
        return clients[cluster]

    async def cube_use_cluster(self, cluster: str) -> None:
        self._cube_cluster = cluster
        client = await self.cube_client(cluster)
        self.api = shared_client("CoreV1Api") if client is None else kubernetes_asyncio.client.CoreV1Api(client)

    def _get_reflector_key(self, kind):
        key = super()._get_reflector_key(kind)
        if self.cube_cluster_setting.is_implicit_default(self.cube_cluster):
            return key  # the hub's own cluster: KubeSpawner's keys, shared with plain use
        return (self.cube_cluster, *key)

    async def _start_reflector(self, kind, reflector_class, replace=False, **kwargs):
        client = await self.cube_client(self.cube_cluster)
        if client is not None:
            reflector_class = bind_reflector(reflector_class, client)
        return await super()._start_reflector(kind, reflector_class, replace=replace, **kwargs)

    def get_state(self):
        state = super().get_state()
        if self._cube_cluster and self._cube_cluster != self.cluster_name:
            state["cluster"] = self._cube_cluster
        return state

    def load_state(self, state):
        super().load_state(state)
        self._cube_cluster = state.get("cluster")

    async def stop(self, now=False):
        await self.cube_use_cluster(self.cube_cluster)  # after a hub restart self.api is the default
        return await super().stop(now=now)

    def cube_settings(self) -> KubeSettings:
        return KubeSettings(
            default_mounts=tuple(parse_volume_mounts(self.default_volume_mounts, "default_volume_mounts")),
            gpu_resource_map=dict(self.gpu_resource_map),
            security=dict(self.security_contexts),
            user_id_range=tuple(self.user_id_range),
        )

    # ------------------------------------------------------------ apply

    async def load_user_options(self):
        if not self.cube_enabled:
            return await super().load_user_options()
        base = getattr(self, "_cube_base", None)
        if base is None:
            self._cube_base = {name: copy.deepcopy(getattr(self, name)) for name in OVERRIDDEN_TRAITS}
        else:
            for name, value in base.items():
                setattr(self, name, copy.deepcopy(value))
        choice = self.cube_choice()
        projects, _ = self.cube_projects()
        project = projects[choice.project]
        kind = self.cube_kinds()[choice.kind]
        try:
            overrides = kube_overrides(choice, kind, project, self.user.name, self.cube_settings())
            check_volume_names(list(self.volumes), overrides["volumes"])
        except FieldError as exc:
            raise invalid_options(FieldErrors([exc.prefixed(f"project {choice.project}")])) from None
        # KubeSpawner keeps one pod reflector per namespace (or one for all with
        # enable_user_namespaces), so a project namespace needs no more than RBAC there.
        await self.cube_use_cluster(project.cluster or self.cluster_name)
        # Lists add to the admin's; KubeSpawner merges dicts and sets the rest.
        admin_volume_names = {v.get("name") for v in self.volumes}
        overrides["volumes"] = list(self.volumes) + [v for v in overrides["volumes"] if v["name"] not in admin_volume_names]
        overrides["volume_mounts"] = list(self.volume_mounts) + overrides["volume_mounts"]
        for name in ("pod_security_context", "container_security_context"):
            if name in overrides:  # ours over the admin's KubeSpawner setting
                overrides[name] = {**getattr(self, name), **overrides[name]}
        names = await self.cube_pull_secrets(choice.project, overrides.get("namespace") or self.namespace)
        if names:
            admin = [self.image_pull_secrets] if isinstance(self.image_pull_secrets, str) else list(self.image_pull_secrets or [])
            have = {entry if isinstance(entry, str) else (entry or {}).get("name") for entry in admin}
            overrides["image_pull_secrets"] = admin + [name for name in names if name not in have]
        if "node_affinity_required" in overrides and self.node_affinity_required:
            overrides["node_affinity_required"] = and_terms(self.node_affinity_required, overrides["node_affinity_required"])
        self._apply_overrides(overrides)

    async def cube_pull_secrets(self, project: str, namespace: str) -> list[str]:
        """The project's registry pull Secrets, written by the control plane
        into ``namespace`` before the pod exists; their names. Without an
        answer the server starts without them (logged): an image anyone may
        pull still starts, a private one fails to pull, as it would anyway."""
        if not self.controlplane_api_url:
            return []
        try:
            answer = await self.cube_controlplane().pull_secrets(project, self.cube_controlplane_token())
        except Exception as exc:  # noqa: BLE001 - the control plane's message holds no secret
            self.log.warning("%s: the registries' pull Secrets of project %s were not written: %s", self._log_name, project, exc)
            return []
        if (answer.get("cluster"), answer.get("namespace")) != (self.cube_cluster, namespace):
            self.log.warning("%s: the control plane wrote project %s's pull Secrets into %s/%s, but the server runs in %s/%s; "
                             "set ControlPlane.kubernetes_server_namespace to KubeSpawner.namespace", self._log_name, project,
                             answer.get("cluster"), answer.get("namespace"), self.cube_cluster, namespace)
            return []
        return [name for name in answer.get("pull_secrets") or [] if isinstance(name, str)]

    async def poll(self):
        if self.cube_enabled:
            await self.cube_use_cluster(self.cube_cluster)
        status = await super().poll()
        if not self.cube_enabled:
            return status
        return await self.cube_check_membership(status)


def and_terms(admin_terms, ours: list[dict]) -> list[dict]:
    """Node selector terms are ORed; to require the admin's rule *and* ours,
    add our expressions to each admin term: (A1 or A2) and B = (A1 and B) or (A2 and B)."""
    if isinstance(admin_terms, dict):
        admin_terms = [admin_terms[k] for k in sorted(admin_terms)]
    extra = [expr for term in ours for expr in term.get("matchExpressions", [])]
    combined = []
    for term in admin_terms:
        term = copy.deepcopy(term)
        term["matchExpressions"] = list(term.get("matchExpressions", [])) + copy.deepcopy(extra)
        combined.append(term)
    return combined


def bind_reflector(reflector_class, api_client):
    """A reflector class that lists and watches through ``api_client`` (another
    cluster) instead of KubeSpawner's shared client."""

    class ClusterReflector(reflector_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.api = getattr(kubernetes_asyncio.client, self.api_group_name)(api_client)

    ClusterReflector.__name__ = f"Cluster{reflector_class.__name__}"
    return ClusterReflector
