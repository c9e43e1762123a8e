"""Importing the control plane's tuning package does not import NNI (over a second),
NumPy or SciPy: they load when the first experiment's driver is built."""

from __future__ import annotations

import json
import subprocess
import sys


def test_importing_the_drivers_leaves_nni_unloaded():
    code = (
        "import json, sys, time; t = time.perf_counter(); import cubelab_hub.hpo.tuners, cubelab_hub.hpo.assessors; "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'loaded': sorted(m for m in ('nni', 'numpy', 'scipy') if m in sys.modules)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["loaded"] == []
    assert result["seconds"] < 0.5, result
