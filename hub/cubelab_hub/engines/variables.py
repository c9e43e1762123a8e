"""Cube Studio's run variables (``{{creator}}``, ``{{datetime...}}`` ...) rendered
before a run, the same on every engine: pure, no I/O.

Cube Studio renders a pipeline's workflow with Jinja before submitting it, with
``creator``, ``runner``, ``pipeline_id``, ``pipeline_name``, ``cluster_name``,
``execution_date``, the ``datetime`` and ``uuid`` modules and the pipeline's
global env keys as variables, so real files hold e.g.::

    /mnt/{{creator}}/pipeline/example/ml/
    {{ datetime.datetime.now().strftime('v%Y.%m.%d.1') }}
    {{ (datetime.datetime.now() - datetime.timedelta(days=1)).strftime('%Y%m%d') }}
    {{ uuid.uuid4().hex }}

Here the text is rendered by :class:`jinja2.sandbox.ImmutableSandboxedEnvironment`
in which only :class:`_Safe` stand-ins expose attributes: ``datetime`` offers
``datetime.now()/today()/utcnow()``, ``timedelta(...)``, and a time's
``strftime``/``isoformat``/``date()``/fields and ``+``/``-``; ``uuid`` offers
``uuid4()`` (``.hex``, text) and renders as one id per run. No Python object's
attribute is reachable, there are no globals, only length-keeping filters
(``int``, ``lower``, ``default`` ...), and ``*``, ``**`` and ``%`` refuse what
would build unbounded values: the control plane renders user text. ``now()`` is the run's time (its cron tick for a
scheduled run), so every task and every retry of a run sees the same time, as
in Cube Studio, where the whole workflow is rendered once.

Only expressions that start with one of these names are rendered: a reference
to an upstream output (``{{tasks.T.outputs.O}}``) is left for the engine to
resolve, and other braces (a shell command's, an Argo tag) for its own checks.
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid as _uuid
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..domain.argspec import shorten
from ..domain.errors import FieldError

VARIABLES = ("creator", "runner", "pipeline_id", "pipeline_name", "cluster_name", "execution_date", "datetime", "uuid")
VARIABLES_ACCEPTED = ("Jinja over " + ", ".join(VARIABLES) + " and the pipeline's global env keys, e.g. "
                      "{{creator}} or {{datetime.datetime.now().strftime('%Y-%m-%d')}}")


class _Safe:
    """A stand-in whose listed attributes (``ALLOWED``) are the only ones templates reach."""

    ALLOWED: frozenset = frozenset()


class _Delta(_Safe):
    ALLOWED = frozenset({"days", "seconds", "total_seconds"})

    def __init__(self, value: _dt.timedelta):
        self.value = value

    @property
    def days(self) -> int:
        return self.value.days

    @property
    def seconds(self) -> int:
        return self.value.seconds

    def total_seconds(self) -> float:
        return self.value.total_seconds()

    def __neg__(self) -> _Delta:
        return _Delta(-self.value)

    def __str__(self) -> str:
        return str(self.value)


class _Time(_Safe):
    ALLOWED = frozenset({"strftime", "isoformat", "date", "year", "month", "day", "hour", "minute", "second", "weekday", "timestamp"})

    def __init__(self, value):
        self.value = value

    def strftime(self, fmt: str) -> str:
        return self.value.strftime(str(fmt))

    def isoformat(self, *args) -> str:
        return self.value.isoformat(*args)

    def date(self) -> _Time:
        return _Time(self.value.date() if isinstance(self.value, _dt.datetime) else self.value)

    def weekday(self) -> int:
        return self.value.weekday()

    def timestamp(self) -> float:
        return self.value.timestamp()

    def __getattr__(self, name: str):
        if name in ("year", "month", "day", "hour", "minute", "second"):
            return getattr(self.value, name)
        raise AttributeError(name)

    def __add__(self, other):
        if isinstance(other, _Delta):
            return _Time(self.value + other.value)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, _Delta):
            return _Time(self.value - other.value)
        if isinstance(other, _Time):
            return _Delta(self.value - other.value)
        return NotImplemented

    def __str__(self) -> str:
        return str(self.value)


class _DatetimeClass(_Safe):
    """``datetime.datetime``: ``now()``, ``today()`` and ``utcnow()`` are the run's time."""

    ALLOWED = frozenset({"now", "today", "utcnow"})

    def __init__(self, local: _dt.datetime, utc: _dt.datetime):
        self._local, self._utc = local, utc

    def now(self, *args) -> _Time:
        return _Time(self._local)

    def today(self) -> _Time:
        return _Time(self._local)

    def utcnow(self) -> _Time:
        return _Time(self._utc)


