"""What ``cubelab up`` tells the person who runs it: its ports, when it is ready,
and which option to change when a port is taken."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

import pytest
import requests
from support.platform import CUBELAB, free_ports

READY = re.compile(r"CubeLab is ready at (\S+) \(started in ([0-9.]+) s\)")


def up_argv(data_dir, port, hub_port, proxy_api_port, cp_port, gateway_port) -> list[str]:
    return CUBELAB + [
        "up", f"--port={port}", f"--hub-port={hub_port}", f"--proxy-api-port={proxy_api_port}",
        f"--controlplane-port={cp_port}", f"--gateway-port={gateway_port}", f"--data-dir={data_dir}", "--admin=boss",
    ]


@pytest.mark.hub
def test_ready_is_said_once_the_hub_and_the_control_plane_answer(tmp_path, artifacts_dir):
    port, hub_port, api_port, cp_port, gateway_port = free_ports(5)
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(up_argv(tmp_path / "data", port, hub_port, api_port, cp_port, gateway_port),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: dict = {"lines": []}
    said_ready = threading.Event()

    def read():
        with open(artifacts_dir / f"up-ready-{tmp_path.name}.log", "w") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                seen["lines"].append(line.rstrip("\n"))
                if READY.search(line) and not said_ready.is_set():
                    # at the moment it says so, both answer
                    seen["hub"] = requests.get(f"{url}/hub/api/", timeout=5).status_code
                    seen["cp"] = requests.get(f"{url}/services/cubelab/api/v1/openapi.json", timeout=5).status_code
                    said_ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert said_ready.wait(180), "\n".join(seen["lines"][-40:])
        assert (seen["hub"], seen["cp"]) == (200, 200)
        lines = seen["lines"]
        ready_at = next(i for i, line in enumerate(lines) if READY.search(line))
        match = READY.search(lines[ready_at])
        assert match.group(1) == f"{url}/" and float(match.group(2)) > 0
        # the URL is not printed before it works; the ports are, each with its option
        assert not any(f"{url}/" in line for line in lines[:ready_at])
        ports_line = next(line for line in lines[:ready_at] if line.startswith("Ports: "))
        for number, option in ((port, "--port"), (hub_port, "--hub-port"), (api_port, "--proxy-api-port"),
                               (cp_port, "--controlplane-port"), (gateway_port, "--gateway-port")):
            assert f"{number} (" in ports_line and option in ports_line, ports_line
        # the first admin's password file comes with "ready"
        time.sleep(0.5)
        assert any(line.startswith("First admin: boss; first password in ") for line in lines[ready_at:])
        # where services answer: the gateway's port, and the hub's path
        services = f"Services are at http://<name>.localhost:{gateway_port}/ (members also reach them at {url}/services/cubelab/proxy/<name>/)"
        assert services in lines[ready_at + 1:], lines[ready_at:]
    finally:
        proc.terminate()
        proc.wait(60)
        reader.join(10)


OPTIONS = ["--port", "--hub-port", "--proxy-api-port", "--controlplane-port", "--gateway-port"]


@pytest.mark.parametrize("taken", OPTIONS)
def test_a_taken_port_is_named_with_the_option_that_moves_it(tmp_path, taken):
    ports = dict(zip(OPTIONS, free_ports(5), strict=True))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[taken]))
        holder.listen()
        result = subprocess.run(up_argv(tmp_path / "data", *ports.values()), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Port {ports[taken]} (" in result.stderr and f"{taken}=PORT" in result.stderr, result.stderr
    # only that one is named, and nothing was started or written
    assert result.stderr.count("Port ") == 1, result.stderr
    assert not (tmp_path / "data").exists()


def test_the_same_port_twice_is_refused(tmp_path):
    port, cp_port, api_port, gateway_port = free_ports(4)
    result = subprocess.run(up_argv(tmp_path / "data", port, port, api_port, cp_port, gateway_port), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"Port {port} (the hub's internal API) is also given for the platform's URL: choose another with --hub-port=PORT." in result.stderr


def test_a_missing_proxy_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from cubelab_hub.platform import hubconfig
    from cubelab_hub.platform.cli import UpApp

    # nothing installed next to the virtualenv or in the checkout; on PATH only
    # the PyPI package of the same name, which is not the proxy CubeLab runs
    monkeypatch.setattr(hubconfig, "PROXY_PROJECT", tmp_path / "checkout")
    monkeypatch.setattr(hubconfig.sys, "prefix", str(tmp_path / "venv"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "configurable-http-proxy").write_text("#!/usr/bin/python3\n")
    (bin_dir / "configurable-http-proxy").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert hubconfig.find_proxy() is None

    port, hub_port, api_port, cp_port, gateway_port = free_ports(5)
    app = UpApp(port=port, hub_port=hub_port, proxy_api_port=api_port, controlplane_port=cp_port, gateway_port=gateway_port,
                data_dir=str(tmp_path / "data"))
    with pytest.raises(SystemExit) as stopped:
        app.start()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "configurable-http-proxy (JupyterHub's proxy, Node.js) is not installed" in err
    assert f"npm ci --ignore-scripts --prefix {tmp_path / 'venv' / 'share' / 'cubelab' / 'proxy'}" in err
    assert not (tmp_path / "data").exists()
