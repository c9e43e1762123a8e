"""Accounts on a real CubeLab: login is registration, validation, hashing,
the registration switch, deactivation / reactivation, deletion.

Real ``cubelab up`` processes (JupyterHub, proxy, control plane) on 127.0.0.1;
every request below is plain HTTP as a browser or API client sends it.
"""

from __future__ import annotations

import sqlite3

import pytest
import requests
from support.platform import User, register

pytestmark = pytest.mark.hub

ACCEPTED_NAMES = "2 to 32 characters: lowercase letters, digits, '-' and '_', starting with a letter"


def hub_user(admin: User, name: str) -> requests.Response:
    return admin.hub_api("GET", f"/users/{name}")


# ---------------------------------------------------------------- registration by login


def test_login_with_a_new_name_registers_and_logs_in(platform, admin, helpers):
    name = helpers.fresh_name("reg")
    user = User(platform, name, "a-long-enough-password")
    resp = user.login()
    assert resp.status_code == 302, resp.text[:500]
    assert "/hub/login" not in resp.headers["Location"]
    # the session is logged in: the home page answers instead of sending to /login
    home = user.session.get(f"{platform.url}/hub/home", allow_redirects=False, timeout=10)
    assert home.status_code == 200
    # the user exists in the hub and is a member of 'public'
    model = hub_user(admin, name)
    assert model.status_code == 200
    assert model.json()["admin"] is False
    assert "public" in model.json()["groups"]
    members = admin.api("GET", "/projects/public/members", params={"q": name}).json()["members"]
    assert {"name": name, "role": "dev"} in members
    # logging in again with the same password is an ordinary login
    again = User(platform, name, "a-long-enough-password").login()
    assert again.status_code == 302


def test_uppercase_username_is_normalised_to_lowercase(platform, admin, helpers):
    name = helpers.fresh_name("mixed")
    resp = User(platform, name.upper(), "a-long-enough-password").login()
    # JupyterHub lower-cases names before the authenticator validates them
    assert resp.status_code == 302, helpers.login_error(resp)
    assert hub_user(admin, name).status_code == 200
    assert name.upper() not in {u["name"] for u in admin.hub_api("GET", "/users").json()}
    # it is one account: the lower-case spelling logs in with the same password,
    # and a different password is refused rather than registering a second account
    assert User(platform, name, "a-long-enough-password").login().status_code == 302
    assert User(platform, name, "another-password").login().status_code == 403


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("x", id="too-short"),
        pytest.param("a" * 33, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("bad!name", id="punctuation"),
        pytest.param("dot.name", id="dot"),
        pytest.param("1starts-with-digit", id="leading-digit"),
        pytest.param("_underscore-first", id="leading-underscore"),
        pytest.param("ünïcode", id="non-ascii"),
    ],
)
def test_invalid_usernames_get_the_login_page_with_the_accepted_form(platform, admin, helpers, bad):
    resp = User(platform, bad, "a-long-enough-password").login()
    assert resp.status_code == 400
    assert helpers.is_login_page(resp), resp.text[:500]
    message = helpers.login_error(resp)
    assert message is not None, "no message on the login page"
    assert "is not a valid username" in message
    assert ACCEPTED_NAMES in message
    assert bad.lower()[:40] in message  # names the bad part
    # nothing was registered
    assert hub_user(admin, bad.lower()).status_code == 404


@pytest.mark.parametrize("length", [2, 32])
def test_usernames_at_the_length_limits_register(platform, admin, helpers, length):
    base = helpers.fresh_name("b").replace("x", "-")
    name = (base + "z" * 32)[:length] if length > len(base) else "b" + base[-(length - 1):]
    assert len(name) == length
    resp = User(platform, name, "a-long-enough-password").login()
    assert resp.status_code == 302, helpers.login_error(resp)
    assert hub_user(admin, name).status_code == 200


def test_short_password_on_registration_is_refused_with_a_message(platform, admin, helpers):
    name = helpers.fresh_name("shortpw")
    resp = User(platform, name, "seven77").login()
    assert resp.status_code == 400
    assert helpers.is_login_page(resp)
    message = helpers.login_error(resp)
    assert message and "at least 8 characters" in message and name in message
    assert hub_user(admin, name).status_code == 404
    # eight characters are enough
    assert User(platform, name, "eight888").login().status_code == 302


def test_overlong_password_on_registration_is_refused(platform, admin, helpers):
    name = helpers.fresh_name("longpw")
    resp = User(platform, name, "p" * 1025).login()
    assert resp.status_code == 400
    assert helpers.login_error(resp) == "Passwords are at most 1024 characters."
    assert hub_user(admin, name).status_code == 404
    assert User(platform, name, "p" * 1024).login().status_code == 302


def test_empty_password_is_refused_with_a_message(platform, helpers):
    resp = User(platform, helpers.fresh_name("nopw"), "").login()
    assert resp.status_code == 400
    assert helpers.login_error(resp) == "Enter a password."


