"""Real nginx, real upstream processes on loopback, a gateway per test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.platform import free_port, make_traversable

from cubelab_hub.gateway.process import Gateway
from cubelab_hub.gateway.routes import Backend

UPSTREAM = Path(__file__).with_name("upstream.py")


class Upstream:
    """One replica process (``upstream.py``)."""

    def __init__(self, name: str, delay: float = 0.0):
        self.name, self.port = name, free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(UPSTREAM), "--name", name, "--port", str(self.port), "--delay", str(delay)],
            stdout=subprocess.PIPE, text=True,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"upstream {name} did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def backend(self) -> Backend:
        return Backend(self.name, (self.address,))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def upstream():
    started: list[Upstream] = []

    def make(name: str, delay: float = 0.0) -> Upstream:
        started.append(Upstream(name, delay))
        return started[-1]

    yield make
    for u in started:
        u.stop()


@pytest.fixture
async def gateway(tmp_path, artifacts_dir):
    """A started gateway factory: ``await gateway(routes, auth_address=...)``."""
    started: list[Gateway] = []

    async def make(routes, **kwargs) -> Gateway:
        make_traversable(tmp_path / "gateway")  # as root, nginx's workers run as nobody
        gw = Gateway(prefix=str(tmp_path / "gateway"), port=free_port(), **kwargs)
        started.append(gw)
        await gw.start(routes)
        return gw

    yield make
    for gw in started:
        await gw.stop()
        log = Path(gw.prefix) / "logs" / "error.log"
        if log.exists():
            shutil.copy(log, artifacts_dir / f"gateway-{tmp_path.name}-error.log")
