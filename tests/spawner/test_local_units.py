"""Pure parts of the local spawner, VS Code entry and TensorBoard paths."""

import os
import stat
from pathlib import Path

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.formats import parse_volume_mounts
from cubelab_spawner.local import LocalGpu, apply_links, local_links, parse_nvidia_smi, pick_gpus

NVIDIA_SMI = """0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA H100 80GB HBM3
1, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, NVIDIA A100-SXM4-40GB
"""


def test_parse_nvidia_smi():
    gpus = parse_nvidia_smi(NVIDIA_SMI)
    assert gpus == [
        LocalGpu("0", "GPU-11111111-2222-3333-4444-555555555555", "NVIDIA H100 80GB HBM3"),
        LocalGpu("1", "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "NVIDIA A100-SXM4-40GB"),
    ]
    assert parse_nvidia_smi("") == []
    with pytest.raises(ValueError):
        parse_nvidia_smi("garbage")


def test_pick_gpus_by_type_and_availability():
    gpus = parse_nvidia_smi(NVIDIA_SMI)
    assert pick_gpus(gpus, 0, None, set()) == []
    assert [g.index for g in pick_gpus(gpus, 1, "a100", set())] == ["1"]
    assert [g.index for g in pick_gpus(gpus, 1, None, {gpus[0].uuid})] == ["1"]
    with pytest.raises(FieldError) as err:
        pick_gpus(gpus, 2, None, {gpus[0].uuid})
    assert err.value.field == "gpu" and "1 of this machine's 2 are free" in err.value.message
    with pytest.raises(FieldError) as err:
        pick_gpus(gpus, 1, "V100", set())
    assert "no 'V100' card" in err.value.message and "NVIDIA H100 80GB HBM3" in err.value.accepted


def test_local_links_for_each_kind():
    mounts = parse_volume_mounts("kubeflow-user-workspace(pvc):/mnt,team(pvc):/team,models(pvc-share):/data/models,/srv/coco(hostpath):/coco,4G(memory):/dev/shm")
    assert local_links(mounts, "alice", "/d/volumes") == [
        ("team", "/d/volumes/team/alice"),
        ("data/models", "/d/volumes/models"),
        ("coco", "/srv/coco"),
    ]
    with pytest.raises(FieldError) as err:
        local_links(parse_volume_mounts("10.0.0.1/x(nfs):/nfs,cfg(configmap):/cfg"), "alice", "/d")
    assert err.value.field == "volume_mount" and "nfs" in err.value.message and "configmap" in err.value.message


def test_apply_links_replaces_stale_links_and_protects_user_files(tmp_path):
    volumes = tmp_path / "volumes"
    ws = tmp_path / "workspaces" / "alice"
    ws.mkdir(parents=True)
    target = tmp_path / "host"
    target.mkdir()
    apply_links(ws, [("coco", str(target)), ("team", str(volumes / "team" / "alice"))], str(volumes))
    assert os.readlink(ws / "coco") == str(target) and (volumes / "team" / "alice").is_dir()
    # another project: old links go, the user's own files stay
    (ws / "notes.txt").write_text("mine")
    apply_links(ws, [("other", str(target))], str(volumes))
    assert not (ws / "coco").exists() and not (ws / "team").exists() and (ws / "other").is_symlink()
    assert (ws / "notes.txt").read_text() == "mine"
    (ws / "data").mkdir()
    with pytest.raises(FieldError) as err:
        apply_links(ws, [("data", str(target))], str(volumes))
    assert "is not a mount link" in err.value.message


def test_vscode_spec_with_and_without_code_server(tmp_path, monkeypatch):
    from cubelab_hub import codeserver
    from cubelab_server import vscode

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("CUBELAB_CODE_SERVER", raising=False)
    monkeypatch.setattr(codeserver, "INSTALL_LINKS", ("~/.local/bin/code-server",))
    missing = vscode.setup_vscode()
    assert missing["launcher_entry"]["enabled"] is False and "cubelab_server.vscode" in missing["command"]
    # even the install help is served on a private socket, not a port
    assert "{port}" not in missing["command"] and missing["unix_socket"].endswith("/vscode-help.sock")

    exe = tmp_path / ".local" / "bin" / "code-server"  # where the install script links it
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("JUPYTERHUB_ROOT_DIR", "/work/ws")
    spec = vscode.setup_vscode()
    sock = Path(spec["unix_socket"])
    assert sock.name == "vscode.sock" and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert sock.parent.stat().st_uid == os.getuid()
    assert spec["launcher_entry"]["enabled"] is True
    data = tmp_path / ".local" / "share" / "code-server"
    assert not data.exists()
    argv = spec["command"](unix_socket=str(sock))  # what jupyter-server-proxy calls at launch
    assert argv == [
        str(exe), "--auth", "none", "--socket", "{unix_socket}", "--socket-mode", "600",
        "--config", str(data / "config.yaml"), "--user-data-dir", str(data), "--extensions-dir", str(data / "extensions"),
        "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
        "/work/ws",
    ]
    # created before the first start; its config keeps code-server from writing a password file
    assert (data / "extensions").is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o700
    assert "auth: none" in (data / "config.yaml").read_text() and stat.S_IMODE((data / "config.yaml").stat().st_mode) == 0o600

    # an explicit CUBELAB_CODE_SERVER is the only one looked at
    monkeypatch.setenv("CUBELAB_CODE_SERVER", str(tmp_path / "nowhere"))
    assert vscode.find_code_server() is None
    monkeypatch.setenv("CUBELAB_CODE_SERVER", str(exe))
    assert vscode.find_code_server() == str(exe)


def test_resolve_logdir(tmp_path):
    from cubelab_server.tensorboard import BoardError, resolve_logdir

    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "escape").symlink_to("/etc")
    assert resolve_logdir(str(tmp_path), "runs/a/") == ("runs/a", (tmp_path / "runs" / "a").resolve())
    assert resolve_logdir(str(tmp_path), str(tmp_path / "runs"))[0] == "runs"
    assert resolve_logdir(str(tmp_path), ".")[0] == "."
    for bad, status in (("../", 403), ("/etc", 403), ("escape", 403), ("runs/none", 400), ("", 400), (None, 400), (3, 400)):
        with pytest.raises(BoardError) as err:
            resolve_logdir(str(tmp_path), bad)
        assert err.value.status == status and err.value.field == "logdir", bad


