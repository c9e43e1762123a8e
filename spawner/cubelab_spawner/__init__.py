"""CubeLab's notebook spawners: project profiles on Kubernetes and on one machine.

Both offer the same spawn form (project, kind, image, CPU, memory, GPU in the
forms of docs/formats.md), validate it on the server (membership, per-role limits,
project quota, GPUs there are) and refuse, never reduce, an over-limit request.
Import the spawner modules by name; this package imports neither, so the local
one works without a cluster.

One machine (what ``cubelab up`` uses)::

    c.JupyterHub.spawner_class = "cubelab_spawner.local.CubeLocalSpawner"
    c.CubeLocalSpawner.data_dir = "/srv/cubelab-data"      # workspaces/<user>, volumes/<claim>
    c.CubeLocalSpawner.role_limits = {"user": {"cpu": "8", "memory": "32G", "gpu": 1}, "admin": {}}
    c.CubeLocalSpawner.memory_limit = "auto"                 # cgroup, else RLIMIT_DATA
    c.UnixAccounts.prefix = "cl-"                            # as root: user alice runs as cl-alice
    c.UnixAccounts.uid_min, c.UnixAccounts.uid_max = 30000, 39999

Kubernetes::

    c.JupyterHub.spawner_class = "cubelab_spawner.kube.CubeKubeSpawner"
    c.CubeKubeSpawner.kinds = {
        "jupyterlab": {"images": ["quay.io/jupyter/scipy-notebook:2025-06-02"],
                       "free_image_pattern": r"registry\\.example\\.com/.+:.+"},
        "vscode": {"images": ["registry.example.com/cubelab-vscode:1"]},
        "rstudio": {"images": ["registry.example.com/cubelab-rstudio:1"]},
    }
    c.CubeKubeSpawner.default_volume_mounts = "kubeflow-user-workspace(pvc):/mnt"
    c.CubeKubeSpawner.gpu_resource_map = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
    # the control plane (CUBELAB_API_URL by default): built images in the form, registry pull Secrets
    c.CubeKubeSpawner.controlplane_api_url = "http://cubelab-controlplane:10101/services/cubelab/api/v1"
    c.CubeKubeSpawner.image_registries = ["registry.example.com"]  # repositories there are <project>/<image>
    # other clusters, for servers and pipeline runs alike (cubelab_hub.kube.clusters)
    configure(c, ..., clusters={"gpu-farm": {"kubeconfig": "/etc/cubelab/gpu-farm.yaml", "context": "admin@gpu-farm"}})

A project's ``namespace`` needs only RBAC there (KubeSpawner keeps a pod
reflector per namespace); its ``cluster`` picks a client and reflectors of that
cluster.

Setting ``profile_list`` on CubeKubeSpawner switches back to plain KubeSpawner
profiles. Expiry and renewal live in the control plane
(``cubelab_hub.controlplane.services.servers``, policy in
``cubelab_hub.domain.expiry``).
"""
