"""Bench: time to a ready server through CubeLab's spawn form (CubeLocalSpawner)
versus JupyterHub's plain SimpleLocalProcessSpawner, same machine, same run.

    .venv/bin/python bench/spawn.py [rounds] [--isolation]

Each round: POST the spawn form (or the plain spawn), wait until the hub says
ready and JupyterLab answers, stop the server. Prints medians and the ratio.

``--isolation`` (as root) adds a third hub, so that each round spawns, in turn:
CubeLocalSpawner with the server as the user's own Unix account (an account of
the benchmark's own prefix, ``clbench<pid>-``, created by the warm-up spawn and
removed at the end), the same spawner with accounts disabled (the server runs as
the platform's account, as before isolation), and SimpleLocalProcessSpawner. It
prints the median and spread (min–max) of each, the ratio isolated / same
spawner without accounts (the aim: within 1.05×) and the ratio without accounts
/ SimpleLocalProcessSpawner. Every hub is stopped by PID, then any process it
left, then the benchmark's accounts and groups are removed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this checkout's code, before any installed copy: the hubs started here run it too
sys.path[:0] = [str(ROOT / "tests" / "spawner"), str(ROOT / "tests"), *(str(ROOT / p) for p in ("hub", "spawner", "server_ext"))]

import psutil  # noqa: E402
from accounts import bench_prefix, leftovers, remove_accounts, require_root  # noqa: E402
from figures import load_average, median_spread  # noqa: E402
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


def make_hub(tmp: str, spawner: str | None, extra: str = "", env: dict | None = None) -> HubProcess:
    # the plain spawner runs as this (root) user too: it needs allow_root, which CubeLocalSpawner adds itself
    if spawner:
        extra += (
            f'c.JupyterHub.spawner_class = "{spawner}"\nc.SimpleLocalProcessSpawner.home_dir_template = "{tmp}/home/{{username}}"\n'
            'c.Spawner.args = ["--ServerApp.jpserver_extensions=cubelab_server=True", "--ServerApp.allow_root=True"]\n'
        )
    for attempt in range(2):
        hub = HubProcess(Path(tmp), extra_config=extra, extra_env=env)
        while len(set(ports := config_ports(hub))) < len(ports):  # free ports picked one by one can repeat
            hub = HubProcess(Path(tmp), extra_config=extra, extra_env=env)
        # jupyter_core moves IPython 3 settings into the config dir once, and a server as its own account
        # cannot write that marker into the hub's (root-owned) config dir: a second spawn of the same user
        # fails there. A marker it cannot open for writing makes jupyter_core skip the move.
        (Path(tmp) / "jupyter-config" / "migrated").touch()
        try:
            hub.start()
            break
        except RuntimeError:  # a port taken meanwhile by other work on the machine: once more, with others
            stop_hub(hub)
            stop_orphaned_proxy(hub)
            if attempt:
                raise
    hub.api("POST", "/users/bench")
    return hub


def config_ports(hub: HubProcess) -> list[int]:
    """The public, hub and proxy API ports written in the hub's configuration."""
    text = (hub.workdir / "jupyterhub_config.py").read_text()
    return [int(p) for p in re.findall(r"(?:\.port = |\.hub_port = |api_url = \"http://127\.0\.0\.1:)(\d+)", text)]


