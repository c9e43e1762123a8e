"""The gateway candidates side by side: requests/s and p99 directly to a trivial
upstream and through each proxy, in the same run.

    python bench/gateway.py [--duration 10] [--rounds 3] [--connections 32] [--skip caddy]

The upstream is ``tests/gateway/upstream.py`` (aiohttp, one process, access log
off): the kind of Python service the gateway fronts. The load generator is
``wrk`` (Debian's ``wrk``, C, epoll, one thread, kept-alive connections; one
thread because the machine's few cores are shared with the proxy and the
upstream, and wrk at one thread still outruns them). Each round runs every
target once, in turn, so a change in the machine's load hits all of them;
printed: median (min–max) over rounds of requests/s and p99, and the median of
each round's ratio to the direct figures. Targets:

- ``direct``: wrk -> upstream;
- ``nginx``: the gateway as CubeLab configures it (``cubelab_hub.gateway``: the
  product's own configuration and process class, a public route, access log on);
- ``nginx mirror 50%``: the same gateway, a route mirroring half its requests
  to a second upstream process (the shadow); its p99 against ``nginx``'s is the
  mirror's cost to the primary;
- ``nginx mirror static``: the same, mirroring to a shadow that costs next to
  no CPU (nginx answering from memory): the mirror's own cost, apart from the
  second Python process competing for the same cores;
- ``haproxy``: HAProxy 2.6, HTTP mode, Host routing, connection reuse;
- ``caddy``: Caddy 2.6, ``reverse_proxy`` with ``flush_interval -1`` (streaming).

Why nginx (also in docs/services.md, "The gateway", with the figures): here
nginx and HAProxy both stay at the direct figures within the machine's noise
(nginx 0.96-1.32x of direct throughput over three runs, p99 0.93-1.25x; a
Python gateway reached 0.33x), Caddy is behind (0.65-0.71x). Between nginx and
HAProxy the features decide, and nginx has each one built in: weighted
``split_clients``, ``mirror`` subrequests whose answers are discarded,
``auth_request`` for the platform's login, WebSockets, unbuffered streaming,
and a graceful reload on SIGHUP after ``nginx -t``. HAProxy 2.6 mirrors only
through an external SPOE agent and checks a login only from Lua; Caddy 2.6 has
neither a mirror nor weighted splits.

The mirror rows: with half the requests copied, throughput fell to 0.52x (Python
shadow) and 0.68x (static shadow) of direct and p99 grew 1.7x over the unmirrored
gateway: a mirrored request is proxied three times (client -> primary, copy ->
relay, relay -> shadow; see ``cubelab_hub.gateway.config``) on two shared cores.
The relay is what keeps a slow shadow from delaying kept-alive clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "hub"), str(ROOT / "tests"), str(ROOT / "bench")]

from figures import load_average, median_spread  # noqa: E402
from support.platform import free_port  # noqa: E402

from cubelab_hub.gateway.process import Gateway  # noqa: E402
from cubelab_hub.gateway.routes import Backend, Mirror, Route, Split  # noqa: E402

UPSTREAM = ROOT / "tests" / "gateway" / "upstream.py"
HOST, MIRROR_HOST, STATIC_MIRROR_HOST = "bench.localhost", "mirror.localhost", "mirror-static.localhost"


def start_upstream(name: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(UPSTREAM), "--name", name, "--port", str(port)], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"upstream {name} did not start")
    return proc, port


def start_static_shadow(tmp: Path) -> tuple[subprocess.Popen, int]:
    """A shadow that costs next to no CPU (nginx answering from memory): the
    mirror's own cost, apart from a Python shadow's CPU on the same cores."""
    port = free_port()
    prefix = tmp / "static"
    (prefix / "logs").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "shadow"; }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def start_haproxy(tmp: Path, upstream: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / "haproxy.cfg"
    conf.write_text(f"""global
    maxconn 4096
    nbthread 2
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend gateway
    bind 127.0.0.1:{port}
    use_backend service if {{ hdr(host) -i {HOST} }}
backend service
    server replica 127.0.0.1:{upstream}
