"""The same small image built through CubeLab's REST API and with buildah by hand.

    python bench/build.py [--repeat 3] [--keep]

Runs as root with buildah installed (the platform builds as root: vfs storage,
chroot isolation). Two Dockerfiles, from a context of this machine's own files
(dash, cat and the C library, plus a few text files):

- **scratch**: ``FROM scratch`` + ``COPY . /``;
- **run**: ``FROM`` the image the scratch build made, a ``RUN``, a ``COPY`` of one
  file and a second ``RUN`` that reads it.

Each is built clean (an empty layer cache), then rebuilt after one file of the
context changed (``hello.txt``, which both copy).

- **cubelab**: a real platform (``tests/support/platform.py``'s ``Platform`` on
  127.0.0.1, with its local registry) and the REST API: ``POST /builds``, then
  ``GET /builds/{id}`` every 0.1 s until the build is final; the time is from
  the POST to the first answer that says ``succeeded`` (the polling adds up to
  0.1 s, 0.05 s on average), so it holds the queue,
  the cgroups, buildah, ``buildah inspect``, the push with the project's
  credential and the bookkeeping. Each repetition uses a new project, so its
  build storage (the layer cache) starts empty.
- **buildah**: the same steps by hand in the same run: ``buildah --root R
  --runroot R' --storage-driver vfs bud --isolation chroot --layers
  --pull=missing`` (``--pull=missing`` as the platform, so the ``run`` build's
  base is taken from the storage, never pulled) into a new temporary storage
  per repetition, then ``buildah push`` to the same local registry (the same
  project, image names ending ``-byhand``) with the user's name and API token
  in an auth file.

Within a repetition the two sides take turns for each of the four builds
(cubelab first in even repetitions, buildah first in odd ones), so machine
noise hits both. Prints median and spread (min–max) per build of each side's
time, the overhead (cubelab - buildah, in seconds) and the ratio, and for each
side the rebuild against the clean build; also the platform's own ``duration``
of the build (from buildah's start to the end of the push) to tell the REST
and queue part from the rest, and what the platform said it reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [str(ROOT / part) for part in ("hub", "spawner", "server_ext")]
sys.path[:0] = [*SOURCES, str(ROOT / "tests"), str(ROOT / "bench")]
# the hub, the control plane and user servers it starts run this checkout's code too
os.environ["PYTHONPATH"] = os.pathsep.join([*SOURCES, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

from figures import load_average, median_spread  # noqa: E402

# a tiny root file system from this machine: enough for RUN steps with sh and cat
ROOTFS = {"bin/sh": "/bin/dash", "bin/cat": "/usr/bin/cat",
          "lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
          "lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"}
TEXT_FILES = {"hello.txt": "hello from the context\n", "etc/motd": "built by bench/build.py\n",
              "data/numbers.csv": "".join(f"{i},{i * i}\n" for i in range(200))}
CHANGED = "hello.txt"

SCRATCH = "FROM scratch\nCOPY . /\n"


def run_dockerfile(base_ref: str) -> str:
    return f"FROM {base_ref}\nRUN echo one > /one\nCOPY hello.txt /copy.txt\nRUN cat /one /copy.txt\n"


# the four builds of a repetition, in order: (key, Dockerfile kind, rebuild after the change)
STEPS = [("scratch clean", "scratch", False), ("scratch rebuild", "scratch", True),
         ("run clean", "run", False), ("run rebuild", "run", True)]


def make_context(folder: Path) -> None:
    for target, source in ROOTFS.items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / target)
    for name, text in TEXT_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def change_file(context: Path, n: int) -> None:
    (context / CHANGED).write_text(f"changed {n} at {time.time()}\n")


@dataclass
class Build:
    wall: float
    duration: float | None = None  # the platform's own figure: buildah's start to the push's end
    cache: str = ""


@dataclass
class Series:
    builds: dict[str, list[Build]] = field(default_factory=dict)

    def add(self, key: str, build: Build) -> None:
        self.builds.setdefault(key, []).append(build)

    def walls(self, key: str) -> list[float]:
        return [b.wall for b in self.builds.get(key, [])]


# ---------------------------------------------------------------- CubeLab


class CubeLab:
    """One platform for every repetition: its start is not a build's."""

    def __init__(self, tmp: Path):
        from support.platform import Platform, register

        self.platform = Platform(tmp / "data", log_path=tmp / "platform.log")
        started = time.monotonic()
        self.platform.start(timeout=180)
        self.ready_in = time.monotonic() - started
        self.user = register(self.platform, "buildbench")
        self.registry = f"127.0.0.1:{self.platform.registry_port}"

    def api(self, method: str, path: str, **kwargs):
        resp = self.user.api(method, path, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:2000]}")
        return resp

    def new_project(self, name: str) -> None:
        self.api("POST", "/projects", json={"name": name})

    def workspace(self) -> Path:
        return self.platform.data_dir / "workspaces" / self.user.name

    def build(self, project: str, image: str, dockerfile: str, context: str) -> Build:
        body = {"project": project, "image": image, "tags": ["1"], "dockerfile": dockerfile, "context": context}
        started = time.monotonic()
        build = self.api("POST", "/builds", json=body).json()
        deadline = started + 600
        while build["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"build {build['id']} still {build['status']} after 10 minutes")
            time.sleep(0.1)
            build = self.api("GET", f"/builds/{build['id']}").json()
        wall = time.monotonic() - started
        if build["status"] != "succeeded":
            log = self.api("GET", f"/builds/{build['id']}/logs").text
            raise RuntimeError(f"cubelab build of {image} {build['status']}: {build['message']}\n{log[-3000:]}")
        return Build(wall=wall, duration=build["duration"], cache=build["cache"])

    def close(self) -> None:
        self.platform.stop()
        self.platform.remove_unix_accounts()


# ---------------------------------------------------------------- buildah by hand


class ByHand:
    """buildah in a storage of its own per repetition, pushing to the platform's registry."""

    def __init__(self, tmp: Path, registry: str, user: str, token: str):
        self.tmp = tmp
        self.registry = registry
        self.authfile = tmp / "byhand-auth.json"
        # the user's own credential, in a file (never on the command line)
        fd = os.open(self.authfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            from cubelab_hub.domain.builds import registry_auth_file

            fh.write(registry_auth_file(registry, user, token))
        self.storage: Path | None = None

    def new_storage(self, name: str) -> None:
        self.storage = self.tmp / "byhand" / name
        (self.storage / "root").mkdir(parents=True)
        (self.storage / "run").mkdir(parents=True)

    def _global(self) -> list[str]:
        return ["buildah", "--root", str(self.storage / "root"), "--runroot", str(self.storage / "run"), "--storage-driver", "vfs"]

    def build(self, project: str, image: str, dockerfile: str, context: Path) -> Build:
        ref = f"{self.registry}/{project}/{image}:1"
        path = self.storage / f"{image}.Dockerfile"
        path.write_text(dockerfile)
        env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
        started = time.monotonic()
        built = subprocess.run([*self._global(), "bud", "--isolation", "chroot", "--layers", "--pull=missing", "-f", str(path),
                                "-t", ref, str(context)], capture_output=True, text=True, env=env, timeout=600)
        if built.returncode != 0:
            raise RuntimeError(f"buildah bud of {ref} exited with {built.returncode}:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
        pushed = subprocess.run([*self._global(), "push", "--authfile", str(self.authfile), "--tls-verify=false", ref, f"docker://{ref}"],
                                capture_output=True, text=True, env=env, timeout=600)
        wall = time.monotonic() - started
        if pushed.returncode != 0:
            raise RuntimeError(f"buildah push of {ref} exited with {pushed.returncode}:\n{pushed.stderr[-3000:]}")
        reused = sum(1 for line in built.stdout.splitlines() if line.startswith("--> Using cache"))
        steps = sum(1 for line in built.stdout.splitlines() if line.startswith("STEP "))
        return Build(wall=wall, cache=f"reused {reused} of {steps} steps")


# ---------------------------------------------------------------- report


def report(sides: dict[str, Series]) -> None:
    cl, bh = sides["cubelab"], sides["buildah"]
    print(f"\n{'build':16} {'buildah by hand s':>24} {'cubelab REST s':>24} {'overhead s':>24} {'ratio':>6} "
          f"{'cubelab duration s':>24}")
    for key, _, _ in STEPS:
        b, c = bh.walls(key), cl.walls(key)
        overhead = [x - y for x, y in zip(c, b, strict=True)]
        durations = [x.duration for x in cl.builds[key] if x.duration is not None]
        print(f"{key:16} {median_spread(b):>24} {median_spread(c):>24} {median_spread(overhead):>24} "
              f"{statistics.median(c) / statistics.median(b):6.2f} {median_spread(durations) if durations else '-':>24}")
    print("\nrebuild after one changed file against a clean build (median rebuild / median clean):")
    for kind in ("scratch", "run"):
        for name, series in (("buildah", bh), ("cubelab", cl)):
            clean, rebuild = statistics.median(series.walls(f"{kind} clean")), statistics.median(series.walls(f"{kind} rebuild"))
            caches = sorted({b.cache for b in series.builds[f"{kind} rebuild"]})
            print(f"  {kind:8} {name:8} clean {clean:.3f}s, rebuild {rebuild:.3f}s, {rebuild / clean:.2f}× "
                  f"(saved {clean - rebuild:+.3f}s); rebuild's cache: {' | '.join(caches)}")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (the platform's log and data)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/build.py needs root: the platform builds as root (buildah with vfs storage and chroot isolation)")
    if shutil.which("buildah") is None:
        sys.exit("bench/build.py needs buildah (Debian package 'buildah', scripts/setup.sh)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    version = subprocess.run(["buildah", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}; {args.repeat} repetitions of 4 builds per side, in turn; {load_average()}")
    tmp = Path(tempfile.mkdtemp(prefix="cubelab-bench-build-"))
    cubelab = None
    sides = {"cubelab": Series(), "buildah": Series()}
    try:
        cubelab = CubeLab(tmp)
        print(f"platform ready in {cubelab.ready_in:.1f}s; registry {cubelab.registry}")
        by_hand = ByHand(tmp, cubelab.registry, cubelab.user.name, cubelab.user.token)
        workspace = cubelab.workspace()
        for i in range(args.repeat):
            project = f"bb{os.getpid() % 10000}r{i}"
            cubelab.new_project(project)
            by_hand.new_storage(f"r{i}")
            # one context per side, the same files, so one side's change never reaches the other's build
            contexts = {"cubelab": f"bench-{i}/cubelab", "buildah": f"bench-{i}/buildah"}
            for rel in contexts.values():
                make_context(workspace / rel)
            if workspace.stat().st_uid != 0:  # the user's workspace is theirs; so is what is put in it
                owner = workspace.stat()
                for dirpath, dirnames, filenames in os.walk(workspace / f"bench-{i}"):
                    for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                        os.lchown(name, owner.st_uid, owner.st_gid)
            order = ["cubelab", "buildah"] if i % 2 == 0 else ["buildah", "cubelab"]
            for n, (key, kind, rebuild) in enumerate(STEPS):
                for side in order:
                    context = workspace / contexts[side]
                    if rebuild:
                        change_file(context, n)
                    suffix = "" if side == "cubelab" else "-byhand"
                    image = f"{kind}{suffix}"
                    dockerfile = SCRATCH if kind == "scratch" else run_dockerfile(f"{cubelab.registry}/{project}/scratch{suffix}:1")
                    if side == "cubelab":
                        b = cubelab.build(project, image, dockerfile, contexts[side])
                    else:
                        b = by_hand.build(project, image, dockerfile, context)
                    sides[side].add(key, b)
                    extra = f", platform duration {b.duration:.3f}s" if b.duration is not None else ""
                    print(f"  #{i + 1} {key:16} {side:8} {b.wall:7.3f}s{extra}; {b.cache}", flush=True)
    finally:
        if cubelab is not None:
            cubelab.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if all(len(s.builds.get(k, [])) == args.repeat for s in sides.values() for k, _, _ in STEPS):
        report(sides)
    print(load_average())


if __name__ == "__main__":
    main()