class _DatetimeModule(_Safe):
    """The ``datetime`` module as templates see it."""

    ALLOWED = frozenset({"datetime", "timedelta", "date"})

    def __init__(self, local: _dt.datetime, utc: _dt.datetime):
        self.datetime = _DatetimeClass(local, utc)
        self.date = _DateClass(local)

    @staticmethod
    def timedelta(days: float = 0, seconds: float = 0, microseconds: float = 0, milliseconds: float = 0,
                  minutes: float = 0, hours: float = 0, weeks: float = 0) -> _Delta:
        return _Delta(_dt.timedelta(days=days, seconds=seconds, microseconds=microseconds, milliseconds=milliseconds,
                                    minutes=minutes, hours=hours, weeks=weeks))

    def __str__(self) -> str:
        return "datetime"


class _DateClass(_Safe):
    ALLOWED = frozenset({"today"})

    def __init__(self, local: _dt.datetime):
        self._local = local

    def today(self) -> _Time:
        return _Time(self._local.date())


class _Uuid(_Safe):
    ALLOWED = frozenset({"hex"})

    def __init__(self, value: _uuid.UUID):
        self.value = value

    @property
    def hex(self) -> str:
        return self.value.hex

    def __str__(self) -> str:
        return str(self.value)


class _UuidModule(_Safe):
    """``uuid``: ``uuid4()`` is a fresh id; ``{{uuid}}`` alone one id per run."""

    ALLOWED = frozenset({"uuid4", "hex"})

    def __init__(self, run_id: str):
        self._run = _uuid.uuid5(_uuid.NAMESPACE_URL, f"cubelab-run:{run_id}")

    @staticmethod
    def uuid4() -> _Uuid:
        return _Uuid(_uuid.uuid4())

    @property
    def hex(self) -> str:
        return self._run.hex

    def __str__(self) -> str:
        return str(self._run)


# A rendered value is one argument or env value: text this long is a mistake, or an
# attempt to make the control plane allocate without bound ('{{ creator * 10**9 }}').
MAX_RESULT = 100_000


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, narrowed: attributes only of the stand-ins above, by their
    lists, and no operator that makes unbounded text or numbers."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return isinstance(obj, _Safe) and attr in type(obj).ALLOWED

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%":
            if isinstance(left, str):
                raise SecurityError("'%' formatting is not available; use strftime for dates")
            return left % right
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError(f"an exponent of {right} is larger than 64")
            return left**right
        sizes = [len(x) for x in (left, right) if isinstance(x, (str, list, tuple))]
        counts = [x for x in (left, right) if isinstance(x, int) and not isinstance(x, bool)]
        if sizes and counts and sizes[0] * max(counts[0], 0) > MAX_RESULT:
            raise SecurityError(f"repeating a value makes more than {MAX_RESULT} characters")
        return left * right


_ENV = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
# Only filters whose output is as long as their input at most; no globals (Jinja's
# range, lipsum, cycler ... are not Cube Studio's variables, and some allocate).
_ENV.filters = {name: _ENV.filters[name] for name in ("int", "float", "string", "lower", "upper", "trim", "default", "d", "length", "first", "last")}
_ENV.globals = {}


