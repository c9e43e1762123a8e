"""Shared fixtures: a real CubeLab platform and users who register by logging in."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The checkout's own sources come first, here and in every process the tests start
# (hub, control plane, user servers inherit PYTHONPATH): edits to hub/, spawner/ and
# server_ext/ take effect without reinstalling, whichever checkout runs the tests.
SOURCES = [str(ROOT / part) for part in ("hub", "spawner", "server_ext")]
for _path in reversed(SOURCES):
    if _path not in sys.path:
        sys.path.insert(0, _path)
os.environ["PYTHONPATH"] = os.pathsep.join(SOURCES + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in SOURCES])
sys.path.insert(0, str(Path(__file__).parent))

from support.platform import Platform, User, register  # noqa: E402

_OWN_BASETEMP: list[str] = []


def pytest_configure(config):
    # As root, servers and tasks run as test accounts that must pass through the
    # directories above a data directory; pytest resets its shared root
    # (/tmp/pytest-of-root) to 0700 whenever any pytest session starts, so use a
    # temporary root of this session's own.
    if os.geteuid() == 0 and not config.option.basetemp and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="cubelab-tests-")
        _OWN_BASETEMP.append(config.option.basetemp)


def pytest_unconfigure(config):
    for path in _OWN_BASETEMP:
        shutil.rmtree(path, ignore_errors=True)


# db_url (SQLite and a real PostgreSQL server) for the storage tests
pytest_plugins = ["support.postgres"]

ARTIFACTS = Path(os.environ.get("CUBELAB_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
_names = itertools.count()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def platform(tmp_path_factory, artifacts_dir):
    """One running ``cubelab up`` shared by the tests of a session."""
    data = tmp_path_factory.mktemp("cubelab") / "data"
    p = Platform(data, log_path=artifacts_dir / "platform-session.log")
    p.start()
    yield p
    p.stop()
    p.remove_unix_accounts()


@pytest.fixture
def fresh_platform(tmp_path, artifacts_dir):
    """A platform of the test's own, for tests that change global state or restart it."""
    started: list[Platform] = []

    def make(**kwargs) -> Platform:
        p = Platform(tmp_path / f"data{len(started)}", log_path=artifacts_dir / f"platform-{tmp_path.name}-{len(started)}.log", **kwargs)
        started.append(p)
        return p.start()

    yield make
    for p in started:
        p.stop()
        p.remove_unix_accounts()


@pytest.fixture(scope="session")
def admin(platform) -> User:
    user = User(platform, platform.admin, platform.admin_password)
    assert user.login().status_code == 302
    user.create_token()
    return user


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}{os.getpid() % 1000}"


@pytest.fixture
def new_user(platform):
    """Register a brand-new user (login is registration) with an API token."""

    def make(prefix: str = "u") -> User:
        return register(platform, unique(prefix))

    return make
