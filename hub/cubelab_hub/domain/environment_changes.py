""""Save as image": a Dockerfile that reproduces what a user changed in the
environment they started from, a reviewable alternative to ``docker commit``.

The inputs are package lists as text, taken before and after the changes:

- ``pip freeze`` (``name==version``, ``-e <path or VCS URL>``, ``name @ <url>``);
- ``conda list --export`` (``name=version=build``) or ``conda list``'s table;
- the apt packages installed: ``apt list --installed``
  (``name/suite,now version arch [installed]``), ``dpkg-query -W``
  (``name<TAB>version``) or ``apt-mark showmanual`` (names only).

The differences become ``RUN`` lines after ``FROM <base>``: apt first, then
conda, then pip (each manager installs over what the one before put there),
each package pinned to the version it had after the changes; removed
packages are removed. What cannot be reproduced from a registry (editable
installs, packages installed from local paths) is left out with a comment
saying why, so the reviewer knows what to add by hand (a ``COPY`` of the
source, for example).

Every name and version that reaches a ``RUN`` line matches a strict pattern
(letters, digits and ``.+-_~:!=``), so no text of the input can change what
the build's shell runs; a line that is not one of the accepted forms is an
error naming the field, its line and the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError, FieldErrors
from .services import parse_image

MAX_LIST_BYTES = 2 * 2**20
MANAGERS = ("apt", "conda", "pip")
FIELDS = ("base", *(f"{m}_{when}" for m in MANAGERS for when in ("before", "after")))

PIP_ACCEPTED = ("the output of 'pip freeze': lines 'name==version', '-e <path or VCS URL>', 'name @ <url>', "
                "comments starting with '#'")
CONDA_ACCEPTED = ("the output of 'conda list --export' (lines 'name=version=build') or of 'conda list' "
                  "(columns name, version, build, channel), comments starting with '#'")
APT_ACCEPTED = ("the output of 'apt list --installed' (lines 'name/suite,now version arch [installed]'), "
                "of 'dpkg-query -W' (lines 'name<TAB>version') or of 'apt-mark showmanual' (one name a line)")
BASE_ACCEPTED = "the image the environment started from, e.g. '127.0.0.1:5000/team-a/trainer:v1' or 'python:3.11-slim'"

# PEP 508 names; versions as pip freeze writes them (PEP 440, local versions too)
_PIP_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PIP_PIN_RE = re.compile(rf"^(?P<name>{_PIP_NAME})(?:\[[A-Za-z0-9_,.-]+\])?\s*={{2,3}}\s*(?P<version>[A-Za-z0-9.+!_-]+)$")
_PIP_URL_RE = re.compile(rf"^(?P<name>{_PIP_NAME})(?:\[[A-Za-z0-9_,.-]+\])?\s+@\s+(?P<url>\S+)$")
# a URL that may stand in a RUN line between single quotes
_SAFE_URL_RE = re.compile(r"^(?:https?|git\+https?|git\+ssh)://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")
_CONDA_NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_CONDA_VERSION = r"[A-Za-z0-9._+!-]+"
_CONDA_EXPORT_RE = re.compile(rf"^(?P<name>{_CONDA_NAME})=(?P<version>{_CONDA_VERSION})(?:=(?P<build>[A-Za-z0-9._+-]+))?$")
_CONDA_TABLE_RE = re.compile(rf"^(?P<name>{_CONDA_NAME})\s+(?P<version>{_CONDA_VERSION})(?:\s+(?P<build>\S+))?(?:\s+(?P<channel>\S+))?$")
_APT_NAME = r"[a-z0-9][a-z0-9+.-]+"
_APT_VERSION = r"[A-Za-z0-9.+~:-]+"
_APT_LIST_RE = re.compile(rf"^(?P<name>{_APT_NAME})/\S*\s+(?P<version>{_APT_VERSION})\s+\S+(?:\s+\[[^\]]*\])?$")
_DPKG_RE = re.compile(rf"^(?P<name>{_APT_NAME})(?::[a-z0-9]+)?\s+(?P<version>{_APT_VERSION})$")
_APT_NAME_RE = re.compile(rf"^(?P<name>{_APT_NAME})(?::[a-z0-9]+)?$")


@dataclass(frozen=True)
class Package:
    """One package of a list: its name as the manager knows it, its version
    (None when the list has none), and where it came from when not a registry."""

    name: str
    version: str | None = None
    url: str | None = None  # 'name @ url' installs
    local: str | None = None  # why it cannot be reproduced (editable, a local path): it is left out

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass
class ManagerChanges:
    """What changed for one package manager."""

    added: list[Package] = field(default_factory=list)
    changed: list[tuple[Package, Package]] = field(default_factory=list)  # (before, after)
    removed: list[Package] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (the line, why)
    notes: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.left_out)

    def to_dict(self) -> dict:
        def text(p: Package) -> str:
            return f"{p.name}=={p.version}" if p.version else (f"{p.name} @ {p.url}" if p.url else p.name)

        return {"added": [text(p) for p in self.added],
                "changed": [{"name": a.name, "from": b.version or b.url, "to": a.version or a.url} for b, a in self.changed],
                "removed": [p.name for p in self.removed],
                "left_out": [{"line": line, "why": why} for line, why in self.left_out]}


# ---------------------------------------------------------------- parsing the lists


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.strip().startswith("#")]


def _pip_key(name: str) -> str:
    # PEP 503: pip treats 'Foo_Bar', 'foo-bar' and 'foo.bar' as one project
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pip_freeze(text: str, field_name: str = "pip_after") -> dict[str, Package]:
    """``pip freeze`` -> normalised name -> package. Editable installs and
    local paths are kept, marked ``local`` (they are reported, not installed)."""
    packages: dict[str, Package] = {}
    for n, line in _lines(text):
        if line.startswith("-e ") or line.startswith("--editable"):
            target = line.split(None, 1)[1] if " " in line else ""
            egg = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", target)
            name = egg.group(1) if egg else target.rstrip("/").rsplit("/", 1)[-1] or target
            packages[_pip_key(name)] = Package(name, local="an editable install: its source is a folder or checkout of the environment, "
                                                            "not a package index; COPY the source and 'pip install' it if the image needs it")
            continue
        pin = _PIP_PIN_RE.match(line)
        if pin:
            packages[_pip_key(pin.group("name"))] = Package(pin.group("name"), pin.group("version"))
            continue
        ref = _PIP_URL_RE.match(line)
        if ref:
            url = ref.group("url")
            if url.startswith("file:") or not _SAFE_URL_RE.match(url):
                why = ("installed from a local path, which the build cannot see; COPY it into the image and 'pip install' it there"
                       if url.startswith("file:") else "installed from a URL this generator does not copy into a RUN line; add it by hand")
                packages[_pip_key(ref.group("name"))] = Package(ref.group("name"), url=url, local=why)
            else:
                packages[_pip_key(ref.group("name"))] = Package(ref.group("name"), url=url)
            continue
        raise FieldError(field_name, f"line {n} '{line[:120]}' is not a line of 'pip freeze'", PIP_ACCEPTED)
    return packages


def parse_conda_list(text: str, field_name: str = "conda_after") -> dict[str, Package]:
    """``conda list --export`` or ``conda list`` -> name -> package; packages
    of the ``pypi`` channel are pip's (they are in ``pip freeze`` too) and skipped."""
    packages: dict[str, Package] = {}
    for n, line in _lines(text):
        found = _CONDA_EXPORT_RE.match(line) or _CONDA_TABLE_RE.match(line)
        if not found:
            raise FieldError(field_name, f"line {n} '{line[:120]}' is not a line of 'conda list --export' or 'conda list'", CONDA_ACCEPTED)
        if (found.groupdict().get("channel") or "") == "pypi" or (found.group("build") or "").startswith("pypi_"):
            continue
        packages[found.group("name").lower()] = Package(found.group("name"), found.group("version"))
    return packages


