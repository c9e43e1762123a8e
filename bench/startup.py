"""Startup and first-login latency: CubeLab vs a plain JupyterHub, same machine, same run.

Measures, for each of N rounds (alternating the two so load affects both alike):
  up->answering   from launching the process to the hub API and (for CubeLab)
                  the control plane answering
  login->lab      from posting the login form of a new user to their JupyterLab
                  page being served (spawn included; the spawn form, if any, is
                  submitted with its defaults)

Plain JupyterHub: JupyterHub 6 + SimpleLocalProcessSpawner + DummyAuthenticator
with the same proxy. Usage:

    .venv/bin/python bench/startup.py --rounds 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.platform import Platform, free_ports  # noqa: E402

from cubelab_hub.platform.hubconfig import _proxy_command  # noqa: E402


class PlainHub:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port, self.hub_port, self.api_port = free_ports(3)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        self.workdir.mkdir(parents=True, exist_ok=True)
        singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
        argv = [
            sys.executable, "-m", "jupyterhub",
            "--JupyterHub.ip=127.0.0.1", f"--JupyterHub.port={self.port}", f"--JupyterHub.hub_port={self.hub_port}",
            "--JupyterHub.spawner_class=simple", "--JupyterHub.authenticator_class=dummy",
            "--Authenticator.allow_all=True",
            f"--ConfigurableHTTPProxy.command={_proxy_command()[0]}",
            f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}",
            f"--JupyterHub.db_url=sqlite:///{self.workdir / 'hub.sqlite'}",
            f"--JupyterHub.cookie_secret_file={self.workdir / 'secret'}",
            f"--SimpleLocalProcessSpawner.home_dir_template={self.workdir}/users/{{username}}",
            f"--Spawner.cmd={singleuser}", "--Spawner.args=['--ServerApp.allow_root=True']",
            "--Spawner.default_url=/lab", "--Spawner.http_timeout=120",
        ]
        started = time.monotonic()
        self.log = open(self.workdir / "hub.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"plain hub exited; see {self.workdir / 'hub.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def login_to_lab(url: str, name: str, password: str, timeout: float = 300) -> float:
    session = requests.Session()
    page = session.get(f"{url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    started = time.monotonic()
    resp = session.post(f"{url}/hub/login", data={"username": name, "password": password, "_xsrf": xsrf}, timeout=60)
    if 'id="spawn_form"' in resp.text:  # submit the spawn form with its defaults
        form = resp.text[resp.text.index('id="spawn_form"'):]
        action = re.search(r'action="([^"]*)"', resp.text[resp.text.rfind("<form", 0, resp.text.index('id="spawn_form"')):]).group(1)
        data = {}
        for tag in re.findall(r"<input[^>]*>", form):
            field, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
            if not field or ('type="radio"' in tag and "checked" not in tag):
                continue  # only the chosen radio button is sent
            data[field.group(1)] = value.group(1) if value else ""
        for select, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
            chosen = re.search(r'<option[^>]*value="([^"]*)"[^>]*selected', body) or re.search(r'<option[^>]*value="([^"]*)"', body)
            data[select] = chosen.group(1) if chosen else ""
        data["_xsrf"] = session.cookies.get("_xsrf", path="/hub/") or xsrf
        resp = session.post(requests.compat.urljoin(resp.url, action.replace("&amp;", "&")), data=data, timeout=60)
        if 'id="spawn_form"' in resp.text:
            errors = re.findall(r'cubelab-field-error[^>]*>([^<]+)<', resp.text)
            raise RuntimeError(f"the spawn form was refused: {errors or resp.text[:500]}")
    lab = f"{url}/user/{name}/lab"
    while time.monotonic() - started < timeout:
        r = session.get(lab, timeout=60)
        if r.status_code == 200 and "JupyterLab" in r.text and "/lab" in r.url:
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"{name}'s JupyterLab was not ready in {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"cubelab": {"up": [], "lab": []}, "plain": {"up": [], "lab": []}}
    with tempfile.TemporaryDirectory(prefix="cubelab-bench-") as tmp:
        for i in range(args.rounds):
            # CubeLab
            platform = Platform(Path(tmp) / f"cubelab{i}")
            t0 = time.monotonic()
            platform.data_dir.mkdir(parents=True)
            platform.start(timeout=180)
            results["cubelab"]["up"].append(time.monotonic() - t0)
            try:
                results["cubelab"]["lab"].append(login_to_lab(platform.url, f"bench{i}", "bench-password"))
            finally:
                platform.stop()
            # plain JupyterHub
            plain = PlainHub(Path(tmp) / f"plain{i}")
            results["plain"]["up"].append(plain.start())
            try:
                results["plain"]["lab"].append(login_to_lab(plain.url, f"bench{i}", "any"))
            finally:
                plain.stop()
            print(f"round {i + 1}: cubelab up {results['cubelab']['up'][-1]:.2f}s lab {results['cubelab']['lab'][-1]:.2f}s | "
                  f"plain up {results['plain']['up'][-1]:.2f}s lab {results['plain']['lab'][-1]:.2f}s", flush=True)
    print()
    print(f"{'measure':<24}{'CubeLab (median)':>18}{'plain hub (median)':>20}{'ratio':>8}")
    for key, label in (("up", "up -> answering"), ("lab", "login -> JupyterLab")):
        a = statistics.median(results["cubelab"][key])
        b = statistics.median(results["plain"][key])
        print(f"{label:<24}{a:>16.2f} s{b:>18.2f} s{a / b:>8.2f}")


if __name__ == "__main__":
    main()
