"""The access policy: the RULES table, action x caller, written out in full."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.access import RULES, Actor, PermissionDenied, allowed, project_permissions, require

P = "proj"
CALLERS = {
    "admin": Actor("root", admin=True),
    "creator": Actor("cora", projects={P: "creator", "public": "dev"}),
    "dev": Actor("dave", projects={P: "dev", "public": "dev"}),
    "ops": Actor("olga", projects={P: "ops", "public": "dev"}),
    "outsider": Actor("nina", projects={"public": "dev"}),
    # the owner of the object (a pipeline) at each role, and an owner who left
    "dev-owner": Actor("dora", projects={P: "dev"}),
    "ops-owner": Actor("otto", projects={P: "ops"}),
    "former-owner": Actor("fred", projects={"public": "dev"}),
}
OWNER_OF = {"dev-owner": "dora", "ops-owner": "otto", "former-owner": "fred"}

# 1 = allowed on project P (for an object owned by the caller in the *-owner columns,
# by someone else in the others)
TABLE = """
action               admin creator dev ops outsider dev-owner ops-owner former-owner
project:create       1     1       1   1   1        1         1         1
project:read         1     1       1   1   0        1         1         0
project:edit         1     1       0   0   0        0         0         0
project:members      1     1       0   0   0        0         0         0
project:delete       1     0       0   0   0        0         0         0
pipeline:read        1     1       1   1   0        1         1         0
pipeline:create      1     1       1   0   0        1         0         0
pipeline:edit        1     1       0   0   0        1         1         0
pipeline:run         1     1       0   1   0        1         1         0
service:read         1     1       1   1   0        1         1         0
service:create       1     1       1   0   0        1         0         0
service:edit         1     1       0   0   0        1         1         0
registry:read        1     1       1   1   0        1         1         0
registry:edit        1     1       0   0   0        0         0         0
registry:pull        1     1       1   1   0        1         1         0
build:read           1     1       1   1   0        1         1         0
build:create         1     1       1   0   0        1         0         0
build:cancel         1     1       0   0   0        1         1         0
image:read           1     1       1   1   0        1         1         0
image:delete         1     1       1   0   0        1         0         0
image:import         1     0       0   0   0        0         0         0
image:debug          1     1       1   0   0        1         0         0
template:write       1     0       0   0   0        0         0         0
template:read-alpha  1     0       0   0   0        0         0         0
server:manage        1     0       0   0   0        1         1         1
admin                1     0       0   0   0        0         0         0
"""


def table():
    lines = [line.split() for line in TABLE.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[1:]) == tuple(CALLERS)
    return {row[0]: dict(zip(header[1:], (c == "1" for c in row[1:]), strict=True)) for row in rows}


def test_table_covers_every_rule():
    assert set(table()) == set(RULES)


@pytest.mark.parametrize("action,caller,expected",
                         [(a, c, e) for a, row in table().items() for c, e in row.items()])
def test_rule(action, caller, expected):
    actor = CALLERS[caller]
    owner = OWNER_OF.get(caller, "someone-else")
    assert allowed(actor, action, P, owner) is expected
    if expected:
        require(actor, action, P, owner)
    else:
        with pytest.raises(PermissionDenied) as info:
            require(actor, action, P, owner)
        assert info.value.message == RULES[action][1].format(project=P, owner=owner)
        assert "{" not in info.value.message


def test_project_rules_need_a_project():
    creator = CALLERS["creator"]
    for action in ("project:read", "project:edit", "project:members", "pipeline:create", "pipeline:run"):
        assert not allowed(creator, action, None)
    assert allowed(CALLERS["admin"], "project:edit", None)


def test_roles_elsewhere_do_not_count():
    creator = CALLERS["creator"]
    assert not allowed(creator, "project:edit", "other")
    assert not allowed(creator, "pipeline:read", "other")
    assert creator.role_in("other") is None and creator.role_in(P) == "creator"


def test_messages_name_the_project():
    with pytest.raises(PermissionDenied) as info:
        require(CALLERS["dev"], "project:edit", "team-x")
    assert info.value.message == "only creators of project 'team-x' (or admins) may change its settings"
    with pytest.raises(PermissionDenied) as info:
        require(CALLERS["dev"], "project:delete", "team-x")
    assert info.value.message == "only admins may delete projects"


@pytest.mark.parametrize(
    "caller,expected",
    [
        ("admin", dict(edit_settings=True, manage_members=True, delete=True, create_pipeline=True)),
        ("creator", dict(edit_settings=True, manage_members=True, delete=False, create_pipeline=True)),
        ("dev", dict(edit_settings=False, manage_members=False, delete=False, create_pipeline=True)),
        ("ops", dict(edit_settings=False, manage_members=False, delete=False, create_pipeline=False)),
        ("outsider", dict(edit_settings=False, manage_members=False, delete=False, create_pipeline=False)),
    ],
)
def test_project_permissions_for_the_ui(caller, expected):
    assert project_permissions(CALLERS[caller], P) == expected
