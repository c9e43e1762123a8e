"""``CubeLocalSpawner``: the same form and rules on one machine.

Configure with ``c.JupyterHub.spawner_class = "cubelab_spawner.local.CubeLocalSpawner"``.

- Each user's workspace is ``<data_dir>/workspaces/<username>`` (the local
  ``/mnt/<username>``); the server's root directory and ``HOME``.
- Project mounts become symlinks in the workspace: ``/data(hostpath):/data`` is
  ``~/data -> /data``; ``claim(pvc):/team`` is ``~/team -> <data_dir>/volumes/claim/<user>``;
  ``claim(pvc-share):/s`` the whole ``<data_dir>/volumes/claim``. ``memory``
  mounts are this machine's ``/dev/shm`` already. NFS, config maps and secrets
  cannot be mounted here: a project using them is refused with a clear message.
- GPUs: ``CUDA_VISIBLE_DEVICES`` from the cards ``nvidia-smi`` lists that no
  other running server holds; asking for more than there are is a form error.
- Memory: a cgroup (v1 memory controller, or v2 where delegated) enforces the
  limit where the OS lets this process create one; otherwise ``RLIMIT_DATA``.
- CPU, memory and GPU counts are exported (``CPU_LIMIT``, ``MEM_LIMIT``,
  ``OMP_NUM_THREADS``, ``CUBELAB_GPU`` ...).

Accounts: when the hub runs as root (``UnixAccounts.enabled``), each user's
server runs as their own Unix account (``cl-<name>``, created on first need,
see ``cubelab_hub.platform.unix``), with the chosen project's Unix group as
its only supplementary group, ``no_new_privs`` set and no capabilities; kernels
and terminals inherit that. The workspace is the account's home (0700, theirs);
the project's shared claims and host paths are group-owned by the project with
the setgid bit (2770). Otherwise servers run as the hub's own OS user (like
``SimpleLocalProcessSpawner``), and `cubelab up` says so at start-up.
"""

from __future__ import annotations

import math
import os
import posixpath
import resource
import shutil
import stat
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from tornado import web
from traitlets import Bool, Enum, Unicode, default, validate

from cubelab_hub.codeserver import find_code_server
from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import VolumeMount, merge_mounts, parse_volume_mounts
from cubelab_hub.machine import LocalGpu, detect_gpus, parse_nvidia_smi  # noqa: F401 (re-exported: the spawner's GPU helpers)
from cubelab_hub.platform.cgroups import make_cpu_cgroup, make_memory_cgroup, remove_cgroup
from cubelab_hub.platform.unix import UnixAccountError, UnixAccounts, drop_to

from .common import CubeSpawnerMixin, invalid_options
from .objects import DEFAULT_WORKSPACE, server_environment
from .profiles import JUPYTERLAB, KIND_NAMES, KIND_URLS, VSCODE, KindSpec

CODE_SERVER_HELP = (
    "code-server is not installed on this machine; an admin installs it with "
    "bash scripts/install-code-server.sh (see the README's VS Code section)"
)

# --------------------------------------------------------------------- GPUs


def pick_gpus(gpus: list[LocalGpu], count: int, gpu_type: str | None, taken: set[str]) -> list[LocalGpu]:
    """Free cards for a request, or a FieldError saying what is there."""
    if count == 0:
        return []
    matching = [g for g in gpus if gpu_type is None or gpu_type.lower() in g.name.lower()]
    if gpu_type is not None and not matching:
        names = sorted({g.name for g in gpus}) or ["none"]
        raise FieldError("gpu", f"this machine has no '{gpu_type}' card", "types here: " + ", ".join(names))
    free = [g for g in matching if g.uuid not in taken]
    if len(free) < count:
        raise FieldError(
            "gpu",
            f"asks for {count} card(s); {len(free)} of this machine's {len(matching)} are free (the others are in use by running servers)",
            f"at most {len(free)} now",
        )
    return free[:count]


# --------------------------------------------------------------------- mounts


