"""The spawn form's model and its validation, shared by both spawners.

A user's choice (project, kind, image, CPU, memory, GPU) arrives as text, from
the HTML form or from the REST API's ``user_options``. :func:`parse_choice` turns
it into a typed :class:`Choice` or raises :class:`FieldErrors` with one
:class:`FieldError` per bad field, naming the field and the accepted form or the
limit. A request beyond a limit is refused, never reduced.

Pure Python: the spawners gather the facts (the user's projects, role limits,
what the project already runs, the GPUs there are) and pass them in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import (
    CPU_ACCEPTED,
    GPU_ACCEPTED,
    MEMORY_ACCEPTED,
    CpuRequest,
    GpuRequest,
    MemoryRequest,
    format_bytes,
    parse_bytes,
    parse_cpu,
    parse_gpu,
    parse_memory,
)
from cubelab_hub.domain.projects import PUBLIC, ProjectSettings
from cubelab_hub.domain.quotas import Usage, usage_of_options
from cubelab_hub.domain.registries import image_host

FIELDS = ("project", "kind", "image", "cpu", "memory", "gpu")

JUPYTERLAB, VSCODE, RSTUDIO = "jupyterlab", "vscode", "rstudio"
# Where each kind opens: '/lab', '/vscode/', '/rstudio/'.
KIND_URLS = {JUPYTERLAB: "/lab", VSCODE: "/vscode/", RSTUDIO: "/rstudio/"}
KIND_NAMES = {JUPYTERLAB: "JupyterLab", VSCODE: "VS Code", RSTUDIO: "RStudio"}

IMAGE_ACCEPTED_LIST = "one of the images listed for this kind"


@dataclass(frozen=True)
class BuiltImage:
    """An image built in a project (a tag of its repository), as the form offers it."""

    reference: str  # registry/project/image:tag
    digest: str | None = None

    @property
    def label(self) -> str:
        return f"{self.reference} ({self.digest[:19]}...)" if self.digest else self.reference


def repository_project(image: str, registries: frozenset[str]) -> str | None:
    """The project whose repository ``image`` is in, when it is in one of the
    platform's ``registries`` (``host/<project>/<image>[:tag]``); None otherwise."""
    host = image_host(image)
    if host is None or host not in registries:
        return None
    parts = image.split("/")
    return parts[1] if len(parts) >= 3 else None


