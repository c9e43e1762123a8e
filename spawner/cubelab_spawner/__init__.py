"""CubeLab's notebook spawners: project profiles on Kubernetes (``kube.CubeKubeSpawner``)
and on one machine (``local.CubeLocalSpawner``). Import the spawner modules by
name; this package imports neither, so the local one works without a cluster."""