def test_wrong_password_is_refused(platform, new_user, helpers):
    user = new_user("wrongpw")
    intruder = User(platform, user.name, user.password + "-not")
    resp = intruder.login()
    assert resp.status_code == 403
    assert helpers.is_login_page(resp)
    assert helpers.login_error(resp) == "Invalid username or password"
    # and is not logged in
    home = intruder.session.get(f"{platform.url}/hub/home", allow_redirects=False, timeout=10)
    assert home.status_code == 302 and "/hub/login" in home.headers["Location"]
    assert User(platform, user.name, user.password).login().status_code == 302


def test_passwords_are_stored_as_argon2_hashes(platform, new_user):
    user = new_user("hashed")
    db_path = platform.data_dir / "accounts.sqlite"
    assert db_path.exists()
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT name, password_hash FROM cubelab_accounts WHERE name = ?", (user.name,)).fetchall()
    assert len(rows) == 1
    password_hash = rows[0][1]
    assert password_hash.startswith("$argon2id$"), password_hash
    assert user.password not in password_hash
    # the plain password appears nowhere in the credential store's file
    assert user.password.encode() not in db_path.read_bytes()
    hub_db = platform.data_dir / "jupyterhub.sqlite"
    if hub_db.exists():
        assert user.password.encode() not in hub_db.read_bytes()


# ---------------------------------------------------------------- registration switch


def test_closed_registration_refuses_new_names_and_keeps_existing_accounts(fresh_platform, helpers):
    platform = fresh_platform()
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    existing = register(platform, "existing")
    outsider = register(platform, "outsider")

    assert admin.api("GET", "/settings/registration").json() == {"open": True}
    # a non-admin cannot close registration
    refused = outsider.api("PUT", "/settings/registration", json={"open": False})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert outsider.api("GET", "/settings/registration").json() == {"open": True}
    # bad bodies are refused
    bad = admin.api("PUT", "/settings/registration", json={"open": "no"})
    assert bad.status_code == 400 and bad.json()["field"] == "open"

    closed = admin.api("PUT", "/settings/registration", json={"open": False})
    assert closed.status_code == 200 and closed.json() == {"open": False}
    assert outsider.api("GET", "/settings/registration").json() == {"open": False}

    newcomer = User(platform, "newcomer", "a-long-enough-password")
    resp = newcomer.login()
    assert resp.status_code == 403
    assert helpers.is_login_page(resp)
    assert "Registration is closed" in helpers.login_error(resp)
    assert admin.hub_api("GET", "/users/newcomer").status_code == 404
    # the login page says so before anyone tries
    page = requests.get(f"{platform.url}/hub/login", timeout=10)
    assert "Registration is closed" in page.text

    # existing accounts still log in
    assert User(platform, existing.name, existing.password).login().status_code == 302
    assert User(platform, admin.name, admin.password).login().status_code == 302

    # the switch survives a restart of the platform
    platform.stop()
    platform.start()
    assert newcomer.login().status_code == 403
    assert User(platform, existing.name, existing.password).login().status_code == 302

    # reopening lets new names register again
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    assert admin.api("PUT", "/settings/registration", json={"open": True}).json() == {"open": True}
    assert User(platform, "newcomer", "a-long-enough-password").login().status_code == 302
    assert admin.hub_api("GET", "/users/newcomer").status_code == 200


# ---------------------------------------------------------------- deactivation


def _server(admin: User, name: str) -> dict | None:
    return admin.hub_api("GET", f"/users/{name}").json()["servers"].get("")


def test_deactivation_refuses_login_revokes_tokens_stops_servers_and_reactivation_restores(platform, admin, new_user, helpers):
    user = new_user("deact")
    # a running server first
    spawn = user.hub_api("POST", f"/users/{user.name}/server")
    assert spawn.status_code in (201, 202), f"spawn failed: {spawn.status_code} {spawn.text[:300]}"
    ready = helpers.wait_for(lambda: (_server(admin, user.name) or {}).get("ready"), timeout=120, interval=1, what="the user's server to be ready")
    assert ready
    server_url = f"{platform.url}/user/{user.name}/api/status"
    assert user.session.get(server_url, headers={"Authorization": f"token {user.token}"}, timeout=30).status_code == 200
    # the token works before
    assert user.api("GET", "/me").status_code == 200
    assert user.hub_api("GET", "/user").status_code == 200

    resp = admin.api("PATCH", f"/users/{user.name}", json={"active": False})
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is False
    assert admin.api("GET", f"/users/{user.name}").json()["active"] is False
    listed = {u["name"]: u for u in admin.api("GET", "/users", params={"q": user.name}).json()["users"]}
    assert listed[user.name]["active"] is False

    # login refused with a message saying the account is deactivated
    login = User(platform, user.name, user.password).login()
    assert login.status_code == 403
    assert helpers.is_login_page(login)
    assert "deactivated" in helpers.login_error(login)
    # the API token no longer works, on the control plane and on the hub
    assert user.api("GET", "/me").status_code == 401
    assert user.api("GET", "/projects").status_code == 401
    assert user.hub_api("GET", "/user").status_code in (401, 403)
    # the old browser session is over
    home = user.session.get(f"{platform.url}/hub/home", allow_redirects=False, timeout=10)
    assert home.status_code == 302 and "/hub/login" in home.headers["Location"]
    # the server is stopped
    helpers.wait_for(lambda: _server(admin, user.name) is None, timeout=60, what="the server to stop")
    gone = requests.get(server_url, allow_redirects=False, timeout=30)
    assert gone.status_code != 200

    # reactivation restores login; a new token works
    back = admin.api("PATCH", f"/users/{user.name}", json={"active": True})
    assert back.status_code == 200 and back.json()["active"] is True
    again = User(platform, user.name, user.password)
    assert again.login().status_code == 302
    again.create_token()
    assert again.api("GET", "/me").json()["name"] == user.name
    # the revoked token stays revoked
    assert user.api("GET", "/me").status_code == 401


