"""Job templates: the catalog pipelines validate against, the built-ins an
installation needs, and reading Cube Studio / Kubeflow Pipelines imports."""

from __future__ import annotations

from sqlalchemy import func, select

from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ...domain.templates import JobTemplate, TemplateCatalog, builtin_templates, released_copy, retired_uses
from ...importers.cube_studio import EntryReport, import_cube_studio_file
from ...importers.kubeflow import import_kfp_component, kfp_ignored_fields, load_kfp_yaml
from ...importers.kubeflow_v2 import import_kfp_v2, kfp_v2_document
from ..models.pipelines import PipelineRow, TemplateRow
from ..store import new_template_row, row_to_pipeline, row_to_template, store_pipeline, update_template_row


def load_catalog(session, include_alpha: bool = True) -> TemplateCatalog:
    rows = session.scalars(select(TemplateRow)).all()
    return TemplateCatalog([row_to_template(r) for r in rows if include_alpha or r.version == "Release"])


def ensure_builtin_templates(database) -> None:
    """Insert the built-in templates an installation needs (never overwrites an admin's edits)."""
    with database.session() as session:
        existing = {(r.name, r.version) for r in session.scalars(select(TemplateRow)).all()}
        for tpl in builtin_templates():
            if tpl.ref not in existing:
                session.add(new_template_row(tpl, None))


def find_template(session, name: str, version: str) -> TemplateRow | None:
    return session.scalars(select(TemplateRow).where(TemplateRow.name == name, TemplateRow.version == version)).first()


def add_template(session, tpl: JobTemplate, actor: str) -> TemplateRow:
    if find_template(session, tpl.name, tpl.version) is not None:
        raise Conflict(f"template '{tpl.name}' version {tpl.version} already exists", "name")
    row = new_template_row(tpl, actor)
    session.add(row)
    session.flush()
    return row


def read_import(body: dict) -> tuple[list[JobTemplate], dict[str, list[str]], list[EntryReport] | None]:
    """An import request's templates, per template the source fields that have no
    CubeLab meaning, and (Cube Studio files) one report per entry of the file.

    A Cube Studio file imports entry by entry: refused entries are reported, the
    others import. A Kubeflow component is one template: imported or refused."""
    unknown = sorted(set(body) - {"format", "content", "category", "version", "replace"})
    if unknown:
        raise FieldError(unknown[0], "is not an import field", "format, content, category, version, replace")
    fmt = body.get("format")
    content = body.get("content")
    templates: list[JobTemplate] = []
    ignored: dict[str, list[str]] = {}
    if fmt == "cube-studio":
        if content in (None, "", [], {}):
            raise FieldError("content", "is empty", "Cube Studio job template JSON: a template object, a list of them or name -> template")
        templates, entries = import_cube_studio_file(content, reserved={t.name for t in builtin_templates()})
        ignored = {e.name: e.ignored for e in entries if e.ignored and e.status != "refused"}
        return templates, ignored, entries
    if fmt == "kfp":
        if not isinstance(content, str):
            raise FieldError("content", "must be the component YAML text", "a Kubeflow Pipelines component YAML")
        version = body.get("version", "Release")
        if version not in ("Release", "Alpha"):
            raise FieldError("version", f"'{version}' is not a version", "'Release' or 'Alpha'")
        templates.extend(read_kfp_import(content, body.get("category") or "kubeflow", version, ignored))
        return templates, ignored, None
    raise FieldError("format", f"'{fmt}' is not an import format", "'cube-studio' or 'kfp'")


def save_entries(session, templates: list[JobTemplate], entries: list[EntryReport], actor: str, replace: bool) -> list[TemplateRow]:
    """Save each imported entry of a file on its own: one whose name and version
    exist (and ``replace`` is false) is refused in its report; the others are saved."""
    by_name = {e.name: e for e in entries if e.status != "refused"}
    rows = []
    for tpl in templates:
        row = find_template(session, tpl.name, tpl.version)
        entry = by_name.get(tpl.name)
        if row is not None and (row.builtin or not replace):
            if entry is not None:
                entry.status = "refused"
                reason = "is a built-in" if row.builtin else "already exists (send \"replace\": true to overwrite)"
                entry.errors.append(FieldError(f"content.{entry.entry}.name", f"template '{tpl.name}' version {tpl.version} {reason}",
                                               "a name not taken, or replace"))
            continue
        rows.append(_write(session, row, tpl, actor))
    return rows


def _write(session, row: TemplateRow | None, tpl: JobTemplate, actor: str) -> TemplateRow:
    """Add ``tpl`` (``row`` None) or overwrite ``row`` with it."""
    if row is None:
        row = new_template_row(tpl, actor)
        session.add(row)
    else:
        update_template_row(row, tpl)
    session.flush()
    return row


