"""The same hyper-parameter experiment run by NNI's own manager and by CubeLab.

    python bench/hpo.py [--trials 20] [--concurrency 1 4] [--repeat 3] [--only nni|cubelab] [--seed 7]

One trivial trial script, unchanged on both sides, uses NNI's trial SDK
(``nni.get_next_parameter()`` then ``nni.report_final_result()``) and prints one
``BENCH {...}`` line: when its process started, how long the process itself
took up to its report (interpreter start and ``import nni``, which dominate it)
without the time it waited for its parameters, and that wait. The experiment:
Random tuner with a fixed seed, ``--trials`` trials, each ``--concurrency``.

- **nni**: ``nnictl create`` with NNI's local training service, in a temporary
  directory (HOME, NNI_CONFIG_DIR and the experiment's working directory), then
  ``nnictl stop``. ``nnictl create`` gives up when NNI's manager does not answer
  within about 3 s, which happens on a loaded machine: it is tried up to three
  times, and each failure is printed. NNI's manager has no bind option and listens on every
  interface: as root the whole benchmark runs in a network namespace of its own
  (``unshare -n``, loopback only), so nothing is reachable from outside;
  otherwise it says so and NNI's port is open while the experiment runs.
- **cubelab**: a real platform (``tests/support/platform.py``'s ``Platform`` on
  127.0.0.1) and the REST API: ``POST /experiments`` with the same space, tuner
  and seed, polling ``GET /experiments/{id}`` until the experiment ends, trial
  logs from ``/experiments/{id}/trials/{trial_id}/logs``.

Both run in the same process run, in turn (nni, then cubelab, per repetition),
so machine noise hits both. Per side and concurrency it prints median and
spread (min–max) of:

- start-up: from the launch (``nnictl create`` / the POST) to the first trial
  process's start;
- overhead per trial: the wall time of the experiment (launch to its end) per
  trial, times the concurrency (each of the ``c`` slots runs ``trials / c``
  trials), minus the trial process's own time (the median of its trials);
  also without the start-up (from the first trial's start to the end);
- the trials' own time, so the overhead can be judged against it;

then the ratio CubeLab / NNI of the overhead and of the start-up (also without
the trials' exit: an interpreter that imported nni takes a few tenths of a
second to tear down after the report, measured at the start and paid on both
sides), and whether
both proposed the same parameters (the Random tuner with the same seed should):
the same sequence in proposal order, or at least the same set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [str(ROOT / part) for part in ("hub", "spawner", "server_ext")]
sys.path[:0] = [*SOURCES, str(ROOT / "tests"), str(ROOT / "bench")]
# the hub, the control plane and user servers it starts run this checkout's code too
os.environ["PYTHONPATH"] = os.pathsep.join([*SOURCES, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

from figures import load_average, median_spread  # noqa: E402

SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "batch_size": {"_type": "choice", "_value": [16, 32, 64, 128]},
    "dropout": {"_type": "uniform", "_value": [0.0, 0.5]},
    "layers": {"_type": "randint", "_value": [1, 5]},
}

# The trial: unchanged NNI user code plus one line for the benchmark. Its start is
# the process's start (from /proc), so interpreter start-up counts as its own time.
TRIAL = r'''
import json, os, time

def _process_start():
    # /proc's start is in ticks since boot; the boot's wall time from CLOCK_BOOTTIME
    # (btime in /proc/stat is whole seconds: up to 1 s off, the size of a start-up)
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()

start = _process_start()
import nni

asked = time.time()
params = nni.get_next_parameter()
waited = time.time() - asked
score = 1.0 / (1.0 + abs(params["lr"] - 0.01)) - params["dropout"] / 10 + params["layers"] / 100
own = time.time() - start - waited
print("BENCH " + json.dumps({"start": start, "own": own, "channel": waited, "params": params}), flush=True)
nni.report_final_result(score)
'''


@dataclass
class Result:
    wall: float
    startup: float
    running: float  # from the first trial's start to the experiment's end
    own: list[float]
    channel: list[float]
    proposals: list[dict]  # in proposal order
    trials: int
    notes: list[str] = field(default_factory=list)

    def overhead(self, concurrency: int) -> float:
        return self.wall * concurrency / self.trials - statistics.median(self.own)

    def steady_overhead(self, concurrency: int) -> float:
        """The same without the start-up: from the first trial's start to the end."""
        return self.running * concurrency / self.trials - statistics.median(self.own)


