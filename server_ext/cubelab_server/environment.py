""""Save as image", the server's half: the package lists of this server's
environment when it started ("before") and now ("after").

- **What is listed**: ``pip freeze`` of the default kernel's interpreter (the
  kernel spec's ``argv[0]``: that is where ``%pip install`` puts packages),
  ``conda list --export`` of that interpreter's prefix when it is a conda
  environment and ``conda`` is found, and the apt packages installed by hand
  (``apt-mark showmanual`` names with ``dpkg-query`` versions, as
  ``name<TAB>version`` lines) when dpkg's database is readable.
- **How**: each command is an argv list (no shell), with a timeout, run by
  asyncio's subprocess support (the event loop never waits on it); a command
  that is missing, fails or times out leaves its list out and says why in
  ``errors``.
- **Where "before" is kept**: in this server's memory and in a 0600 file of
  its Jupyter runtime directory (private to the server's account), never in a
  shared place another user could write. It is taken once, when the server
  starts: packages installed during an earlier run of a server whose
  environment persists (one machine) are part of "before".
- **The base image** is ``CUBELAB_IMAGE``, which the spawners set from the
  spawn form's image (None on one machine, where the server runs in the
  host's environment: the user names a base in the Lab).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT = 60.0
MAX_OUTPUT = 2 * 2**20  # the control plane accepts lists up to 2M
STATE_FILE = "cubelab-environment-before.json"
DPKG_STATUS = "/var/lib/dpkg/status"

log = logging.getLogger("cubelab_server.environment")


@dataclass
class Snapshot:
    """The package lists at one moment; a manager absent from ``lists`` could not be listed (``errors`` says why)."""

    taken_at: float
    python: str
    lists: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"taken_at": self.taken_at, "python": self.python, **self.lists, "errors": dict(self.errors)}

    @classmethod
    def from_json(cls, data: dict) -> Snapshot:
        lists = {m: data[m] for m in ("pip", "conda", "apt") if isinstance(data.get(m), str)}
        return cls(float(data.get("taken_at", 0)), str(data.get("python", "")), lists, dict(data.get("errors") or {}))


async def run_command(argv: list[str], timeout: float = COMMAND_TIMEOUT, env: dict | None = None) -> str:
    """The command's standard output; raises ``RuntimeError`` saying why when it cannot be had."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=env)
    except OSError as exc:
        raise RuntimeError(f"could not run {argv[0]}: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{' '.join(argv[:3])} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited with {proc.returncode}: {err.decode(errors='replace').strip()[-300:]}")
    if len(out) > MAX_OUTPUT:
        raise RuntimeError(f"{' '.join(argv[:3])} listed more than {MAX_OUTPUT // 2**20}M")
    return out.decode(errors="replace")


def kernel_python(serverapp) -> str:
    """The default kernel's interpreter (its spec's first argument, resolved on PATH), else this server's."""
    try:
        name = getattr(serverapp.kernel_manager, "default_kernel_name", None) or "python3"
        spec = serverapp.kernel_spec_manager.get_kernel_spec(name)
        first = spec.argv[0]
        resolved = first if os.path.isabs(first) else shutil.which(first)
        if resolved and os.access(resolved, os.X_OK):
            return resolved
    except Exception:  # no such kernel spec, or one without argv: fall back to the server's interpreter
        pass
    return sys.executable


def _child_env() -> dict[str, str]:
    # pip and conda need no token of the server: only what finds programs and decodes text
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "CONDA_EXE")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"  # no network call, no warning in the list
    return env


async def take_snapshot(python: str, timeout: float = COMMAND_TIMEOUT) -> Snapshot:
    """The three lists, listed concurrently."""
    snapshot = Snapshot(time.time(), python)
    env = _child_env()

    async def pip() -> str:
        return await run_command([python, "-m", "pip", "freeze", "--disable-pip-version-check"], timeout, env)

    async def conda() -> str | None:
        prefix = await run_command([python, "-c", "import sys; print(sys.prefix)"], timeout, env)
        prefix = prefix.strip()
        conda_exe = env.get("CONDA_EXE") or shutil.which("conda", path=env.get("PATH"))
        if not conda_exe or not os.path.isdir(os.path.join(prefix, "conda-meta")):
            return None  # not a conda environment: nothing to list
        return await run_command([conda_exe, "list", "--export", "--prefix", prefix], timeout, env)

    async def apt() -> str | None:
        if not os.access(DPKG_STATUS, os.R_OK) or not shutil.which("dpkg-query", path=env.get("PATH")):
            return None
        manual = await run_command(["apt-mark", "showmanual"], timeout, env) if shutil.which("apt-mark", path=env.get("PATH")) else None
        versions = await run_command(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Status}\n"], timeout, env)
        keep = set(manual.split()) if manual is not None else None
        lines = []
        for line in versions.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[2] == "installed" and (keep is None or parts[0] in keep):
                lines.append(f"{parts[0]}\t{parts[1]}")
        return "\n".join(lines) + "\n"

    names = ("pip", "conda", "apt")
    results = await asyncio.gather(pip(), conda(), apt(), return_exceptions=True)
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            snapshot.errors[name] = str(result) if isinstance(result, RuntimeError) else f"{type(result).__name__}: {result}"
        elif result is not None:
            snapshot.lists[name] = result
    return snapshot


class EnvironmentRecorder:
    """This server's "before" snapshot, taken at start, and "after" snapshots on request."""

    def __init__(self, serverapp, state_dir: str | os.PathLike, timeout: float = COMMAND_TIMEOUT):
        self.serverapp = serverapp
        self.state_path = Path(state_dir) / STATE_FILE
        self.timeout = timeout
        self._before: asyncio.Task | None = None

    @property
    def base_image(self) -> str | None:
        return os.environ.get("CUBELAB_IMAGE") or None

    def start(self) -> None:
        """Take "before" in the background (called once the server's loop runs)."""
        if self._before is None:
            self._before = asyncio.ensure_future(self._record_before())

    async def _python(self) -> str:
        # the kernel spec is read from disk: not on the event loop
        return await asyncio.get_running_loop().run_in_executor(None, kernel_python, self.serverapp)

    async def _record_before(self) -> Snapshot:
        snapshot = await take_snapshot(await self._python(), self.timeout)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._write, snapshot)
        except OSError as exc:  # the copy on disk is for inspection; "before" is still kept in memory
            log.warning("could not write %s: %s", self.state_path, exc)
        return snapshot

    def _write(self, snapshot: Snapshot) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.state_path.with_suffix(".tmp")
        # created 0600 from the start: another account never reads or replaces it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"base": self.base_image, **snapshot.to_json()}, out)
        os.replace(tmp, self.state_path)

    async def before(self) -> Snapshot:
        self.start()
        return await asyncio.shield(self._before)

    async def both(self) -> dict:
        """Both snapshots and the base image: what the Lab sends on to ``dockerfile-from-environment``."""
        before = await self.before()
        after = await take_snapshot(before.python or await self._python(), self.timeout)
        return {"base": self.base_image, "before": before.to_json(), "after": after.to_json(),
                "managers": [m for m in ("apt", "conda", "pip") if m in before.lists and m in after.lists]}
