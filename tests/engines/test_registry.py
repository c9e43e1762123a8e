"""Engines are found through the entry-point group ``cubelab.engines``: real
importlib.metadata over packages written to disk, no mock."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from cubelab_hub.controlplane.app import ControlPlane
from cubelab_hub.engines import registry
from cubelab_hub.engines.base import Engine
from cubelab_hub.engines.kubernetes import KubernetesEngine
from cubelab_hub.engines.local import LocalEngine

from .toy import install_toy


def test_built_in_engines_are_entry_points():
    found = registry.available()
    assert found["local"].value == "cubelab_hub.engines.local:LocalEngine"
    assert found["kubernetes"].value == "cubelab_hub.engines.kubernetes:KubernetesEngine"
    assert registry.engine_class("local") is LocalEngine


def test_a_third_engine_is_one_package_and_one_entry_point(tmp_path, monkeypatch):
    assert "toy" not in registry.available()
    monkeypatch.syspath_prepend(str(install_toy(tmp_path / "site")))
    assert "toy" in registry.available()
    app = ControlPlane(config=Config({"ToyEngine": {"greeting": "ahoy"}}), data_dir=str(tmp_path / "data"))
    engine = registry.build("toy", config=app.config, parent=app)
    assert isinstance(engine, Engine) and engine.name == "toy"
    assert engine.greeting == "ahoy"  # its settings come from the control plane's config
    assert engine.runs_dir == tmp_path / "data" / "toy-runs" and engine.runs_dir.is_dir()


def test_unknown_engines_are_named_with_the_available_ones():
    with pytest.raises(registry.UnknownEngine) as err:
        registry.build("argo-cd")
    assert str(err.value).startswith("unknown pipeline engine 'argo-cd'; available: ")
    assert "kubernetes" in str(err.value) and "local" in str(err.value)


def test_an_entry_point_that_is_no_engine_is_refused(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install_toy(tmp_path / "site", entry="toy_engine:data_dir_of")))
    with pytest.raises(registry.UnknownEngine, match=r"'toy' \(toy_engine:data_dir_of\) is not a subclass of"):
        registry.engine_class("toy")


def test_the_control_plane_builds_its_engines_from_its_config(tmp_path):
    config = Config({"ControlPlane": {"pipeline_engine": "kubernetes"}, "Clusters": {"default": "east", "clusters": {"west": {}}},
                     "KubernetesEngine": {"service_account": "runner"}, "LocalEngine": {"kill_grace": 2.0}})
    app = ControlPlane(config=config, data_dir=str(tmp_path))
    app._configure_pipeline_engines()
    engines = app.pipeline_engines
    assert set(engines) == {"kubernetes", "local"} and app.pipeline_default_engine == "kubernetes"
    kube = engines["kubernetes"]
    assert isinstance(kube, KubernetesEngine)
    assert kube.cluster_config.service_account == "runner" and kube.default_cluster == "east"
    assert set(kube._access) == {"east", "west"}
    assert kube.logs_dir == tmp_path / "k8s-logs"
    local = engines["local"]
    assert local.runs_dir == tmp_path / "runs" and local.kill_grace == 2.0
    assert local.workspace_for("bob") == tmp_path / "workspaces" / "bob"
    assert app.engine_names == ["kubernetes"]  # local is kept for re-attaching only


def test_the_default_local_engine_and_an_unknown_choice(tmp_path):
    app = ControlPlane(data_dir=str(tmp_path))
    app._configure_pipeline_engines()
    assert list(app.pipeline_engines) == ["local"] and app.pipeline_default_engine == "local"
    wrong = ControlPlane(config=Config({"ControlPlane": {"pipeline_engine_choices": ["kubernetes", "slurm"]}}), data_dir=str(tmp_path))
    with pytest.raises(registry.UnknownEngine, match="unknown pipeline engine 'slurm'; available: "):
        wrong._configure_pipeline_engines()
