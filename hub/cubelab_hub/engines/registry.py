"""Which engines exist: the entry points of the group ``cubelab.engines``.

As Elyra finds its pipeline processors, an engine is one package plus one entry
point naming its :class:`~.base.Engine` subclass, e.g. in the package's
``pyproject.toml``::

    [project.entry-points."cubelab.engines"]
    local = "cubelab_hub.engines.local:LocalEngine"

The entry point's name is the engine's name in settings
(``--ControlPlane.pipeline_engine=local``, a project's ``engine``). The engine
class is built with the control plane's configuration, so its traitlets are its
settings.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from .base import Engine

GROUP = "cubelab.engines"


class UnknownEngine(LookupError):
    """No engine of that name is installed, or its entry point is not an engine."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def available() -> dict[str, EntryPoint]:
    """Engine name -> entry point, of every installed distribution (the first
    one on the path wins when two declare the same name)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def _unknown(name: str, known: dict[str, EntryPoint]) -> UnknownEngine:
    names = ", ".join(sorted(known)) or f"none (no package declares entry points of group '{GROUP}')"
    return UnknownEngine(name, f"unknown pipeline engine '{name}'; available: {names}")


def engine_class(name: str) -> type[Engine]:
    """The class of engine ``name``; :class:`UnknownEngine` names the available ones."""
    known = available()
    if name not in known:
        raise _unknown(name, known)
    try:
        cls = known[name].load()
    except Exception as exc:  # a broken package must say which entry point broke
        raise UnknownEngine(name, f"pipeline engine '{name}' ({known[name].value}) could not be loaded: {exc!r}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise UnknownEngine(name, f"pipeline engine '{name}' ({known[name].value}) is not a subclass of {Engine.__module__}.Engine")
    return cls


def check(names: list[str]) -> None:
    """Raise :class:`UnknownEngine` for the first name no entry point declares."""
    known = available()
    for name in names:
        if name not in known:
            raise _unknown(name, known)


def build(name: str, **kwargs) -> Engine:
    """An engine of class ``name``; ``kwargs`` go to it (the control plane passes
    ``config=`` and ``parent=``)."""
    return engine_class(name)(**kwargs)