def test_resolve_logdir_allows_project_mount_links_only(tmp_path):
    from cubelab_server.tensorboard import BoardError, resolve_logdir

    root, data = tmp_path / "ws", tmp_path / "project-data"
    (data / "runs").mkdir(parents=True)
    root.mkdir()
    apply_links(root, [("shared", str(data))], str(tmp_path / "volumes"))
    (tmp_path / "elsewhere" / "runs").mkdir(parents=True)
    (root / "mine").symlink_to(tmp_path / "elsewhere")  # made by the user, not a project mount
    assert resolve_logdir(str(root), "shared/runs/") == ("shared/runs", (data / "runs").resolve())
    with pytest.raises(BoardError):
        resolve_logdir(str(root), "mine/runs")


def test_apply_links_ignores_traversal_in_its_record(tmp_path):
    ws, other = tmp_path / "ws", tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    (other / "link").symlink_to("/tmp")
    (ws / ".cubelab-links").write_text("../other/link\n/abs\n")
    apply_links(ws, [], str(tmp_path / "volumes"))
    assert (other / "link").is_symlink()


def test_local_spawner_gpu_holdings_survive_state_and_are_released(tmp_path):
    from hubobjects import HubDB
    from traitlets.config import Config

    from cubelab_spawner.local import CubeLocalSpawner

    c = Config()
    c.CubeLocalSpawner.data_dir = str(tmp_path)
    hub = HubDB(CubeLocalSpawner, c)
    alice = hub.spawner(hub.user("alice"), "")
    bob = hub.spawner(hub.user("bob"), "")
    gpus = parse_nvidia_smi(NVIDIA_SMI)
    # alice's server was running before a hub restart: her card stays hers
    alice.load_state({"pid": 12345, "gpu_uuids": [gpus[0].uuid]})
    taken = {u for u, owner in CubeLocalSpawner._gpu_owners.items() if owner != bob._owner_key}
    assert [g.index for g in pick_gpus(gpus, 1, None, taken)] == ["1"]
    assert alice.get_state()["gpu_uuids"] == [gpus[0].uuid]
    alice.clear_state()
    assert gpus[0].uuid not in CubeLocalSpawner._gpu_owners
    assert alice.workspace == tmp_path / "workspaces" / "alice"