def parse_apt_list(text: str, field_name: str = "apt_after") -> dict[str, Package]:
    """The apt packages installed, in any of the accepted forms -> name -> package."""
    packages: dict[str, Package] = {}
    for n, line in _lines(text):
        if line in ("Listing...", "Listing... Done"):  # apt list's own first line
            continue
        found = _APT_LIST_RE.match(line) or _DPKG_RE.match(line) or _APT_NAME_RE.match(line)
        if not found:
            raise FieldError(field_name, f"line {n} '{line[:120]}' is not a line of an apt package list", APT_ACCEPTED)
        version = found.groupdict().get("version")
        packages[found.group("name")] = Package(found.group("name"), version or None)
    return packages


def diff_packages(before: dict[str, Package], after: dict[str, Package]) -> ManagerChanges:
    """What was added, changed (another version or source) and removed, in name order."""
    changes = ManagerChanges()
    for key in sorted(after):
        new = after[key]
        old = before.get(key)
        if old is not None and (old.version, old.url, old.local is None) == (new.version, new.url, new.local is None):
            continue
        if new.local is not None:
            changes.left_out.append((new.name, new.local))
        elif old is None:
            changes.added.append(new)
        else:
            changes.changed.append((old, new))
    for key in sorted(before):
        if key not in after:
            changes.removed.append(before[key])
    return changes


# ---------------------------------------------------------------- the request and the Dockerfile


@dataclass
class EnvironmentChanges:
    """The base image and what changed per manager (only managers given)."""

    base: str
    managers: dict[str, ManagerChanges] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"base": self.base, "changes": {name: c.to_dict() for name, c in self.managers.items()}}

    def dockerfile(self) -> str:
        """The Dockerfile, for review before it is built."""
        lines = ["# Generated by CubeLab's \"save as image\" from the package lists taken before and after",
                 "# the changes; review it before building (versions are pinned to the 'after' lists).",
                 f"FROM {self.base}", ""]
        apt, conda, pip = (self.managers.get(m) for m in MANAGERS)
        if apt is not None and not apt.empty():
            lines += _apt_lines(apt)
        if conda is not None and not conda.empty():
            lines += _conda_lines(conda)
        if pip is not None and not pip.empty():
            lines += _pip_lines(pip)
        if all(c.empty() for c in self.managers.values()):
            lines.append("# no package was added, changed or removed: this image is the base image")
        return "\n".join(lines).rstrip("\n") + "\n"


