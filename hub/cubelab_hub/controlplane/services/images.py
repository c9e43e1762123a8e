"""The images of a project: what the local registry holds (its v2 API) and
what finished builds made, who uses an image, and deleting one.

- **The registry** is read with a token this process signs for itself (it is
  the registry's token issuer, :class:`~cubelab_hub.registry.tokens.RegistryTokens`):
  the catalog, each repository's tags and each tag's manifest (digest, size).
  Nothing of it leaves this process; the registry listens on loopback.
- **Builds** add the images they made, with their digest and size, also when
  the registry is not running (builds kept in the project's build storage).
- **Who uses an image**: job templates (their image), pipelines (a task's
  ``images`` override), services (theirs), experiments not yet finished (their
  trial's ``images`` override, else their trial template's image) and the
  project's running notebook servers (their spawn options), matched by
  reference (:func:`~cubelab_hub.domain.builds.refers_to`): a tag, or the
  digest of the manifest.
- **Deleting** removes the manifest, which is what the registry deletes: every
  tag of the same digest goes with it (the answer names them), and the users
  of all of them are asked about first.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from urllib.parse import quote

from sqlalchemy import Text, cast, select
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ...domain.builds import image_reference, refers_to
from ...domain.errors import Conflict, NotFound
from ...domain.experiments import FINAL_STATUSES
from ..models.builds import BuildRow
from ..models.experiments import ExperimentRow
from ..models.pipelines import PipelineRow, TemplateRow
from ..models.services import ServiceRow

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"))
CATALOG_PAGE = 1000
SUBJECT = "cubelab-images"


class RegistryUnavailable(Conflict):
    code = "registry_unavailable"


class ImageInUse(Conflict):
    code = "image_in_use"


def _mentions(column, repository: str):
    """Rows whose JSON body mentions ``repository`` somewhere: a narrowing in SQL
    so a usage check reads the candidates, not every row; :func:`refers_to`
    decides on each."""
    return cast(column, Text).contains(repository, autoescape=True)


def _trial_image(body: dict | None) -> str:
    """An experiment trial's own image: the ``images`` override among its template's arguments."""
    args = ((body or {}).get("trial") or {}).get("args") or {}
    value = args.get("images") if isinstance(args, dict) else None
    return value if isinstance(value, str) else ""


def image_users(session, registry: str, repository: str, tags: Collection[str], digest: str | None = None) -> list[dict]:
    """What uses ``registry/repository`` at one of ``tags`` (or at ``digest``):
    job templates (their image), pipelines (a task's ``images`` override),
    services, and experiments not finished (their trial's ``images`` override,
    or their trial template's image), each as {kind, name, project, reference}."""
    def uses(image) -> bool:
        return isinstance(image, str) and refers_to(image, registry, repository, tags, digest)

    users: list[dict] = []
    template_images: dict[str, str] = {}
    for row in session.scalars(select(TemplateRow).where(_mentions(TemplateRow.body, repository)).order_by(TemplateRow.name, TemplateRow.version)):
        image = (row.body or {}).get("image") or ""
        if uses(image):
            users.append({"kind": "template", "name": row.name, "version": row.version, "project": None, "reference": image})
            template_images[row.name] = image
    query = select(PipelineRow).where(_mentions(PipelineRow.body, repository)).order_by(PipelineRow.project, PipelineRow.name)
    for row in session.scalars(query):
        for task in (row.body or {}).get("tasks") or []:
            image = ((task or {}).get("args") or {}).get("images") if isinstance(task, dict) else None
            if uses(image):
                users.append({"kind": "pipeline", "name": row.name, "project": row.project, "task": task.get("name"), "reference": image})
                break
    query = select(ServiceRow).where(_mentions(ServiceRow.body, repository)).order_by(ServiceRow.project, ServiceRow.name)
    for row in session.scalars(query):
        image = (row.body or {}).get("image") or ""
        if uses(image):
            users.append({"kind": "service", "name": row.name, "project": row.project, "reference": image})
    # unfinished experiments are few (they run now); their trial may use the image itself or through its template
    query = select(ExperimentRow).where(ExperimentRow.status.not_in(FINAL_STATUSES)).order_by(ExperimentRow.project, ExperimentRow.name)
    for row in session.scalars(query):
        own = _trial_image(row.body)
        template = ((row.body or {}).get("trial") or {}).get("template")
        reference = own if uses(own) else (template_images.get(template) if not own else None)
        if reference:
            users.append({"kind": "experiment", "name": row.name, "project": row.project, "reference": reference})
    return users


async def server_users(hub, project: str, registry: str, repository: str, tags: Collection[str], digest: str | None = None) -> list[dict]:
    """The running notebook servers of ``project``'s members started from the
    image (their spawn options' ``image``); a project's members are a bounded set."""
    group = await hub.get_group(project)
    users: list[dict] = []
    for member in sorted((group or {}).get("users") or []):
        model = await hub.get_user(member)
        for name, server in sorted(((model or {}).get("servers") or {}).items()):
            options = server.get("user_options") or {}
            active = bool(server.get("ready") or server.get("pending")) and not server.get("stopped")
            image = options.get("image")
            if active and options.get("project") == project and isinstance(image, str) and refers_to(image, registry, repository, tags, digest):
                users.append({"kind": "server", "name": f"{member}/{name}" if name else member, "project": project, "reference": image})
    return users


class RegistryImages:
    """The local registry's v2 API, as its token issuer."""

    def __init__(self, address: str, tokens, timeout: float = 10.0):
        self.address = address
        self.tokens = tokens
        self.timeout = timeout
        self.client = AsyncHTTPClient()

    def _token(self, access: list[dict]) -> str:
        return self.tokens.token(SUBJECT, access)["token"]

    async def _request(self, path: str, access: list[dict], method: str = "GET", accept: str | None = None):
        headers = {"Authorization": f"Bearer {self._token(access)}"}
        if accept:
            headers["Accept"] = accept
        request = HTTPRequest(f"http://{self.address}{path}", method=method, headers=headers, request_timeout=self.timeout,
                              connect_timeout=self.timeout)
        try:
            return await self.client.fetch(request, raise_error=False)
        except OSError as exc:
            raise RegistryUnavailable(f"the local registry at {self.address} does not answer ({exc}); is `cubelab up` running it?") from None

    async def repositories(self, project: str) -> list[str]:
        """The project's repositories (``<project>/...``), in name order."""
        found: list[str] = []
        last = ""
        access = [{"type": "registry", "name": "catalog", "actions": ["*"]}]
        while True:
            path = f"/v2/_catalog?n={CATALOG_PAGE}" + (f"&last={quote(last, safe='')}" if last else "")
            answer = await self._request(path, access)
            if answer.code != 200:
                raise RegistryUnavailable(f"the local registry answered {answer.code} to its catalog")
            names = json.loads(answer.body or b"{}").get("repositories") or []
            found.extend(n for n in names if n.startswith(project + "/"))
            if len(names) < CATALOG_PAGE or "next" not in (answer.headers.get("Link") or ""):
                return sorted(found)
            last = names[-1]

    async def tags(self, repository: str) -> list[str]:
        answer = await self._request(f"/v2/{repository}/tags/list", [_repo(repository, "pull")])
        if answer.code == 404:
            return []
        if answer.code != 200:
            raise RegistryUnavailable(f"the local registry answered {answer.code} to the tags of {repository}")
        return sorted(json.loads(answer.body or b"{}").get("tags") or [])

    async def manifest(self, repository: str, tag: str) -> tuple[str | None, int | None]:
        """(digest, size: config and layers, bytes) of a tag's manifest."""
        answer = await self._request(f"/v2/{repository}/manifests/{tag}", [_repo(repository, "pull")], accept=MANIFEST_TYPES)
        if answer.code != 200:
            return None, None
        digest = answer.headers.get("Docker-Content-Digest")
        try:
            data = json.loads(answer.body)
            parts = [data.get("config") or {}, *(data.get("layers") or [])] if "layers" in data else list(data.get("manifests") or [])
            size = sum(int(p.get("size", 0)) for p in parts)
        except (ValueError, TypeError, AttributeError):
            size = None
        return digest, size

    async def delete(self, repository: str, digest: str) -> bool:
        answer = await self._request(f"/v2/{repository}/manifests/{digest}", [_repo(repository, "pull", "delete")], method="DELETE")
        if answer.code in (200, 202):
            return True
        if answer.code == 404:
            return False
        raise RegistryUnavailable(f"the local registry answered {answer.code} to deleting {repository}@{digest}")


def _repo(repository: str, *actions: str) -> dict:
    return {"type": "repository", "name": repository, "actions": list(actions)}


class ImageCatalog:
    """A project's images from the registry and from builds; delete with the usage check."""

    def __init__(self, database, registry: str, client: RegistryImages | None, hub=None):
        self.db = database
        self.registry = registry
        self.client = client
        self.hub = hub  # the hub client: which servers run from an image (none asked without it)

    def _built(self, session, project: str) -> dict[str, dict[str, dict]]:
        """repository -> tag -> {digest, size, build} of the project's succeeded builds, newest wins."""
        images: dict[str, dict[str, dict]] = {}
        query = select(BuildRow).where(BuildRow.project == project, BuildRow.status == "succeeded").order_by(BuildRow.id.desc())
        for row in session.scalars(query):
            repository = f"{project}/{row.image}"
            for tag in (row.body or {}).get("tags") or ["latest"]:
                images.setdefault(repository, {}).setdefault(tag, {"digest": row.digest, "size": row.size, "build": row.id,
                                                                    "built_at": row.finished_at.isoformat() if row.finished_at else None})
        return images

    async def list(self, project: str, limit: int, after: str | None, q: str = "") -> tuple[list[dict], str | None]:
        """One page of the project's images, in repository order after ``after``,
        those whose name contains ``q`` (any case) when given; (items, the last
        repository when more follow)."""
        built = await self.db.run(self._built, project)
        names = set(built)
        if self.client is not None:
            names.update(await self.client.repositories(project))
        needle = q.lower()
        ordered = [n for n in sorted(names) if (after is None or n > after) and needle in n.split("/", 1)[1].lower()]
        page, more = ordered[:limit], len(ordered) > limit
        items = []
        for repository in page:
            tags: dict[str, dict] = {}
            in_registry = await self.client.tags(repository) if self.client is not None else []
            for tag in in_registry:
                digest, size = await self.client.manifest(repository, tag)
                tags[tag] = {"tag": tag, "digest": digest, "size": size, "in_registry": True, "build": None, "built_at": None}
            for tag, facts in built.get(repository, {}).items():
                entry = tags.setdefault(tag, {"tag": tag, "digest": facts["digest"], "size": facts["size"], "in_registry": False})
                entry.update(build=facts["build"], built_at=facts["built_at"])
                if entry["size"] is None:
                    entry["size"] = facts["size"]
            image = repository.split("/", 1)[1]
            items.append({"project": project, "image": image, "repository": repository,
                          "tags": [dict(t, reference=image_reference(self.registry, project, image, t["tag"])) for t in
                                   sorted(tags.values(), key=lambda t: t["tag"])]})
        return items, (page[-1] if more and page else None)

    async def delete(self, project: str, image: str, tag: str, force: bool) -> dict:
        """Delete a tag's manifest from the registry (and with it every tag of the
        same digest); refused with :class:`ImageInUse` listing the users unless ``force``."""
        if self.client is None:
            raise RegistryUnavailable("this platform runs no local registry; images kept in build storage go with their project")
        repository = f"{project}/{image}"
        tags = await self.client.tags(repository)
        if tag not in tags:
            raise NotFound.of("image", f"{repository}:{tag}")
        digest, _ = await self.client.manifest(repository, tag)
        if digest is None:
            raise NotFound.of("image", f"{repository}:{tag}")
        same = [t for t in tags if t == tag or (await self.client.manifest(repository, t))[0] == digest]
        users = await self.db.run(image_users, self.registry, repository, same, digest)
        if self.hub is not None:
            users += await server_users(self.hub, project, self.registry, repository, same, digest)
        if users and not force:
            names = ", ".join(f"{u['kind']} '{u['name']}'" + (f" (project {u['project']})" if u["project"] else "") for u in users)
            raise ImageInUse(f"{repository}:{tag} is used by {names}; delete with ?force=1 to delete it anyway", users=users,
                             tags=same)
        await self.client.delete(repository, digest)
        return {"repository": repository, "digest": digest, "deleted_tags": same, "users": users}
