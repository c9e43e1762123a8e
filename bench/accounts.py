"""The Unix accounts of an ``--isolation`` benchmark: a prefix of its own
(``clbench<pid>-``), so they are told apart from the platform's and from other
runs', and their removal at the end, processes stopped by PID first."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys

ROOT_NEEDED = "needs root: it creates a Unix account to run servers or tasks as (run it as root, or without --isolation)"


def require_root(what: str) -> None:
    """Say why and exit when this process cannot create accounts."""
    if os.geteuid() != 0:
        sys.exit(f"{what} --isolation {ROOT_NEEDED}")


def bench_prefix() -> str:
    # short enough for UnixAccounts.prefix (16) and for useradd's 32 with a user name after it
    return f"clbench{os.getpid() % 100000}-"


def remove_accounts(prefix: str) -> list[str]:
    """Every account and group named with ``prefix``: their processes stopped
    by PID, then removed. Returns the names removed."""
    from cubelab_hub.platform.unix import groupdel_argv, kill_processes_of, userdel_argv

    if not prefix.startswith("clbench"):
        raise ValueError(f"refusing to remove accounts of prefix {prefix!r}: not a benchmark's")
    removed = []
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            kill_processes_of(entry.pw_uid)
            subprocess.run(userdel_argv(entry.pw_name), check=False, capture_output=True)
            removed.append(entry.pw_name)
    for group in grp.getgrall():
        if group.gr_name.startswith(prefix):
            subprocess.run(groupdel_argv(group.gr_name), check=False, capture_output=True)
            removed.append(group.gr_name)
    return removed


def leftovers(prefix: str) -> list[str]:
    """Accounts or groups of ``prefix`` still there (none after remove_accounts)."""
    return [e.pw_name for e in pwd.getpwall() if e.pw_name.startswith(prefix)] + [
        g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix)
    ]