""")
    proc = subprocess.Popen(["haproxy", "-q", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def start_caddy(tmp: Path, upstream: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / "Caddyfile"
    conf.write_text(f"""{{
    admin off
    auto_https off
}}
http://{HOST}:{port} {{
    bind 127.0.0.1
    reverse_proxy 127.0.0.1:{upstream} {{
        flush_interval -1
    }}
}}
""")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "caddy-data"), "XDG_CONFIG_HOME": str(tmp / "caddy-config"), "GOMAXPROCS": "2"}
    proc = subprocess.Popen(["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


async def wait_port(port: int, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


async def wrk(port: int, host: str, duration: float, connections: int) -> tuple[float, float, int]:
    """(requests/s, p99 in ms, errors) of one wrk run."""
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-H", f"Host: {host}", f"http://127.0.0.1:{port}/",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out = (await proc.communicate())[0].decode()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not rate or not p99:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return float(rate.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], errors


async def run(args, tmp: Path) -> None:
    procs: list[subprocess.Popen] = []
    gateway: Gateway | None = None
    try:
        upstream, up_port = start_upstream("primary")
        shadow, shadow_port = start_upstream("shadow")
        static, static_port = start_static_shadow(tmp)
        procs += [upstream, shadow, static]
        primary = Backend("primary", (f"127.0.0.1:{up_port}",))
        gateway = Gateway(prefix=str(tmp / "gateway"), port=free_port())
        await gateway.start([
            Route(HOST, "bench", (Split(primary, 100),), expose="public"),
            Route(MIRROR_HOST, "bench", (Split(primary, 100),), Mirror(Backend("shadow", (f"127.0.0.1:{shadow_port}",)), 50), expose="public"),
            Route(STATIC_MIRROR_HOST, "bench", (Split(primary, 100),), Mirror(Backend("static", (f"127.0.0.1:{static_port}",)), 50),
                  expose="public"),
        ])
        targets: dict[str, tuple[int, str]] = {
            "direct": (up_port, HOST),
            "nginx": (gateway.port, HOST),
            "nginx mirror 50%": (gateway.port, MIRROR_HOST),
            "nginx mirror static": (gateway.port, STATIC_MIRROR_HOST),
        }
        if "haproxy" not in args.skip and shutil.which("haproxy"):
            proc, port = start_haproxy(tmp, up_port)
            procs.append(proc)
            targets["haproxy"] = (port, HOST)
        if "caddy" not in args.skip and shutil.which("caddy"):
            proc, port = start_caddy(tmp, up_port)
            procs.append(proc)
            targets["caddy"] = (port, HOST)
        for port, _ in targets.values():
            await wait_port(port)
        for port, host in targets.values():  # warm-up: connections, caches, JIT-free but still
            await wrk(port, host, 2, args.connections)
        results = {name: {"rate": [], "p99": [], "errors": 0} for name in targets}
        print(f"{args.rounds} rounds of {args.duration:g}s per target, wrk -t1 -c{args.connections}; {load_average()}")
        for r in range(args.rounds):
            for name, (port, host) in targets.items():
                rate, p99, errors = await wrk(port, host, args.duration, args.connections)
                results[name]["rate"].append(rate)
                results[name]["p99"].append(p99)
                results[name]["errors"] += errors
            print(f"round {r + 1}: " + ", ".join(f"{n} {results[n]['rate'][-1]:.0f}/s" for n in targets), flush=True)
        direct = results["direct"]
        print(f"\n{'target':20} {'requests/s':>26} {'x direct':>8} {'p99 ms':>22} {'x direct':>8} {'errors':>6}")
        for name, res in results.items():
            rate_ratio = statistics.median(a / b for a, b in zip(res["rate"], direct["rate"], strict=True))
            p99_ratio = statistics.median(a / b for a, b in zip(res["p99"], direct["p99"], strict=True))
            print(f"{name:20} {median_spread(res['rate'], digits=0):>26} {rate_ratio:8.2f} {median_spread(res['p99'], digits=2):>22} "
                  f"{p99_ratio:8.2f} {res['errors']:6d}")
        plain, mirrored = results["nginx"], results["nginx mirror 50%"]
        growth = statistics.median(a / b for a, b in zip(mirrored["p99"], plain["p99"], strict=True))
        print(f"\nmirror 50%: primary p99 x{growth:.2f} of nginx without mirror (aim: at most 1.10)")
        static_growth = statistics.median(a / b for a, b in zip(results["nginx mirror static"]["p99"], plain["p99"], strict=True))
        print(f"mirror 50% to a static shadow: primary p99 x{static_growth:.2f} of nginx without mirror")
        print(load_average())
    finally:
        if gateway is not None:
            await gateway.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip", action="append", default=[], choices=["haproxy", "caddy"])
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk; scripts/setup.sh installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="cubelab-gateway-bench-"))
    os.chmod(tmp, 0o711)  # as root, nginx's workers (nobody) pass through it to the relay's socket
    try:
        asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
