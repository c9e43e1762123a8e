"""The layering rules, checked on the source: every module's imports are read with
``ast`` (nothing is imported), relative imports resolved against the module's package.

- the domain (``cubelab_hub.domain``) and the importers (``cubelab_hub.importers``)
  import no web, Jupyter, Kubernetes, database or configuration framework, and
  nothing of ``cubelab_hub`` outside the domain (the importers: outside the
  domain and themselves);
- nothing under ``hub/`` imports the spawner or the server extension;
- the hub-side platform does not import the control plane;
- the spawner does not import the server extension.
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FRAMEWORKS = ("tornado", "jupyter*", "kubernetes*", "sqlalchemy", "alembic", "traitlets")


@dataclass(frozen=True)
class Rule:
    """Modules named ``applies_to`` (a package and everything in it) may not import
    any module matching ``forbidden`` (patterns on the dotted name: ``jupyter*``
    matches ``jupyter_server.base``), except modules under ``allowed``."""

    applies_to: str
    forbidden: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()

    def covers(self, module: str) -> bool:
        return _under(module, self.applies_to)

    def refuses(self, imported: str) -> bool:
        if any(_under(imported, ok) for ok in self.allowed):
            return False
        top = imported.split(".")[0]
        return any(_under(imported, pattern) or fnmatch.fnmatchcase(top, pattern) for pattern in self.forbidden)


RULES = (
    Rule("cubelab_hub.domain", FRAMEWORKS + ("cubelab_hub",), "the domain is pure Python", allowed=("cubelab_hub.domain",)),
    Rule(
        "cubelab_hub.importers", FRAMEWORKS + ("cubelab_hub",), "the importers are pure, like the domain",
        allowed=("cubelab_hub.domain", "cubelab_hub.importers"),
    ),
    Rule("cubelab_hub", ("cubelab_spawner", "cubelab_server"), "the hub depends on neither the spawner nor the server extension"),
    # accounts and the control plane's database share cubelab_hub.storage instead
    Rule("cubelab_hub.platform", ("cubelab_hub.controlplane",), "the platform does not depend on the control plane"),
    Rule("cubelab_spawner", ("cubelab_server",), "the spawner does not depend on the server extension"),
)

# Source roots and the top-level packages in them.
PACKAGES = (("hub", "cubelab_hub"), ("spawner", "cubelab_spawner"))


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.imported} ({self.why})"


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imported_names(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in ``source``, at any depth
    (inside functions and ``if TYPE_CHECKING:`` blocks too). ``from . import x``
    yields the package and ``package.x`` (x may be a submodule). A relative import
    that climbs above the top-level package yields ``<beyond top level>``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = package.split(".") if package else []
                if node.level - 1 >= len(parts):
                    found.append((node.lineno, "<beyond top level>"))
                    continue
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            if node.level and not node.module:
                found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def check_source(source: str, module: str, path: str, is_package: bool = False, rules=RULES) -> list[Violation]:
    violations = []
    applicable = [rule for rule in rules if rule.covers(module)]
    for line, name in imported_names(source, module, is_package):
        if name == "<beyond top level>":
            violations.append(Violation(path, line, module, "a module above its top-level package", "a relative import climbs out of the package"))
            continue
        for rule in applicable:
            if rule.refuses(name):
                violations.append(Violation(path, line, module, name, rule.why))
    return violations


def source_modules():
    """(path, dotted module name, is_package) of every module under PACKAGES."""
    for root, top in PACKAGES:
        base = ROOT / root
        for path in sorted((base / top).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            yield path, ".".join(parts), is_package


def violations_in_tree(rule: Rule) -> tuple[list[Violation], int]:
    violations, checked = [], 0
    for path, module, is_package in source_modules():
        if not rule.covers(module):
            continue
        checked += 1
        violations += check_source(path.read_text(encoding="utf-8"), module, str(path.relative_to(ROOT)), is_package, (rule,))
    return violations, checked


@pytest.mark.parametrize("rule", RULES, ids=[r.applies_to for r in RULES])
def test_the_tree_follows_the_rule(rule):
    violations, checked = violations_in_tree(rule)
    assert checked > 0, f"no module of {rule.applies_to} was found under {ROOT}"
    assert not violations, "imports that break the layering:\n" + "\n".join(str(v) for v in violations)


def test_every_domain_module_is_scanned():
    modules = {module for _, module, _ in source_modules()}
    for name in ("argspec", "templates", "pipelines", "proposals", "expiry"):
        assert f"cubelab_hub.domain.{name}" in modules
    assert {"cubelab_hub.importers", "cubelab_hub.importers.kubeflow", "cubelab_spawner.local"} <= modules


# ---------------------------------------------------------------- the checker itself

DOMAIN_SOURCE = """\
from __future__ import annotations
import json
from .errors import FieldError
from . import formats
import tornado.web
from sqlalchemy.orm import Session


def late():
    import jupyter_server.utils
    from kubernetes_asyncio import client
    from ..controlplane import db
    from ...elsewhere import thing
"""


def test_checker_names_module_line_and_import():
    found = check_source(DOMAIN_SOURCE, "cubelab_hub.domain.sample", "hub/cubelab_hub/domain/sample.py")
    assert [(v.line, v.imported) for v in found] == [
        (5, "tornado.web"),
        (6, "sqlalchemy.orm"),
        (10, "jupyter_server.utils"),
        (11, "kubernetes_asyncio"),
        (12, "cubelab_hub.controlplane"),
        (13, "a module above its top-level package"),
    ]
    assert str(found[0]) == "hub/cubelab_hub/domain/sample.py:5: cubelab_hub.domain.sample imports tornado.web (the domain is pure Python)"


def test_checker_resolves_relative_imports_from_a_package_init():
    source = "from . import argspec\nfrom .. import storage\nfrom ..importers import kubeflow\n"
    found = check_source(source, "cubelab_hub.domain", "hub/cubelab_hub/domain/__init__.py", is_package=True)
    assert [(v.line, v.imported) for v in found] == [(2, "cubelab_hub"), (2, "cubelab_hub.storage"), (3, "cubelab_hub.importers")]


def test_checker_cross_package_rules():
    hub = "from cubelab_spawner.expiry import ExpiryPolicy\nimport cubelab_server.vscode\nfrom cubelab_hub.domain import errors\n"
    found = check_source(hub, "cubelab_hub.controlplane.handlers.servers", "hub/x.py")
    assert [(v.line, v.imported) for v in found] == [(1, "cubelab_spawner.expiry"), (2, "cubelab_server.vscode")]
    spawner = "from cubelab_server.vscode import find_code_server\nfrom cubelab_hub.codeserver import find_code_server\n"
    assert [(v.line, v.imported) for v in check_source(spawner, "cubelab_spawner.local", "spawner/x.py")] == [(1, "cubelab_server.vscode")]


def test_checker_accepts_what_the_rules_allow():
    source = "import re\nimport yaml\nfrom croniter import croniter\nfrom ..domain.errors import FieldError\nfrom .naming import argument_flag\n"
    assert check_source(source, "cubelab_hub.importers.kubeflow", "hub/cubelab_hub/importers/kubeflow.py") == []
    # a name that merely starts like a forbidden one is not it
    assert check_source("import tornadoish\nimport sqlalchemy_utils_like\n", "cubelab_hub.domain.x", "x.py") == []
