"""What an engine can ever give a task: the local engine reads this machine
(cores it may run on, total memory, the cards nvidia-smi lists); the
Kubernetes engine leaves it to the cluster."""

import os
import stat
from decimal import Decimal

from cubelab_hub.engines.base import Engine
from cubelab_hub.engines.local.engine import LocalEngine
from cubelab_hub.machine import memory_bytes

NVIDIA_SMI = """#!/bin/sh
echo "0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA H100 80GB HBM3"
echo "1, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, NVIDIA A100-SXM4-40GB"
"""


def fake_nvidia_smi(tmp_path, text=NVIDIA_SMI):
    path = tmp_path / "nvidia-smi"
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_local_engine_capacity_is_this_machine(tmp_path):
    engine = LocalEngine(tmp_path / "runs", nvidia_smi=fake_nvidia_smi(tmp_path))
    capacity = engine.capacity()
    assert capacity.gpu == 2 and capacity.where == "this machine"
    assert capacity.cpu == Decimal(len(os.sched_getaffinity(0)))
    assert capacity.memory == memory_bytes() and capacity.memory > 2**27
    assert engine.capacity() is capacity  # read once


def test_no_nvidia_smi_or_a_failing_one_means_no_gpu(tmp_path):
    assert LocalEngine(tmp_path / "a", nvidia_smi=str(tmp_path / "missing")).capacity().gpu == 0
    broken = fake_nvidia_smi(tmp_path, "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert LocalEngine(tmp_path / "b", nvidia_smi=broken).capacity().gpu == 0


def test_memory_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree:         1000 kB\n")
    assert memory_bytes(meminfo) == 16384000 * 1024


def test_the_kubernetes_engine_leaves_capacity_to_the_cluster(tmp_path):
    from cubelab_hub.engines.kubernetes.engine import KubernetesEngine

    assert KubernetesEngine.capacity is Engine.capacity and Engine.capacity(object()) is None
