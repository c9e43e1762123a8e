"""A project's 'engine' setting sends its runs to another engine than the default."""

from __future__ import annotations

import os

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.projects import apply_settings_patch, settings_from_properties, settings_view, validate_setting

ENGINES = ["local", "toy"]


def test_the_engine_setting_names_a_configured_engine():
    assert validate_setting("engine", "toy", is_admin=False, engines=ENGINES) == "toy"
    with pytest.raises(FieldError) as err:
        validate_setting("engine", "slurm", is_admin=False, engines=ENGINES)
    assert err.value.field == "engine" and "'slurm' is not a configured pipeline engine" in str(err.value)
    assert "one of local, toy" in str(err.value)
    with pytest.raises(FieldError, match="must be a non-empty string"):
        validate_setting("engine", 3, is_admin=False, engines=ENGINES)


def test_a_refused_engine_changes_nothing_and_null_unsets_it():
    props = {"engine": "toy", "org": "a"}
    with pytest.raises(FieldErrors):
        apply_settings_patch(props, {"org": "b", "engine": "slurm"}, is_admin=False, engines=ENGINES)
    assert props == {"engine": "toy", "org": "a"}
    assert "engine" not in apply_settings_patch(props, {"engine": None}, is_admin=False, engines=ENGINES)
    assert settings_from_properties(props).engine == "toy" and settings_from_properties({}).engine is None
    assert settings_view(props)["engine"] == "toy" and settings_view({})["engine"] is None


@pytest.mark.hub
def test_a_projects_runs_go_to_the_engine_it_chose(fresh_platform, tmp_path, monkeypatch):
    from pipelines.cp import World
    from support.platform import User

    from .toy import install_toy

    site = install_toy(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p))
    platform = fresh_platform(extra_args=["--controlplane", "pipeline_engine_choices=toy"])
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    world = World(platform, admin)
    project = f"/projects/{world.project}"

    refused = world.call("creator", "PATCH", project, {"settings": {"engine": "slurm"}})
    assert refused.status_code == 400 and refused.json()["field"] == "engine"
    assert "one of local, toy" in refused.json()["message"]

    def run_once(name: str) -> dict:
        made = world.call("creator", "POST", "/pipelines", {"name": name, "project": world.project,
                                                           "tasks": [{"name": "a", "template": "shell", "args": {"--command": "echo ran"}}]})
        assert made.status_code == 201, made.text
        started = world.call("creator", "POST", f"/pipelines/{made.json()['id']}/runs")
        assert started.status_code in (200, 201), started.text
        return world.wait_run("creator", started.json()["id"])

    first = run_once("before")
    assert first["engine"] == "local" and first["status"] == "succeeded"
    chose = world.call("creator", "PATCH", project, {"settings": {"engine": "toy"}})
    assert chose.status_code == 200 and chose.json()["settings"]["engine"] == "toy"
    second = run_once("after")
    assert second["engine"] == "toy" and second["status"] == "succeeded"
    assert (platform.data_dir / "toy-runs" / second["id"] / "tasks" / "a" / "log.txt").read_text() == "ran\n"
