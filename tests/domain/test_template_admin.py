"""The admin page's template rules, pure: a category's index, retiring, releasing an
Alpha, and which tasks of a pipeline may not take up a retired version."""

from types import SimpleNamespace

import pytest

from cubelab_hub.domain.access import Actor, allowed
from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.templates import (
    JobTemplate,
    TemplateCatalog,
    parse_category_index,
    parse_retired,
    released_copy,
    retired_uses,
)


@pytest.mark.parametrize("body,index", [({"index": 0}, 0), ({"index": 1_000_000}, 1_000_000)])
def test_category_index_accepts_whole_numbers_in_range(body, index):
    assert parse_category_index(body) == index


@pytest.mark.parametrize("body,field", [
    ({"index": -1}, "index"), ({"index": 1_000_001}, "index"), ({"index": 1.5}, "index"), ({"index": False}, "index"),
    ({}, "index"), ([], "index"), ({"index": 1, "category": "x"}, "category"),
])
def test_category_index_errors_name_the_field_and_the_accepted_form(body, field):
    with pytest.raises(FieldError) as err:
        parse_category_index(body)
    assert err.value.field == field and "whole number" in err.value.accepted


def test_retired_is_a_boolean_and_the_only_field():
    assert parse_retired({"retired": True}) is True
    assert parse_retired({"retired": False}) is False
    for body, field in (({"retired": 1}, "retired"), ({"retired": "true"}, "retired"), ({"version": "Alpha"}, "version")):
        with pytest.raises(FieldError) as err:
            parse_retired(body)
        assert err.value.field == field


def test_an_alpha_becomes_a_release_with_the_same_content():
    alpha = JobTemplate(name="t", version="Alpha", image="busybox", command=["true"], description="new", builtin=True)
    release = released_copy(alpha)
    assert (release.version, release.image, release.command, release.description) == ("Release", "busybox", ["true"], "new")
    assert release.builtin is False and alpha.version == "Alpha"
    with pytest.raises(FieldError):
        released_copy(JobTemplate(name="t", version="Release"))


def test_retired_versions_are_refused_unless_the_pipeline_already_used_them():
    catalog = TemplateCatalog([JobTemplate(name="old"), JobTemplate(name="old", version="Alpha"), JobTemplate(name="new")])
    tasks = [SimpleNamespace(template="new", template_version=None), SimpleNamespace(template="old", template_version=None),
             SimpleNamespace(template="old", template_version="Alpha"), SimpleNamespace(template="gone", template_version=None)]
    errors = retired_uses(tasks, catalog, {("old", "Release")})
    assert [(e.field, "retired" in e.message) for e in errors] == [("tasks[1].template", True)]
    assert retired_uses(tasks, catalog, {("old", "Release")}, kept={("old", "Release")}) == []


def test_only_admins_pass_the_admin_action():
    assert allowed(Actor("root", admin=True), "admin")
    for actor in (Actor("c", projects={"p": "creator"}), Actor("d", projects={"p": "dev"}), Actor("nobody")):
        assert not allowed(actor, "admin", "p")