def local_links(mounts: list[VolumeMount], username: str, volumes_dir: str) -> list[tuple[str, str]]:
    """(path in the workspace, target) for each project mount; the workspace
    itself is the default ``pvc`` at ``/mnt``."""
    links: list[tuple[str, str]] = []
    unsupported = []
    for mount in mounts:
        rel = mount.mount_path.strip("/")
        if mount.kind == "memory":
            continue  # /dev/shm of this machine; its size is the OS's
        if mount.kind in ("nfs", "configmap", "secret"):
            unsupported.append(str(mount))
            continue
        if mount.kind == "pvc":
            if mount.mount_path == "/mnt":
                continue  # the workspace itself
            target = posixpath.join(volumes_dir, mount.source, username)
        elif mount.kind == "pvc-share":
            target = posixpath.join(volumes_dir, mount.source)
        else:  # hostpath
            target = mount.source
        if not rel:
            raise FieldError("volume_mount", f"'{mount}' mounts at '/', which has no place in a workspace", "a mount path below '/'")
        links.append((rel, target))
    if unsupported:
        raise FieldError(
            "volume_mount",
            f"{', '.join(unsupported)} cannot be mounted by the local spawner",
            "pvc, pvc-share, hostpath and memory mounts (nfs, configmap and secret need Kubernetes)",
        )
    return links


LINKS_FILE = ".cubelab-links"


def _write_record(record: Path, text: str, owner: tuple[int, int] | None) -> None:
    # the record sits in a directory its user controls: never follow a link they put there
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        if owner:
            os.fchown(fh.fileno(), *owner)


def apply_links(
    workspace: Path,
    links: list[tuple[str, str]],
    volumes_dir: str,
    owner: tuple[int, int] | None = None,
    prepare_target=None,
) -> None:
    """Create the links; remove links an earlier start made that are no longer
    wanted (another project's mounts); never touch the user's own files.

    ``owner`` (uid, gid): who the links and the record belong to (the account,
    when the hub runs as root and the workspace is theirs). ``prepare_target``
    is called with (rel, target) for each link's target, to give it its owner."""
    record = workspace / LINKS_FILE
    if record.is_symlink():
        record.unlink()
    previous = set(record.read_text().split("\n")) - {""} if record.exists() else set()
    wanted = {rel for rel, _ in links}
    for rel in previous - wanted:
        # the record lives in the user's workspace: never follow it outside
        if rel.startswith("/") or ".." in rel.split("/"):
            continue
        path = workspace / rel
        if path.is_symlink():
            path.unlink()
    for rel, target in links:
        path = workspace / rel
        if path.is_symlink():
            if os.readlink(path) == target:
                continue
            path.unlink()
        elif path.exists():
            raise FieldError("volume_mount", f"'{path}' exists in the workspace and is not a mount link; move it away", "a free mount path")
        if not path.parent.resolve().is_relative_to(workspace.resolve()):
            # a link of the user's own on the way: root must not create things through it
            raise FieldError("volume_mount", f"'{path.parent}' leads outside the workspace; move it away", "a free mount path")
        path.parent.mkdir(parents=True, exist_ok=True)
        if Path(target).is_relative_to(volumes_dir):  # a local claim: create it like a provisioner would
            Path(target).mkdir(parents=True, exist_ok=True)
        if prepare_target:
            prepare_target(rel, target)
        path.symlink_to(target)
        if owner:
            os.lchown(path, *owner)
    _write_record(record, "\n".join(sorted(wanted)) + "\n", owner)


# --------------------------------------------------------------------- spawner

# host paths never handed to a project's group, whatever a project mounts
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var")
# shared roots: their subdirectories may be a project's, never the roots themselves
SHARED_ROOTS = ("/tmp", "/home", "/mnt", "/media", "/srv")



