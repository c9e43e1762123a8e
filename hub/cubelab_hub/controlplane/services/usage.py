"""What a project's notebook servers hold, as the hub reports them: the other
half (with running pipeline tasks, :class:`~.runs.RunManager`) of what a
project's quota counts.
"""

from __future__ import annotations

from ...domain.quotas import Usage, usage_of_options


def _active(server: dict) -> bool:
    return bool(server.get("ready") or server.get("pending")) and not server.get("stopped")


async def servers_in_use(hub_client, project: str) -> Usage:
    """The limits of every running or starting server started for ``project``
    (its ``user_options``), counted as the spawn form counts them."""
    used = Usage()
    for user in await hub_client.list_active_users():
        for server in (user.get("servers") or {}).values():
            options = server.get("user_options") or {}
            if _active(server) and options.get("project") == project:
                used = used + usage_of_options(options)
    return used
