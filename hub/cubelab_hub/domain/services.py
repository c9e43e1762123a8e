"""Services: long-running internal tools and inference services of a project.

Cube Studio's manual, sections 八 (internal services) and 九 (inference
services), is the model: an image or command with env, ports, mounts and
resources, reachable under a generated host name (or a custom one under the
platform's wildcard domain), with traffic split between services sharing a
host, traffic mirroring, and autoscaling from ``cpu:50%,mem:50%,gpu:50%``.
Inference services add a serving type, model name, version and path; their
name is ``<type>-<model>-<version digits>`` and they are deployed to one of
three environments (debug, test, prod), each with its own host.

:func:`service_from_dict` parses every field strictly and raises
:class:`FieldErrors` with every problem at once, each naming its field and the
accepted form. Pure Python: no Jupyter, tornado, SQLAlchemy or Kubernetes imports.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError, FieldErrors
from .formats import (
    CpuRequest,
    GpuRequest,
    MemoryRequest,
    VolumeMount,
    check_mount_permissions,
    format_node_selector,
    format_volume_mounts,
    parse_cpu,
    parse_gpu,
    parse_memory,
    parse_node_selector,
    parse_volume_mounts,
)
from .projects import validate_project_name
from .templates import parse_env_lines

KINDS = ("internal", "inference")
EXPOSE = ("project", "public")
ENVIRONMENTS = ("debug", "test", "prod")
# Built-in types are served by the platform's model server from model_path;
# 'custom' runs the service's own image or command.
BUILTIN_SERVING_TYPES = ("sklearn", "xgboost", "lightgbm", "onnx")
SERVING_TYPES = (*BUILTIN_SERVING_TYPES, "custom")
HPA_METRICS = ("cpu", "mem", "gpu")

DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2G"
DEFAULT_GPU = "0"
DEFAULT_PORTS = (80,)
# Cube Studio cuts names at 60 characters; the same limit leaves room in the
# 63-character Kubernetes names derived from them.
MAX_NAME_LENGTH = 60
MAX_REPLICAS = 1000
MAX_PORTS = 20
MAX_HPA_PERCENT = 1000  # utilisation is relative to the request, so above 100% is meaningful

NAME_ACCEPTED = f"lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most {MAX_NAME_LENGTH} characters"
INFERENCE_NAME_ACCEPTED = f"'<serving type>-<model name>-<digits of the version>', e.g. 'sklearn-iris-20240101', at most {MAX_NAME_LENGTH} characters; leave it empty to have it generated"
OWNER_ACCEPTED = "a user name: 2 to 32 characters, lowercase letters, digits, '-' and '_', starting with a letter"
KIND_ACCEPTED = "'internal' or 'inference'"
EXPOSE_ACCEPTED = "'project' (members of the project only, the default) or 'public' (anyone)"
ENVIRONMENT_ACCEPTED = "'debug', 'test' or 'prod'"
SERVING_TYPE_ACCEPTED = "one of " + ", ".join(SERVING_TYPES)
MODEL_NAME_ACCEPTED = "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, e.g. 'iris'"
MODEL_VERSION_ACCEPTED = "letters, digits, '.', '-' and '_' with at least one digit, at most 63 characters, e.g. 'v2024.01.01.1'"
MODEL_PATH_ACCEPTED = "an absolute path, a path relative to the workspace without '..', or a URL (http, https, s3, gs), e.g. 'models/iris.joblib'"
IMAGE_ACCEPTED = "an image reference such as 'python:3.11-slim' or 'registry.example.com/team/app@sha256:<digest>', no spaces"
COMMAND_ACCEPTED = "a command line (run with 'sh -c', as in Cube Studio) or a list of strings (run as given)"
ARGS_ACCEPTED = "a list of strings, or one string split as a shell would split it (quotes group)"
WORKDIR_ACCEPTED = "an absolute path without '..', e.g. '/mnt/alice/app'"
PORTS_ACCEPTED = f"port numbers 1 to 65535 joined by ',', e.g. '80' or '7474,7687' (at most {MAX_PORTS}), or a list of numbers"
HEALTH_ACCEPTED = "'<port>:<path>' such as '8080:/healthz' (an HTTP GET), or 'shell:<command>' (exit status 0 is healthy); empty for none"
REPLICAS_ACCEPTED = f"a whole number from 1 to {MAX_REPLICAS}"
HPA_ACCEPTED = (
    f"'metric:percent' joined by ',', metrics cpu, mem, gpu, percent 1 to {MAX_HPA_PERCENT} of the request, e.g. 'cpu:50%,mem:50%,gpu:50%'; empty for none"
)
SPLIT_ACCEPTED = "'service:percent' joined by ',', e.g. 'svc-a:20%,svc-b:30%' (at most 100% in all; the rest stays on this service)"
MIRROR_ACCEPTED = "'service:percent' of one other service, e.g. 'shadow-svc:20%' (percent 1 to 100)"

_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_OWNER_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
_MODEL_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# registry[:port]/path[:tag][@digest], lowercase repository path as Docker requires
_IMAGE_RE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$"
)
_HOST_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PERCENT_RE = re.compile(r"^([0-9]+)%?$")
_URL_SCHEMES = ("http://", "https://", "s3://", "gs://")
# set by the platform for inference services; a user value would be overridden silently
RESERVED_ENV_PREFIXES = ("KUBEFLOW_", "K8S_")


@dataclass(frozen=True)
class HttpHealthCheck:
    """An HTTP GET to ``port`` and ``path``; a 2xx or 3xx answer is healthy."""

    port: int
    path: str

    def __str__(self) -> str:
        return f"{self.port}:{self.path}"


@dataclass(frozen=True)
class ShellHealthCheck:
    """A command run in the replica; exit status 0 is healthy."""

    command: str

    def __str__(self) -> str:
        return f"shell:{self.command}"


HealthCheck = HttpHealthCheck | ShellHealthCheck


@dataclass(frozen=True)
class Service:
    """One service as its owner described it, every field parsed.

    ``host`` is the custom host when one was given, else ``None`` (the host is
    then generated: :func:`service_host`). ``canary`` maps the services that
    take a share of this host's traffic to their percent; the rest stays here.
    ``mirror`` is the service receiving copies and the percent copied.
    """

    project: str
    name: str
    owner: str
    kind: str = "internal"
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    workdir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = DEFAULT_PORTS
    volume_mounts: tuple[VolumeMount, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    cpu: CpuRequest = field(default_factory=lambda: parse_cpu(DEFAULT_CPU))
    memory: MemoryRequest = field(default_factory=lambda: parse_memory(DEFAULT_MEMORY))
    gpu: GpuRequest = field(default_factory=lambda: parse_gpu(DEFAULT_GPU))
    health: HealthCheck | None = None
    min_replicas: int = 1
    max_replicas: int = 1
    hpa: dict[str, int] = field(default_factory=dict)  # metric (cpu, mem, gpu) -> target percent
    host: str | None = None
    canary: dict[str, int] = field(default_factory=dict)  # service -> percent
    mirror: tuple[str, int] | None = None  # (service, percent)
    expose: str = "project"
    # inference services only
    serving_type: str = ""
    model_name: str = ""
    model_version: str = ""
    model_path: str = ""
    environment: str = "prod"

    @property
    def is_inference(self) -> bool:
        return self.kind == "inference"

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas > self.min_replicas

    @property
    def has_gpu(self) -> bool:
        return self.gpu.count > 0

    @property
    def local_share(self) -> int:
        """The percent of this host's traffic that stays on this service."""
        return 100 - sum(self.canary.values())

    def to_dict(self) -> dict:
        """The user forms of every field; :func:`service_from_dict` reads it back."""
        data: dict[str, Any] = {
            "project": self.project,
            "name": self.name,
            "owner": self.owner,
            "kind": self.kind,
            "image": self.image,
            "command": list(self.command),
            "args": list(self.args),
            "workdir": self.workdir,
            "env": "\n".join(f"{k}={v}" for k, v in self.env.items()),
            "ports": ",".join(str(p) for p in self.ports),
            "volume_mount": format_volume_mounts(list(self.volume_mounts)),
            "node_selector": format_node_selector(self.node_selector),
            "cpu": str(self.cpu),
            "memory": str(self.memory),
            "gpu": str(self.gpu),
            "health": str(self.health) if self.health else "",
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "hpa": format_hpa(self.hpa),
            "host": self.host or "",
            "canary": format_split(self.canary),
            "mirror": f"{self.mirror[0]}:{self.mirror[1]}%" if self.mirror else "",
            "expose": self.expose,
        }
        if self.is_inference:
            data.update(
                serving_type=self.serving_type,
                model_name=self.model_name,
                model_version=self.model_version,
                model_path=self.model_path,
                environment=self.environment,
            )
        return data