def _fmt_cores(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class KindSpec:
    """One kind of server a user may start."""

    name: str
    display_name: str
    default_url: str
    # Images offered for this kind (Kubernetes). Empty: the kind takes no image
    # (the local spawner runs this machine's environment).
    images: tuple[str, ...] = ()
    # A regular expression a free-text image must match in full; None: list only.
    free_image_pattern: str | None = None
    # False when the kind cannot start here; ``unavailable_reason`` says why and how to fix it.
    available: bool = True
    unavailable_reason: str = ""

    @property
    def takes_image(self) -> bool:
        return bool(self.images) or self.free_image_pattern is not None


def kinds_from_config(config: Mapping[str, Mapping[str, Any]]) -> dict[str, KindSpec]:
    """Build kinds from the admin's ``kinds`` setting::

        {"jupyterlab": {"images": ["quay.io/jupyter/scipy-notebook:2025-01-06"],
                        "free_image_pattern": "^registry\\.example\\.com/.+$"},
         "vscode": {"images": [...]}, "rstudio": {"images": [...]}}

    Keys other than the three kinds, or unknown settings, are configuration
    errors raised as ``ValueError`` (they are the admin's, not the user's).
    """
    kinds: dict[str, KindSpec] = {}
    for name, spec in config.items():
        if name not in KIND_URLS:
            raise ValueError(f"kinds: '{name}' is not a kind; use {', '.join(KIND_URLS)}")
        unknown = set(spec) - {"images", "free_image_pattern", "display_name", "default_url"}
        if unknown:
            raise ValueError(f"kinds.{name}: unknown setting(s) {', '.join(sorted(unknown))}")
        pattern = spec.get("free_image_pattern")
        if pattern is not None:
            re.compile(pattern)  # fail at start-up, not at a user's spawn
        kinds[name] = KindSpec(
            name=name,
            display_name=spec.get("display_name", KIND_NAMES[name]),
            default_url=spec.get("default_url", KIND_URLS[name]),
            images=tuple(spec.get("images", ())),
            free_image_pattern=pattern,
        )
    return kinds


@dataclass(frozen=True)
class Limits:
    """Per-server maximums (of the limit part of ``a~b``); None = no limit."""

    cpu: Decimal | None = None
    memory: int | None = None
    gpu: int | None = None

    @classmethod
    def from_config(cls, value: Mapping[str, Any], where: str) -> Limits:
        unknown = set(value) - {"cpu", "memory", "gpu"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use cpu, memory, gpu")
        cpu = memory = gpu = None
        if value.get("cpu") is not None:
            cpu = parse_cpu(str(value["cpu"]), f"{where}.cpu").limit
        if value.get("memory") is not None:
            memory = parse_bytes(str(value["memory"]), f"{where}.memory")
        if value.get("gpu") is not None:
            gpu = int(value["gpu"])
        return cls(cpu, memory, gpu)

    def describe(self) -> dict[str, str | None]:
        return {
            "cpu": None if self.cpu is None else _fmt_cores(self.cpu),
            "memory": None if self.memory is None else format_bytes(self.memory),
            "gpu": None if self.gpu is None else str(self.gpu),
        }


def _most(a, b):
    # None means "no limit", so it wins.
    if a is None or b is None:
        return None
    return max(a, b)


def limits_for_roles(role_limits: Mapping[str, Mapping[str, Any]], roles: Iterable[str]) -> Limits:
    """A user's per-server limits: the most generous over the roles they hold
    that the admin configured. A user holding none of them gets no limits only
    if the admin configured none at all; otherwise the ``user`` role's limits
    (every JupyterHub user holds ``user``)."""
    held = [r for r in roles if r in role_limits]
    if not held:
        if not role_limits:
            return Limits()
        held = ["user"] if "user" in role_limits else []
        if not held:
            # configured limits exist but none apply: the tightest is the safe reading
            return Limits(cpu=Decimal(0), memory=0, gpu=0)
    result: Limits | None = None
    for role in held:
        limits = Limits.from_config(role_limits[role], f"role_limits.{role}")
        if result is None:
            result = limits
        else:
            result = Limits(_most(result.cpu, limits.cpu), _most(result.memory, limits.memory), _most(result.gpu, limits.gpu))
    assert result is not None
    return result


@dataclass(frozen=True)
class Choice:
    project: str
    kind: str
    image: str | None
    cpu: CpuRequest
    memory: MemoryRequest
    gpu: GpuRequest

    def to_options(self) -> dict[str, str]:
        """The canonical ``user_options`` (text the user can read back)."""
        options = {
            "project": self.project,
            "kind": self.kind,
            "cpu": str(self.cpu),
            "memory": str(self.memory),
            "gpu": str(self.gpu),
        }
        if self.image:
            options["image"] = self.image
        return options

    def usage(self) -> Usage:
        return Usage(self.cpu.limit, self.memory.limit, self.gpu.count)


@dataclass(frozen=True)
class Defaults:
    """What an empty form or empty ``user_options`` means."""

    project: str = PUBLIC
    kind: str = JUPYTERLAB
    cpu: str = "1~2"
    memory: str = "2G~4G"
    gpu: str = "0"


@dataclass
class Facts:
    """Everything validation needs to know about the user and the platform."""

    projects: Mapping[str, ProjectSettings]  # the projects the user is a member of
    kinds: Mapping[str, KindSpec]
    limits: Limits = field(default_factory=Limits)
    # project -> what its *other* running servers (this one excluded) and its running pipeline tasks hold
    usage: Mapping[str, Usage] = field(default_factory=dict)
    # GPUs this machine has (local spawner); None: not known here (Kubernetes schedules)
    gpus_available: int | None = None
    # vendors the GPU resource map knows; None: any vendor accepted
    gpu_vendors: frozenset[str] | None = None
    # clusters this hub can start servers on; None: any
    clusters: frozenset[str] | None = None
    defaults: Defaults = field(default_factory=Defaults)
    # project -> images built in it (Kubernetes kinds offer them besides the configured ones)
    built_images: Mapping[str, tuple[BuiltImage, ...]] = field(default_factory=dict)
    # registries whose repositories are per project (host/<project>/...): an image there is only its project's
    image_registries: frozenset[str] = frozenset()
    # why built images are not offered (the control plane did not answer); None: nothing to say
    built_images_note: str | None = None


def _text(options: Mapping[str, Any], name: str, default: str | None, errors: list[FieldError], accepted: str) -> str | None:
    """The text of option ``name``; ``default`` only when the option is absent (or
    null). A value given but blank is refused: it is what the user typed (a cleared
    form field), and starting a server with the default instead would hide that."""
    if name not in options or options[name] is None:
        return default
    value = options[name]
    if isinstance(value, str) and not value.strip():
        errors.append(FieldError(name, "is blank", accepted))
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("cpu", "memory", "gpu"):
        return str(value)
    if not isinstance(value, str):
        errors.append(FieldError(name, f"must be text, got {type(value).__name__}", accepted))
        return None
    return value.strip()


def parse_choice(options: Mapping[str, Any], facts: Facts) -> Choice:
    """Validate a choice against the user's facts; every problem is reported."""
    errors: list[FieldError] = []
    if not isinstance(options, Mapping):
        raise FieldErrors([FieldError("user_options", f"must be an object, got {type(options).__name__}", ", ".join(FIELDS))])
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        errors.append(FieldError(unknown[0], f"is not a server option ({', '.join(unknown)})", "options " + ", ".join(FIELDS)))

    d = facts.defaults
    project_accepted = "one of your projects: " + ", ".join(sorted(facts.projects)) if facts.projects else "a project you are a member of"
    project = _text(options, "project", d.project, errors, project_accepted)
    settings: ProjectSettings | None = None
    if project is not None:
        if project not in facts.projects:
            errors.append(FieldError("project", f"you are not a member of project '{project}'", project_accepted))
            project = None
        else:
            settings = facts.projects[project]
            if facts.clusters is not None and settings.cluster and settings.cluster not in facts.clusters:
                errors.append(
                    FieldError(
                        "project",
                        f"project '{project}' runs on cluster '{settings.cluster}', which this hub cannot start servers on",
                        "a project on cluster " + ", ".join(sorted(facts.clusters)),
                    )
                )

    kinds_accepted = "one of " + ", ".join(k for k, s in facts.kinds.items() if s.available)
    kind_name = _text(options, "kind", d.kind if d.kind in facts.kinds else next(iter(facts.kinds), None), errors, kinds_accepted)
    kind: KindSpec | None = None
    if kind_name is not None:
        if kind_name not in facts.kinds:
            errors.append(FieldError("kind", f"'{kind_name}' is not a kind of server offered here", kinds_accepted))
        elif not facts.kinds[kind_name].available:
            spec = facts.kinds[kind_name]
            errors.append(FieldError("kind", f"{spec.display_name} is not available: {spec.unavailable_reason}", kinds_accepted))
        else:
            kind = facts.kinds[kind_name]

    image: str | None = None
    raw_image = _text(options, "image", None, errors, IMAGE_ACCEPTED_LIST)
    if kind is not None:
        built = facts.built_images.get(project, ()) if project is not None else ()
        image = _check_image(kind, raw_image, errors, project, built, facts.image_registries)

    cpu = _parse(parse_cpu, _text(options, "cpu", d.cpu, errors, CPU_ACCEPTED), "cpu", errors)
    memory = _parse(parse_memory, _text(options, "memory", d.memory, errors, MEMORY_ACCEPTED), "memory", errors)
    gpu = _parse(parse_gpu, _text(options, "gpu", d.gpu, errors, GPU_ACCEPTED), "gpu", errors)
    if gpu is not None and gpu.vendor and facts.gpu_vendors is not None and gpu.vendor not in facts.gpu_vendors:
        errors.append(FieldError("gpu", f"unknown GPU vendor '{gpu.vendor}'", "vendors " + ", ".join(sorted(facts.gpu_vendors))))
        gpu = None

    _check_limits(cpu, memory, gpu, facts.limits, errors)
    if gpu is not None and facts.gpus_available is not None and gpu.count > facts.gpus_available:
        have = facts.gpus_available
        errors.append(
            FieldError(
                "gpu",
                f"asks for {gpu.count} GPU card(s) but this machine has {have}",
                f"at most {have}" if have else "0 (this machine has no GPU)",
            )
        )
    if settings is not None and project is not None:
        _check_quota(project, settings, cpu, memory, gpu, facts.usage.get(project, Usage()), errors)

    if errors:
        raise FieldErrors(errors)
    assert project is not None and kind is not None and cpu and memory and gpu
    return Choice(project, kind.name, image, cpu, memory, gpu)


def _parse(parser, text: str | None, name: str, errors: list[FieldError]):
    if text is None:
        return None
    try:
        return parser(text, name)
    except FieldError as exc:
        errors.append(exc)
        return None


def _check_image(kind: KindSpec, image: str | None, errors: list[FieldError], project: str | None = None,
                 built: Iterable[BuiltImage] = (), registries: frozenset[str] = frozenset()) -> str | None:
    if not kind.takes_image:
        if image:
            errors.append(FieldError("image", f"no image is chosen for {kind.display_name} servers here; the platform's own is used", "leave empty"))
        return None
    accepted = "one of " + ", ".join(kind.images) if kind.images else "an image"
    if kind.free_image_pattern is not None:
        accepted += f", or an image matching {kind.free_image_pattern}"
    if project is not None:
        accepted += f", or an image built in project {project}"
    owner = repository_project(image, registries) if image else None
    if image and owner is not None and project is not None:
        # a project's repository holds its own images: another project's are refused, whatever else would allow them
        if owner != project:
            errors.append(FieldError("image", f"'{image}' is in project '{owner}''s repository; a server of project '{project}' "
                                     "may use the images built in its own", accepted))
            return None
        if not re.search(r"\s", image):
            return image
    if image and any(image == b.reference for b in built):
        return image
    if not image:
        if kind.images:
            return kind.images[0]
        errors.append(FieldError("image", "is empty", accepted))
        return None
    if image in kind.images:
        return image
    if kind.free_image_pattern is not None and re.fullmatch(kind.free_image_pattern, image) and not re.search(r"\s", image):
        return image
    errors.append(FieldError("image", f"'{image}' is not offered for {kind.display_name}", accepted))
    return None


def _check_limits(cpu, memory, gpu, limits: Limits, errors: list[FieldError]) -> None:
    if cpu is not None and limits.cpu is not None and cpu.limit > limits.cpu:
        errors.append(
            FieldError("cpu", f"'{cpu}' asks for up to {_fmt_cores(cpu.limit)} cores; your role allows {_fmt_cores(limits.cpu)} per server", f"at most {_fmt_cores(limits.cpu)} cores ({CPU_ACCEPTED})")
        )
    if memory is not None and limits.memory is not None and memory.limit > limits.memory:
        errors.append(
            FieldError("memory", f"'{memory}' asks for up to {format_bytes(memory.limit)}; your role allows {format_bytes(limits.memory)} per server", f"at most {format_bytes(limits.memory)} ({MEMORY_ACCEPTED})")
        )
    if gpu is not None and limits.gpu is not None and gpu.count > limits.gpu:
        errors.append(FieldError("gpu", f"'{gpu}' asks for {gpu.count} card(s); your role allows {limits.gpu} per server", f"at most {limits.gpu} card(s)"))


def _check_quota(project: str, settings: ProjectSettings, cpu, memory, gpu, used: Usage, errors: list[FieldError]) -> None:
    quota = settings.quota
    if cpu is not None and quota.cpu is not None and used.cpu + cpu.limit > quota.cpu:
        left = max(quota.cpu - used.cpu, Decimal(0))
        errors.append(
            FieldError(
                "cpu",
                f"project '{project}' has a quota of {_fmt_cores(quota.cpu)} cores and its running servers and tasks use {_fmt_cores(used.cpu)}; '{cpu}' asks for up to {_fmt_cores(cpu.limit)}",
                f"at most {_fmt_cores(left)} cores",
            )
        )
    if memory is not None and quota.memory is not None and used.memory + memory.limit > quota.memory:
        left = max(quota.memory - used.memory, 0)
        errors.append(
            FieldError(
                "memory",
                f"project '{project}' has a quota of {format_bytes(quota.memory)} and its running servers and tasks use {format_bytes(used.memory) if used.memory else '0'}; '{memory}' asks for up to {format_bytes(memory.limit)}",
                f"at most {format_bytes(left) if left else '0'}",
            )
        )
    if gpu is not None and quota.gpu is not None and used.gpu + gpu.count > quota.gpu:
        left = max(quota.gpu - used.gpu, 0)
        errors.append(
            FieldError(
                "gpu",
                f"project '{project}' has a quota of {quota.gpu} GPU card(s) and its running servers and tasks use {used.gpu}; '{gpu}' asks for {gpu.count}",
                f"at most {left} card(s)",
            )
        )


def usage_of(options: Mapping[str, Any] | None) -> Usage:
    """Usage of a server from its stored ``user_options`` (best effort: options
    stored before validation existed count as nothing rather than failing a spawn)."""
    return usage_of_options(options)
