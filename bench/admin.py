"""The admin page's lists and aggregates with few and with many stored rows, side by side.

    python bench/admin.py [--sizes 1000,100000] [--repeat 15] [--hold 3] [--postgres] [--keep]

For each size N, a fresh control-plane database (SQLite, or with ``--postgres``
a database on a throw-away PostgreSQL server, as the storage tests use) is
seeded through the control plane's own migrations and models with N audit
events (10 actors, and one more for the oldest 5%; 10 actions; 200 projects), N ``usage_days`` rows (random days
over the last 90, 200 projects, 1,000 users; with their sums per day in
``usage_totals``, as the service keeps them) and N finished runs (one finished
task each). Then one real platform per size is started (``cubelab up`` on
127.0.0.1, ``tests/support/platform.py``), both at once, and ``--hold`` pipeline
runs are started on each (project ``bench-hold``) so that ``/admin/running``
has tasks to list (they count in the usage answers too). An
admin's token calls, interleaving the sizes request by request:

- ``GET /admin/audit``: the first page, and the deepest full page (a cursor
  made for the row ``limit`` rows above the oldest: depth grows with N); both
  again with ``?actor=`` (one actor of 10, all through the log); the first page
  of an actor whose events are the oldest 5% (none since);
- ``GET /admin/usage?days=30&by=project`` and ``by=user``;
- ``GET /admin/running`` (one page).

Prints per request the median and spread (min–max) in milliseconds for each
size, the rows (events, series or items) and KiB answered, and the ratio of
the medians (largest size / smallest). With ``--explain`` it prints the database's plan (EXPLAIN QUERY PLAN, or EXPLAIN
on PostgreSQL) of the audit and usage statements the services run. A benchmark,
not a test: nothing leaves 127.0.0.1; platforms, databases and data are removed
at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [str(ROOT / part) for part in ("hub", "spawner", "server_ext")]
sys.path[:0] = [*SOURCES, str(ROOT / "tests"), str(ROOT / "bench")]
# the hub and the control plane it starts run this checkout's code too
os.environ["PYTHONPATH"] = os.pathsep.join([*SOURCES, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

import requests  # noqa: E402
from figures import load_average, median_spread  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from support.platform import Platform, register  # noqa: E402

from cubelab_hub.controlplane.db import Database  # noqa: E402
from cubelab_hub.controlplane.models import AuditEvent  # noqa: E402
from cubelab_hub.controlplane.models.admin import UsageDayRow, UsageTotalRow  # noqa: E402
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, TaskRunRow  # noqa: E402
from cubelab_hub.controlplane.services.admin_settings import audit_query  # noqa: E402
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates  # noqa: E402
from cubelab_hub.controlplane.services.usage_history import usage_totals_query  # noqa: E402
from cubelab_hub.controlplane.store import store_pipeline  # noqa: E402
from cubelab_hub.domain.paging import ListFilters, encode_cursor  # noqa: E402
from cubelab_hub.domain.pipelines import pipeline_from_dict  # noqa: E402
from cubelab_hub.domain.usage_days import day_keys  # noqa: E402

API = "/services/cubelab/api/v1"
ACTORS, ACTIONS, PROJECTS, USERS, DAYS = 10, 10, 200, 1_000, 90
ACTOR = "actor-007"  # the filtered actor: one of 10
EARLY = "early-actor"  # the actor of the oldest 5% of the log, none since: the worst case of a newest-first scan
LIMIT = 50
BATCH = 5_000


# ---------------------------------------------------------------- seeding


def seed(url: str, n: int) -> dict:
    """N audit events, N usage-day rows, N finished runs; the cursors of the deep pages."""
    db = Database(url)
    db.upgrade()
    ensure_builtin_templates(db)
    rnd = random.Random(n)
    now = datetime.now(UTC)
    today = now.date()
    with db.session() as s:
        pipeline_ids = []
        for i in range(10):
            body = {"name": f"seeded-{i}", "project": "seeded", "tasks": [{"name": "a", "template": "shell", "args": {"--command": "true"}}]}
            row = PipelineRow(name=body["name"], project="seeded", creator="admin", body={}, schedule_enabled=False)
            store_pipeline(row, pipeline_from_dict(body))
            s.add(row)
            s.flush()
            pipeline_ids.append(row.id)
    totals: dict[tuple[str, str, str], list[float]] = {}
    for first in range(0, n, BATCH):
        chunk = range(first, min(n, first + BATCH))
        pieces = [{"day": (today - timedelta(days=rnd.randrange(DAYS))).isoformat(), "kind": "task", "ref": f"task:seeded-{i}/a@x",
                   "project": f"p{rnd.randrange(PROJECTS):03d}", "user": f"u{rnd.randrange(USERS):04d}",
                   "cpu_seconds": 3600.0, "gpu_seconds": 600.0} for i in chunk]
        for piece in pieces:  # the day's sums the service keeps beside its pieces (usage_totals)
            for dimension in ("project", "user"):
                sums = totals.setdefault((dimension, piece["day"], piece[dimension]), [0.0, 0.0])
                sums[0] += piece["cpu_seconds"]
                sums[1] += piece["gpu_seconds"]
        with db.session() as s:
            # ids 1..N, oldest first, as the log grows
            s.execute(insert(AuditEvent), [
                {"id": i + 1, "at": now - timedelta(seconds=n - i), "actor": EARLY if i < n // 20 else f"actor-{i % ACTORS:03d}",
                 "project": f"p{rnd.randrange(PROJECTS):03d}", "action": f"action.{i % ACTIONS}", "detail": {"n": i}}
                for i in chunk])
            s.execute(insert(UsageDayRow), pieces)
            s.execute(insert(RunRow), [
                {"id": f"run-{i:012x}", "pipeline_id": pipeline_ids[i % 10], "project": "seeded", "trigger": "manual",
                 "runner": "admin", "engine": "local", "status": "succeeded", "message": "",
                 "spec": {"pipeline": {"name": f"seeded-{i % 10}", "tasks": [{"name": "a"}]}}, "engine_data": {},
                 "created_at": now - timedelta(minutes=i), "started_at": now - timedelta(minutes=i),
                 "finished_at": now - timedelta(minutes=i)} for i in chunk])
            s.execute(insert(TaskRunRow), [
                {"run_id": f"run-{i:012x}", "name": "a", "status": "succeeded", "attempts": 1, "exit_code": 0,
                 "message": "", "outputs": {}} for i in chunk])
    if url.startswith("postgresql"):  # ids given explicitly: the sequence must follow, or the next event collides
        with db.session() as s:
            s.execute(text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), :n)"), {"n": n})
    with db.session() as s:
        rows = [{"dimension": d, "day": day, "key": k, "cpu_seconds": c, "gpu_seconds": g} for (d, day, k), (c, g) in totals.items()]
        for first in range(0, len(rows), BATCH):
            s.execute(insert(UsageTotalRow), rows[first:first + BATCH])
    with db.session() as s:
        # the deepest full page: the cursor of the row just above the oldest LIMIT matching rows
        oldest = s.scalars(select(AuditEvent.id).order_by(AuditEvent.id).limit(LIMIT + 1)).all()
        oldest_actor = s.scalars(select(AuditEvent.id).where(AuditEvent.actor == ACTOR).order_by(AuditEvent.id).limit(LIMIT + 1)).all()
    db.close()
    return {"deep": encode_cursor("audit", [oldest[-1]], ListFilters()),
            "deep_actor": encode_cursor("audit", [oldest_actor[-1]], ListFilters(creator=ACTOR))}


def explain(url: str, n: int) -> None:
    """The plans of the statements the audit and usage services run."""
    db = Database(url)
    postgres = url.startswith("postgresql")
    first_day = day_keys(datetime.now(UTC).date(), 30)[0]
    statements = {
        "audit, first page": audit_query(LIMIT, None, None, None, None),
        "audit, deep page": audit_query(LIMIT, LIMIT + 1, None, None, None),
        "audit, actor": audit_query(LIMIT, None, ACTOR, None, None),
        "audit, actor, deep": audit_query(LIMIT, 1000, ACTOR, None, None),
        "audit, early actor": audit_query(LIMIT, None, EARLY, None, None),
        "audit, project": audit_query(LIMIT, None, None, None, "p001"),
        "usage, by project": usage_totals_query("project", first_day),
        "usage, by user": usage_totals_query("user", first_day),
    }
    with db.session() as s:
        if postgres:
            s.execute(text("ANALYZE"))
        for name, statement in statements.items():
            sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = s.execute(text(prefix + sql)).all()
            plan = [r[0] for r in rows] if postgres else [r[-1] for r in rows]
            print(f"  N={n:,} {name}: " + " | ".join(line.strip() for line in plan))
    db.close()


# ---------------------------------------------------------------- the platforms


class Site:
    """One size: its database, its platform, an admin session."""

    def __init__(self, n: int, tmp: Path, db_url: str | None):
        self.n = n
        self.data = tmp / f"n{n}" / "data"
        self.data.mkdir(parents=True)
        self.url = db_url or f"sqlite:///{self.data / 'controlplane.sqlite'}"
        extra = ["--controlplane", f"db_url={db_url}"] if db_url else []
        self.platform = Platform(self.data, extra_args=extra, log_path=tmp / f"n{n}" / "platform.log")
        self.session = requests.Session()
        self.cursors: dict = {}
        self.error: BaseException | None = None

    def start(self) -> None:
        try:
            self.platform.start(timeout=240)
            admin = register(self.platform, self.platform.admin, self.platform.admin_password)
            self.session.headers["Authorization"] = f"token {admin.token}"
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def call(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, self.platform.url + API + path, timeout=120, **kw)

    def hold(self, count: int) -> int:
        """Start ``count`` runs of a task that sleeps; how many /admin/running lists."""
        if not count:
            return 0
        r = self.call("POST", "/projects", json={"name": "bench-hold"})
        if r.status_code != 201:
            print(f"N={self.n:,}: could not create a project to hold runs in: {r.status_code} {r.text[:200]}")
            return 0
        body = {"name": "hold", "project": "bench-hold",
                "tasks": [{"name": "hold", "template": "shell", "args": {"--command": "sleep 900"}, "cpu": "0.1", "memory": "64M"}]}
        r = self.call("POST", "/pipelines", json=body)
        if r.status_code != 201:
            print(f"N={self.n:,}: could not create the holding pipeline: {r.status_code} {r.text[:200]}")
            return 0
        for _ in range(count):
            self.call("POST", f"/pipelines/{r.json()['id']}/runs")
        deadline = time.monotonic() + 60
        seen = 0
        while time.monotonic() < deadline:
            seen = len(self.call("GET", "/admin/running?kind=task").json().get("items", []))
            if seen >= count:
                break
            time.sleep(0.5)
        return seen

    def stop(self) -> None:
        self.platform.stop()
        self.platform.remove_unix_accounts()


def requests_to_time(site: Site) -> dict[str, str]:
    return {
        "audit, first page": f"/admin/audit?limit={LIMIT}",
        "audit, deepest page": f"/admin/audit?limit={LIMIT}&cursor={site.cursors['deep']}",
        "audit ?actor, first page": f"/admin/audit?limit={LIMIT}&actor={ACTOR}",
        "audit ?actor, deepest page": f"/admin/audit?limit={LIMIT}&actor={ACTOR}&cursor={site.cursors['deep_actor']}",
        "audit ?actor=early, first": f"/admin/audit?limit={LIMIT}&actor={EARLY}",
        "usage days=30 by=project": "/admin/usage?days=30&by=project",
        "usage days=30 by=user": "/admin/usage?days=30&by=user",
        "running, one page": f"/admin/running?limit={LIMIT}",
    }


def rows_of(body: dict) -> int:
    for key in ("events", "series", "items"):
        if key in body:
            return len(body[key])
    return -1


def measure(sites: list[Site], repeat: int) -> dict:
    """Interleaved: each round calls every request once on every site, so both
    sizes see the same machine load."""
    names = list(requests_to_time(sites[0]))
    times = {(name, s.n): [] for name in names for s in sites}
    rows = {}
    for site in sites:  # warm-up (caches, the hub client's first calls); checks every answer
        for name, path in requests_to_time(site).items():
            r = site.call("GET", path)
            if r.status_code != 200:
                raise SystemExit(f"N={site.n:,} {name}: HTTP {r.status_code} {r.text[:300]}")
            rows[(name, site.n)] = (rows_of(r.json()), len(r.content))
    for _ in range(repeat):
        for name in names:
            for site in sites:
                path = requests_to_time(site)[name]
                started = time.perf_counter()
                r = site.call("GET", path)
                r.content  # noqa: B018 - the whole answer is read
                times[(name, site.n)].append(time.perf_counter() - started)
                if r.status_code != 200:
                    raise SystemExit(f"N={site.n:,} {name}: HTTP {r.status_code}")
    return {"names": names, "times": times, "rows": rows}


def report(sites: list[Site], result: dict) -> None:
    small, big = sites[0].n, sites[-1].n
    head = f"{'request':28}" + "".join(f" {'N=' + format(s.n, ','):>26} {'rows':>5} {'KiB':>5}" for s in sites) + f" {'ratio':>7}"
    print("\n" + head + "\n" + "-" * len(head))
    for name in result["names"]:
        cells = "".join(f" {median_spread(result['times'][(name, s.n)], 1000, 1):>26} {result['rows'][(name, s.n)][0]:5d}"
                        f" {result['rows'][(name, s.n)][1] / 1024:5.0f}" for s in sites)
        ratio = statistics.median(result["times"][(name, big)]) / statistics.median(result["times"][(name, small)])
        print(f"{name:28}{cells} {ratio:7.2f}")
    print(f"(milliseconds: median (min–max); ratio: median at N={big:,} / median at N={small:,}; {load_average()})")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated row counts (default 1000,100000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls of each request per size")
    parser.add_argument("--hold", type=int, default=3, help="runs kept running so /admin/running lists tasks")
    parser.add_argument("--postgres", action="store_true", help="a throw-away PostgreSQL server instead of SQLite")
    parser.add_argument("--explain", action="store_true", help="print the plans of the audit and usage statements")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and the platforms' logs")
    args = parser.parse_args()
    sizes = sorted({int(v) for v in args.sizes.split(",") if v.strip()})
    if not sizes or sizes[0] * 19 // 20 <= ACTORS * (LIMIT + 1):
        raise SystemExit(f"--sizes: each size must exceed {ACTORS * (LIMIT + 1)} (a full deepest page for one actor of {ACTORS})")
    # stopped from outside (a CI time limit): still stop the platforms and remove their data
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="cubelab-bench-admin-"))
    cluster = None
    sites: list[Site] = []
    try:
        if args.postgres:
            from support.postgres import PostgresCluster

            cluster = PostgresCluster().start()
            # the platform's own account must reach the socket in the cluster's directory
            os.chmod(cluster.dir, 0o711)
        for n in sizes:
            site = Site(n, tmp, cluster.create_database(f"bench_admin_{n}") if cluster else None)
            started = time.monotonic()
            site.cursors = seed(site.url, n)
            print(f"N={n:,}: seeded {n:,} audit events, usage-day rows and finished runs in {time.monotonic() - started:.1f}s "
                  f"({site.url.split('?')[0].split(':')[0]})")
            if args.explain:
                explain(site.url, n)
            sites.append(site)
        started = time.monotonic()
        threads = [threading.Thread(target=s.start) for s in sites]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in sites:
            if s.error:
                raise SystemExit(f"N={s.n:,}: the platform did not start: {s.error}")
        print(f"{len(sites)} platforms ready in {time.monotonic() - started:.1f}s")
        for s in sites:
            print(f"N={s.n:,}: {s.hold(args.hold)} tasks running")
        report(sites, measure(sites, args.repeat))
    finally:
        for s in sites:
            s.stop()
        if cluster:
            cluster.stop()
        if args.keep:
            print(f"data and platform logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
