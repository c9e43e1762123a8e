"""CubeLab's Kubernetes layer, shared by the spawner and the engines.

- :mod:`.objects`: pure builders of pod-spec pieces (volumes, resources,
  placement, security context), golden-tested
- :mod:`.clusters`: the one ``clusters`` setting and the function that connects
- :mod:`.client`: generic pod, log and metrics calls
- :mod:`.services`: pure builders of a service's Deployment, Services, HPA and
  Istio routing, golden-tested and schema-validated

Engine glue does not live here: Argo stays in its engine, the
KubeSpawner glue in the spawner.
"""
