"""Per-task overhead of the local pipeline engine.

Three DAGs of 200 no-op tasks (``/bin/true``): a chain, a 200-wide fan-out
(one root, 199 leaves) and layered diamonds (50 diamonds a -> (b, c) -> d in a
row). Each is run by the local engine and by a plain bash script that runs the
same commands level by level with the same concurrency (a rolling pool of
``parallelism`` jobs via ``wait -n``), in the same process run, alternating.
Optionally (``--with-db``) the engine also persists every event to SQLite the
way the control plane does.

    .venv/bin/python bench/pipelines_overhead.py [--repeat 3] [--parallelism N] [--with-db]

Prints, per DAG: median wall time of each, overhead in ms per task
((engine - shell) / 200), the ratio engine / shell, and the CPU time the engine's
own process spent per task (unaffected by other load on the machine).

``--isolation`` (as root) runs each DAG three ways in turn, shell, engine
without accounts (``unix=None``) and engine with isolation (tasks as a Unix
account of the benchmark's own, ``clbench<pid>-bench``, created by the first run
and removed at the end), and prints the median and spread (min–max) of each,
the overhead per task of both engine variants, and the ratio isolated / plain.
Both engine variants put every task in the memory and CPU cgroups the engine
makes from its resources (the defaults here), as a real run does; what making
and removing those two cgroups costs a task is timed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from accounts import bench_prefix, leftovers, remove_accounts, require_root  # noqa: E402
from figures import load_average, median_spread  # noqa: E402

from cubelab_hub.domain.pipelines import Pipeline, Task  # noqa: E402
from cubelab_hub.domain.templates import template_from_dict  # noqa: E402
from cubelab_hub.engines.base import RunSpec  # noqa: E402
from cubelab_hub.engines.local import LocalEngine  # noqa: E402
from cubelab_hub.platform.cgroups import make_cpu_cgroup, make_memory_cgroup, remove_cgroup  # noqa: E402
from cubelab_hub.platform.unix import UnixAccounts  # noqa: E402

N = 200
NOOP = template_from_dict({"name": "noop", "image": "busybox", "command": ["/bin/true"]})


def chain() -> tuple[list[str], list[tuple[str, str]]]:
    names = [f"t{i}" for i in range(N)]
    return names, list(itertools.pairwise(names))


def fan_out():
    names = [f"t{i}" for i in range(N)]
    return names, [("t0", n) for n in names[1:]]


def diamonds():
    names, edges, prev = [], [], None
    for i in range(N // 4):
        a, b, c, d = (f"d{i}a", f"d{i}b", f"d{i}c", f"d{i}d")
        names += [a, b, c, d]
        edges += [(a, b), (a, c), (b, d), (c, d)]
        if prev:
            edges.append((prev, a))
        prev = d
    return names, edges


SHAPES = {"chain": chain, "fan-out": fan_out, "diamonds": diamonds}


def levels(names, edges) -> list[list[str]]:
    up = {n: [u for u, d in edges if d == n] for n in names}
    level: dict[str, int] = {}
    for n in names:  # names are in topological order for every shape above
        level[n] = 1 + max((level[u] for u in up[n]), default=-1)
    out: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for n in names:
        out[level[n]].append(n)
    return out


def shell_script(names, edges, parallelism: int) -> str:
    lines = ["#!/bin/bash", "set -e", "running=0"]
    for layer in levels(names, edges):
        for _ in layer:
            # 'wait -n' answers 127 when every job already ended; that is fine here
            lines.append(f"/bin/true & running=$((running+1)); if [ $running -ge {parallelism} ]; then wait -n || :; running=$((running-1)); fi")
        lines.append("wait; running=0")
    return "\n".join(lines) + "\n"


def run_shell(script: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as fh:
        fh.write(script)
    t0 = time.perf_counter()
    subprocess.run(["bash", fh.name], check=True)
    elapsed = time.perf_counter() - t0
    os.unlink(fh.name)
    return elapsed


async def run_engine(names, edges, parallelism: int, root: Path, run_id: str, with_db: bool,
                     unix: UnixAccounts | None = None) -> tuple[float, float]:
    pipeline = Pipeline("bench", tasks=[Task(n, "noop") for n in names], edges=list(edges), parallelism=parallelism)
    spec = RunSpec(run_id=run_id, pipeline=pipeline, templates={n: NOOP for n in names}, creator="bench", runner="bench")
    engine = LocalEngine(root / "runs", sample_interval=1.0, unix=unix)
    manager = _db_listener(root, run_id, names) if with_db else None
    if manager:
        engine.add_listener(manager.on_event)
    t0, c0 = time.perf_counter(), time.process_time()
    await engine.submit(spec)
    state = await engine.wait(run_id)
    if manager:
        manager.flush()  # the run is only done for the control plane once its final state is stored
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    if state.status != "succeeded":
        logs = [f"{n}: {t.message}: " + (Path(t.log_path).read_text(errors="replace")[-400:] if t.log_path else "")
                for n, t in state.tasks.items() if t.status != "succeeded"]
        raise AssertionError(f"{state.message}\n" + "\n".join(logs[:3]))
    await engine.close()
    return elapsed, cpu


_DATABASES: dict = {}


def _db_listener(root: Path, run_id: str, names):
    """What the control plane does with events: RunManager.on_event batches them into
    SQLite transactions. One database per bench process, warm, as in a running control plane."""
    from cubelab_hub.controlplane.db import Database
    from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, TaskRunRow
    from cubelab_hub.controlplane.services.runs import RunManager

    if root not in _DATABASES:
        _DATABASES[root] = Database(f"sqlite:///{root / 'bench.sqlite'}")
        _DATABASES[root].upgrade()
    db = _DATABASES[root]
    with db.session() as s:
        if s.get(PipelineRow, 1) is None:
            s.add(PipelineRow(id=1, name="bench", project="public", creator="bench", body={}, schedule_enabled=False))
            s.flush()
        s.add(RunRow(id=run_id, pipeline_id=1, project="public", trigger="manual", runner="bench", engine="local", status="pending",
                     message="", spec={}, engine_data={}))
        for n in names:
            s.add(TaskRunRow(run_id=run_id, name=n, status="pending", attempts=0, message="", outputs={}))
    manager = RunManager(db, engines={})  # only its event persistence is used
    return manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--with-db", action="store_true", help="also persist every event to SQLite like the control plane")
    parser.add_argument("--dir", default=".", help="where the runs' directories go (default: a temporary folder in the current "
                        "directory, like ./cubelab-data; on this machine /tmp is ten times slower at creating files)")
    parser.add_argument("--isolation", action="store_true", help="also run the engine with tasks as a Unix account of the "
                        "benchmark's own (needs root), side by side with the engine without accounts")
    args = parser.parse_args()
    if args.isolation:
        require_root("bench/pipelines_overhead.py")
        return main_isolation(args)
    print(f"{N} no-op tasks (/bin/true), parallelism {args.parallelism}, median of {args.repeat}, {os.cpu_count()} CPUs")
    print(f"{'dag':10} {'shell s':>9} {'engine s':>9} {'overhead ms/task':>17} {'ratio':>6} {'engine CPU ms/task':>19}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix=".bench-pipelines-") as tmp:
        root = Path(tmp)
        for shape, build in SHAPES.items():
            names, edges = build()
            script = shell_script(names, edges, args.parallelism)
            shell_times, engine_times, engine_cpu = [], [], []
            for i in range(args.repeat):  # alternate so machine noise hits both
                shell_times.append(run_shell(script))
                wall, cpu = asyncio.run(run_engine(names, edges, args.parallelism, root, f"{shape}-{i}", args.with_db))
                engine_times.append(wall)
                engine_cpu.append(cpu)
            s, e, c = statistics.median(shell_times), statistics.median(engine_times), statistics.median(engine_cpu)
            # CPU time of the engine's own process (not its children): the overhead that load cannot inflate
            print(f"{shape:10} {s:9.3f} {e:9.3f} {1000 * (e - s) / N:17.2f} {e / s:6.2f} {1000 * c / N:19.2f}")


def cgroup_cost(count: int = N) -> str:
    """Time to make and remove a task's memory and CPU cgroups (empty ones), per task."""
    t0 = time.perf_counter()
    made = 0
    for i in range(count):
        name = f"cubelab-bench-{os.getpid()}-{i}"
        for group in (make_memory_cgroup(name, 2 << 30), make_cpu_cgroup(name, 1)):
            if group is not None:
                made += 1
                remove_cgroup(group)
    return f"{1000 * (time.perf_counter() - t0) / count:.2f} ms per task ({made} of {2 * count} cgroups could be made here)"


