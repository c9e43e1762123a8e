"""The Kubernetes engine: pipeline runs as Argo Workflows.

- :mod:`.compile`: run -> Workflow dict (pure; golden-tested, schema-validated)
- :mod:`.status`: Workflow status -> run and task states (pure)
- :mod:`.client`: Argo workflows over :mod:`cubelab_hub.kube.client`
- :mod:`.engine`: :class:`KubernetesEngine`, the engine interface on top
- :mod:`.lint`: Argo's rules beyond its schema, and the pods a workflow makes (pure)
"""

from .compile import ClusterConfig, compile_workflow
from .engine import KubernetesEngine, engine_for_clusters

__all__ = ["ClusterConfig", "KubernetesEngine", "compile_workflow", "engine_for_clusters"]
