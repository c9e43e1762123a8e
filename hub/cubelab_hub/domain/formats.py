"""Parsers for the formats Cube Studio users already write (listed in docs/formats.md).

One module, shared by the projects API, the spawners, pipelines and services:
volume mounts, node selectors, CPU / memory / GPU requests, label names.
Every parser returns a typed value or raises :class:`FieldError` naming the field,
the bad part and the accepted forms. Nothing is silently dropped or reduced.

Pure Python: no Jupyter, no Kubernetes imports.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import FieldError

# ---------------------------------------------------------------- names / labels

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_ACCEPTED = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"

# Kubernetes label keys: optional DNS-subdomain prefix + '/' + name
_LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_dns_label(value: str, field: str, max_length: int = 63) -> str:
    """A Kubernetes DNS-1123 label (namespace, pod-name part, project name)."""
    if not isinstance(value, str) or not value:
        raise FieldError(field, "must be a non-empty string", DNS_LABEL_ACCEPTED)
    if len(value) > max_length:
        raise FieldError(field, f"'{value}' is {len(value)} characters, more than {max_length}", DNS_LABEL_ACCEPTED)
    if not DNS_LABEL_RE.fullmatch(value):
        raise FieldError(field, f"'{value}' is not a valid name", DNS_LABEL_ACCEPTED)
    return value


def validate_label_key(key: str, field: str) -> str:
    accepted = "a label key: [prefix/]name, name of letters, digits, '-', '_', '.', at most 63 characters"
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(prefix)):
        raise FieldError(field, f"label key prefix '{prefix}' is not a DNS subdomain", accepted)
    if not name or len(name) > 63 or not _LABEL_NAME_RE.fullmatch(name):
        raise FieldError(field, f"label key '{key}' is not valid", accepted)
    return key


def validate_label_value(value: str, field: str) -> str:
    accepted = "a label value: empty, or letters, digits, '-', '_', '.', starting and ending with a letter or digit, at most 63 characters"
    if value and (len(value) > 63 or not _LABEL_NAME_RE.fullmatch(value)):
        raise FieldError(field, f"label value '{value}' is not valid", accepted)
    return value


# ---------------------------------------------------------------- node selector

NODE_SELECTOR_ACCEPTED = "'key=value' pairs joined by ';', e.g. 'disk=ssd;zone=a'"


def parse_node_selector(text: str | None, field: str = "node_selector") -> dict[str, str]:
    """``k=v;k=v`` -> ``{"k": "v"}``. Empty text gives ``{}``."""
    if text is None:
        return {}
    if not isinstance(text, str):
        raise FieldError(field, f"must be a string, got {type(text).__name__}", NODE_SELECTOR_ACCEPTED)
    result: dict[str, str] = {}
    for raw in text.split(";"):
        part = raw.strip()
        if not part:
            continue
        if "=" not in part:
            raise FieldError(field, f"'{part}' has no '='", NODE_SELECTOR_ACCEPTED)
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        validate_label_key(key, field)
        validate_label_value(value, field)
        if key in result and result[key] != value:
            raise FieldError(field, f"key '{key}' is given twice with different values", NODE_SELECTOR_ACCEPTED)
        result[key] = value
    return result


def format_node_selector(selector: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in selector.items())


# ---------------------------------------------------------------- CPU / memory / GPU

# Upper bounds, far above any machine or cluster a request could be meant for, so a
# slip of the keyboard ('99999999999999999999T') is refused instead of reaching a
# scheduler. They also keep every value inside Kubernetes' 64-bit quantities
# (2^60 bytes; a million cores is 10^9 millicores) and the database's integers.
MAX_CPU_CORES = Decimal(1_000_000)
MAX_MEMORY_BYTES = 2**60  # 1024P, an exbibyte
# A request is for one server or one task, which runs on one node; the largest
# nodes hold 8 to 16 cards, so 1024 leaves room for any future machine.
MAX_GPU_CARDS = 1024

CPU_ACCEPTED = "a number of cores such as '2' or '0.5' (at most 1000000), or 'request~limit' such as '1~4'"
MEMORY_ACCEPTED = (
    "a size such as '4G', '512M' or '1.5G' with no space inside (units K, M, G, T, P; binary; at most 1024P), "
    "or 'request~limit' such as '1G~8G'"
)
GPU_ACCEPTED = (
    "a whole number of cards up to 1024: '0', '1', '2(V100)' (adds gpu-type=V100) or '1(nvidia,A100)' (vendor and type)"
)

_MEM_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
# [0-9], not \d: \d also matches other scripts' digits, which Decimal and int read.
_MEM_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([KMGTP]?)(I?B?)", re.IGNORECASE)
_NUM_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SPACE_RE = re.compile(r"\s")


@dataclass(frozen=True)
class CpuRequest:
    """Cores; ``request`` <= ``limit``."""

    request: Decimal
    limit: Decimal

    def __str__(self) -> str:
        if self.request == self.limit:
            return _fmt_decimal(self.request)
        return f"{_fmt_decimal(self.request)}~{_fmt_decimal(self.limit)}"

    def quantity(self, which: str = "limit") -> str:
        """Kubernetes quantity: '2', '500m'."""
        value = self.request if which == "request" else self.limit
        if value == value.to_integral_value():
            return str(int(value))
        return f"{int((value * 1000).to_integral_value())}m"


@dataclass(frozen=True)
class MemoryRequest:
    """Bytes; ``request`` <= ``limit``."""

    request: int
    limit: int

    def __str__(self) -> str:
        if self.request == self.limit:
            return format_bytes(self.request)
        return f"{format_bytes(self.request)}~{format_bytes(self.limit)}"

    def quantity(self, which: str = "limit") -> str:
        """Kubernetes quantity with binary suffix: '4Gi', '512Mi'."""
        return bytes_to_quantity(self.request if which == "request" else self.limit)


@dataclass(frozen=True)
class GpuRequest:
    count: int
    vendor: str | None = None
    type: str | None = None

    def __str__(self) -> str:
        if self.vendor:
            return f"{self.count}({self.vendor},{self.type})" if self.type else f"{self.count}({self.vendor},)"
        if self.type:
            return f"{self.count}({self.type})"
        return str(self.count)


def _fmt_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _split_range(text: str, field: str, accepted: str) -> tuple[str, str]:
    if not isinstance(text, (str, int, float)) or isinstance(text, bool):
        raise FieldError(field, f"must be a string, got {type(text).__name__}", accepted)
    text = str(text).strip()
    if not text:
        raise FieldError(field, "is empty", accepted)
    if text.count("~") > 1:
        raise FieldError(field, f"'{text}' has more than one '~'", accepted)
    if "~" in text:
        low, _, high = text.partition("~")
        low, high = low.strip(), high.strip()
    else:
        low = high = text
    # Spaces around '~' are layout; a space inside a value ('1 G', '1 0') is a slip
    # whose meaning is a guess, so it is refused rather than read one way.
    for part in (low, high):
        if _SPACE_RE.search(part):
            raise FieldError(field, f"'{part}' has a space inside", accepted)
    return low, high


def parse_cpu(text: str | int | float, field: str = "cpu") -> CpuRequest:
    low, high = _split_range(text, field, CPU_ACCEPTED)
    values = []
    for part in (low, high):
        if not _NUM_RE.fullmatch(part):
            raise FieldError(field, f"'{part}' is not a number of cores", CPU_ACCEPTED)
        try:
            value = Decimal(part)
        except InvalidOperation:  # pragma: no cover - regex guards this
            raise FieldError(field, f"'{part}' is not a number", CPU_ACCEPTED) from None
        if value > MAX_CPU_CORES:
            raise FieldError(field, f"'{part}' is more than {MAX_CPU_CORES} cores, beyond any machine", CPU_ACCEPTED)
        values.append(value)
    request, limit = values
    if limit <= 0:
        raise FieldError(field, f"'{text}' must be more than 0 cores", CPU_ACCEPTED)
    if request * 1000 != (request * 1000).to_integral_value() or limit * 1000 != (limit * 1000).to_integral_value():
        raise FieldError(field, f"'{text}' is finer than a thousandth of a core", CPU_ACCEPTED)
    if request > limit:
        raise FieldError(field, f"request {low} is more than limit {high}", CPU_ACCEPTED)
    return CpuRequest(request, limit)


def parse_bytes(text: str, field: str = "memory", accepted: str = MEMORY_ACCEPTED, maximum: int = MAX_MEMORY_BYTES) -> int:
    """One size ('4G', '1.5G', '1000') -> bytes, at most ``maximum``."""
    if not isinstance(text, str):
        raise FieldError(field, f"must be a string, got {type(text).__name__}", accepted)
    stripped = text.strip()
    if _SPACE_RE.search(stripped):
        raise FieldError(field, f"'{stripped}' has a space inside", accepted)
    match = _MEM_RE.fullmatch(stripped)
    if not match:
        raise FieldError(field, f"'{text}' is not a size", accepted)
    number, unit, suffix = match.groups()
    if suffix and not unit:
        raise FieldError(field, f"'{text}' has a suffix without a unit", accepted)
    value = Decimal(number) * _MEM_UNITS[unit.upper()]
    if value > maximum:
        raise FieldError(field, f"'{stripped}' is more than {format_bytes(maximum)}, beyond any machine", accepted)
    if value != value.to_integral_value():
        raise FieldError(field, f"'{text}' is not a whole number of bytes", accepted)
    return int(value)


def parse_memory(text: str | int, field: str = "memory") -> MemoryRequest:
    low, high = _split_range(text, field, MEMORY_ACCEPTED)
    request = parse_bytes(low, field)
    limit = parse_bytes(high, field)
    if limit <= 0:
        raise FieldError(field, f"'{text}' must be more than 0", MEMORY_ACCEPTED)
    if request > limit:
        raise FieldError(field, f"request {low} is more than limit {high}", MEMORY_ACCEPTED)
    return MemoryRequest(request, limit)


def format_bytes(value: int) -> str:
    """The shortest exact user form: 4294967296 -> '4G', 1610612736 -> '1536M'."""
    for unit in ("P", "T", "G", "M", "K"):
        size = _MEM_UNITS[unit]
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def bytes_to_quantity(value: int) -> str:
    for unit in ("P", "T", "G", "M", "K"):
        size = _MEM_UNITS[unit]
        if value and value % size == 0:
            return f"{value // size}{unit}i"
    return str(value)


# Spaces may surround the brackets and the comma; names are checked on their own.
_GPU_RE = re.compile(r"([0-9]+)\s*(?:\(\s*([^()]*?)\s*\))?")
_GPU_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def parse_gpu(text: str | int, field: str = "gpu", maximum: int = MAX_GPU_CARDS) -> GpuRequest:
    """'2(V100)' -> 2 cards of type V100; at most ``maximum`` cards."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise FieldError(field, f"must be a string, got {type(text).__name__}", GPU_ACCEPTED)
    text = str(text).strip()
    if not text:
        raise FieldError(field, "is empty", GPU_ACCEPTED)
    match = _GPU_RE.fullmatch(text)
    if not match:
        if re.match(r"^[0-9]*\.[0-9]+", text):
            raise FieldError(field, f"'{text}' is a fraction of a card; only whole cards are scheduled", GPU_ACCEPTED)
        if re.match(r"^[0-9]+\s+[0-9]", text):
            raise FieldError(field, f"'{text}' has a space inside the number of cards", GPU_ACCEPTED)
        raise FieldError(field, f"'{text}' is not a GPU request", GPU_ACCEPTED)
    digits = match.group(1).lstrip("0") or "0"
    # compared as text first: int() of thousands of digits is refused by Python itself
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise FieldError(field, f"'{match.group(1)}' cards is more than {maximum} per request, beyond any machine", GPU_ACCEPTED)
    count = int(digits)
    inner = match.group(2)
    vendor = gpu_type = None
    if inner is not None:
        parts = [p.strip() for p in inner.split(",")]
        if len(parts) == 1:
            gpu_type = parts[0]
        elif len(parts) == 2:
            vendor, gpu_type = parts
            if not vendor:
                raise FieldError(field, f"'{text}' names no vendor before ','", GPU_ACCEPTED)
        else:
            raise FieldError(field, f"'{text}' has more than two names in brackets", GPU_ACCEPTED)
        for name in (vendor, gpu_type):
            if name and not _GPU_NAME_RE.fullmatch(name):
                raise FieldError(field, f"'{name}' is not a valid vendor or GPU type", GPU_ACCEPTED)
        if not gpu_type and vendor is None:
            raise FieldError(field, f"'{text}' has empty brackets", GPU_ACCEPTED)
        gpu_type = gpu_type or None
        if count == 0:
            raise FieldError(field, f"'{text}' asks for 0 cards of a type; write '0'", GPU_ACCEPTED)
    return GpuRequest(count, vendor, gpu_type)


