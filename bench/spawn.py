"""Bench: time to a ready server through CubeLab's spawn form (CubeLocalSpawner)
versus JupyterHub's plain SimpleLocalProcessSpawner, same machine, same run.

    .venv/bin/python bench/spawn.py [rounds]

Each round: POST the spawn form (or the plain spawn), wait until the hub says
ready and JupyterLab answers, stop the server. Prints medians and the ratio.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests" / "spawner")]

from hubprocess import HubProcess  # noqa: E402


def spawn_once(hub: HubProcess, user: str, form: dict | None) -> float:
    session = hub.login(user)
    start = time.monotonic()
    if form is None:
        r = session.get(f"{hub.url}/hub/spawn/{user}", allow_redirects=False, timeout=60)
    else:
        session.get(f"{hub.url}/hub/spawn/{user}", timeout=60)
        xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path == "/hub/")
        r = session.post(f"{hub.url}/hub/spawn/{user}", data={**form, "_xsrf": xsrf}, allow_redirects=False, timeout=60)
    assert r.status_code == 302, (r.status_code, r.text[-500:])
    hub.wait_ready(user)
    lab = session.get(f"{hub.url}/user/{user}/lab", timeout=120)
    assert lab.status_code == 200
    elapsed = time.monotonic() - start
    hub.api("DELETE", f"/users/{user}/server")
    while hub.api("GET", f"/users/{user}").json()["servers"].get(""):
        time.sleep(0.3)
    return elapsed


def make_hub(tmp: str, spawner: str | None) -> HubProcess:
    # the plain spawner runs as this (root) user too: it needs allow_root, which CubeLocalSpawner adds itself
    extra = (
        f'c.JupyterHub.spawner_class = "{spawner}"\nc.SimpleLocalProcessSpawner.home_dir_template = "{tmp}/home/{{username}}"\n'
        'c.Spawner.args = ["--ServerApp.jpserver_extensions=cubelab_server=True", "--ServerApp.allow_root=True"]\n'
        if spawner else ""
    )
    hub = HubProcess(Path(tmp), extra_config=extra).start()
    hub.api("POST", "/users/bench")
    return hub


FORM = {"project": "public", "kind": "jupyterlab", "cpu": "1", "memory": "2G", "gpu": "0"}

if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cube: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory() as t1, tempfile.TemporaryDirectory() as t2:
        hubs = [make_hub(t1, None), make_hub(t2, "jupyterhub.spawner.SimpleLocalProcessSpawner")]
        try:
            spawn_once(hubs[0], "bench", FORM)  # warm-up
            spawn_once(hubs[1], "bench", None)
            for _ in range(rounds):  # interleaved, so load from others hits both alike
                cube.append(spawn_once(hubs[0], "bench", FORM))
                plain.append(spawn_once(hubs[1], "bench", None))
        finally:
            for hub in hubs:
                hub.stop()
    mc, mp = statistics.median(cube), statistics.median(plain)
    print(f"CubeLocalSpawner via form: {', '.join(f'{t:.2f}' for t in cube)} s (median {mc:.2f})")
    print(f"SimpleLocalProcessSpawner: {', '.join(f'{t:.2f}' for t in plain)} s (median {mp:.2f})")
    print(f"ratio form/plain: {mc / mp:.2f}")
