"""CubeLab's Kubernetes layer, shared by the spawner and the engines.

- :mod:`.objects`: pure builders of pod-spec pieces (volumes, resources,
  placement, security context), golden-tested
- :mod:`.clusters`: the one ``clusters`` setting and the function that connects
- :mod:`.client`: generic pod, log and metrics calls
- :mod:`.services`: pure builders of a service's Deployment, Services, HPA and
  Istio routing, golden-tested and schema-validated
- :mod:`.service_client`: server-side apply, watch and delete of those objects
- :mod:`.service_status`: a service's state from its Deployment and pods (pure)

Engine glue does not live here: Argo stays in its engine, the
KubeSpawner glue in the spawner.
"""