@dataclass
class RunVariables:
    """The values of one run's variables."""

    creator: str
    runner: str
    pipeline_id: str
    pipeline_name: str
    cluster_name: str
    run_id: str
    now: _dt.datetime  # the run's time, aware
    execution_date: str = ""  # '' -> the run's time as '%Y-%m-%d %H:%M:%S', as Cube Studio
    extra: dict[str, str] = field(default_factory=dict)  # global env keys, usable as variables

    def context(self) -> dict[str, Any]:
        local = self.now.astimezone().replace(tzinfo=None) if self.now.tzinfo else self.now
        utc = self.now.astimezone(_dt.UTC).replace(tzinfo=None) if self.now.tzinfo else self.now
        values: dict[str, Any] = dict(self.extra)
        values.update({
            "creator": self.creator, "runner": self.runner, "pipeline_id": self.pipeline_id,
            "pipeline_name": self.pipeline_name, "cluster_name": self.cluster_name,
            "execution_date": self.execution_date or local.strftime("%Y-%m-%d %H:%M:%S"),
            "datetime": _DatetimeModule(local, utc), "uuid": _UuidModule(self.run_id),
        })
        return values


# One ``{{ ... }}`` expression, and the name it starts with.
_EXPRESSION_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
_ROOT_RE = re.compile(r"^[\s(]*([A-Za-z_][A-Za-z0-9_]*)")


def _root(expression: str) -> str | None:
    match = _ROOT_RE.match(expression)
    return match.group(1) if match else None


def has_variables(text: Any, names: Any = VARIABLES) -> bool:
    """Whether ``text`` has an expression over one of ``names``."""
    return isinstance(text, str) and "{{" in text and any(_root(m.group(1)) in names for m in _EXPRESSION_RE.finditer(text))


def render_text(text: str, variables: RunVariables, field_name: str, context: dict | None = None) -> str:
    """``text`` with each ``{{ expression }}`` over a run variable rendered.

    Other braces stay as written: upstream references (``{{tasks.T.outputs.O}}``)
    for the engine to resolve, and anything else (a shell command's ``{{``, an
    Argo tag) for the engine's own checks. Raises :class:`FieldError` naming
    ``field_name`` when an expression over a variable cannot be rendered (a
    syntax error, a call that fails, anything the sandbox refuses)."""
    if not isinstance(text, str) or "{{" not in text:
        return text
    values = context if context is not None else variables.context()

    def one(match) -> str:
        if _root(match.group(1)) not in values:
            return match.group(0)
        try:
            return _ENV.from_string(match.group(0)).render(values)
        except UndefinedError as exc:
            raise FieldError(field_name, f"'{shorten(text)}' uses an unknown name ({exc.message})", VARIABLES_ACCEPTED) from None
        except TemplateError as exc:
            raise FieldError(field_name, f"'{shorten(match.group(0))}' cannot be rendered ({exc.__class__.__name__}: {shorten(exc.message or '', 80)})", VARIABLES_ACCEPTED) from None
        except Exception as exc:  # raised by a call inside the expression (a bad strftime or timedelta argument)
            raise FieldError(field_name, f"'{shorten(match.group(0))}' cannot be rendered ({exc.__class__.__name__}: {shorten(exc, 80)})", VARIABLES_ACCEPTED) from None

    return _EXPRESSION_RE.sub(one, text)


def render_value(value: Any, variables: RunVariables, field_name: str, context: dict | None = None) -> Any:
    """Strings rendered, inside lists and dicts too; other values as they are."""
    if isinstance(value, str):
        return render_text(value, variables, field_name, context)
    if isinstance(value, list):
        return [render_value(v, variables, f"{field_name}[{i}]", context) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: render_value(v, variables, f"{field_name}.{k}", context) for k, v in value.items()}
    return value