def _continued(command: str, items: list[str]) -> list[str]:
    """``RUN command a \\`` one item a line: easy to review, easy to edit."""
    if len(items) == 1:
        return [f"{command} {items[0]}"]
    return [f"{command} \\"] + [f"      {item} \\" for item in items[:-1]] + [f"      {items[-1]}"]


def _left_out(changes: ManagerChanges) -> list[str]:
    return [f"# left out: {_comment(line)}: {_comment(why)}" for line, why in changes.left_out]


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)[:300]


def _apt_lines(changes: ManagerChanges) -> list[str]:
    lines = ["# apt: " + _counts(changes)]
    install = [f"{p.name}={p.version}" if p.version else p.name for p in changes.added + [new for _, new in changes.changed]]
    if install:
        # the index is fetched and dropped in the same layer: the image keeps no stale lists
        lines += ["RUN apt-get update \\", "    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\",
                  *(f"      {item} \\" for item in install), "    && rm -rf /var/lib/apt/lists/*"]
    if changes.removed:
        lines += _continued("RUN apt-get remove -y", [p.name for p in changes.removed])
    return lines + _left_out(changes) + [""]


def _conda_lines(changes: ManagerChanges) -> list[str]:
    lines = ["# conda: " + _counts(changes)]
    install = [f"{p.name}={p.version}" for p in changes.added + [new for _, new in changes.changed]]
    if install:
        lines += _continued("RUN conda install -y", install)
    if changes.removed:
        lines += _continued("RUN conda remove -y", [p.name for p in changes.removed])
    return lines + _left_out(changes) + [""]


def _pip_lines(changes: ManagerChanges) -> list[str]:
    lines = ["# pip: " + _counts(changes)]
    # uninstall first: a package replaced by another of the same files is then installed last
    if changes.removed:
        lines += _continued("RUN pip uninstall -y", [p.name for p in changes.removed])
    install = [f"{p.name}=={p.version}" if p.version else f"'{p.name} @ {p.url}'" for p in changes.added + [new for _, new in changes.changed]]
    if install:
        lines += _continued("RUN pip install --no-cache-dir", install)
    return lines + _left_out(changes) + [""]


def _counts(changes: ManagerChanges) -> str:
    parts = [f"{len(changes.added)} added", f"{len(changes.changed)} changed", f"{len(changes.removed)} removed"]
    if changes.left_out:
        parts.append(f"{len(changes.left_out)} left out")
    return ", ".join(parts)


_PARSERS = {"pip": parse_pip_freeze, "conda": parse_conda_list, "apt": parse_apt_list}
_ACCEPTED = {"pip": PIP_ACCEPTED, "conda": CONDA_ACCEPTED, "apt": APT_ACCEPTED}


def environment_changes_from_dict(data: Any) -> EnvironmentChanges:
    """Parse a "save as image" request: ``base`` and, per manager, both lists
    (``pip_before``/``pip_after``, ...). Every problem is reported at once."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("body", "must be an object", "{" + ", ".join(FIELDS) + "}")])
    errors: list[FieldError] = []
    for key in data:
        if key not in FIELDS:
            errors.append(FieldError(key, "is not a field of this request", ", ".join(FIELDS)))
    base = ""
    try:
        base = parse_image(data.get("base"), "base")
        if not base:
            errors.append(FieldError("base", "is missing", BASE_ACCEPTED))
    except FieldError as exc:
        errors.append(FieldError("base", exc.message, BASE_ACCEPTED))
    managers: dict[str, ManagerChanges] = {}
    for manager in MANAGERS:
        texts = {}
        for when in ("before", "after"):
            name = f"{manager}_{when}"
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                errors.append(FieldError(name, f"must be text, got {type(value).__name__}", _ACCEPTED[manager]))
            elif len(value.encode()) > MAX_LIST_BYTES or "\x00" in value:
                errors.append(FieldError(name, "is longer than 2M or holds a NUL character", _ACCEPTED[manager]))
            else:
                texts[when] = value
        if len(texts) == 1 and all(isinstance(data.get(f"{manager}_{w}"), str) for w in texts):
            missing = "before" if "after" in texts else "after"
            errors.append(FieldError(f"{manager}_{missing}", f"is missing: give both {manager}_before and {manager}_after",
                                     _ACCEPTED[manager]))
        if len(texts) != 2:
            continue
        try:
            before = _PARSERS[manager](texts["before"], f"{manager}_before")
            after = _PARSERS[manager](texts["after"], f"{manager}_after")
        except FieldError as exc:
            errors.append(exc)
            continue
        managers[manager] = diff_packages(before, after)
    if not errors and not managers:
        errors.append(FieldError("pip_after", "no package list was given", "pip_before and pip_after, conda_before and conda_after, "
                                 "or apt_before and apt_after"))
    if errors:
        raise FieldErrors(errors)
    return EnvironmentChanges(base=base, managers=managers)
