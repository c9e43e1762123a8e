"""Make the in-tree packages importable when the distribution is not installed
(tests/conftest.py does the same; doing it twice is harmless)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for sub in ("hub", "spawner", "server_ext"):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)

# helpers next to these tests (pytest runs with --import-mode=importlib)
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
