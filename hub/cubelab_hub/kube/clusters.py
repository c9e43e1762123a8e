"""The clusters CubeLab may run work on: one setting for the hub and the control plane.

``Clusters.default`` names the hub's own cluster (in-cluster service account, or
``$KUBECONFIG`` / ``~/.kube/config``); ``Clusters.clusters`` names the others, by
the name a project's ``cluster`` setting uses. Notebook servers
(``CubeKubeSpawner``) and pipeline runs (the Kubernetes engine) read the same
object, and both get their API clients from :func:`connect`.

It is set once, in the hub's configuration: ``configure(c, clusters=...)``
(:mod:`cubelab_hub.platform.hubconfig`) sets ``c.Clusters`` for the spawner and
hands the same values to the control plane on its command line
(``--Clusters.default=NAME --Clusters.clusters=NAME=JSON ...``, see :func:`command_line`).
The command line rather than a file in the data directory: the values are
kubeconfig paths and context names, never credentials, and the control plane
then needs no file that could go stale between two starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from traitlets import Dict, Unicode, validate
from traitlets.config import Configurable

from .client import make_api_client

__all__ = ["ACCEPTED_KEYS", "ClusterAccess", "Clusters", "cluster_access", "command_line", "connect"]

ACCEPTED_KEYS = ("kubeconfig", "context", "in_cluster", "host")
_FORM = "{'kubeconfig': '/path/to/kubeconfig', 'context': 'name'} ('context' optional; 'host' for an unauthenticated proxy, 'in_cluster': true for the pod's service account)"


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster; all empty = in-cluster when running in a pod,
    else the default kubeconfig."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    host: str | None = None


def cluster_access(name: str, value: object) -> ClusterAccess:
    """Check one entry of the ``clusters`` setting; a ValueError names the
    cluster, the problem and the accepted form."""
    where = f"Clusters.clusters['{name}']"
    if not isinstance(name, str) or not name:
        raise ValueError(f"Clusters.clusters: cluster names are non-empty strings, not {name!r}")
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected {_FORM}, not {value!r}")  # noqa: TRY004 - a setting's value, reported as traitlets reports them
    unknown = sorted(set(value) - set(ACCEPTED_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (accepted: {', '.join(ACCEPTED_KEYS)}); expected {_FORM}")
    for key in ("kubeconfig", "context", "host"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise ValueError(f"{where}: '{key}' must be a string")
    kubeconfig = value.get("kubeconfig")
    if kubeconfig and not os.path.exists(kubeconfig):
        raise ValueError(f"{where}: kubeconfig {kubeconfig} does not exist")
    if value.get("in_cluster") and (kubeconfig or value.get("host")):
        raise ValueError(f"{where}: 'in_cluster' excludes 'kubeconfig' and 'host'")
    return ClusterAccess(kubeconfig or None, value.get("context") or None, bool(value.get("in_cluster")), value.get("host") or None)


class Clusters(Configurable):
    """The clusters projects may be assigned to (their ``cluster`` setting)."""

    default = Unicode(
        "default",
        config=True,
        help="The name projects use for the hub's own cluster (the in-cluster service account or "
        "$KUBECONFIG). Projects without a 'cluster' setting run here.",
    )
    clusters = Dict(
        {},
        config=True,
        help="Other clusters, by the name a project's 'cluster' setting uses: "
        "{'gpu-farm': {'kubeconfig': '/etc/cubelab/gpu-farm.yaml', 'context': 'admin@gpu-farm'}} "
        "('context' optional). An entry named as 'default' says how to reach the hub's own cluster. "
        "The hub and the control plane need network access and RBAC there as in their own cluster.",
    )

    @validate("clusters")
    def _check_clusters(self, proposal):
        checked = {}
        for name, value in proposal.value.items():
            if isinstance(value, str):  # from a command line: --Clusters.clusters=NAME=JSON
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ValueError(f"Clusters.clusters['{name}']: expected {_FORM} as JSON, not {value!r}") from None
            cluster_access(name, value)
            checked[name] = value
        return checked

    def names(self) -> list[str]:
        """Every cluster name a project may use, the default first."""
        return list(dict.fromkeys([self.default, *self.clusters]))

    def access(self, name: str) -> ClusterAccess | None:
        """How to reach ``name``; None when no such cluster is configured."""
        if name in self.clusters:
            return cluster_access(name, self.clusters[name])
        if name == self.default:
            return ClusterAccess()
        return None

    def is_implicit_default(self, name: str) -> bool:
        """The default cluster with no entry of its own: reached the ambient way."""
        return name == self.default and name not in self.clusters


def command_line(clusters: Clusters) -> list[str]:
    """The options that give a process started by the hub the same setting."""
    # one NAME=JSON item per cluster: traitlets' way of giving a dict item by item
    return [f"--Clusters.default={clusters.default}"] + [
        f"--Clusters.clusters={name}={json.dumps(value or {}, sort_keys=True)}" for name, value in clusters.clusters.items()
    ]


async def connect(access: ClusterAccess):
    """An API client for one cluster (the caller closes it)."""
    return await make_api_client(host=access.host, kubeconfig=access.kubeconfig, context=access.context, in_cluster=access.in_cluster)
