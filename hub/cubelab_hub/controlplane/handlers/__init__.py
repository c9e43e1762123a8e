"""The REST resources, one module each: request handlers, ``ROUTES`` and
``SCHEMAS`` (the OpenAPI components they use), nothing else.

The control plane serves exactly the modules listed in :data:`default_resources`
(as JupyterHub lists its ``default_handlers``); a resource needs no set-up of
its own, so adding one cannot break another's start-up. The services they call
are built by :meth:`cubelab_hub.controlplane.app.ControlPlane.initialize`.
"""

from __future__ import annotations

from . import (
    admin_clusters,
    admin_overview,
    admin_settings,
    builds,
    experiments,
    images,
    me,
    openapi_doc,
    pipelines,
    projects,
    pull_secrets,
    registries,
    registry_token,
    runs,
    schedules,
    servers,
    services,
    templates,
    trial_channel,
    users,
)

# the order of the OpenAPI document's paths
default_resources = [me, openapi_doc, pipelines, projects, runs, schedules, servers, services, templates, trial_channel, users,
                     experiments, registries, pull_secrets, registry_token, builds, images,
                     admin_overview, admin_settings, admin_clusters]


def collect(resources=None) -> tuple[list[tuple], dict]:
    """The routes and the OpenAPI schemas of ``resources`` (default: all)."""
    routes: list[tuple] = []
    schemas: dict = {}
    for module in default_resources if resources is None else resources:
        routes.extend(module.ROUTES)
        schemas.update(getattr(module, "SCHEMAS", {}))
    return routes, schemas
