"""A minimal 'control plane' process for restart tests: runs one pipeline on the
local engine and writes the run state to a JSON file on every event (what the
real control plane writes to its database). Killed with SIGKILL by the test.

    python engine_host.py RUNS_DIR STATE_JSON SPEC_JSON
"""

import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hub"))

from cubelab_hub.domain.pipelines import pipeline_from_dict  # noqa: E402
from cubelab_hub.domain.templates import template_from_dict  # noqa: E402
from cubelab_hub.engines.base import RunSpec  # noqa: E402
from cubelab_hub.engines.local import LocalEngine  # noqa: E402


def spec_from_json(data: dict) -> RunSpec:
    return RunSpec(
        run_id=data["run_id"], pipeline=pipeline_from_dict(data["pipeline"]),
        templates={k: template_from_dict(v) for k, v in data["templates"].items()},
        creator="alice", runner="alice",
    )


async def main(runs_dir: str, state_path: str, spec_path: str) -> None:
    spec = spec_from_json(json.loads(Path(spec_path).read_text()))
    engine = LocalEngine(runs_dir, kill_grace=1)

    def persist(event):
        tmp = state_path + ".tmp"
        Path(tmp).write_text(json.dumps(event.run.to_dict()))
        os.replace(tmp, state_path)

    engine.add_listener(persist)
    await engine.submit(spec)
    await engine.wait(spec.run_id)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
