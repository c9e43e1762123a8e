"""Projects as Unix groups, kept in step with memberships in the control plane.

A user joins a project's group when something of theirs first runs in the
project (their server or a task: ``UnixAccounts.add_member``); here the
control plane takes them out when their membership is revoked, and removes
the group with the project. Servers of a revoked member are stopped by the
server manager's own hook; the group is gone for whatever starts next.
"""

from __future__ import annotations

import asyncio
import os

from .unix import UnixAccounts


def install(app) -> UnixAccounts | None:
    """Register the hooks on the control plane ``app`` when accounts are on
    (``cubelab up`` as root hands the settings down in the environment)."""
    if os.environ.get("CUBELAB_UNIX_ENABLED") != "1":
        return None
    unix = UnixAccounts(parent=app)
    if not unix.enabled:
        return None

    async def membership_revoked(project: str, user: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, unix.remove_member, project, user)

    async def project_deleted(project: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, unix.remove_group, project)

    app.membership_revoked_hooks.append(membership_revoked)
    app.project_delete_hooks.append(project_deleted)
    return unix
