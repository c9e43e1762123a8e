"""``CubeKubeSpawner``: KubeSpawner with CubeLab's project profiles.

Configure with ``c.JupyterHub.spawner_class = "cubelab_spawner.kube.CubeKubeSpawner"``.
The user's choice plus the project's settings become KubeSpawner overrides
(:mod:`cubelab_spawner.objects`); everything else is KubeSpawner's. An admin who
sets ``profile_list`` gets plain KubeSpawner profiles instead of CubeLab's form.
"""

from __future__ import annotations

import copy

from kubespawner import KubeSpawner
from tornado import web
from traitlets import Dict, List, Unicode, default, validate

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import DEFAULT_GPU_RESOURCES, parse_volume_mounts

from .common import CubeSpawnerMixin, invalid_options
from .objects import DEFAULT_WORKSPACE, KubeSettings, check_volume_names, kube_overrides
from .profiles import KindSpec, kinds_from_config


# Every trait kube_overrides may set. The spawner object outlives a server (the
# hub reuses it for the next start), so each start begins from the admin's
# values again: no selector, GPU limit or volume of an earlier project lingers.
OVERRIDDEN_TRAITS = (
    "image", "cpu_guarantee", "cpu_limit", "mem_guarantee", "mem_limit", "extra_resource_limits",
    "environment", "node_selector", "node_affinity_required", "volumes", "volume_mounts",
    "default_url", "extra_labels", "namespace", "working_dir",
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
    cluster_names = List(
        Unicode(),
        ["default"],
        config=True,
        help="Names of the cluster this hub starts servers on, as projects name it in their 'cluster' setting. "
        "A project on another cluster is refused with a clear message (run a hub per cluster).",
    )

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
        return frozenset(self.cluster_names)

    def cube_settings(self) -> KubeSettings:
        return KubeSettings(
            default_mounts=tuple(parse_volume_mounts(self.default_volume_mounts, "default_volume_mounts")),
            gpu_resource_map=dict(self.gpu_resource_map),
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
        namespace = overrides.get("namespace")
        if namespace and namespace != self.namespace and not self.enable_user_namespaces:
            # The pod reflector watches one namespace unless user namespaces are on.
            raise web.HTTPError(
                400,
                f"project '{choice.project}' runs in namespace '{namespace}', but this hub starts servers only in "
                f"'{self.namespace}' (an admin can set c.KubeSpawner.enable_user_namespaces = True)",
            )
        # Lists add to the admin's; KubeSpawner merges dicts and sets the rest.
        admin_volume_names = {v.get("name") for v in self.volumes}
        overrides["volumes"] = list(self.volumes) + [v for v in overrides["volumes"] if v["name"] not in admin_volume_names]
        overrides["volume_mounts"] = list(self.volume_mounts) + overrides["volume_mounts"]
        if "node_affinity_required" in overrides and self.node_affinity_required:
            raise web.HTTPError(
                400,
                f"project '{choice.project}' spans several orgs (a node-affinity rule) and the admin configured "
                "node_affinity_required too; KubeSpawner ORs node selector terms, which would widen both",
            )
        self._apply_overrides(overrides)

    async def poll(self):
        status = await super().poll()
        if not self.cube_enabled:
            return status
        return await self.cube_check_membership(status)