def read_kfp_import(content: str, category: str, version: str, ignored: dict[str, list[str]]) -> list[JobTemplate]:
    """A v1 component, or a v2 IR file whose container components all become templates
    (all or nothing: every refusal names the component, the field and the reason)."""
    if kfp_v2_document(content) is not None:
        result = import_kfp_v2(content, category=category, version=version)
        if result.refused:
            raise FieldErrors(result.refused)
        if not result.templates:
            raise FieldError("content", "holds no container component", "a KFP v2 IR file with container executors")
        return list(result.templates.values())
    template = import_kfp_component(content, category=category, version=version)
    if kfp_ignored_fields(load_kfp_yaml(content)):
        ignored[template.name] = kfp_ignored_fields(load_kfp_yaml(content))
    return [template]


def save_imported(session, templates: list[JobTemplate], actor: str, replace: bool) -> list[TemplateRow]:
    """Add (or with ``replace`` overwrite) every template in the caller's
    transaction: a conflict on any leaves all unwritten."""
    rows = []
    for tpl in templates:
        row = find_template(session, tpl.name, tpl.version)
        if row is not None and row.builtin:  # CubeLab's own runners are never replaced by an import
            raise Conflict(f"template '{tpl.name}' version {tpl.version} is a built-in and cannot be replaced by an import", "name")
        if row is not None and not replace:
            raise Conflict(f"template '{tpl.name}' version {tpl.version} already exists (send \"replace\": true to overwrite)", "name")
        rows.append(_write(session, row, tpl, actor))
    return rows


# ---------------------------------------------------------------- admin: categories, release, retire, demos


def retired_refs(session) -> set[tuple[str, str]]:
    return {(n, v) for n, v in session.execute(select(TemplateRow.name, TemplateRow.version).where(TemplateRow.retired.is_(True)))}


def check_not_retired(session, pipeline, stored: PipelineRow | None = None) -> None:
    """Refuse a new (or changed) pipeline that takes up a retired template version;
    one the stored pipeline already used stays allowed, so it keeps working."""
    retired = retired_refs(session)
    if not retired:
        return
    catalog = load_catalog(session)
    kept: set[tuple[str, str]] = set()
    if stored is not None:
        for task in row_to_pipeline(stored).tasks:
            tpl = catalog.get(task.template, task.template_version)
            if tpl is not None:
                kept.add(tpl.ref)
    errors = retired_uses(pipeline.tasks, catalog, retired, kept)
    if errors:
        raise FieldErrors(errors)


def list_categories(session) -> list[dict]:
    """The palette's categories in its order: index (the lowest of its templates'), then name.
    One row per category, so the answer grows with categories, not templates."""
    rows = session.execute(
        select(TemplateRow.category, func.min(TemplateRow.category_index), func.count())
        .group_by(TemplateRow.category)).all()
    return [{"name": name, "index": index, "templates": count} for name, index, count in sorted(rows, key=lambda r: (r[1], r[0]))]


def set_category_index(session, category: str, index: int) -> dict:
    """Move a category in the palette: every template of it takes the index."""
    rows = session.scalars(select(TemplateRow).where(TemplateRow.category == category)).all()
    if not rows:
        raise NotFound.of("template category", category)
    for row in rows:
        row.category_index = index
        body = dict(row.body)
        body["category_index"] = index
        if isinstance(body.get("expand"), dict) and "index" in body["expand"]:
            # Cube Studio's own name for it, kept in step so an export says the same
            body["expand"] = {**body["expand"], "index": index}
        row.body = body
    session.flush()
    return {"name": category, "index": index, "templates": len(rows)}


def release_alpha(session, name: str, actor: str) -> tuple[TemplateRow, bool]:
    """Publish template ``name``'s Alpha as its Release (created, or overwritten:
    not a built-in's). The Alpha stays. Answers the Release row and whether it is new."""
    alpha = find_template(session, name, "Alpha")
    if alpha is None:
        raise NotFound.of("template", f"{name} (Alpha)")
    released = released_copy(row_to_template(alpha))
    row = find_template(session, name, "Release")
    if row is not None and row.builtin:
        raise Conflict(f"template '{name}' Release is a built-in and cannot be replaced by an Alpha", "name")
    created = row is None
    row = _write(session, row, released, actor)
    # publishing makes it visible: a retired Release comes back with the new content
    row.retired = False
    session.flush()
    return row, created


def set_retired(session, row: TemplateRow, retired: bool) -> TemplateRow:
    row.retired = retired
    session.flush()
    return row


def set_demo(session, pipeline_id: int, demo: bool) -> dict:
    """Mark (or unmark) a pipeline as a demo others copy from (Cube Studio's
    ``parameter.demo``)."""
    row = session.get(PipelineRow, pipeline_id)
    if row is None:
        raise NotFound.of("pipeline", str(pipeline_id))
    pipeline = row_to_pipeline(row)
    parameter = {k: v for k, v in pipeline.parameter.items() if k != "demo"}
    if demo:
        parameter["demo"] = "true"
    pipeline.parameter = parameter
    schedule_enabled, next_fire = row.schedule_enabled, row.next_fire_at
    store_pipeline(row, pipeline)
    # only the flag changed: the scheduler's plan stays as it was
    row.schedule_enabled, row.next_fire_at = schedule_enabled, next_fire
    session.flush()
    return {"id": row.id, "name": row.name, "project": row.project, "demo": demo}
