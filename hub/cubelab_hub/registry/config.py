"""The registry's configuration, written by the platform at each start.

Everything lives under ``<data dir>/registry/`` (0700): ``config.yml``, the
token signing key and certificate (:mod:`.tokens`) and ``storage/``, the
images. The registry listens on loopback only and accepts nothing but tokens
signed by the control plane; its ``http.secret`` (which signs upload state
between requests) is random per start, and the file holding it is 0600.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import yaml

from .tokens import ISSUER, SERVICE, STATE_DIR, RegistryTokens

CONFIG_FILE = "config.yml"
STORAGE_DIR = "storage"
EXECUTABLE = "docker-registry"
# where Debian's package puts it, for a PATH that lacks /usr/bin
FALLBACK = Path("/usr/bin/docker-registry")
MISSING = ("the image registry (Debian package docker-registry, the CNCF distribution server) is not installed; "
           "install it with `apt-get install docker-registry` (scripts/setup.sh does) to build and push images on this machine")


def find_registry() -> str | None:
    found = shutil.which(EXECUTABLE)
    if found:
        return found
    return str(FALLBACK) if FALLBACK.exists() else None


def state_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / STATE_DIR


def render(*, storage: Path, address: str, realm: str, rootcertbundle: Path, http_secret: str) -> dict:
    """The distribution server's configuration (version 0.1)."""
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "fields": {"service": "registry"}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}, "maintenance": {"uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False}}},
        "http": {"addr": address, "secret": http_secret, "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "auth": {"token": {"realm": realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(rootcertbundle)}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }


def write_config(data_dir: str | os.PathLike, *, address: str, realm: str) -> Path:
    """Make the registry's state (keys, storage) if missing and write its
    configuration; the path of the configuration file."""
    state = state_dir(data_dir)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    storage = state / STORAGE_DIR
    storage.mkdir(exist_ok=True)
    cert = RegistryTokens(state).ensure()
    text = yaml.safe_dump(render(storage=storage, address=address, realm=realm, rootcertbundle=cert,
                                 http_secret=secrets.token_urlsafe(32)), sort_keys=False)
    path = state / CONFIG_FILE
    tmp = state / f".{CONFIG_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def command(executable: str, config: Path) -> list[str]:
    return [executable, "serve", str(config)]