def main_isolation(args) -> None:
    prefix = bench_prefix()
    unix = UnixAccounts(enabled=True, prefix=prefix)
    print(f"{N} no-op tasks (/bin/true), parallelism {args.parallelism}, {args.repeat} repetitions of shell, plain, isolated "
          f"in turn; accounts {prefix}*; {load_average()}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix=".bench-pipelines-") as tmp:
        root = Path(tmp).resolve()  # the account's home must be an absolute path
        blocked = [str(p) for p in root.parents if not p.stat().st_mode & 0o001]
        if blocked:
            sys.exit(f"the task account cannot pass through {', '.join(blocked)} (no o+x): choose another --dir")
        os.chmod(root, 0o711)  # the task account passes through to its own directories
        try:
            # the first isolated run creates the account and the project's group: once per user, timed apart
            t0 = time.perf_counter()
            asyncio.run(run_engine(["t0"], [], 1, root / "isolated", "first", False, unix))
            print(f"first isolated run (creates the account): {time.perf_counter() - t0:.3f} s")
            print(f"making and removing a task's memory and CPU cgroups, in both engine variants: {cgroup_cost()}")
            asyncio.run(run_engine(["t0"], [], 1, root / "plain", "first", False, None))
            print(f"{'dag':10} {'variant':9} {'wall s: median (min–max)':>26} {'overhead ms/task':>26} {'engine CPU ms/task':>26}")
            for shape, build in SHAPES.items():
                names, edges = build()
                script = shell_script(names, edges, args.parallelism)
                wall: dict[str, list[float]] = {"shell": [], "plain": [], "isolated": []}
                cpu: dict[str, list[float]] = {"plain": [], "isolated": []}
                for i in range(args.repeat):  # in turn, so machine noise hits all three
                    wall["shell"].append(run_shell(script))
                    for variant, accounts in (("plain", None), ("isolated", unix)):
                        w, c = asyncio.run(run_engine(names, edges, args.parallelism, root / variant, f"{shape}-{i}", args.with_db, accounts))
                        wall[variant].append(w)
                        cpu[variant].append(c)
                print(f"{shape:10} {'shell':9} {median_spread(wall['shell']):>26}")
                overhead = {}
                for variant in ("plain", "isolated"):
                    # overhead of each repetition against the shell run just before it
                    overhead[variant] = [(e - s) / N for e, s in zip(wall[variant], wall["shell"], strict=True)]
                    print(f"{'':10} {variant:9} {median_spread(wall[variant]):>26} {median_spread(overhead[variant], 1000, 2):>26} "
                          f"{median_spread(cpu[variant], 1000 / N, 2):>26}")
                ratio_wall = statistics.median(wall["isolated"]) / statistics.median(wall["plain"])
                op, oi = statistics.median(overhead["plain"]), statistics.median(overhead["isolated"])
                ratio_cpu = statistics.median(cpu["isolated"]) / statistics.median(cpu["plain"])
                print(f"{'':10} isolated / plain: wall {ratio_wall:.2f}×, overhead per task {oi / op if op > 0 else float('nan'):.2f}× "
                      f"({1000 * (oi - op):+.2f} ms), engine CPU {ratio_cpu:.2f}×")
        finally:
            removed = remove_accounts(prefix)
            left = leftovers(prefix)
            print(f"removed {', '.join(removed) or 'nothing'}" + (f"; LEFT: {', '.join(left)}" if left else ""))
    print(load_average())


if __name__ == "__main__":
    main()
