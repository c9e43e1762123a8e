"""The pure parts of Unix accounts: names and the argv of each command (no shell)."""

from __future__ import annotations

import pytest

from cubelab_hub.platform.unix import (
    MAX_UNIX_NAME,
    UnixAccounts,
    add_member_argv,
    groupadd_argv,
    lock_argv,
    remove_member_argv,
    unix_name,
    unlock_argv,
    useradd_argv,
    userdel_argv,
)


def test_names_are_prefixed_and_fit_useradd():
    assert unix_name("cl-", "alice") == "cl-alice"
    long = "a" + "b" * 31
    name = unix_name("cl-", long)
    assert len(name) == MAX_UNIX_NAME and name.startswith("cl-abbb") and name == unix_name("cl-", long)
    assert unix_name("cl-", long) != unix_name("cl-", long[:-1] + "c")


@pytest.mark.parametrize("bad", ["Alice", "-x", "a b", "a;rm -rf /", "../etc", ""])
def test_names_outside_cubelab_rules_are_refused(bad):
    with pytest.raises(ValueError, match="not a CubeLab user or project name"):
        unix_name("cl-", bad)


def test_project_groups_never_take_a_users_private_group():
    accounts = UnixAccounts(prefix="cl-", enabled=False)
    assert accounts.account_name("team") == "cl-team"
    assert accounts.group_name("team") == "cl-p.team"
    assert accounts.group_name("team") != accounts.account_name("p-team")


def test_prefix_is_validated():
    with pytest.raises(Exception, match="UnixAccounts.prefix"):
        UnixAccounts(prefix="Bad Prefix")


def test_argv_builders():
    assert useradd_argv("cl-alice", "/d/workspaces/alice", 30000, 39999, "CubeLab user alice") == [
        "useradd", "--home-dir", "/d/workspaces/alice", "--no-create-home", "--shell", "/bin/bash", "--user-group",
        "--comment", "CubeLab user alice", "-K", "UID_MIN=30000", "-K", "UID_MAX=39999", "-K", "GID_MIN=30000", "-K", "GID_MAX=39999",
        "cl-alice",
    ]
    assert lock_argv("cl-a") == ["usermod", "--lock", "--expiredate", "1", "cl-a"]
    assert unlock_argv("cl-a") == ["usermod", "--expiredate", "", "cl-a"]
    assert userdel_argv("cl-a") == ["userdel", "cl-a"]
    assert groupadd_argv("cl-p.x", 1, 2) == ["groupadd", "-K", "GID_MIN=1", "-K", "GID_MAX=2", "cl-p.x"]
    assert add_member_argv("cl-a", "cl-p.x") == ["gpasswd", "--add", "cl-a", "cl-p.x"]
    assert remove_member_argv("cl-a", "cl-p.x") == ["gpasswd", "--delete", "cl-a", "cl-p.x"]


def test_settings_travel_to_the_control_plane(monkeypatch):
    accounts = UnixAccounts(prefix="zz-", uid_min=41000, uid_max=41999, enabled=True)
    for key, value in accounts.to_environment().items():
        monkeypatch.setenv(key, value)
    other = UnixAccounts()
    assert (other.prefix, other.uid_min, other.uid_max, other.enabled) == ("zz-", 41000, 41999, True)
