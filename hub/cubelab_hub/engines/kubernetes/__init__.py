"""The Kubernetes engine: pipeline runs as Argo Workflows.

- :mod:`.compile`: run -> Workflow dict (pure; golden-tested, schema-validated)
- :mod:`.status`: Workflow status -> run and task states (pure)
- :mod:`.client`: the thin kubernetes-asyncio layer (workflows, pods, logs)
- :mod:`.engine`: :class:`KubernetesEngine`, the engine interface on top
- :mod:`.schema`: checks against Argo's and Kubernetes' schemas (tests, tools)
"""

from .compile import ClusterConfig, compile_workflow
from .client import ClusterAccess
from .engine import KubernetesEngine, engine_for_clusters

__all__ = ["ClusterAccess", "ClusterConfig", "KubernetesEngine", "compile_workflow", "engine_for_clusters"]
