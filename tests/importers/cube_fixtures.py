"""The Cube Studio files of fixtures/cube-studio/ (see its README), loaded."""

from __future__ import annotations

import json
from pathlib import Path

from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates
from cubelab_hub.importers.cube_studio import import_cube_studio_file

FIXTURES = Path(__file__).parent / "fixtures" / "cube-studio"
YEARS = ("2022", "2023", "2024", "2026")
BUILTIN_NAMES = {t.name for t in builtin_templates()}


def templates_file(year: str) -> dict:
    return json.loads((FIXTURES / f"job-templates-{year}.json").read_text())


def pipelines_file(year: str) -> dict:
    return json.loads((FIXTURES / f"pipelines-{year}.json").read_text())


def catalog(year: str) -> TemplateCatalog:
    """CubeLab's built-ins and the year's Cube Studio templates, as an installation that imported them has."""
    templates, _ = import_cube_studio_file(templates_file(year), BUILTIN_NAMES)
    return TemplateCatalog(builtin_templates() + templates)
