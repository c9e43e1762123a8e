"""Unix accounts and groups for CubeLab users and projects.

When the platform runs as root, every CubeLab user is a Unix account
(``<prefix><name>``, e.g. ``cl-alice``) and every project a Unix group
(``<prefix>p.<project>``); notebook servers, kernels, terminals and pipeline tasks
run as the account, with the project's group, so the kernel keeps users apart
as it does on any multi-user machine (The Littlest JupyterHub does the same).

The names come from JupyterHub (validated by the authenticator), and still
every command here is an argv list built by a pure function: nothing reaches a
shell. The mapping is a pure function of the name, and the accounts live in the
system's own databases (``/etc/passwd``, ``/etc/group``), so it survives restarts.

The control plane runs in another process: the hub hands it these settings in
``CUBELAB_UNIX_*`` environment variables (:meth:`UnixAccounts.to_environment`),
which are the traitlets' defaults.
"""

from __future__ import annotations

import ctypes
import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from traitlets import Bool, Integer, Unicode, default, validate
from traitlets.config import LoggingConfigurable

# what the authenticator accepts (CubeAuthenticator.username_pattern) and projects use
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PREFIX_RE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
MAX_UNIX_NAME = 32  # useradd's limit
PR_SET_NO_NEW_PRIVS = 38
# one account or group change at a time in this process: two tasks of a new user
# starting together must not see the account before its home is theirs
_CHANGES = threading.RLock()


class UnixAccountError(RuntimeError):
    """An account or group command failed; the message says which and why."""


# --------------------------------------------------------------------- pure parts


def unix_name(prefix: str, name: str) -> str:
    """The account or group name for a CubeLab user or project. Names too long
    for useradd keep a readable start and end in a short hash of the whole name,
    so the mapping stays a function of the name alone."""
    if not NAME_RE.match(name):
        raise ValueError(f"'{name[:70]}' is not a CubeLab user or project name (lowercase letters, digits, '-', '_')")
    full = prefix + name
    if len(full) <= MAX_UNIX_NAME:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{full[:MAX_UNIX_NAME - 9]}-{digest}"


def useradd_argv(account: str, home: str, uid_min: int, uid_max: int, comment: str) -> list[str]:
    # the home is created by the caller (0700, owned by the account); a user
    # private group with the account's name; ids from the configured range only
    return [
        "useradd", "--home-dir", home, "--no-create-home", "--shell", "/bin/bash", "--user-group",
        "--comment", comment,
        "-K", f"UID_MIN={uid_min}", "-K", f"UID_MAX={uid_max}", "-K", f"GID_MIN={uid_min}", "-K", f"GID_MAX={uid_max}",
        account,
    ]


def lock_argv(account: str) -> list[str]:
    # a locked password and an expired account: no login of any kind
    return ["usermod", "--lock", "--expiredate", "1", account]


def unlock_argv(account: str) -> list[str]:
    # the expiry only: the password stays locked (these accounts never log in with one,
    # and usermod refuses to unlock a password that would then be empty)
    return ["usermod", "--expiredate", "", account]


def userdel_argv(account: str) -> list[str]:
    return ["userdel", account]


def groupadd_argv(group: str, gid_min: int, gid_max: int) -> list[str]:
    return ["groupadd", "-K", f"GID_MIN={gid_min}", "-K", f"GID_MAX={gid_max}", group]


def groupdel_argv(group: str) -> list[str]:
    return ["groupdel", group]


def add_member_argv(account: str, group: str) -> list[str]:
    return ["gpasswd", "--add", account, group]


def remove_member_argv(account: str, group: str) -> list[str]:
    return ["gpasswd", "--delete", account, group]


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): neither setuid binaries nor file capabilities
    give this process or its children more than it has. Call in a child before exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def drop_to(uid: int, gid: int, groups: list[int], umask: int = 0o002) -> None:
    """In a child process running as root, become ``uid``: groups first (they
    need root), then no_new_privs, then the uid (which clears every capability)."""
    os.setgroups(groups)
    os.setgid(gid)
    set_no_new_privs()
    os.setuid(uid)
    os.umask(umask)