DEFAULT_GPU_RESOURCES = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "intel": "gpu.intel.com/i915"}


def gpu_resource_name(gpu: GpuRequest, resource_map: dict[str, str] | None = None, default_vendor: str = "nvidia", field: str = "gpu") -> str:
    """The extended-resource name for a GPU request (vendor map configurable)."""
    mapping = resource_map if resource_map is not None else DEFAULT_GPU_RESOURCES
    vendor = gpu.vendor or default_vendor
    if vendor not in mapping:
        raise FieldError(field, f"unknown GPU vendor '{vendor}'", "one of " + ", ".join(sorted(mapping)))
    return mapping[vendor]


# ---------------------------------------------------------------- volume mounts

MOUNT_KINDS = ("pvc", "pvc-share", "hostpath", "nfs", "memory", "configmap", "secret")
ADMIN_ONLY_MOUNT_KINDS = frozenset({"hostpath", "nfs"})
MOUNTS_ACCEPTED = (
    "'source(type):/mount/path' joined by ',' or ';', type one of "
    + ", ".join(MOUNT_KINDS)
    + "; e.g. 'kubeflow-user-workspace(pvc):/mnt', '/data(hostpath):/data', '10.0.0.1/exports(nfs):/nfs', '4G(memory):/dev/shm'"
)
_MOUNT_RE = re.compile(r"^(?P<source>.+?)\((?P<kind>[a-z-]+)\):(?P<path>.+)$")


