"""Notebook servers: expiry, renewal, reset, and stopping on revoked membership.

The hub knows which servers run, when they started and with which choices
(``user_options``); this service adds when each expires
(``cubelab_hub.domain.expiry``), a one-click renewal, a reset that restarts a
server with the same choices, and a reaper that stops expired servers through
the hub's API.

Settings (control plane config): ``c.ServerExpiry.default = "3d"``,
``c.ServerExpiry.per_kind = {"vscode": "1d"}``, ``c.ServerExpiry.gpu = "1d"``,
``c.ServerExpiry.reaper_interval = 60``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import delete, select
from traitlets import Dict, Float, Unicode, validate
from traitlets.config import Configurable

from ...domain.errors import Conflict, NotFound
from ...domain.expiry import ExpiryPolicy, parse_duration
from ...storage import upsert
from ..hubclient import HubAPIError
from ..models.pipelines import aware
from ..models.servers import ServerRenewalRow

log = logging.getLogger("cubelab.servers")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ServerExpiry(Configurable):
    default = Unicode("3d", config=True, help="How long a notebook server lives after it starts or is renewed ('3d', '12h', 'never').")
    per_kind = Dict(
        {}, config=True, help="Periods per kind of server, over the default: {'jupyterlab': '3d', 'vscode': '1d', 'rstudio': '1d'}."
    )
    gpu = Unicode("", config=True, help="Period for servers with at least one GPU, over kind and default ('' = as the others).")
    reaper_interval = Float(60.0, config=True, help="Seconds between passes that stop expired servers.")
    stop_timeout = Float(120.0, config=True, help="Seconds a reset waits for the old server to stop before giving up.")
    reset_delay = Float(
        1.0, config=True,
        help="Seconds a reset waits after answering before it stops the server: a caller who asked through that server gets the answer first.",
    )

    @validate("default", "gpu")
    def _check_duration(self, proposal):
        if proposal.value:
            parse_duration(proposal.value, f"ServerExpiry.{proposal.trait.name}")
        return proposal.value

    def policy(self) -> ExpiryPolicy:
        return ExpiryPolicy.from_config(self.default, self.per_kind, self.gpu or None)


def _hub_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _server_path(user: str, server: str) -> str:
    base = f"/users/{quote(user, safe='')}"
    return f"{base}/servers/{quote(server, safe='')}" if server else f"{base}/server"


def _active(model: dict) -> bool:
    return bool(model.get("ready") or model.get("pending")) and not model.get("stopped")


class ServerStopTimeout(Exception):
    """A server did not stop within the wait a reset allows."""


class ServerManager:
    """Expiry, renewal, reset and reaping of the hub's servers.

    ``audit``: ``async (actor, project, action, detail)``, records what the reaper does.
    """

    def __init__(self, database, hub_client, expiry: ServerExpiry, audit=None):
        self.db = database
        self.hub = hub_client
        self.expiry = expiry
        self._audit = audit
        # (user, server) -> state of the latest reset, and the tasks doing them
        self._resets: dict[tuple[str, str], dict] = {}
        self._reset_tasks: set[asyncio.Task] = set()

    async def renewals(self, user: str | None = None) -> dict[tuple[str, str], ServerRenewalRow]:
        def read(session) -> dict[tuple[str, str], ServerRenewalRow]:
            query = select(ServerRenewalRow)
            if user is not None:
                query = query.where(ServerRenewalRow.user == user)
            return {(r.user, r.server): r for r in session.scalars(query).all()}

        return await self.db.run(read)

    async def renewal(self, user: str, server: str) -> ServerRenewalRow | None:
        """The last renewal of one server, if any."""
        return await self.db.run(lambda session: session.scalars(select(ServerRenewalRow).where(
            ServerRenewalRow.user == user, ServerRenewalRow.server == server)).first())

    def view(self, user: str, model: dict, renewal: ServerRenewalRow | None) -> dict:
        options = model.get("user_options") or {}
        started = _hub_time(model.get("started"))
        renewed_at = aware(renewal.renewed_at) if renewal else None
        if started and renewed_at and renewed_at < started:
            renewed_at = None  # a renewal of an earlier run of this server
        expires = self.expiry.policy().expires_at(started, renewed_at, options) if started else None
        return {
            "user": user,
            "name": model.get("name", ""),
            "project": options.get("project"),
            "kind": options.get("kind"),
            "options": options,
            "url": model.get("url"),
            "ready": bool(model.get("ready")),
            "pending": model.get("pending"),
            "started": _iso(started),
            "renewed_at": _iso(renewed_at),
            "renewed_by": renewal.renewed_by if renewed_at and renewal else None,
            "expires_at": _iso(expires),
        }

    async def user_servers(self, user: str) -> list[dict]:
        model = await self.hub.get_user(user, fresh=True)
        if model is None:
            raise NotFound.of("user", user)
        renewals = await self.renewals(user)
        servers = model.get("servers") or {}
        return [self.view(user, s, renewals.get((user, name))) for name, s in sorted(servers.items()) if _active(s)]

    async def servers_page(self, start: tuple[int, str] | None, limit: int) -> tuple[list[dict], tuple[int, str] | None]:
        """Running servers of every user, by user name and server name, read with
        the hub's own paging of users with active servers.

        ``start``: where the previous page ended (the hub offset of a user, and
        that user's last server already listed). Returns the page and the
        position of its last server when more follow.
        """
        first, seen = start or (0, None)
        offset: int | None = first
        found: list[tuple[tuple[int, str], dict]] = []
        while offset is not None and len(found) <= limit:
            users, following = await self.hub.page("/users?state=active&sort=name", offset, min(limit + 1, 200))
            for index, model in enumerate(users, start=offset):
                servers = sorted((n, s) for n, s in (model.get("servers") or {}).items() if _active(s))
                if index == first and seen is not None:
                    servers = [(n, s) for n, s in servers if n > seen]
                renewals = await self.renewals(model["name"]) if servers else {}
                found.extend(((index, n), self.view(model["name"], s, renewals.get((model["name"], n)))) for n, s in servers)
                if len(found) > limit:
                    break
            offset = following
        more = len(found) > limit
        return [view for _key, view in found[:limit]], (found[limit - 1][0] if more else None)

    async def server(self, user: str, server: str) -> dict:
        model = await self.hub.get_user(user, fresh=True)
        if model is None:
            raise NotFound.of("user", user)
        found = (model.get("servers") or {}).get(server)
        if found is None or not _active(found):
            label = f"server '{server}'" if server else "default server"
            raise NotFound(f"{user} has no running {label}")
        return found

    async def renew(self, user: str, server: str, actor: str) -> dict:
        model = await self.server(user, server)
        now = utcnow()

        def save(session) -> ServerRenewalRow:
            # one statement: two renewals at once do not collide on the unique (user, server)
            upsert(session, ServerRenewalRow.__table__, {"user": user, "server": server, "renewed_at": now, "renewed_by": actor},
                   keys=("user", "server"))
            return ServerRenewalRow(user=user, server=server, renewed_at=now, renewed_by=actor)

        return self.view(user, model, await self.db.run(save))

    async def stop(self, user: str, server: str, wait: bool) -> None:
        await self.hub.request("DELETE", _server_path(user, server), ok_missing=True)
        if not wait:
            return
        deadline = time.monotonic() + self.expiry.stop_timeout
        while time.monotonic() < deadline:
            model = await self.hub.get_user(user, fresh=True)
            current = ((model or {}).get("servers") or {}).get(server)
            if current is None or not _active(current):
                return
            await asyncio.sleep(0.5)
        raise ServerStopTimeout(f"the server did not stop within {self.expiry.stop_timeout:.0f}s")

    async def start_reset(self, user: str, server: str) -> dict:
        """Begin a reset: stop the server and start it again with the same
        choices, in the background. Returns the reset's state at once, so the
        answer reaches a caller who asked through the very server being reset
        before it goes away; :meth:`reset_state` follows it."""
        key = (user, server)
        self._check_no_reset_under_way(key)
        model = await self.server(user, server)
        if model.get("pending"):
            raise Conflict(f"the server is {model['pending']}; try again when it is done")
        self._check_no_reset_under_way(key)  # again: another request may have begun one meanwhile
        state = {
            "user": user,
            "name": server,
            "options": dict(model.get("user_options") or {}),
            "status": "stopping",
            "message": "",
            "requested_at": _iso(utcnow()),
        }
        self._resets[key] = state
        task = asyncio.get_running_loop().create_task(self._reset(user, server, state))
        self._reset_tasks.add(task)
        task.add_done_callback(self._reset_tasks.discard)
        return dict(state)

    def _check_no_reset_under_way(self, key: tuple[str, str]) -> None:
        current = self._resets.get(key)
        if current is not None and current["status"] in ("stopping", "starting"):
            raise Conflict(f"a reset of this server is already {current['status']}")

    def reset_state(self, user: str, server: str) -> dict:
        """The state of the latest reset of a server (kept until the control plane restarts)."""
        state = self._resets.get((user, server))
        if state is None:
            label = f"server '{server}'" if server else "default server"
            raise NotFound(f"no reset of {user}'s {label} was requested")
        return dict(state)

    async def _reset(self, user: str, server: str, state: dict) -> None:
        # the 202 travels back through the server being stopped: let it pass first
        await asyncio.sleep(self.expiry.reset_delay)
        try:
            await self.stop(user, server, wait=True)
            state["status"] = "starting"
            await self.hub.request("POST", _server_path(user, server), state["options"])
            # a fresh start: the renewal belonged to the old one
            await self.db.run(lambda session: session.execute(
                delete(ServerRenewalRow).where(ServerRenewalRow.user == user, ServerRenewalRow.server == server)))
            state["status"] = "started"
            state["message"] = f"the hub is starting the server; GET {_server_path(user, server)} says when it is ready"
        except ServerStopTimeout as exc:
            state["status"], state["message"] = "failed", str(exc)
        except HubAPIError as exc:
            # e.g. the same choices are now over the project's quota: say so
            stage = "stopping failed" if state["status"] == "stopping" else "stopped, but starting again failed"
            state["status"], state["message"] = "failed", f"{stage}: {exc.message}"
        except Exception:
            log.exception("reset of %s/%s failed", user, server)
            state["status"], state["message"] = "failed", "internal error; see the control plane's log"
        log.info("reset of %s/%s: %s %s", user, server, state["status"], state["message"])

    async def reap(self, now: datetime) -> list[tuple[str, str]]:
        """Stop every expired server; returns what was stopped.

        Only users with servers are asked for (paged by the hub), so a pass
        costs hub requests in proportion to running servers, not to accounts.
        """
        policy = self.expiry.policy()
        active = await self.hub.list_active_users()
        if not active:
            return []
        renewals = await self.renewals()
        stopped = []
        for user in active:
            for name, model in (user.get("servers") or {}).items():
                if not model.get("ready") or model.get("pending"):
                    continue
                started = _hub_time(model.get("started"))
                if started is None:
                    continue
                renewal = renewals.get((user["name"], name))
                renewed_at = aware(renewal.renewed_at) if renewal else None
                if policy.is_expired(now, started, renewed_at, model.get("user_options")):
                    log.info("server %s/%s expired (started %s, renewed %s); stopping", user["name"], name, _iso(started), _iso(renewed_at))
                    try:
                        await self.stop(user["name"], name, wait=False)
                    except Exception:
                        log.exception("stopping expired server %s/%s failed", user["name"], name)
                        continue
                    if self._audit is not None:
                        await self._audit("cubelab", (model.get("user_options") or {}).get("project"), "server:expired",
                                          {"user": user["name"], "server": name})
                    stopped.append((user["name"], name))
        return stopped

    async def loop(self) -> None:
        while True:
            try:
                await self.reap(utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("server expiry pass failed")
            await asyncio.sleep(self.expiry.reaper_interval)

    async def on_membership_revoked(self, project: str, user: str) -> None:
        """Stop the user's servers that run for the project they just left."""
        model = await self.hub.get_user(user, fresh=True)
        for name, server in ((model or {}).get("servers") or {}).items():
            if _active(server) and (server.get("user_options") or {}).get("project") == project:
                log.info("%s left project %s: stopping server '%s'", user, project, name)
                await self.stop(user, name, wait=False)