def bench_lines(text: str) -> list[dict]:
    # NNI's SDK on its own local platform sends print() to trial.log as "[time] PRINT BENCH {...}"
    return [json.loads(line.split("BENCH ", 1)[1]) for line in text.splitlines() if "BENCH {" in line]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trial_exit_seconds(runs: int = 3) -> float:
    """How long an interpreter that imported nni takes to exit after its last
    statement (module teardown), the median of ``runs``: a trial pays it after its
    report, outside its own measured time, so both sides count it as overhead."""
    code = "import nni, sys, time; sys.stderr.write(repr(time.time()))"
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        times.append(time.time() - float(done.stderr.strip().splitlines()[-1]))
    return statistics.median(times)


# ---------------------------------------------------------------- NNI

CREATE_ATTEMPTS = 3


def nni_env(home: Path) -> dict:
    # NNI keeps its experiment registry in the virtualenv (sys.prefix/nni) unless told otherwise
    return {**os.environ, "HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config"), "PYTHONUNBUFFERED": "1"}


def run_nni(trials: int, concurrency: int, seed: int, tmp: Path) -> Result:
    import requests

    home = Path(tempfile.mkdtemp(dir=tmp, prefix="nni-"))
    code = home / "code"
    code.mkdir()
    (code / "trial.py").write_text(TRIAL)
    workdir = home / "experiments"
    config = {
        "experimentName": f"bench-c{concurrency}",
        "searchSpace": SPACE,
        "trialCommand": f"{sys.executable} trial.py",
        "trialCodeDirectory": str(code),
        "trialConcurrency": concurrency,
        "maxTrialNumber": trials,
        "tuner": {"name": "Random", "classArgs": {"seed": seed}},
        "trainingService": {"platform": "local", "useActiveGpu": False},
        "experimentWorkingDirectory": str(workdir),
    }
    (home / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    env = nni_env(home)
    nnictl = str(Path(sys.executable).with_name("nnictl"))
    base = f"http://127.0.0.1:{port}/api/v1/nni"
    notes = []
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        launched = time.time()
        created = subprocess.run([nnictl, "create", "--config", str(home / "config.yml"), "--port", str(port)],
                                 env=env, cwd=home, capture_output=True, text=True, timeout=300)
        if created.returncode == 0:
            break
        # nnictl gives NNI's manager about 3 s to answer; on a loaded machine that can be too little
        failed_id = re.search(r"Experiment ID: (?:\x1b\[[0-9;]*m)?(\w+)", created.stdout)
        subprocess.run([nnictl, "stop", failed_id.group(1)] if failed_id else [nnictl, "stop", "--all"], env=env, cwd=home,
                       capture_output=True, timeout=120)
        notes.append(f"nnictl create failed after {time.time() - launched:.1f}s: "
                     + (created.stdout.strip().splitlines() or ["(no output)"])[-1][-200:])
        if attempt == CREATE_ATTEMPTS:
            raise RuntimeError(f"nnictl create failed {attempt} times ({created.returncode}):\n{created.stdout}\n{created.stderr}")
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1/nni"
    exp_id = None
    try:
        exp_id = requests.get(f"{base}/experiment", timeout=10).json()["id"]
        deadline = time.monotonic() + 1800
        while True:
            status = requests.get(f"{base}/check-status", timeout=10).json()["status"]
            if status in ("DONE", "STOPPED", "ERROR"):  # NO_MORE_TRIAL: every trial submitted, some still running
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the NNI experiment did not end in 30 minutes")
            time.sleep(0.1)
        ended = time.time()
        jobs = requests.get(f"{base}/trial-jobs", timeout=10).json()
        if status != "DONE":
            raise RuntimeError(f"the NNI experiment ended {status}: {json.dumps(jobs)[:2000]}")
    finally:
        subprocess.run([nnictl, "stop", exp_id] if exp_id else [nnictl, "stop", "--all"], env=env, cwd=home,
                       capture_output=True, timeout=120)
    proposals = {}
    for job in jobs:
        for raw in job.get("hyperParameters") or []:
            p = json.loads(raw)
            proposals[p["parameter_id"]] = p["parameters"]
    lines = []
    for trial_dir in (workdir / exp_id).glob("environments/*/trials/*"):
        lines += bench_lines("\n".join((trial_dir / name).read_text(errors="replace")
                                       for name in ("trial.stdout", "trial.log") if (trial_dir / name).exists()))
    result = summarise(launched, ended, lines, [proposals[k] for k in sorted(proposals)], trials, "nni")
    result.notes = notes
    return result


# ---------------------------------------------------------------- CubeLab


class CubeLab:
    """One platform for every CubeLab repetition: its start is not an experiment's."""

    def __init__(self, tmp: Path):
        from support.platform import Platform, register

        self.tmp = tmp
        self.platform = Platform(tmp / "data", log_path=tmp / "platform.log")
        started = time.monotonic()
        self.platform.start(timeout=180)
        self.ready_in = time.monotonic() - started
        self.user = register(self.platform, "hpobench")

    def api(self, method: str, path: str, **kwargs):
        resp = self.user.api(method, path, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:2000]}")
        return resp

    def run(self, trials: int, concurrency: int, seed: int, name: str) -> Result:
        body = {
            "name": name, "project": "public", "description": "bench/hpo.py",
            "search_space": SPACE, "tuner": "Random", "tuner_args": {},
            "objective": {"metric": "default", "direction": "maximize"},
            "trial": {"template": "python", "args": {"--code": TRIAL}, "cpu": "1", "memory": "2G", "gpu": "0", "metrics": "nni"},
            "trial_concurrency": concurrency, "max_trials": trials, "seed": seed,
        }
        launched = time.time()
        exp = self.api("POST", "/experiments", json=body).json()
        deadline = time.monotonic() + 1800
        while exp["status"] in ("running", "stopping"):
            if time.monotonic() > deadline:
                raise TimeoutError("the CubeLab experiment did not end in 30 minutes")
            time.sleep(0.1)
            exp = self.api("GET", f"/experiments/{exp['id']}").json()
        ended = time.time()
        if exp["status"] != "succeeded":
            raise RuntimeError(f"the CubeLab experiment ended {exp['status']} ({exp.get('end_reason')}): {exp.get('message')}")
        listed, cursor = [], None
        while True:
            page = self.api("GET", f"/experiments/{exp['id']}/trials", params={"order": "seq", "limit": 500, "cursor": cursor}).json()
            listed += page["trials"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        lines = []
        for trial in listed:
            lines += bench_lines(self.api("GET", f"/experiments/{exp['id']}/trials/{trial['id']}/logs").text)
        # seq is the order of the tuner's proposals (a re-run would repeat one: none here)
        proposals = [t["parameters"] for t in sorted(listed, key=lambda t: t["seq"])]
        return summarise(launched, ended, lines, proposals, trials, "cubelab")

    def close(self) -> None:
        self.platform.stop()
        self.platform.remove_unix_accounts()


def summarise(launched: float, ended: float, lines: list[dict], proposals: list[dict], trials: int, side: str) -> Result:
    if len(lines) != trials:
        raise RuntimeError(f"{side}: {len(lines)} of {trials} trials printed their BENCH line")
    first = min(line["start"] for line in lines)
    return Result(wall=ended - launched, startup=first - launched, running=ended - first,
                  own=[line["own"] for line in lines], channel=[line["channel"] for line in lines],
                  proposals=proposals, trials=trials)


# ---------------------------------------------------------------- report


def same_params(a: list[dict], b: list[dict]) -> str:
    def key(p):
        return json.dumps(p, sort_keys=True)

    if [key(p) for p in a] == [key(p) for p in b]:
        return "same sequence"
    if sorted(map(key, a)) == sorted(map(key, b)):
        return "same set, other order"
    common = len(set(map(key, a)) & set(map(key, b)))
    return f"DIFFERENT ({common} of {len(a)} in common)"


def report(results: dict[tuple[str, int], list[Result]], sides: list[str], concurrencies: list[int],
           exit_seconds: float) -> None:
    print(f"\n{'side':8} {'conc':>4} {'start-up s':>22} {'overhead s/trial':>22} {'without start-up':>22} {'trial own s':>22} "
          f"{'waited for params s':>22}")
    for c in concurrencies:
        for side in sides:
            rs = results.get((side, c), [])
            if not rs:
                continue
            own = [statistics.median(r.own) for r in rs]
            channel = [statistics.median(r.channel) for r in rs]
            print(f"{side:8} {c:4d} {median_spread([r.startup for r in rs]):>22} {median_spread([r.overhead(c) for r in rs]):>22} "
                  f"{median_spread([r.steady_overhead(c) for r in rs]):>22} {median_spread(own):>22} {median_spread(channel):>22}")
        if all(results.get((s, c)) for s in ("nni", "cubelab")):
            n, cl = results[("nni", c)], results[("cubelab", c)]
            on = statistics.median(r.overhead(c) for r in n)
            oc = statistics.median(r.overhead(c) for r in cl)
            sn = statistics.median(r.startup for r in n)
            sc = statistics.median(r.startup for r in cl)
            wn = statistics.median(r.steady_overhead(c) for r in n)
            wc = statistics.median(r.steady_overhead(c) for r in cl)
            print(f"{'':8} {c:4d} cubelab / nni: overhead per trial {oc / on if on > 0 else float('nan'):.3f}× "
                  f"(without start-up {wc / wn if wn > 0 else float('nan'):.3f}×), "
                  f"start-up {sc / sn if sn > 0 else float('nan'):.3f}×")
            if on > exit_seconds:
                print(f"{'':8} {c:4d} cubelab / nni without the trials' exit ({exit_seconds:.3f}s each): overhead per trial "
                      f"{max(oc - exit_seconds, 0) / (on - exit_seconds):.3f}×")
            print(f"{'':8} {c:4d} proposals, same seed: {same_params(n[0].proposals, cl[0].proposals)}")
    failed_creates = sum(len(r.notes) for rs in results.values() for r in rs)
    if failed_creates:
        print(f"nnictl create failed {failed_creates} times (retried; the times above are of the start that worked)")
    for side in sides:
        for c in concurrencies:
            rs = results.get((side, c), [])
            if len(rs) > 1:
                verdicts = {same_params(rs[0].proposals, r.proposals) for r in rs[1:]}
                print(f"{side} c={c}: repetitions against the first: {', '.join(sorted(verdicts))}")
    if results.get(("nni", concurrencies[0])) and len(concurrencies) > 1:
        first = results[("nni", concurrencies[0])][0].proposals
        for c in concurrencies[1:]:
            if results.get(("nni", c)):
                print(f"nni: concurrency {c} against {concurrencies[0]}: {same_params(first, results[('nni', c)][0].proposals)}")


# ---------------------------------------------------------------- main


def in_private_network() -> bool:
    return os.environ.get("CUBELAB_BENCH_NETNS") == "1"


def reexec_in_network_namespace() -> None:
    """As root: run this benchmark again in a network namespace with only loopback."""
    if os.geteuid() != 0 or in_private_network() or shutil.which("unshare") is None or shutil.which("ip") is None:
        return
    env = {**os.environ, "CUBELAB_BENCH_NETNS": "1"}
    argv = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, *sys.argv]
    proc = subprocess.Popen(argv, env=env)
    # forward a stop from outside, so the platform and NNI are stopped in there
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    signal.signal(signal.SIGINT, lambda *_: proc.send_signal(signal.SIGINT))
    sys.exit(proc.wait())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("nni", "cubelab"), help="run one side only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, NNI's experiment)")
    args = parser.parse_args()
    reexec_in_network_namespace()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sides = [args.only] if args.only else ["nni", "cubelab"]
    where = "a private network namespace (loopback only)" if in_private_network() else \
        "the host's network: NNI's manager listens on every interface while it runs"
    print(f"{args.trials} trials, Random tuner, seed {args.seed}, concurrency {args.concurrency}, {args.repeat} repetitions; "
          f"in {where}; {load_average()}")
    exit_seconds = trial_exit_seconds()
    print(f"a trial's interpreter exits {exit_seconds:.3f}s after its last statement (teardown with nni imported); "
          "that is in both sides' overhead")
    tmp = Path(tempfile.mkdtemp(prefix="cubelab-bench-hpo-"))
    cubelab = None
    results: dict[tuple[str, int], list[Result]] = {}
    try:
        if "cubelab" in sides:
            cubelab = CubeLab(tmp)
            print(f"platform ready in {cubelab.ready_in:.1f}s")
        for i in range(args.repeat):
            for c in args.concurrency:
                for side in sides:
                    if side == "nni":
                        r = run_nni(args.trials, c, args.seed, tmp)
                    else:
                        r = cubelab.run(args.trials, c, args.seed, f"bench-c{c}-r{i}")
                    results.setdefault((side, c), []).append(r)
                    print(f"  {side:8} c={c} #{i + 1}: wall {r.wall:.2f}s, start-up {r.startup:.2f}s, "
                          f"overhead {r.overhead(c):.3f}s/trial ({r.steady_overhead(c):.3f} without start-up), "
                          f"own {statistics.median(r.own):.3f}s", flush=True)
                    for note in r.notes:
                        print(f"           {note}", flush=True)
    finally:
        if cubelab is not None:
            cubelab.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, sides, args.concurrency, exit_seconds)
    print(load_average())


if __name__ == "__main__":
    main()
