"""The one ``clusters`` setting: validation, and the same values in the hub and the control plane."""

from __future__ import annotations

import sys

import pytest
from traitlets.config import Config

from cubelab_hub.controlplane.app import ControlPlane
from cubelab_hub.kube.clusters import ClusterAccess, Clusters, cluster_access
from cubelab_hub.platform.hubconfig import configure


def test_entries_are_checked_and_name_the_cluster(tmp_path):
    kubeconfig = tmp_path / "farm.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    assert cluster_access("farm", {"kubeconfig": str(kubeconfig), "context": "c"}) == ClusterAccess(str(kubeconfig), "c")
    assert cluster_access("proxy", {"host": "http://127.0.0.1:8001"}) == ClusterAccess(host="http://127.0.0.1:8001")
    with pytest.raises(ValueError, match=r"Clusters.clusters\['x'\]: unknown key\(s\) kubeconfg .*accepted: kubeconfig, context"):
        Clusters(clusters={"x": {"kubeconfg": "typo"}})
    with pytest.raises(ValueError, match=r"\['gone'\]: kubeconfig /nowhere/k.yaml does not exist"):
        Clusters(clusters={"gone": {"kubeconfig": "/nowhere/k.yaml"}})
    with pytest.raises(ValueError, match=r"\['odd'\]: expected \{'kubeconfig'"):
        Clusters(clusters={"odd": "/etc/k.yaml"})


def test_names_and_access_with_and_without_an_entry_for_the_default(tmp_path):
    kubeconfig = tmp_path / "farm.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    clusters = Clusters(clusters={"farm": {"kubeconfig": str(kubeconfig)}})
    assert clusters.names() == ["default", "farm"]
    assert clusters.access("default") == ClusterAccess() and clusters.is_implicit_default("default")
    assert clusters.access("moon") is None
    explicit = Clusters(default="home", clusters={"home": {"host": "http://127.0.0.1:9"}})
    assert explicit.names() == ["home"] and not explicit.is_implicit_default("home")


def test_configure_gives_the_spawner_and_the_control_plane_the_same_setting(tmp_path):
    kubeconfig = tmp_path / "farm.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    setting = {"gpu-farm": {"kubeconfig": str(kubeconfig), "context": "admin@farm"}}
    c = Config()
    configure(c, data_dir=str(tmp_path / "data"), clusters=setting, default_cluster="home")
    hub_side = Clusters(config=c)
    command = c.JupyterHub.services[0]["command"]
    assert command[:3] == [sys.executable, "-m", "cubelab_hub.controlplane"]
    app = ControlPlane()
    app.parse_command_line(command[3:])
    assert app.clusters.names() == hub_side.names() == ["home", "gpu-farm"]
    assert app.clusters.access("gpu-farm") == hub_side.access("gpu-farm") == ClusterAccess(str(kubeconfig), "admin@farm")


def test_configure_refuses_a_bad_cluster_before_anything_starts(tmp_path):
    with pytest.raises(ValueError, match=r"Clusters.clusters\['x'\]"):
        configure(Config(), data_dir=str(tmp_path / "data"), clusters={"x": {"kubeconfig": "/nowhere"}})


def test_without_clusters_the_control_plane_has_the_default_only(tmp_path):
    c = Config()
    configure(c, data_dir=str(tmp_path / "data"))
    app = ControlPlane()
    app.parse_command_line(c.JupyterHub.services[0]["command"][3:])
    assert app.cluster_names == ["default"]