class CubeLocalSpawner(CubeSpawnerMixin, LocalProcessSpawner):
    data_dir = Unicode(
        config=True,
        help="CubeLab's data directory; workspaces live in <data_dir>/workspaces/<username>, "
        "local claims in <data_dir>/volumes/<claim>. Default: CUBELAB_DATA_DIR from "
        "Spawner.environment or the hub's environment, else ./cubelab-data (made absolute).",
    )

    @default("data_dir")
    def _default_data_dir(self):
        # `cubelab up` tells every server its data dir; use the same one
        configured = (self.environment or {}).get("CUBELAB_DATA_DIR")
        if callable(configured):
            configured = None
        return os.path.abspath(configured or os.environ.get("CUBELAB_DATA_DIR") or "cubelab-data")
    default_volume_mounts = Unicode(
        DEFAULT_WORKSPACE,
        config=True,
        help="Mounts every server gets (mount syntax); the pvc at /mnt is the user's workspace. A project's mount on the same path wins.",
    )
    memory_limit = Enum(
        ["auto", "cgroup", "rlimit", "none"],
        "auto",
        config=True,
        help="How the memory limit is enforced: 'cgroup' (a memory cgroup per server; fails the spawn if the OS refuses), "
        "'rlimit' (RLIMIT_DATA on the server process), 'auto' (cgroup where possible, else rlimit), 'none' (exported only).",
    )
    nvidia_smi = Unicode("nvidia-smi", config=True, help="The nvidia-smi executable used to list this machine's GPUs.")
    code_server = Unicode(
        "code-server",
        config=True,
        help="The code-server executable; the VS Code kind is offered only when it is found (name on PATH or a path).",
    )
    offer_vscode = Bool(True, config=True, help="Offer the VS Code kind (when code-server is installed).")
    group_owned_hostpaths = Bool(
        True,
        config=True,
        help="When servers run as users' own accounts, give each host path a project mounts to the project's Unix "
        "group (root-owned, group rwx, setgid: 2770), so members share it and non-members cannot read it. "
        "System directories and anything holding the data directory are never changed.",
    )
    user_umask = Unicode(
        "0002",
        config=True,
        help="umask of user servers (octal) when they run as their own accounts: files are group-writable, "
        "which matters in project-shared folders (the workspace itself is 0700).",
    )

    _unix: UnixAccounts | None = None

    _gpus_cache: list[LocalGpu] | None = None
    # card uuid -> "<user>/<server>" holding it, across this hub's spawners
    _gpu_owners: dict[str, str] = {}

    @validate("data_dir")
    def _absolute_data_dir(self, proposal):
        return os.path.abspath(proposal.value)

    @validate("default_volume_mounts")
    def _check_default_mounts(self, proposal):
        parse_volume_mounts(proposal.value, "default_volume_mounts")
        return proposal.value

    @default("options_form")
    def _options_form_default(self):
        return self.cube_options_form

    @default("options_from_form")
    def _options_from_form_default(self):
        return self.cube_options_from_form

    # ------------------------------------------------------------ facts

    @property
    def workspace(self) -> Path:
        return Path(self.data_dir) / "workspaces" / self.user.name

    @property
    def volumes_dir(self) -> str:
        return str(Path(self.data_dir) / "volumes")

    @property
    def unix(self) -> UnixAccounts:
        """The Unix accounts and groups (configured as ``c.UnixAccounts``)."""
        if self._unix is None:
            self._unix = UnixAccounts(parent=self)
        return self._unix

    @property
    def unix_name(self) -> str | None:
        """The account this user's servers run as; None when they run as the hub's user."""
        return self.unix.account_name(self.user.name) if self.unix.enabled else None

    def local_gpus(self) -> list[LocalGpu]:
        cls = type(self)
        if cls._gpus_cache is None:
            cls._gpus_cache = detect_gpus(self.nvidia_smi)
        return cls._gpus_cache

    def cube_gpus_available(self) -> int | None:
        return len(self.local_gpus())

    def code_server_path(self) -> str | None:
        found = shutil.which(self.code_server)
        if found or self.code_server != "code-server":
            return found
        # the same places the server's proxy entry looks (PATH, ~/.local of the hub's user)
        return find_code_server()

    def cube_kinds(self) -> dict[str, KindSpec]:
        kinds = {JUPYTERLAB: KindSpec(JUPYTERLAB, KIND_NAMES[JUPYTERLAB], KIND_URLS[JUPYTERLAB])}
        if self.offer_vscode:
            found = self.code_server_path() is not None
            kinds[VSCODE] = KindSpec(
                VSCODE, KIND_NAMES[VSCODE], KIND_URLS[VSCODE], available=found, unavailable_reason="" if found else CODE_SERVER_HELP
            )
        return kinds

    @property
    def _owner_key(self) -> str:
        return f"{self.user.name}/{self.name}"

    # ------------------------------------------------------------ start / stop

    def user_env(self, env):
        env["USER"] = self.unix_name or self.user.name
        env["LOGNAME"] = env["USER"]
        env["HOME"] = str(self.workspace)
        env["SHELL"] = "/bin/bash"
        return env

    def get_args(self):
        args = super().get_args()
        if self.unix_name is None and os.geteuid() == 0 and not any("allow_root" in a or a == "--allow-root" for a in args):
            # The server runs as the hub's own user; when that is root, Jupyter
            # would refuse to start. Refusing adds no isolation here.
            args.append("--ServerApp.allow_root=True")
        return args

    def get_env(self):
        env = super().get_env()
        env.update(getattr(self, "_cube_env", {}))
        return env

    def make_preexec_fn(self, name):
        workspace = str(self.workspace)
        cgroup_procs = [str(g / "cgroup.procs") for g in (getattr(self, "_cgroup", None), getattr(self, "_cpu_cgroup", None)) if g]
        rlimit = getattr(self, "_rlimit", None)
        ids = getattr(self, "_run_as", None)
        umask = int(self.user_umask, 8)

        def preexec():  # runs in the child between fork and exec: keep it small
            try:
                for procs in cgroup_procs:  # joined while still root: the user cannot leave it
                    with open(procs, "w") as f:
                        f.write(str(os.getpid()))
                if rlimit:
                    resource.setrlimit(resource.RLIMIT_DATA, (rlimit, rlimit))
                if ids:
                    drop_to(*ids, umask=umask)
                os.chdir(workspace)
            except BaseException as exc:
                # Popen only says "Exception occurred in preexec_fn": say which, in the server's log
                os.write(2, f"cubelab: could not prepare the server process: {exc!r}\n".encode())
                raise

        return preexec

    def _prepare_account(self, project: str) -> None:
        """Create the account (and its home) on first need, put it in the
        project's group, and remember the ids the server runs with."""
        self._run_as = None
        if self.unix_name is None:
            return
        try:
            entry = self.unix.ensure_account(self.user.name, self.workspace)
            gid = self.unix.add_member(project, self.user.name)
        except UnixAccountError as exc:
            raise web.HTTPError(500, f"could not prepare the Unix account of {self.user.name}: {exc}") from None
        # the project's group only: a server of one project reaches no other project's files
        self._run_as = (entry.pw_uid, entry.pw_gid, [entry.pw_gid, gid])

    def _prepare_target(self, project: str):
        if self.unix_name is None:
            return None
        uid, gid = self._run_as[0], self._run_as[1]
        volumes = Path(self.volumes_dir)

        def prepare(rel: str, target: str) -> None:
            path = Path(target)
            if path.is_relative_to(volumes) and path.parent != volumes:
                # <claim>/<user>: a per-user claim, theirs alone, in a claim others cannot list
                if not path.parent.stat().st_mode & stat.S_ISGID:
                    os.chmod(path.parent, 0o711)
                os.chown(path, uid, gid)
                os.chmod(path, 0o700)
            elif path.is_relative_to(volumes):
                # a shared claim: the project's, setgid
                self.unix.shared_dir(path, project)
            elif path.is_dir() and self.group_owned_hostpaths and self._may_own_hostpath(path):
                # a host path the admin declared for the project: the project's, setgid
                self.unix.shared_dir(path, project)

        return prepare

    def _may_own_hostpath(self, path: Path) -> bool:
        """A host path may become the project's unless it is the machine's own
        (system directories) or holds or lies in the platform's data directory."""
        resolved = path.resolve()
        data = Path(self.data_dir).resolve()
        if resolved == Path("/") or resolved.is_relative_to(data) or data.is_relative_to(resolved):
            self.log.warning("Host path %s of a project holds or lies in the data directory: its owner is left as is", path)
            return False
        if any(resolved.is_relative_to(p) for p in SYSTEM_DIRS) or str(resolved) in SHARED_ROOTS:
            self.log.warning("Host path %s of a project is a system directory: its owner is left as is", path)
            return False
        return True

    def _release_gpus(self):
        for uuid in list(getattr(self, "_gpu_uuids", [])):
            if type(self)._gpu_owners.get(uuid) == self._owner_key:
                del type(self)._gpu_owners[uuid]
        self._gpu_uuids = []

    async def start(self):
        choice = self.cube_choice()
        kind = self.cube_kinds()[choice.kind]
        projects, _ = self.cube_projects()
        project = projects[choice.project]
        mounts = merge_mounts(parse_volume_mounts(self.default_volume_mounts), project.volume_mounts)
        try:
            self.workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._prepare_account(choice.project)
            if self._run_as:  # claims inside are the users' or their projects': pass through, never list
                Path(self.volumes_dir).mkdir(exist_ok=True)
                os.chmod(self.volumes_dir, 0o711)
            apply_links(
                self.workspace,
                local_links(mounts, self.user.name, self.volumes_dir),
                self.volumes_dir,
                owner=self._run_as[:2] if self._run_as else None,
                prepare_target=self._prepare_target(choice.project),
            )
            self._release_gpus()
            taken = {u for u, owner in type(self)._gpu_owners.items() if owner != self._owner_key}
            gpus = pick_gpus(self.local_gpus(), choice.gpu.count, choice.gpu.type, taken)
        except FieldError as exc:
            raise invalid_options(FieldErrors([exc])) from None
        for gpu in gpus:
            type(self)._gpu_owners[gpu.uuid] = self._owner_key
        self._gpu_uuids = [g.uuid for g in gpus]

        threads = str(max(1, math.ceil(choice.cpu.limit)))
        env = server_environment(choice, self.user.name)
        env.update(
            {
                "CUBELAB_WORKSPACE": str(self.workspace),
                # numeric libraries size their thread pools from these, not from the core limit
                "OMP_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads,
                # an empty list hides every card from CUDA
                "CUDA_VISIBLE_DEVICES": ",".join(g.uuid for g in gpus),
                "NVIDIA_VISIBLE_DEVICES": ",".join(g.uuid for g in gpus) or "none",
            }
        )
        code_server = self.code_server_path() if self.offer_vscode else None
        if code_server:
            # the server's HOME is the workspace, so tell its proxy entry where code-server is
            env["CUBELAB_CODE_SERVER"] = code_server
        self._cube_env = env

        # JupyterHub exports these as CPU_LIMIT, MEM_LIMIT, ... to the server
        self.cpu_limit = float(choice.cpu.limit)
        self.cpu_guarantee = float(choice.cpu.request)
        self.mem_limit = choice.memory.limit
        self.mem_guarantee = choice.memory.request
        self.notebook_dir = str(self.workspace)
        self.default_url = kind.default_url

        if getattr(self, "_cgroup", None):
            remove_cgroup(self._cgroup)  # left by an earlier start that failed
        self._cgroup = None
        self._rlimit = None
        if self.memory_limit in ("auto", "cgroup"):
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self._owner_key)
            self._cgroup = make_memory_cgroup(f"cubelab-{safe}-{os.getpid()}", choice.memory.limit)
            if self._cgroup is None and self.memory_limit == "cgroup":
                self._release_gpus()
                raise web.HTTPError(500, "memory_limit is 'cgroup' but this machine does not let the hub create a memory cgroup")
        if self._cgroup is None and self.memory_limit in ("auto", "rlimit"):
            self._rlimit = choice.memory.limit
        if getattr(self, "_cpu_cgroup", None):
            remove_cgroup(self._cpu_cgroup)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self._owner_key)
        # the CPU limit as a quota where a cpu cgroup can be made; else the thread variables only
        self._cpu_cgroup = make_cpu_cgroup(f"cubelab-{safe}-{os.getpid()}", float(choice.cpu.limit))
        self.log.info(
            "%s: project %s, %s, cpu %s, memory %s (%s), gpus %s",
            self._log_name, choice.project, choice.kind, choice.cpu, choice.memory,
            f"cgroup {self._cgroup}" if self._cgroup else ("RLIMIT_DATA" if self._rlimit else "not enforced"),
            ",".join(g.index for g in gpus) or "none",
        )
        try:
            return await super().start()
        except Exception:
            self._cleanup(final=False)
            raise

    def _cleanup(self, final: bool = True):
        self._release_gpus()
        if getattr(self, "_cgroup", None):
            # A failed start may leave the process alive until the hub stops it:
            # keep the cgroup known until it can really be removed.
            if remove_cgroup(self._cgroup, attempts=20 if final else 1):
                self._cgroup = None
        if getattr(self, "_cpu_cgroup", None):
            if remove_cgroup(self._cpu_cgroup, attempts=20 if final else 1):
                self._cpu_cgroup = None

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            self._cleanup()

    async def poll(self):
        return await self.cube_check_membership(await super().poll())

    # GPU holdings survive a hub restart with the server (LocalProcessSpawner
    # keeps the pid in state; we keep the cards and the cgroup with it).
    def get_state(self):
        state = super().get_state()
        if getattr(self, "_gpu_uuids", None):
            state["gpu_uuids"] = list(self._gpu_uuids)
        if getattr(self, "_cgroup", None):
            state["cgroup"] = str(self._cgroup)
        if getattr(self, "_cpu_cgroup", None):
            state["cpu_cgroup"] = str(self._cpu_cgroup)
        return state

    def load_state(self, state):
        super().load_state(state)
        self._gpu_uuids = list(state.get("gpu_uuids", []))
        for uuid in self._gpu_uuids:
            type(self)._gpu_owners[uuid] = self._owner_key
        self._cgroup = Path(state["cgroup"]) if state.get("cgroup") else None
        self._cpu_cgroup = Path(state["cpu_cgroup"]) if state.get("cpu_cgroup") else None

    def clear_state(self):
        super().clear_state()
        self._release_gpus()
