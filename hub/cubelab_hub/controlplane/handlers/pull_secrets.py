"""A project's registry pull Secrets, written on request where its notebook
servers run on Kubernetes.

The spawner asks before it starts a server pod (``PUT``, as the user who
starts it, with a short-lived token of theirs): the control plane writes the
Secrets of every registry the project may use into the project's namespace
(its ``namespace`` setting, else ``ControlPlane.kubernetes_server_namespace``)
in its cluster, and answers their names, which the pod lists in
``imagePullSecrets``. The credentials never leave the control plane; the
answer holds names only. A caller who is not a member gets 404.
"""

from __future__ import annotations

from ...domain.errors import NotFound
from .base import APIHandler, op, route

TAGS = ["registries"]
PROJECT_PARAM = {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}}


class PullSecretsHandler(APIHandler):
    openapi = {
        "put": op("Write the project's registry pull Secrets into the namespace of its notebook servers on Kubernetes "
                  "(members; the spawner calls it before a server pod starts) and name them", tags=TAGS,
                  returns="PullSecrets", params=[PROJECT_PARAM], errors=(401, 404, 409)),
    }

    async def put(self, project):
        if not self.allowed("registry:pull", project):
            raise NotFound.of("project", project, "project")
        group = await self.hub.get_group(project)
        if group is None or not self.app.is_project(group):
            raise NotFound.of("project", project, "project")
        settings = await self.app.project_settings(project)
        cluster = settings.cluster or self.app.clusters.default
        namespace = settings.namespace or self.app.kubernetes_server_namespace
        names = await self.app.write_server_pull_secrets(cluster, project, namespace)
        self.send({"project": project, "cluster": cluster, "namespace": namespace, "pull_secrets": names})


SCHEMAS = {
    "PullSecrets": {"type": "object", "required": ["project", "cluster", "namespace", "pull_secrets"], "properties": {
        "project": {"type": "string"}, "cluster": {"type": "string"}, "namespace": {"type": "string"},
        "pull_secrets": {"type": "array", "items": {"type": "string"},
                         "description": "the kubernetes.io/dockerconfigjson Secrets the project's pods list in imagePullSecrets"}}},
}

ROUTES = [route("/projects/{project}/pull-secrets", PullSecretsHandler)]