def stop_orphaned_proxy(hub: HubProcess) -> None:
    """A hub that dies while starting leaves its proxy behind: find it by the hub's
    port in its command line and stop it by PID."""
    target = f"http://127.0.0.1:{hub.hub_port}/hub/error"
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "--error-target" in cmdline and target in cmdline:
            try:
                os.kill(proc.info["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass


def stop_hub(hub: HubProcess) -> None:
    """Stop the hub by PID (it stops its proxy and servers), then any process it left."""
    try:
        started = psutil.Process(hub.proc.pid).children(recursive=True) if hub.proc else []
    except psutil.NoSuchProcess:
        started = []
    hub.stop()
    for proc in started:
        try:
            if proc.is_running():
                os.kill(proc.pid, signal.SIGKILL)
        except (psutil.Error, ProcessLookupError):
            pass


FORM = {"project": "public", "kind": "jupyterlab", "cpu": "1", "memory": "2G", "gpu": "0"}
SIMPLE = "jupyterhub.spawner.SimpleLocalProcessSpawner"


def main_isolation(rounds: int) -> None:
    require_root("bench/spawn.py")
    prefix = bench_prefix()
    print(f"spawn to ready JupyterLab, {rounds} rounds of isolated, no accounts, simple in turn; accounts {prefix}*; {load_average()}")
    times: dict[str, list[float]] = {"isolated": [], "plain": [], "simple": []}
    with ExitStack() as stack:
        dirs = [stack.enter_context(tempfile.TemporaryDirectory()) for _ in range(3)]
        hubs: dict[str, HubProcess] = {}
        try:
            hubs["isolated"] = make_hub(dirs[0], None, env={"CUBELAB_UNIX_ENABLED": "1", "CUBELAB_UNIX_PREFIX": prefix})
            hubs["plain"] = make_hub(dirs[1], None, extra="c.UnixAccounts.enabled = False\n", env={"CUBELAB_UNIX_ENABLED": "0"})
            hubs["simple"] = make_hub(dirs[2], SIMPLE)
            forms = {"isolated": FORM, "plain": FORM, "simple": None}
            # warm-up: the isolated one creates the account and the project's group (once per user), timed apart
            for name, hub in hubs.items():
                first = spawn_once(hub, "bench", forms[name])
                print(f"warm-up {name}: {first:.2f} s" + (" (creates the account)" if name == "isolated" else ""))
            for _ in range(rounds):  # in turn, so load from others hits all three alike
                for name, hub in hubs.items():
                    times[name].append(spawn_once(hub, "bench", forms[name]))
        finally:
            for hub in hubs.values():
                stop_hub(hub)
            removed = remove_accounts(prefix)
            left = leftovers(prefix)
            print(f"removed {', '.join(removed) or 'nothing'}" + (f"; LEFT: {', '.join(left)}" if left else ""))
    labels = {
        "isolated": "CubeLocalSpawner, own Unix account",
        "plain": "CubeLocalSpawner, accounts disabled",
        "simple": "SimpleLocalProcessSpawner",
    }
    for name, label in labels.items():
        print(f"{label:36} {median_spread(times[name], digits=2)} s   [{', '.join(f'{t:.2f}' for t in times[name])}]")
    mi, mp, ms = (statistics.median(times[n]) for n in ("isolated", "plain", "simple"))
    print(f"ratio isolated / accounts disabled: {mi / mp:.3f} (aim: within 1.05)")
    print(f"ratio accounts disabled / SimpleLocalProcessSpawner: {mp / ms:.3f}")
    print(load_average())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("--isolation", action="store_true", help="also spawn as the user's own Unix account vs the same spawner "
                        "with accounts disabled (needs root)")
    args = parser.parse_args()
    if args.isolation:
        return main_isolation(args.rounds)
    cube: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory() as t1, tempfile.TemporaryDirectory() as t2:
        hubs = [make_hub(t1, None), make_hub(t2, SIMPLE)]
        try:
            spawn_once(hubs[0], "bench", FORM)  # warm-up
            spawn_once(hubs[1], "bench", None)
            for _ in range(args.rounds):  # interleaved, so load from others hits both alike
                cube.append(spawn_once(hubs[0], "bench", FORM))
                plain.append(spawn_once(hubs[1], "bench", None))
        finally:
            for hub in hubs:
                stop_hub(hub)
    mc, mp = statistics.median(cube), statistics.median(plain)
    print(f"CubeLocalSpawner via form: {', '.join(f'{t:.2f}' for t in cube)} s (median {mc:.2f})")
    print(f"SimpleLocalProcessSpawner: {', '.join(f'{t:.2f}' for t in plain)} s (median {mp:.2f})")
    print(f"ratio form/plain: {mc / mp:.2f}")


if __name__ == "__main__":
    main()