@dataclass(frozen=True)
class VolumeMount:
    """One parsed mount. ``source`` meaning depends on ``kind``:
    pvc / pvc-share: claim name; hostpath: absolute host path; nfs: ``server`` and
    ``export``; memory: ``size_bytes``; configmap / secret: object name.
    """

    kind: str
    source: str
    mount_path: str
    server: str | None = None
    export: str | None = None
    size_bytes: int | None = None

    def __str__(self) -> str:
        return f"{self.source}({self.kind}):{self.mount_path}"


def _normalize_mount_path(path: str, field: str, where: str) -> str:
    path = path.strip()
    if not path.startswith("/"):
        raise FieldError(field, f"{where} '{path}' is not an absolute path", MOUNTS_ACCEPTED)
    if any(part == ".." for part in path.split("/")):
        raise FieldError(field, f"{where} '{path}' contains '..'", MOUNTS_ACCEPTED)
    if any(ch in path for ch in "\0\n\r"):
        raise FieldError(field, f"{where} '{path}' contains a control character", MOUNTS_ACCEPTED)
    normalized = posixpath.normpath(path)
    return normalized


def parse_volume_mounts(text: str | None, field: str = "volume_mount") -> list[VolumeMount]:
    """Parse ``src(type):/path`` items joined by ``,`` or ``;``.

    Two items with the same mount path in one string are an error (ambiguous);
    merging project and task mounts is :func:`merge_mounts`'s job.
    """
    if text is None:
        return []
    if not isinstance(text, str):
        raise FieldError(field, f"must be a string, got {type(text).__name__}", MOUNTS_ACCEPTED)
    mounts: list[VolumeMount] = []
    seen: dict[str, str] = {}
    for raw in re.split(r"[,;]", text):
        item = raw.strip()
        if not item:
            continue
        match = _MOUNT_RE.fullmatch(item)
        if not match:
            raise FieldError(field, f"'{item}' is not of the form source(type):/path", MOUNTS_ACCEPTED)
        source, kind, path = match.group("source").strip(), match.group("kind"), match.group("path")
        if kind not in MOUNT_KINDS:
            raise FieldError(field, f"'{item}' has unknown type '{kind}'", MOUNTS_ACCEPTED)
        mount_path = _normalize_mount_path(path, field, f"in '{item}' mount path")
        mount = _build_mount(kind, source, mount_path, item, field)
        if mount_path in seen:
            raise FieldError(field, f"mount path '{mount_path}' is used by both '{seen[mount_path]}' and '{item}'", MOUNTS_ACCEPTED)
        seen[mount_path] = item
        mounts.append(mount)
    return mounts