def processes_of(uid: int) -> list[int]:
    """Pids whose real or effective uid is ``uid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        real, effective = line.split()[1:3]
                        if uid in (int(real), int(effective)):
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def kill_processes_of(uid: int, grace: float = 3.0) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds, every process of ``uid``;
    returns how many there were."""
    if uid == 0:
        raise ValueError("refusing to kill root's processes")
    pids = processes_of(uid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in processes_of(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


# --------------------------------------------------------------------- the accounts


def _env_default(name: str, fallback):
    value = os.environ.get(name)
    if value is None or value == "":
        return fallback
    if isinstance(fallback, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(fallback, int):
        return int(value)
    return value


class UnixAccounts(LoggingConfigurable):
    """Creates, locks and removes the Unix accounts and groups of CubeLab users and projects."""

    enabled = Bool(
        help="Run each user's code as their own Unix account (and each project as a Unix group). "
        "Default: on when the platform runs as root, which it needs to create accounts and switch to them. "
        "Off, every user's code runs as the platform's own OS user.",
    ).tag(config=True)

    @default("enabled")
    def _enabled_default(self):
        return _env_default("CUBELAB_UNIX_ENABLED", hasattr(os, "geteuid") and os.geteuid() == 0)

    prefix = Unicode(
        help="Prefix of every account and group CubeLab creates ('cl-' makes user alice the account "
        "cl-alice), so they never collide with the machine's own accounts.",
    ).tag(config=True)

    @default("prefix")
    def _prefix_default(self):
        return _env_default("CUBELAB_UNIX_PREFIX", "cl-")

    @validate("prefix")
    def _check_prefix(self, proposal):
        if not PREFIX_RE.match(proposal.value):
            raise ValueError(f"UnixAccounts.prefix '{proposal.value}': use 1 to 16 lowercase letters, digits, '-' or '_', starting with a letter")
        return proposal.value

    uid_min = Integer(help="Lowest uid (and gid) given to CubeLab accounts and groups.").tag(config=True)
    uid_max = Integer(help="Highest uid (and gid) given to CubeLab accounts and groups.").tag(config=True)

    @default("uid_min")
    def _uid_min_default(self):
        return _env_default("CUBELAB_UNIX_UID_MIN", 30000)

    @default("uid_max")
    def _uid_max_default(self):
        return _env_default("CUBELAB_UNIX_UID_MAX", 39999)

    deleted_root = Unicode(
        help="Where the workspace of a deleted user is moved (kept for the admins, readable only by the "
        "platform). Default: <data_dir>/deleted-workspaces.",
    ).tag(config=True)

    @default("deleted_root")
    def _deleted_root_default(self):
        configured = _env_default("CUBELAB_UNIX_DELETED_ROOT", "")
        if configured:
            return configured
        return os.path.join(os.environ.get("CUBELAB_DATA_DIR") or os.path.abspath("cubelab-data"), "deleted-workspaces")

    def to_environment(self) -> dict[str, str]:
        """These settings for another process (the control plane)."""
        return {
            "CUBELAB_UNIX_ENABLED": "1" if self.enabled else "0",
            "CUBELAB_UNIX_PREFIX": self.prefix,
            "CUBELAB_UNIX_UID_MIN": str(self.uid_min),
            "CUBELAB_UNIX_UID_MAX": str(self.uid_max),
            "CUBELAB_UNIX_DELETED_ROOT": self.deleted_root,
        }

    # ------------------------------------------------------------ names

    def account_name(self, user: str) -> str:
        return unix_name(self.prefix, user)

    def group_name(self, project: str) -> str:
        # '.' is in no CubeLab name: a project named like a user never takes
        # that user's private group (which has the account's name)
        return unix_name(self.prefix + "p.", project)

    def lookup(self, user: str) -> pwd.struct_passwd | None:
        try:
            return pwd.getpwnam(self.account_name(user))
        except KeyError:
            return None

    def group_id(self, project: str) -> int | None:
        try:
            return grp.getgrnam(self.group_name(project)).gr_gid
        except KeyError:
            return None

    # ------------------------------------------------------------ commands

    def _run(self, argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> int:
        for attempt in range(10):
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
            # the hub and the control plane both change accounts: wait out the other's lock on /etc files
            if result.returncode in ok_codes or "lock" not in result.stderr.lower():
                break
            time.sleep(0.1 * (attempt + 1))
        if result.returncode not in ok_codes:
            raise UnixAccountError(f"{argv[0]} failed for {argv[-1]} (exit {result.returncode}): {result.stderr.strip()[:300]}")
        return result.returncode

    def _check_in_range(self, entry: pwd.struct_passwd) -> None:
        # an account of the right name but outside our range is not ours (a system account)
        if not (self.uid_min <= entry.pw_uid <= self.uid_max):
            raise UnixAccountError(
                f"the Unix account {entry.pw_name} exists with uid {entry.pw_uid}, outside CubeLab's range "
                f"{self.uid_min}-{self.uid_max}: not CubeLab's; choose another UnixAccounts.prefix"
            )

    def ensure_account(self, user: str, home: str | os.PathLike) -> pwd.struct_passwd:
        """The user's account, created on first need, with ``home`` (their
        workspace) as its home: owned by them, mode 0700. Its parent is made
        traversable but not listable (0711), so nobody sees the other names."""
        with _CHANGES:
            return self._ensure_account(user, Path(home))

    def _ensure_account(self, user: str, home: Path) -> pwd.struct_passwd:
        entry = self.lookup(user)
        account = self.account_name(user)
        if entry is None:
            # 9: created meanwhile by another process (the hub and the control plane both create)
            self._run(useradd_argv(account, str(home), self.uid_min, self.uid_max, f"CubeLab user {user}"), ok_codes=(0, 9))
            entry = pwd.getpwnam(account)
            self.log.info("Created Unix account %s (uid %s) for %s", account, entry.pw_uid, user)
        self._check_in_range(entry)
        home.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(home.parent, 0o711)  # traversable, not listable: nobody sees the other names
        try:
            home.mkdir(mode=0o700)
            fresh = True
        except FileExistsError:
            fresh = False
        st = home.stat()
        if fresh or st.st_uid != entry.pw_uid:
            # a workspace made before accounts existed (or by an older account) becomes theirs
            _chown_tree(home, entry.pw_uid, entry.pw_gid)
        os.chmod(home, 0o700)
        return entry

    def lock(self, user: str) -> int:
        """Lock the account and stop every process it runs; how many were stopped."""
        entry = self.lookup(user)
        if entry is None:
            return 0
        self._check_in_range(entry)
        self._run(lock_argv(entry.pw_name))
        stopped = kill_processes_of(entry.pw_uid)
        self.log.info("Locked Unix account %s; stopped %d process(es)", entry.pw_name, stopped)
        return stopped

    def unlock(self, user: str) -> None:
        entry = self.lookup(user)
        if entry is None:
            return
        self._check_in_range(entry)
        self._run(unlock_argv(entry.pw_name))
        self.log.info("Unlocked Unix account %s", entry.pw_name)

    def remove(self, user: str) -> None:
        """Stop the account's processes, remove it, and move its home where only
        the platform reads it (a later account with a recycled uid gets nothing)."""
        entry = self.lookup(user)
        if entry is None:
            return
        self._check_in_range(entry)
        kill_processes_of(entry.pw_uid)
        self._run(userdel_argv(entry.pw_name), ok_codes=(0, 6))
        home = Path(entry.pw_dir)
        if entry.pw_dir and home.is_dir() and home.stat().st_uid == entry.pw_uid:
            deleted = Path(self.deleted_root)
            deleted.mkdir(parents=True, exist_ok=True)
            os.chmod(deleted, 0o700)
            shutil.move(str(home), str(deleted / f"{user}-{time.strftime('%Y%m%dT%H%M%S')}"))
        self.log.info("Removed Unix account %s of deleted user %s", entry.pw_name, user)

    def ensure_group(self, project: str) -> int:
        with _CHANGES:
            return self._ensure_group(project)

    def _ensure_group(self, project: str) -> int:
        gid = self.group_id(project)
        if gid is None:
            self._run(groupadd_argv(self.group_name(project), self.uid_min, self.uid_max), ok_codes=(0, 9))
            gid = grp.getgrnam(self.group_name(project)).gr_gid
            self.log.info("Created Unix group %s (gid %s) for project %s", self.group_name(project), gid, project)
        if not (self.uid_min <= gid <= self.uid_max):
            raise UnixAccountError(f"the Unix group {self.group_name(project)} exists with gid {gid}, outside CubeLab's range: not CubeLab's")
        return gid

    def add_member(self, project: str, user: str) -> int:
        """The project's gid, with the user's (existing) account in the group."""
        with _CHANGES:
            gid = self._ensure_group(project)
            account = self.account_name(user)
            if account not in grp.getgrgid(gid).gr_mem:
                self._run(add_member_argv(account, self.group_name(project)))
            return gid

    def remove_member(self, project: str, user: str) -> None:
        group = self.group_name(project)
        try:
            members = grp.getgrnam(group).gr_mem
        except KeyError:
            return
        account = self.account_name(user)
        if account in members:
            self._run(remove_member_argv(account, group), ok_codes=(0, 3))

    def remove_group(self, project: str) -> None:
        if self.group_id(project) is not None:
            self._run(groupdel_argv(self.group_name(project)), ok_codes=(0, 6))

    def shared_dir(self, path: str | os.PathLike, project: str) -> None:
        """Project-shared storage: group-owned by the project, setgid, 2770."""
        gid = self.ensure_group(project)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 0, gid)
        os.chmod(path, 0o2770)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


# --------------------------------------------------------------------- start-up check


USER_SERVER_MODULES = ("jupyterhub.singleuser", "jupyter_server", "jupyterlab", "cubelab_server", "cubelab_hub.engines")


def check_runnable_by_accounts(python: str, modules=USER_SERVER_MODULES, as_uid: int = 65534, timeout: float = 120) -> str | None:
    """Whether another account (``nobody`` by default) can run ``python`` and
    import what user servers and tasks need; None if so, else why not."""

    def become_other():
        drop_to(as_uid, as_uid, [], 0o077)

    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
    try:
        result = subprocess.run(
            [python, "-c", code, *modules], preexec_fn=become_other, cwd="/", capture_output=True, text=True, timeout=timeout, check=False
        )
    except OSError as exc:
        return f"{python} cannot be executed by other accounts: {exc}"
    except subprocess.TimeoutExpired:
        return f"{python} did not finish importing {', '.join(modules)} within {timeout}s as another account"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        return f"{python} cannot import {', '.join(modules)} as another account: {last}"
    return None
