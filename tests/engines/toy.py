"""A third engine as a package of its own: written into a folder with its
``*.dist-info/entry_points.txt``, as ``pip install`` would leave it."""

from __future__ import annotations

from pathlib import Path

TOY_ENGINE = '''
from traitlets import Unicode, default

from cubelab_hub.engines.base import data_dir_of
from cubelab_hub.engines.local import LocalEngine


class ToyEngine(LocalEngine):
    """Processes on this machine, kept apart from the local engine's."""

    name = "toy"
    greeting = Unicode("hello", help="What the toy engine says.").tag(config=True)

    @default("runs_dir")
    def _toy_runs_dir(self):
        return data_dir_of(self.parent) / "toy-runs"
'''


def install_toy(root: Path, *, entry: str = "toy_engine:ToyEngine") -> Path:
    """The package ``toy_engine`` and its distribution metadata under ``root``
    (put ``root`` on sys.path or PYTHONPATH to install it)."""
    (root / "toy_engine").mkdir(parents=True)
    (root / "toy_engine" / "__init__.py").write_text(TOY_ENGINE)
    meta = root / "toy_engine-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-engine\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text(f"[cubelab.engines]\ntoy = {entry}\n")
    return root