def _build_mount(kind: str, source: str, mount_path: str, item: str, field: str) -> VolumeMount:
    if kind in ("pvc", "pvc-share", "configmap", "secret"):
        if not re.fullmatch(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", source) or len(source) > 253:
            raise FieldError(field, f"in '{item}' '{source}' is not a valid {kind} name", MOUNTS_ACCEPTED)
        return VolumeMount(kind, source, mount_path)
    if kind == "hostpath":
        host = _normalize_mount_path(source if source.startswith("/") else "/" + source, field, f"in '{item}' host path")
        # Cube Studio writes 'data/aidata(hostpath):/aidata' meaning /data/aidata
        return VolumeMount(kind, host, mount_path)
    if kind == "nfs":
        server, sep, export = source.partition("/")
        if not sep or not server or not export:
            raise FieldError(field, f"in '{item}' nfs source must be 'server/export/path'", MOUNTS_ACCEPTED)
        if not re.fullmatch(r"^[A-Za-z0-9.\-:\[\]]+$", server):
            raise FieldError(field, f"in '{item}' '{server}' is not a server address", MOUNTS_ACCEPTED)
        export_path = _normalize_mount_path("/" + export, field, f"in '{item}' export")
        return VolumeMount(kind, source, mount_path, server=server, export=export_path)
    if kind == "memory":
        size = parse_bytes(source, field, MOUNTS_ACCEPTED)
        if size <= 0:
            raise FieldError(field, f"in '{item}' memory size must be more than 0", MOUNTS_ACCEPTED)
        return VolumeMount(kind, source, mount_path, size_bytes=size)
    raise AssertionError(kind)  # pragma: no cover


def format_volume_mounts(mounts: list[VolumeMount]) -> str:
    return ",".join(str(m) for m in mounts)


def merge_mounts(*layers: list[VolumeMount]) -> list[VolumeMount]:
    """Merge mount lists; a later layer wins for the same mount path.

    Order: first appearance of each path is kept, so defaults come first.
    """
    merged: dict[str, VolumeMount] = {}
    for layer in layers:
        for mount in layer:
            merged[mount.mount_path] = mount
    return list(merged.values())


def check_mount_permissions(mounts: list[VolumeMount], is_admin: bool, field: str = "volume_mount") -> None:
    """Only admins may use host paths and NFS."""
    if is_admin:
        return
    for mount in mounts:
        if mount.kind in ADMIN_ONLY_MOUNT_KINDS:
            raise FieldError(
                field,
                f"'{mount}' uses type '{mount.kind}', which only an admin may set",
                "types " + ", ".join(k for k in MOUNT_KINDS if k not in ADMIN_ONLY_MOUNT_KINDS) + " (hostpath and nfs: admins only)",
            )
