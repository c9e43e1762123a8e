"""Admins import images from OCI or docker archives of their workspace.

The archive is checked first (inside the admin's workspace, a link may not lead
out; a regular file; at most ``max_archive_bytes``; an OCI image layout or
``docker save`` output, found from its tar members). Then, holding the
project's build lock (one buildah writes a project's storage at a time, as for
builds), buildah pulls it into the project's build storage, tags it with
``<registry>/<project>/<image>:<tag>`` (the project's builds use it from there)
and, with a local registry, pushes it there with the project's service
credential in an auth file of a private folder (never on a command line).

Each import is a row (:class:`~..models.image_imports.ImageImportRow`); their
references are what a build whose ``FROM`` cannot be reached is offered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from ...domain.builds import BuildahPaths, buildah_inspect_argv, buildah_push_argv, image_facts, registry_auth_file, storage_argv
from ...domain.errors import Conflict, FieldError
from ...domain.formats import format_bytes
from ...domain.image_imports import (
    ARCHIVE_ACCEPTED,
    ImportRequest,
    archive_format,
    buildah_pull_archive_argv,
    buildah_tag_argv,
    check_path_inside,
    import_request_from_dict,
)
from ...domain.paging import decode_cursor, page_from
from ..models.image_imports import ImageImportRow
from .lists import _key_value, _keyset

log = logging.getLogger("cubelab.builds")
IMPORT_KEY = (datetime, int)


class ImportFailed(Conflict):
    code = "import_failed"


class ImageImporter(LoggingConfigurable):
    max_archive_bytes = Integer(20 * 2**30, help="The largest archive an admin may import, in bytes.").tag(config=True)
    timeout = Float(1800.0, help="Seconds an import (pull from the archive, then push) may take.").tag(config=True)

    def __init__(self, database, builds, **kwargs):
        """``builds``: the :class:`~.builds.BuildManager` (its storage, lock, registry, credential and buildah)."""
        super().__init__(**kwargs)
        self.db = database
        self.builds = builds

    def parse(self, body) -> ImportRequest:
        return import_request_from_dict(body)

    # ------------------------------------------------------------ the archive

    def resolve_archive(self, request: ImportRequest, user: str) -> tuple[Path, str]:
        """The archive on disk, inside ``user``'s workspace, and its format."""
        workspace = os.path.realpath(self.builds.workspace_for(user))
        real = os.path.realpath(os.path.join(workspace, request.path))
        check_path_inside(request.path, workspace, real)
        path = Path(real)
        if not path.is_file():
            raise FieldError("path", f"'{request.path}' is not a file of your workspace", ARCHIVE_ACCEPTED)
        size = path.stat().st_size
        if size > self.max_archive_bytes:
            raise FieldError("path", f"'{request.path}' is {format_bytes(size)}, more than the {format_bytes(self.max_archive_bytes)} "
                             "an import may be", f"an archive up to {format_bytes(self.max_archive_bytes)}")
        try:
            with tarfile.open(path, "r:*") as tar:
                found = archive_format(tar.getnames())
        except (tarfile.TarError, OSError) as exc:
            raise FieldError("path", f"'{request.path}' is not a tar archive ({exc})", ARCHIVE_ACCEPTED) from None
        if found is None:
            raise FieldError("path", f"'{request.path}' holds neither an OCI image layout (oci-layout, index.json) nor "
                             "'docker save' output (manifest.json)", ARCHIVE_ACCEPTED)
        if request.format is not None and request.format != found:
            raise FieldError("format", f"'{request.path}' is a {found}, not a {request.format}", f"'{found}' or no format")
        return path, found

    # ------------------------------------------------------------ the import

    async def run(self, request: ImportRequest, actor: str) -> dict:
        """Check the archive, pull, tag, push, record; the import's view."""
        loop = asyncio.get_running_loop()
        archive, fmt = await loop.run_in_executor(None, self.resolve_archive, request, actor)
        reference = request.reference(self.builds.registry)
        work = self.builds.root / "work" / f"import-{os.getpid()}-{time.monotonic_ns()}"
        storage = self.builds.root / "storage" / request.project
        paths = BuildahPaths(root=str(storage / "root"), runroot=str(storage / "run"), dockerfile=str(work / "unused"), context="",
                             iidfile=str(work / "unused"))
        env = self.builds._env(work)
        try:
            await loop.run_in_executor(None, _private_folders, work, storage)
            async with self.builds._lock(request.project):
                deadline = loop.time() + self.timeout
                out = await self._buildah(buildah_pull_archive_argv(self.builds.buildah, paths, fmt, str(archive)), env, deadline,
                                          f"pulling {request.path}")
                lines = out.split()
                image_id = lines[-1] if lines else ""
                if not image_id:
                    raise ImportFailed(f"buildah pulled {request.path} but named no image", "path")
                await self._buildah(buildah_tag_argv(self.builds.buildah, paths, image_id, reference), env, deadline, "tagging")
                try:
                    facts = await self._buildah(buildah_inspect_argv(self.builds.buildah, paths, image_id), env, deadline, "inspecting")
                    digest, size = image_facts(facts)
                    if self.builds.push_to and self.builds.credential is not None:
                        digest = await self._push(paths, image_id, reference, request.project, work, env, deadline) or digest
                except Exception:
                    # nothing half-made: a failed import leaves no tag in the project's storage
                    await self._buildah([*storage_argv(self.builds.buildah, paths), "rmi", reference], env, loop.time() + 60,
                                        "removing the tag", check=False)
                    raise
        finally:
            await loop.run_in_executor(None, shutil.rmtree, work, True)

        def insert(session) -> dict:
            row = ImageImportRow(project=request.project, image=request.image, tag=request.tag, reference=reference, archive=request.path,
                                 format=fmt, image_id=image_id, digest=digest, size=size, creator=actor, created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return self.view(row)

        view = await self.db.run(insert)
        log.info("%s imported %s from %s (%s)", actor, reference, request.path, fmt)
        return view

    async def _buildah(self, argv: list[str], env: dict, deadline: float, what: str, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), max(1.0, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ImportFailed(f"{what} did not finish within the import's {self.timeout:g} s", "path") from None
        if proc.returncode != 0 and check:
            raise ImportFailed(f"{what} failed (buildah exited with {proc.returncode}): "
                               f"{err.decode(errors='replace').strip()[-500:]}", "path")
        return out.decode(errors="replace")

    async def _push(self, paths: BuildahPaths, image_id: str, reference: str, project: str, work: Path, env: dict,
                    deadline: float) -> str | None:
        authfile, digestfile = work / "auth.json", work / "digest"
        user, password = self.builds.credential(project)
        fd = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(registry_auth_file(self.builds.push_to, user, password))
        try:
            # the registry listens on loopback without TLS; its token service authenticates the push
            argv = buildah_push_argv(self.builds.buildah, paths, image_id, reference, str(authfile), str(digestfile), tls_verify=False)
            await self._buildah(argv, env, deadline, f"pushing {reference}")
        finally:
            authfile.unlink(missing_ok=True)
        try:
            return digestfile.read_text().strip() or None
        except OSError:
            return None

    # ------------------------------------------------------------ rows

    def view(self, row: ImageImportRow) -> dict:
        return {"id": row.id, "project": row.project, "image": row.image, "tag": row.tag, "reference": row.reference,
                "archive": row.archive, "format": row.format, "image_id": row.image_id, "digest": row.digest, "size": row.size,
                "creator": row.creator, "created_at": _key_value(row.created_at).isoformat()}

    def list(self, session, limit: int, cursor: str | None) -> dict:
        """Every import, newest first (admins)."""
        after = decode_cursor("image-imports", cursor, IMPORT_KEY)
        rows = _keyset(session, select(ImageImportRow), (ImageImportRow.created_at, ImageImportRow.id), after, limit, descending=True)
        page = page_from(rows, limit, "image-imports", lambda r: (_key_value(r.created_at), r.id))
        return {"imports": [self.view(r) for r in page.items], "next_cursor": page.next_cursor}

    def references(self, session, limit: int = 20) -> list[str]:
        """The newest imported references, each once: what an unreachable ``FROM`` is offered."""
        refs: list[str] = []
        query = select(ImageImportRow.reference).order_by(ImageImportRow.id.desc()).limit(limit * 3)
        for ref in session.scalars(query):
            if ref not in refs:
                refs.append(ref)
        return refs[:limit]

    async def delete_project(self, project: str) -> None:
        """A deleted project's imports go with it (its storage goes with its builds')."""
        await self.db.run(lambda s: s.execute(delete(ImageImportRow).where(ImageImportRow.project == project)))


def _private_folders(work: Path, storage: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    for sub in ("root", "run"):
        (storage / sub).mkdir(parents=True, exist_ok=True)