INTERNAL_FIELDS = (
    "project",
    "name",
    "owner",
    "kind",
    "image",
    "command",
    "args",
    "workdir",
    "env",
    "ports",
    "volume_mount",
    "node_selector",
    "cpu",
    "memory",
    "gpu",
    "health",
    "min_replicas",
    "max_replicas",
    "hpa",
    "host",
    "canary",
    "mirror",
    "expose",
)
INFERENCE_FIELDS = ("serving_type", "model_name", "model_version", "model_path", "environment")


# ---------------------------------------------------------------- hosts


def normalize_domain(domain: str) -> str:
    """The configured wildcard domain, written '*.svc.example.com' or
    'svc.example.com', as 'svc.example.com'. A bad domain is a configuration
    mistake, not a user's: ``ValueError``."""
    text = domain.strip().lower() if isinstance(domain, str) else ""
    if text.startswith("*."):
        text = text[2:]
    if not _is_hostname(text):
        raise ValueError(f"the service domain {domain!r} is not a DNS name such as 'service.example.com'")
    return text


def default_host(name: str, domain: str) -> str:
    """A service's generated host: ``<name>.<domain>`` (Cube Studio's rule)."""
    return f"{name}.{normalize_domain(domain)}"


def environment_host(host: str, environment: str) -> str:
    """The host of one environment: prod is the host itself; debug and test
    put their name in front (``test.<host>``), as Cube Studio does."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
    return host if environment == "prod" else f"{environment}.{host}"


def service_host(service: Service, domain: str, environment: str | None = None) -> str:
    """Where ``service`` answers: its custom host or the generated one, in
    ``environment`` (default: the service's own; internal services are prod)."""
    base = service.host or default_host(service.name, domain)
    return environment_host(base, environment or service.environment)


def host_in_domain(host: str, domain: str) -> bool:
    """Whether ``host`` lies under the wildcard domain (the domain itself does not)."""
    return host.endswith("." + normalize_domain(domain))


def _is_hostname(text: str) -> bool:
    if not text or len(text) > 253:
        return False
    return all(len(label) <= 63 and _HOST_LABEL_RE.fullmatch(label) for label in text.split("."))


# ---------------------------------------------------------------- names


def version_digits(version: str) -> str:
    """The digits of a version, in order: 'v2024.01.01.1' -> '202401011'."""
    return "".join(ch for ch in version if "0" <= ch <= "9")


def inference_name(serving_type: str, model_name: str, model_version: str) -> str:
    """Cube Studio's rule: ``<type>-<model>-<version digits>``."""
    return f"{serving_type}-{model_name}-{version_digits(model_version)}"


def workload_name(name: str, environment: str = "prod") -> str:
    """The Kubernetes name of a service's objects in an environment:
    ``<name>`` for prod, ``debug-<name>`` / ``test-<name>`` otherwise (Cube
    Studio's names). A result longer than 63 characters keeps a readable
    start and ends in a hash, so two services never share one."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
    full = name if environment == "prod" else f"{environment}-{name}"
    return fit_name(full)


def fit_name(text: str, limit: int = 63) -> str:
    """``text`` when it fits in ``limit`` characters, else a cut start and an
    8-character hash of the whole."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-')}-{digest}"


# ---------------------------------------------------------------- the inference environment


def inference_env(service: Service, area: str, environment: str | None = None) -> dict[str, str]:
    """The variables Cube Studio gives an inference service's pods (manual,
    section 九): ``KUBEFLOW_ENV`` (debug, test or prod), ``KUBEFLOW_MODEL_PATH``,
    ``KUBEFLOW_MODEL_VERSION``, ``KUBEFLOW_MODEL_IMAGES``, ``KUBEFLOW_MODEL_NAME``
    and ``KUBEFLOW_AREA`` (where it runs: the cluster, or ``local``)."""
    if not service.is_inference:
        return {}
    return {
        "KUBEFLOW_ENV": environment or service.environment,
        "KUBEFLOW_MODEL_PATH": service.model_path,
        "KUBEFLOW_MODEL_VERSION": service.model_version,
        "KUBEFLOW_MODEL_IMAGES": service.image,
        "KUBEFLOW_MODEL_NAME": service.model_name,
        "KUBEFLOW_AREA": area,
    }


# ---------------------------------------------------------------- single fields


def parse_ports(value: Any, field_name: str = "ports") -> tuple[int, ...]:
    if value is None or value == "" or value == []:
        raise FieldError(field_name, "is empty; a service listens on at least one port", PORTS_ACCEPTED)
    if isinstance(value, int) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = value
    else:
        raise FieldError(field_name, f"must be text or a list, got {type(value).__name__}", PORTS_ACCEPTED)
    ports: list[int] = []
    for item in items:
        if isinstance(item, str) and re.fullmatch(r"[0-9]{1,5}", item):
            number = int(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            number = item
        else:
            raise FieldError(field_name, f"'{item}' is not a port number", PORTS_ACCEPTED)
        if not 1 <= number <= 65535:
            raise FieldError(field_name, f"{number} is outside 1..65535", PORTS_ACCEPTED)
        if number in ports:
            raise FieldError(field_name, f"port {number} is given twice", PORTS_ACCEPTED)
        ports.append(number)
    if len(ports) > MAX_PORTS:
        raise FieldError(field_name, f"{len(ports)} ports is more than {MAX_PORTS}", PORTS_ACCEPTED)
    return tuple(ports)


def parse_health(value: Any, field_name: str = "health") -> HealthCheck | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(field_name, f"must be text, got {type(value).__name__}", HEALTH_ACCEPTED)
    text = value.strip()
    if not text:
        return None
    head, sep, rest = text.partition(":")
    if not sep:
        raise FieldError(field_name, f"'{text}' has no ':'", HEALTH_ACCEPTED)
    if head.strip() == "shell":
        command = rest.strip()
        if not command:
            raise FieldError(field_name, "'shell:' names no command", HEALTH_ACCEPTED)
        if "\0" in command or "\n" in command:
            raise FieldError(field_name, "the command holds a line break or NUL", HEALTH_ACCEPTED)
        return ShellHealthCheck(command)
    if not re.fullmatch(r"[0-9]{1,5}", head.strip()):
        raise FieldError(field_name, f"'{head}' is neither a port number nor 'shell'", HEALTH_ACCEPTED)
    port = int(head)
    if not 1 <= port <= 65535:
        raise FieldError(field_name, f"port {port} is outside 1..65535", HEALTH_ACCEPTED)
    path = rest.strip()
    if not path.startswith("/") or re.search(r"[\s\0]", path):
        raise FieldError(field_name, f"'{path}' is not a URL path starting with '/'", HEALTH_ACCEPTED)
    return HttpHealthCheck(port, path)


def _parse_percent(text: str, item: str, field_name: str, accepted: str, low: int, high: int) -> int:
    match = _PERCENT_RE.fullmatch(text.strip())
    if not match:
        raise FieldError(field_name, f"in '{item}' '{text.strip()}' is not a whole percent", accepted)
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > 6 or not low <= int(digits) <= high:
        raise FieldError(field_name, f"in '{item}' {digits}% is outside {low}..{high}%", accepted)
    return int(digits)


def _pairs(value: Any, field_name: str, accepted: str) -> list[tuple[str, str, str]]:
    """``a:b,c:d`` (',' or ';') -> [(item, a, b)]; empty text gives []."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise FieldError(field_name, f"must be text, got {type(value).__name__}", accepted)
    pairs = []
    for raw in re.split(r"[,;]", value):
        item = raw.strip()
        if not item:
            continue
        key, sep, rest = item.partition(":")
        if not sep:
            raise FieldError(field_name, f"'{item}' has no ':'", accepted)
        pairs.append((item, key.strip(), rest))
    return pairs


def parse_hpa(value: Any, field_name: str = "hpa") -> dict[str, int]:
    """``cpu:50%,mem:50%,gpu:50%`` -> ``{"cpu": 50, "mem": 50, "gpu": 50}``."""
    rule: dict[str, int] = {}
    for item, metric, percent in _pairs(value, field_name, HPA_ACCEPTED):
        metric = "mem" if metric == "memory" else metric
        if metric not in HPA_METRICS:
            raise FieldError(field_name, f"in '{item}' '{metric}' is not a metric", HPA_ACCEPTED)
        if metric in rule:
            raise FieldError(field_name, f"metric '{metric}' is given twice", HPA_ACCEPTED)
        rule[metric] = _parse_percent(percent, item, field_name, HPA_ACCEPTED, 1, MAX_HPA_PERCENT)
    return rule


def format_hpa(rule: dict[str, int]) -> str:
    return ",".join(f"{metric}:{percent}%" for metric, percent in rule.items())


def parse_split(value: Any, field_name: str = "canary") -> dict[str, int]:
    """``svc-a:20%,svc-b:30%`` -> ``{"svc-a": 20, "svc-b": 30}``; at most 100% in all."""
    split: dict[str, int] = {}
    for item, name, percent in _pairs(value, field_name, SPLIT_ACCEPTED):
        _check_target(name, item, field_name, SPLIT_ACCEPTED)
        if name in split:
            raise FieldError(field_name, f"service '{name}' is given twice", SPLIT_ACCEPTED)
        split[name] = _parse_percent(percent, item, field_name, SPLIT_ACCEPTED, 1, 100)
    total = sum(split.values())
    if total > 100:
        raise FieldError(field_name, f"the shares add up to {total}%, more than 100%", SPLIT_ACCEPTED)
    return split


def format_split(split: dict[str, int]) -> str:
    return ",".join(f"{name}:{percent}%" for name, percent in split.items())


def parse_mirror(value: Any, field_name: str = "mirror") -> tuple[str, int] | None:
    """``shadow:20%`` -> ``("shadow", 20)``; empty text gives ``None``."""
    pairs = _pairs(value, field_name, MIRROR_ACCEPTED)
    if not pairs:
        return None
    if len(pairs) > 1:
        raise FieldError(field_name, f"names {len(pairs)} services; copies go to one", MIRROR_ACCEPTED)
    item, name, percent = pairs[0]
    _check_target(name, item, field_name, MIRROR_ACCEPTED)
    return name, _parse_percent(percent, item, field_name, MIRROR_ACCEPTED, 1, 100)


def _check_target(name: str, item: str, field_name: str, accepted: str) -> None:
    if not name:
        raise FieldError(field_name, f"'{item}' names no service before ':'", accepted)
    if len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
        raise FieldError(field_name, f"in '{item}' '{name}' is not a service name", accepted)


def parse_command(value: Any, field_name: str = "command") -> tuple[str, ...]:
    """A string is a command line for ``sh -c`` (Cube Studio's form; the user's
    own shell, in their own container or account); a list is an argv."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        if "\0" in value:
            raise FieldError(field_name, "holds a NUL character", COMMAND_ACCEPTED)
        return ("sh", "-c", value.strip())
    return _string_list(value, field_name, COMMAND_ACCEPTED)


def parse_args(value: Any, field_name: str = "args") -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise FieldError(field_name, f"cannot be split: {exc}", ARGS_ACCEPTED) from None
    return _string_list(value, field_name, ARGS_ACCEPTED)


def _string_list(value: Any, field_name: str, accepted: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FieldError(field_name, f"must be text or a list, got {type(value).__name__}", accepted)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise FieldError(field_name, f"item {i} is {type(item).__name__}, not text", accepted)
        if "\0" in item:
            raise FieldError(field_name, f"item {i} holds a NUL character", accepted)
    return tuple(value)


def parse_image(value: Any, field_name: str = "image") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise FieldError(field_name, f"must be text, got {type(value).__name__}", IMAGE_ACCEPTED)
    text = value.strip()
    if len(text) > 512 or not _IMAGE_RE.match(text):
        raise FieldError(field_name, f"'{text[:80]}' is not an image reference", IMAGE_ACCEPTED)
    return text


def parse_workdir(value: Any, field_name: str = "workdir") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise FieldError(field_name, f"must be text, got {type(value).__name__}", WORKDIR_ACCEPTED)
    text = value.strip()
    if not text.startswith("/") or ".." in text.split("/") or re.search(r"[\0\n\r]", text):
        raise FieldError(field_name, f"'{text}' is not an absolute path without '..'", WORKDIR_ACCEPTED)
    return posixpath.normpath(text)


def parse_model_path(value: Any, field_name: str = "model_path") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise FieldError(field_name, f"must be text, got {type(value).__name__}", MODEL_PATH_ACCEPTED)
    text = value.strip()
    if re.search(r"[\0\n\r]", text) or len(text) > 1024:
        raise FieldError(field_name, "holds a control character or is longer than 1024 characters", MODEL_PATH_ACCEPTED)
    if text.startswith(_URL_SCHEMES):
        return text
    if "://" in text:
        raise FieldError(field_name, f"'{text}' uses a URL scheme other than http, https, s3 and gs", MODEL_PATH_ACCEPTED)
    if ".." in text.split("/"):
        raise FieldError(field_name, f"'{text}' contains '..'", MODEL_PATH_ACCEPTED)
    return text


def parse_replicas(value: Any, field_name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,7}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field_name, f"{value!r} is not a whole number", REPLICAS_ACCEPTED)
    if not 1 <= value <= MAX_REPLICAS:
        raise FieldError(field_name, f"{value} is outside 1..{MAX_REPLICAS}", REPLICAS_ACCEPTED)
    return value


def _choice(value: Any, field_name: str, choices: tuple[str, ...], default: str, accepted: str) -> str:
    if value is None or value == "":
        return default
    if value not in choices:
        raise FieldError(field_name, f"'{value}' is not one of {', '.join(choices)}", accepted)
    return value


def _text(value: Any, field_name: str, accepted: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(field_name, f"must be text, got {type(value).__name__}", accepted)
    return value.strip()


# ---------------------------------------------------------------- the whole service


def service_from_dict(
    data: Any,
    domain: str,
    *,
    is_admin: bool = False,
    serving_types: tuple[str, ...] = SERVING_TYPES,
) -> Service:
    """Parse a service's JSON shape; every problem is reported at once in
    :class:`FieldErrors`. ``domain``: the platform's wildcard service domain
    (custom hosts must lie under it). ``is_admin``: host-path and NFS mounts
    are an admin's."""
    domain = normalize_domain(domain)
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("service", "must be an object", "{project, name, owner, image, ports, ...}")])
    errors: list[FieldError] = []
    values: dict[str, Any] = {}

    def take(key: str, parse, *args) -> None:
        try:
            values[key] = parse(data.get(key), key, *args)
        except FieldError as exc:
            errors.append(exc)

    kind = data.get("kind") or "internal"
    if kind not in KINDS:
        errors.append(FieldError("kind", f"'{kind}' is not a kind of service", KIND_ACCEPTED))
        kind = "internal"
    known = set(INTERNAL_FIELDS) | (set(INFERENCE_FIELDS) if kind == "inference" else set())
    for key in data:
        if key not in known:
            hint = " (inference services only)" if key in INFERENCE_FIELDS else ""
            errors.append(FieldError(str(key), f"is not a field of an {kind} service{hint}", ", ".join(sorted(known))))

    try:
        values["project"] = validate_project_name(data.get("project"), "project")
    except FieldError as exc:
        errors.append(exc)
    owner = data.get("owner")
    if not isinstance(owner, str) or not _OWNER_RE.fullmatch(owner):
        errors.append(FieldError("owner", f"{owner!r} is not a user name", OWNER_ACCEPTED))
    take("image", parse_image)
    take("command", parse_command)
    take("args", parse_args)
    take("workdir", parse_workdir)
    take("env", parse_env_lines)
    values["ports"] = DEFAULT_PORTS
    if "ports" in data:
        take("ports", parse_ports)
    take("node_selector", parse_node_selector)
    try:
        mounts = parse_volume_mounts(data.get("volume_mount"), "volume_mount")
        check_mount_permissions(mounts, is_admin, "volume_mount")
        values["volume_mounts"] = tuple(mounts)
    except FieldError as exc:
        errors.append(exc)
    for key, parse, default in (("cpu", parse_cpu, DEFAULT_CPU), ("memory", parse_memory, DEFAULT_MEMORY), ("gpu", parse_gpu, DEFAULT_GPU)):
        raw = data.get(key)
        try:
            values[key] = parse(default if raw in (None, "") else raw, key)
        except FieldError as exc:
            errors.append(exc)
    take("health", parse_health)
    for key in ("min_replicas", "max_replicas"):
        try:
            values[key] = parse_replicas(data.get(key), key, values.get("min_replicas", 1))
        except FieldError as exc:
            errors.append(exc)
    take("hpa", parse_hpa)
    take("canary", parse_split)
    take("mirror", parse_mirror)
    try:
        values["expose"] = _choice(data.get("expose"), "expose", EXPOSE, "project", EXPOSE_ACCEPTED)
    except FieldError as exc:
        errors.append(exc)
    host = None
    try:
        # host names are case-insensitive; one spelling keeps shared hosts comparable
        host = _text(data.get("host"), "host", f"a host name ending in '.{domain}'").lower() or None
    except FieldError as exc:
        errors.append(exc)

    if kind == "inference":
        name = _inference_fields(data, values, errors, serving_types)
    else:
        name = data.get("name")
        if not isinstance(name, str) or not name:
            errors.append(FieldError("name", "is missing", NAME_ACCEPTED))
        elif len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
            errors.append(FieldError("name", f"'{name}' is not a valid service name", NAME_ACCEPTED))

    _check_rules(name if isinstance(name, str) else "", kind, host, domain, values, errors)
    if errors:
        raise FieldErrors(errors)
    return Service(name=name, owner=owner, kind=kind, host=host, **values)


def _inference_fields(data: dict, values: dict, errors: list[FieldError], serving_types: tuple[str, ...]) -> str:
    """Parse the inference fields into ``values``; returns the service's name
    (generated when not given)."""
    serving_type = data.get("serving_type")
    if not serving_type:
        errors.append(FieldError("serving_type", "is missing", "one of " + ", ".join(serving_types)))
    elif serving_type not in serving_types:
        errors.append(FieldError("serving_type", f"'{serving_type}' is not a serving type", "one of " + ", ".join(serving_types)))
    model_name = data.get("model_name")
    if not isinstance(model_name, str) or not model_name:
        errors.append(FieldError("model_name", "is missing", MODEL_NAME_ACCEPTED))
    elif len(model_name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(model_name):
        errors.append(FieldError("model_name", f"'{model_name}' is not a valid model name", MODEL_NAME_ACCEPTED))
    version = data.get("model_version")
    if not isinstance(version, str) or not version:
        errors.append(FieldError("model_version", "is missing", MODEL_VERSION_ACCEPTED))
    elif len(version) > 63 or not _MODEL_VERSION_RE.fullmatch(version) or not version_digits(version):
        errors.append(FieldError("model_version", f"'{version}' is not a version with digits", MODEL_VERSION_ACCEPTED))
    try:
        values["model_path"] = parse_model_path(data.get("model_path"), "model_path")
    except FieldError as exc:
        errors.append(exc)
    try:
        values["environment"] = _choice(data.get("environment"), "environment", ENVIRONMENTS, "prod", ENVIRONMENT_ACCEPTED)
    except FieldError as exc:
        errors.append(exc)
    parts_ok = not any(e.field in ("serving_type", "model_name", "model_version") for e in errors)
    given = data.get("name")
    if not parts_ok:
        return given if isinstance(given, str) else ""
    values.update(serving_type=serving_type, model_name=model_name, model_version=version)
    expected = inference_name(serving_type, model_name, version)
    if len(expected) > MAX_NAME_LENGTH:
        field_name = "name" if given else "model_name"
        errors.append(
            FieldError(
                field_name,
                f"the name '{expected}' made of serving type, model name and version digits is {len(expected)} characters, "
                f"more than {MAX_NAME_LENGTH}; shorten model_name or model_version",
                INFERENCE_NAME_ACCEPTED,
            )
        )
        return expected
    if given in (None, ""):
        return expected
    if given != expected:
        errors.append(
            FieldError("name", f"'{given}' does not follow '<serving type>-<model name>-<version digits>': here it is '{expected}'", INFERENCE_NAME_ACCEPTED)
        )
    return expected


def _check_rules(name: str, kind: str, host: str | None, domain: str, values: dict, errors: list[FieldError]) -> None:
    """Rules across fields, checked on the fields that parsed."""
    image, command = values.get("image"), values.get("command")
    if kind == "internal" and "image" in values and "command" in values and not image and not command:
        errors.append(FieldError("image", "neither image nor command is given; a service needs something to run", IMAGE_ACCEPTED))
    if kind == "inference":
        serving = values.get("serving_type")
        if serving in BUILTIN_SERVING_TYPES and "model_path" in values and not values["model_path"]:
            errors.append(FieldError("model_path", f"is missing; a '{serving}' service serves the model found there", MODEL_PATH_ACCEPTED))
        if serving == "custom" and "image" in values and "command" in values and not image and not command:
            errors.append(FieldError("image", "a 'custom' inference service needs an image or a command", IMAGE_ACCEPTED))
        for key in values.get("env") or {}:
            if key.startswith(RESERVED_ENV_PREFIXES):
                errors.append(FieldError("env", f"'{key}' is set by the platform for inference services", "names not starting with KUBEFLOW_ or K8S_"))
    low, high = values.get("min_replicas"), values.get("max_replicas")
    if low is not None and high is not None and low > high:
        errors.append(FieldError("max_replicas", f"{high} is less than min_replicas {low}", f"a whole number from min_replicas ({low}) to {MAX_REPLICAS}"))
    rule = values.get("hpa")
    if rule and low is not None and high is not None and low == high:
        errors.append(
            FieldError("hpa", f"an autoscaling rule needs max_replicas above min_replicas (both are {low})", "max_replicas > min_replicas, or an empty rule")
        )
    gpu = values.get("gpu")
    if rule and "gpu" in rule and gpu is not None and gpu.count == 0:
        errors.append(FieldError("hpa", "a 'gpu' rule on a service without a GPU", "cpu and mem rules, or ask for a GPU with the gpu field"))
    if host is not None:
        if host.startswith(("http://", "https://")) or "/" in host:
            errors.append(FieldError("host", f"'{host}' is a URL; give the host name only", f"a host name ending in '.{domain}'"))
        elif not _is_hostname(host):
            errors.append(FieldError("host", f"'{host}' is not a host name", f"lowercase DNS labels ending in '.{domain}'"))
        elif not host_in_domain(host, domain):
            errors.append(FieldError("host", f"'{host}' is not under the service domain '{domain}'", f"a host name ending in '.{domain}'"))
    split = values.get("canary") or {}
    if name and name in split:
        errors.append(FieldError("canary", f"'{name}' is this service; the share left over stays here", SPLIT_ACCEPTED))
    mirror = values.get("mirror")
    if name and mirror and mirror[0] == name:
        errors.append(FieldError("mirror", f"'{name}' is this service; copies go to another one", MIRROR_ACCEPTED))


# ---------------------------------------------------------------- trying a service

TRY_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
TRY_MAX_BODY = 1 << 20
_TRY_PATH_RE = re.compile(r"/[\x21-\x7e]*")


@dataclass(frozen=True)
class TryRequest:
    """One request a member sends to a service from the Lab's try-it panel."""

    method: str
    path: str
    body: str = ""
    content_type: str = "application/json"


def try_request_from_dict(data: Any) -> TryRequest:
    """A try-it request, strictly: every problem named by its field."""
    if not isinstance(data, dict):
        raise FieldError("body", "must be a JSON object", '{"method": "POST", "path": "/predict", "body": "{...}"}')
    errors: list[FieldError] = []
    method = data.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in TRY_METHODS:
        errors.append(FieldError("method", f"{method!r} is not a method the panel sends", ", ".join(TRY_METHODS)))
    path = data.get("path", "/")
    if not isinstance(path, str) or len(path) > 2048 or not _TRY_PATH_RE.fullmatch(path) or path.startswith("//"):
        errors.append(FieldError("path", f"{path!r} is not a path of the service", "a path starting with '/', printable ASCII, e.g. /predict"))
    body = data.get("body", "")
    if not isinstance(body, str) or len(body.encode()) > TRY_MAX_BODY:
        errors.append(FieldError("body", "must be text of at most 1 MiB", "the request body as a string"))
    content_type = data.get("content_type", "application/json")
    if not isinstance(content_type, str) or not re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(; ?[ -~]*)?", content_type):
        errors.append(FieldError("content_type", f"{content_type!r} is not a media type", "e.g. application/json"))
    unknown = sorted(set(data) - {"method", "path", "body", "content_type"})
    if unknown:
        errors.append(FieldError(unknown[0], "is not a field of a try-it request", "method, path, body, content_type"))
    if errors:
        raise FieldErrors(errors)
    return TryRequest(method.upper(), path, body, content_type)
