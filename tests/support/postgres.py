"""A real PostgreSQL server for the storage tests, from Debian's packages.

``initdb`` makes a throw-away cluster in a temporary directory; the server
listens only on a Unix socket in that directory (no TCP). PostgreSQL refuses to
run as root, so as root the cluster belongs to the ``postgres`` system account
the Debian package creates. The server is stopped by its PID at the end.

Fixtures: ``postgres_cluster`` (one per test session) and ``db_url``
(parametrized: a fresh SQLite file, and a fresh database on the cluster).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

_databases = itertools.count()


def postgres_bindir() -> Path:
    """Debian installs each major version under /usr/lib/postgresql/<major>/bin."""
    override = os.environ.get("CUBELAB_TEST_PG_BINDIR")
    if override:
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        on_path = shutil.which("initdb")
        if on_path is None:
            raise RuntimeError("PostgreSQL is not installed: run CUBELAB_EXTRAS=test bash scripts/setup.sh "
                               "(it installs Debian's 'postgresql' package)")
        return Path(on_path).parent
    return Path(found[-1]).parent


class PostgresCluster:
    """A PostgreSQL server on a Unix socket in a private temporary directory."""

    def __init__(self):
        self.bindir = postgres_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="cubelab-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.user = "postgres"  # the database superuser's name
        self.process: subprocess.Popen | None = None
        # postgres refuses to run as root: run it as Debian's system account
        self._os_user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _run_as(self) -> dict:
        if self._os_user is None:
            return {}
        return {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": []}

    def start(self) -> PostgresCluster:
        try:
            self._start()
        except BaseException:
            self.stop()  # nothing left running or on disk when it could not start
            raise
        return self

    def _start(self) -> None:
        if self._os_user is not None:
            os.chown(self.dir, self._os_user.pw_uid, self._os_user.pw_gid)
        os.chmod(self.dir, 0o700)
        subprocess.run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, cwd=self.dir, **self._run_as())
        with open(self.log, "ab") as log:
            # listen_addresses='': no TCP at all; the socket lives in our private directory
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-k", str(self.dir), "-c", "listen_addresses=",
                 "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True, **self._run_as())
        socket = self.dir / ".s.PGSQL.5432"
        deadline = time.monotonic() + 30
        while not socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)
        self._wait_ready()

    def _wait_ready(self) -> None:
        try:
            import psycopg
        except ImportError:
            raise RuntimeError("the PostgreSQL driver is missing: pip install the package with its dependencies "
                               "(psycopg[binary], see pyproject.toml)") from None

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(host=str(self.dir), user=self.user, dbname="postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{dbname}?host={self.dir}"

    def create_database(self, prefix: str = "cubelab") -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(host=str(self.dir), user=self.user, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)  # "fast" shutdown: ends sessions, no waiting for clients
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh empty database of each kind the control plane supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cp.sqlite'}"
    return request.getfixturevalue("postgres_cluster").create_database()
