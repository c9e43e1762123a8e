"""Job templates: the catalog pipelines validate against, the built-ins an
installation needs, and reading Cube Studio / Kubeflow Pipelines imports."""

from __future__ import annotations

from sqlalchemy import select

from ...domain.errors import Conflict, FieldError, FieldErrors
from ...domain.templates import JobTemplate, TemplateCatalog, builtin_templates
from ...importers.cube_studio import cube_studio_ignored_fields, import_cube_studio_template
from ...importers.kubeflow import import_kfp_component, kfp_ignored_fields, load_kfp_yaml
from ...importers.kubeflow_v2 import import_kfp_v2, kfp_v2_document
from ..models.pipelines import TemplateRow
from ..store import new_template_row, row_to_template, update_template_row


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


def read_import(body: dict) -> tuple[list[JobTemplate], dict[str, list[str]]]:
    """An import request's templates (all or nothing: every error at once), and per
    template the source fields that have no CubeLab meaning."""
    unknown = sorted(set(body) - {"format", "content", "category", "version", "replace"})
    if unknown:
        raise FieldError(unknown[0], "is not an import field", "format, content, category, version, replace")
    fmt = body.get("format")
    content = body.get("content")
    templates: list[JobTemplate] = []
    ignored: dict[str, list[str]] = {}
    if fmt == "cube-studio":
        items = content
        if isinstance(content, dict) and not any(k in content for k in ("name", "job_template_name")):
            items = list(content.values())  # init-job-template.json: name -> template
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not items:
            raise FieldError("content", "must be a template object, a list of them or name -> template", "Cube Studio job template JSON")
        errors = []
        for i, item in enumerate(items):
            try:
                templates.append(import_cube_studio_template(item))
                if cube_studio_ignored_fields(item):
                    ignored[templates[-1].name] = cube_studio_ignored_fields(item)
            except FieldErrors as exc:
                errors.extend(e.prefixed(f"content[{i}]") for e in exc.errors)
        if errors:
            raise FieldErrors(errors)
    elif fmt == "kfp":
        if not isinstance(content, str):
            raise FieldError("content", "must be the component YAML text", "a Kubeflow Pipelines component YAML")
        version = body.get("version", "Release")
        if version not in ("Release", "Alpha"):
            raise FieldError("version", f"'{version}' is not a version", "'Release' or 'Alpha'")
        templates.extend(read_kfp_import(content, body.get("category") or "kubeflow", version, ignored))
    else:
        raise FieldError("format", f"'{fmt}' is not an import format", "'cube-studio' or 'kfp'")
    return templates, ignored


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
        if row is not None and not replace:
            raise Conflict(f"template '{tpl.name}' version {tpl.version} already exists (send \"replace\": true to overwrite)", "name")
        if row is None:
            row = new_template_row(tpl, actor)
            session.add(row)
        else:
            update_template_row(row, tpl)
        session.flush()
        rows.append(row)
    return rows
