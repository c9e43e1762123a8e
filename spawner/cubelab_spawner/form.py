"""The spawn form as HTML (JupyterHub's ``options_form``) and back (``options_from_form``).

JupyterHub wraps this snippet in its own ``<form>`` with the submit button and
shows a failed submission's message above it. Every value that came from a user
or an admin is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import CPU_ACCEPTED, GPU_ACCEPTED, MEMORY_ACCEPTED

from .profiles import FIELDS, Facts, Limits, Usage

# Extra form inputs that map onto an option.
CUSTOM_IMAGE = "image_custom"


def options_from_formdata(formdata: Mapping[str, list[str]]) -> dict[str, str]:
    """Form data (name -> list of strings) to flat options. Fields of the
    form only; a field sent twice is an error rather than a guess."""
    options: dict[str, str] = {}
    for name in (*FIELDS, CUSTOM_IMAGE):
        values = formdata.get(name)
        if not values:
            continue
        if len(values) > 1:
            raise FieldErrors([FieldError(name, f"was sent {len(values)} times", "one value")])
        options[name] = values[0]
    custom = options.pop(CUSTOM_IMAGE, "").strip()
    if custom:
        options["image"] = custom
    return options


def _limit_hint(name: str, limits: Limits, quota_left: str | None) -> str:
    parts = []
    role = limits.describe()[name]
    if role is not None:
        parts.append(f"your role: at most {role} per server")
    if quota_left is not None:
        parts.append(f"project quota left: {quota_left}")
    return "; ".join(parts)


def render_form(
    facts: Facts,
    current: Mapping[str, Any],
    roles: Mapping[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> str:
    """The form, preselecting ``current`` (the user's last choices).

    ``roles``: project -> the user's member role, shown next to the name.
    ``errors``: shown next to their fields (the hub also shows the message).
    """
    roles = roles or {}
    by_field: dict[str, list[str]] = {}
    for error in errors or []:
        by_field.setdefault(error.field, []).append(str(error))
    d = facts.defaults
    value = {name: current.get(name) or "" for name in FIELDS}
    project_value = value["project"] or d.project
    kind_value = value["kind"] or d.kind

    def field_errors(name: str) -> str:
        return "".join(f'<div class="text-danger cubelab-field-error" data-field="{escape(name)}">{escape(msg)}</div>' for msg in by_field.get(name, []))

    out: list[str] = ['<div class="cubelab-spawn-form">']

    # project
    out.append('<div class="form-group mb-3"><label for="cubelab-project" class="form-label">Project</label>')
    out.append('<select class="form-select form-control" id="cubelab-project" name="project">')
    for name in sorted(facts.projects, key=lambda n: (n != "public", n)):
        label = name + (f" ({roles[name]})" if name in roles else "")
        selected = " selected" if name == project_value else ""
        out.append(f'<option value="{escape(name)}"{selected}>{escape(label)}</option>')
    out.append("</select>")
    out.append('<small class="form-text text-muted">The project decides where the server runs and what is mounted.</small>')
    out.append(field_errors("project") + "</div>")

    # kind
    out.append('<fieldset class="form-group mb-3"><legend class="form-label fs-6">Kind</legend>')
    for spec in facts.kinds.values():
        checked = " checked" if spec.name == kind_value else ""
        disabled = "" if spec.available else " disabled"
        out.append(
            f'<div class="form-check"><input class="form-check-input" type="radio" name="kind" id="cubelab-kind-{escape(spec.name)}" '
            f'value="{escape(spec.name)}"{checked}{disabled}>'
            f'<label class="form-check-label" for="cubelab-kind-{escape(spec.name)}">{escape(spec.display_name)}</label>'
        )
        if not spec.available:
            out.append(f' <small class="text-muted cubelab-unavailable">{escape(spec.unavailable_reason)}</small>')
        out.append("</div>")
    out.append(field_errors("kind") + "</fieldset>")

    # image (only where a kind takes one)
    image_kinds = [k for k in facts.kinds.values() if k.takes_image and k.available]
    if image_kinds:
        out.append('<div class="form-group mb-3"><label for="cubelab-image" class="form-label">Image</label>')
        out.append('<select class="form-select form-control" id="cubelab-image" name="image">')
        for spec in image_kinds:
            out.append(f'<optgroup label="{escape(spec.display_name)}" data-kind="{escape(spec.name)}">')
            for image in spec.images:
                selected = " selected" if image == value["image"] else ""
                out.append(f'<option value="{escape(image)}"{selected}>{escape(image)}</option>')
            out.append("</optgroup>")
            # the images built in each project, shown with the project chosen (their digest says which build)
            for project in sorted(p for p in facts.built_images if p in facts.projects):
                if not facts.built_images[project]:
                    continue
                out.append(f'<optgroup label="{escape(spec.display_name)}: built in {escape(project)}" data-kind="{escape(spec.name)}" '
                           f'data-project="{escape(project)}" class="cubelab-built-images">')
                for built in facts.built_images[project]:
                    selected = " selected" if built.reference == value["image"] and project == project_value else ""
                    out.append(f'<option value="{escape(built.reference)}"{selected} title="{escape(built.digest or "")}">'
                               f"{escape(built.label)}</option>")
                out.append("</optgroup>")
        out.append("</select>")
        if facts.built_images_note:
            out.append(f'<small class="form-text text-warning cubelab-built-note">{escape(facts.built_images_note)}</small>')
        patterns = [k for k in image_kinds if k.free_image_pattern is not None]
        if patterns:
            listed = {i for k in image_kinds for i in k.images} | {b.reference for images in facts.built_images.values() for b in images}
            custom = value["image"] if value["image"] and value["image"] not in listed else ""
            hint = "; ".join(f"{k.display_name}: {k.free_image_pattern}" for k in patterns)
            out.append(
                f'<input class="form-control mt-1" type="text" name="{CUSTOM_IMAGE}" id="cubelab-image-custom" '
                f'placeholder="or another image" value="{escape(custom)}">'
                f'<small class="form-text text-muted">Other images must match: {escape(hint)}</small>'
            )
        out.append(field_errors("image") + "</div>")

    # resources
    usage = facts.usage.get(project_value, Usage())
    quota = facts.projects.get(project_value)
    for name, label, accepted, default in (
        ("cpu", "CPU (cores)", CPU_ACCEPTED, d.cpu),
        ("memory", "Memory", MEMORY_ACCEPTED, d.memory),
        ("gpu", "GPU (cards)", GPU_ACCEPTED, d.gpu),
    ):
        left = None
        if quota is not None:
            q = getattr(quota.quota, name)
            if q is not None:
                used = getattr(usage, name)
                left = Limits(**{name: max(q - used, 0)}).describe()[name]
        hint = _limit_hint(name, facts.limits, left)
        if name == "gpu" and facts.gpus_available is not None:
            hint = (hint + "; " if hint else "") + f"this machine has {facts.gpus_available}"
        shown = value[name] or default
        out.append(
            f'<div class="form-group mb-3"><label for="cubelab-{name}" class="form-label">{escape(label)}</label>'
            f'<input class="form-control" type="text" id="cubelab-{name}" name="{name}" value="{escape(str(shown))}" '
            f'title="{escape(accepted)}" autocomplete="off">'
            f'<small class="form-text text-muted">{escape(accepted)}{(". " + escape(hint)) if hint else ""}</small>'
            f"{field_errors(name)}</div>"
        )

    # Show only the chosen kind's images; plain JS, no dependency.
    if image_kinds:
        out.append(
            "<script>(function(){var f=document.querySelector('.cubelab-spawn-form');if(!f)return;"
            "var sel=f.querySelector('#cubelab-image'),proj=f.querySelector('#cubelab-project');"
            "function sync(){var k=(f.querySelector('input[name=kind]:checked')||{}).value,p=proj?proj.value:'';"
            "var first=null;sel.querySelectorAll('optgroup').forEach(function(g){"
            "var on=g.dataset.kind===k&&(!g.dataset.project||g.dataset.project===p);g.hidden=!on;g.disabled=!on;"
            "if(on&&!first&&g.querySelector('option'))first=g.querySelector('option');});"
            "var cur=sel.selectedOptions[0];if((!cur||cur.parentNode.disabled)&&first)first.selected=true;}"
            "f.querySelectorAll('input[name=kind]').forEach(function(r){r.addEventListener('change',sync);});"
            "if(proj)proj.addEventListener('change',sync);sync();})();</script>"
        )
    out.append("</div>")
    return "\n".join(out)