def test_deactivate_body_is_validated(admin, new_user):
    user = new_user("deactbody")
    for body in ({"active": "no"}, {}, {"active": False, "admin": "yes"}, {"active": True, "role": "admin"}):
        resp = admin.api("PATCH", f"/users/{user.name}", json=body)
        assert resp.status_code == 400, body
        assert set(resp.json()) >= {"error", "message", "field"}
    assert admin.api("GET", f"/users/{user.name}").json()["active"] is True
    assert admin.api("PATCH", "/users/no-such-user", json={"active": False}).status_code == 404
    assert admin.api("PATCH", "/users/no-such-user", json={"active": "no"}).status_code == 404  # the user first, then the body


# ---------------------------------------------------------------- deletion


def test_deleting_a_user_removes_their_memberships(platform, admin, new_user):
    owner = new_user("delown")
    doomed = new_user("deldoomed")
    projects = []
    for role in ("dev", "ops", "creator"):
        name = f"del-{role}-{owner.name}"
        assert owner.api("POST", "/projects", json={"name": name}).status_code == 201
        assert owner.api("POST", f"/projects/{name}/members", json={"name": doomed.name, "role": role}).status_code == 201
        projects.append(name)

    resp = admin.api("DELETE", f"/users/{doomed.name}")
    assert resp.status_code == 204, resp.text
    assert admin.hub_api("GET", f"/users/{doomed.name}").status_code == 404
    assert admin.api("GET", f"/users/{doomed.name}").status_code == 404
    # no role entry left anywhere: not in member lists, not in any group's properties
    for project in projects + ["public"]:
        members = admin.api("GET", f"/projects/{project}/members", params={"q": doomed.name}).json()["members"]
        assert doomed.name not in {m["name"] for m in members}, project
    for group in admin.hub_api("GET", "/groups").json():
        assert doomed.name not in (group.get("users") or []), group["name"]
        assert doomed.name not in ((group.get("properties") or {}).get("member_roles") or {}), group["name"]
    # the account is gone: the token fails, and (registration being open) the
    # name registers afresh with a new password
    assert doomed.api("GET", "/me").status_code == 401
    reborn = User(platform, doomed.name, "a-different-password")
    assert reborn.login().status_code == 302
    assert admin.hub_api("GET", f"/users/{doomed.name}").json()["groups"] == ["public"]


def test_an_admin_grants_and_takes_the_admin_role_audited(admin, new_user):
    user = new_user("promoted")
    assert user.api("GET", "/admin/users").status_code == 403
    resp = admin.api("PATCH", f"/users/{user.name}", json={"admin": True})
    assert resp.status_code == 200, resp.text
    assert resp.json()["admin"] is True and resp.json()["active"] is True
    # at once, with the token the user already holds
    assert user.api("GET", "/me").json()["admin"] is True
    assert user.api("GET", "/admin/users").status_code == 200
    assert admin.hub_api("GET", f"/users/{user.name}").json()["admin"] is True
    resp = admin.api("PATCH", f"/users/{user.name}", json={"admin": False})
    assert resp.status_code == 200 and resp.json()["admin"] is False
    assert user.api("GET", "/admin/users").status_code == 403
    assert user.api("GET", "/me").json()["admin"] is False
    events = admin.api("GET", "/admin/audit", params={"action": "user.admin"}).json()["events"]
    mine = [e for e in events if e["detail"].get("user") == user.name]
    assert [(e["detail"]["old"], e["detail"]["new"]) for e in mine] == [(True, False), (False, True)]  # newest first


def test_admins_cannot_deactivate_or_delete_themselves(admin):
    resp = admin.api("PATCH", f"/users/{admin.name}", json={"active": False})
    assert resp.status_code == 409
    assert resp.json()["error"] == "conflict"
    resp = admin.api("DELETE", f"/users/{admin.name}")
    assert resp.status_code == 409
    assert resp.json()["error"] == "conflict"
    resp = admin.api("PATCH", f"/users/{admin.name}", json={"admin": False})
    assert resp.status_code == 409 and resp.json()["field"] == "admin"
    me = admin.api("GET", "/me").json()
    assert (me["name"], me["admin"]) == (admin.name, True)
    assert admin.api("GET", f"/users/{admin.name}").json()["active"] is True
