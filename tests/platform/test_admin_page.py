"""The admin page as the hub offers it, on a real CubeLab: the hub's "Services"
menu lists it to admins only; it leads an admin, through the hub's OAuth login, to
JupyterLab with the Admin widget open, and answers 403 to everyone else."""

from urllib.parse import urljoin, urlparse

import pytest
import requests

pytestmark = pytest.mark.hub

MENU_PATH = "/services/cubelab-admin/"
PAGE_PATH = "/services/cubelab/admin/"


def follow(user, path: str, stop_at: str = "/user/", limit: int = 10) -> requests.Response:
    """Follow redirects in the user's browser session until one leads to ``stop_at``
    (the user's own server, which the test does not start)."""
    url = user.url + path
    for _ in range(limit):
        r = user.session.get(url, allow_redirects=False, timeout=30)
        if r.status_code not in (301, 302, 303, 307):
            return r
        location = urljoin(url, r.headers["Location"])
        if urlparse(location).path.startswith(stop_at):
            return r
        url = location
    raise AssertionError(f"more than {limit} redirects from {path}")


def services_menu(user) -> str:
    home = user.session.get(f"{user.url}/hub/home", timeout=30)
    assert home.status_code == 200, home.text[:300]
    return home.text


def test_admin_finds_the_page_in_the_hub_menu_and_lands_in_the_lab(admin):
    assert f'href="{MENU_PATH}"' in services_menu(admin)
    r = follow(admin, MENU_PATH)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert r.headers["Location"] == f"/user/{admin.name}/lab?cubelab-admin"


def test_non_admin_sees_no_menu_entry_and_gets_403(new_user):
    user = new_user("nadm")
    assert "cubelab-admin" not in services_menu(user)
    r = follow(user, PAGE_PATH)
    assert r.status_code == 403 and "Only admins" in r.text, (r.status_code, r.text[:300])
    # the menu's path, typed in by hand, leads to the same refusal
    assert follow(user, MENU_PATH).status_code == 403


def test_anonymous_is_sent_to_the_hub_login(platform):
    r = requests.get(platform.url + PAGE_PATH, allow_redirects=False, timeout=30)
    assert r.status_code == 302 and "/hub/api/oauth2/authorize" in r.headers["Location"]
