import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "hub") not in sys.path:
    sys.path.insert(0, str(ROOT / "hub"))

from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def catalog():
    return TemplateCatalog(builtin_templates())

