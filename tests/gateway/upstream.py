"""A service replica for the gateway tests and benchmark: a real process on loopback.

    python upstream.py --name NAME --port PORT [--delay SECONDS]

Every answer says which replica gave it (body and ``X-Upstream``). ``/_stats``
(asked directly, not through the gateway) counts the requests seen, the mirror
copies among them (``X-CubeLab-Mirror``) and the last ``X-CubeLab-User`` and
``Authorization`` received. ``/stream`` writes a first chunk, then waits for
``/_release`` before the last; ``/ws`` echoes WebSocket messages; ``?sleep=S``
answers after S seconds. ``--delay`` delays every answer (a slow shadow).
Prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import WSMsgType, web


def make_app(name: str, delay: float) -> web.Application:
    stats = {"requests": 0, "mirrored": 0, "user": None, "authorization": None, "paths": []}
    released = asyncio.Event()

    async def stats_handler(request: web.Request) -> web.Response:
        return web.json_response(stats)

    async def release(request: web.Request) -> web.Response:
        released.set()
        return web.Response(text="released")

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"X-Upstream": name, "Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(b"first\n")
        await asyncio.wait_for(released.wait(), 30)
        await resp.write(b"last\n")
        await resp.write_eof()
        return resp

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str(f"{name}:{msg.data}")
        return sock

    async def any_path(request: web.Request) -> web.Response:
        body = await request.read()
        stats["requests"] += 1
        if request.headers.get("X-CubeLab-Mirror"):
            stats["mirrored"] += 1
        stats["user"] = request.headers.get("X-CubeLab-User")
        stats["authorization"] = request.headers.get("Authorization")
        if len(stats["paths"]) < 50:
            stats["paths"].append(request.path_qs)
        wait = delay + float(request.query.get("sleep", 0))
        if wait:
            await asyncio.sleep(wait)
        return web.Response(text=f"{name} {len(body)}", headers={"X-Upstream": name})

    app = web.Application()
    app.router.add_get("/_stats", stats_handler)
    app.router.add_get("/_release", release)
    app.router.add_get("/stream", stream)
    app.router.add_get("/ws", ws)
    app.router.add_route("*", "/{tail:.*}", any_path)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    web.run_app(make_app(args.name, args.delay), host="127.0.0.1", port=args.port, print=lambda *_: print("ready", flush=True),
                access_log=None)


if __name__ == "__main__":
    main()
