"""Routes -> nginx configuration text, without nginx: what each route turns into
and what is refused (the running gateway is tested in test_gateway.py)."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.gateway.config import GatewaySettings, render
from cubelab_hub.gateway.routes import Backend, Mirror, Route, Split, percent_of

A = Backend("svc-a", ("127.0.0.1:9001", "127.0.0.1:9002"))
B = Backend("svc-b", ("unix:/srv/b.sock",))
SETTINGS = GatewaySettings(prefix="/data/gateway", port=8090, auth_address="127.0.0.1:8082")


def test_split_becomes_split_clients_with_the_last_share_taking_the_rest():
    text = render([Route("m.localhost", "demo", (Split(A, "70.5"), Split(B, 29.5)))], SETTINGS)
    assert 'split_clients "${request_id}" $cubelab_r0_target {\n        70.5% cubelab_r0_s0;\n        * cubelab_r0_s1;\n    }' in text
    assert "upstream cubelab_r0_s0 {\n        server 127.0.0.1:9001;\n        server 127.0.0.1:9002;" in text
    assert "server unix:/srv/b.sock;" in text
    assert "proxy_pass http://$cubelab_r0_target;" in text


def test_zero_shares_are_left_out_and_a_single_backend_needs_no_split():
    text = render([Route("m.localhost", "demo", (Split(A, 100), Split(B, 0)))], SETTINGS)
    assert "split_clients" not in text and "cubelab_r0_s1" not in text
    assert "proxy_pass http://cubelab_r0_s0;" in text


def test_mirror_share_is_independent_of_the_split_and_bounded_in_time():
    text = render([Route("m.localhost", "demo", (Split(A, 100),), Mirror(B, 20))],
                  GatewaySettings(prefix="/g", mirror_timeout="500ms"))
    assert 'split_clients "mirror${request_id}" $cubelab_r0_mirrored {\n        20% 1;\n        * 0;' in text
    assert "mirror /.cubelab-gateway/mirror;\n            mirror_request_body on;" in text
    assert "if ($cubelab_r0_mirrored = 0) { return 204; }" in text
    assert "proxy_read_timeout 500ms;" in text
    assert "proxy_pass http://cubelab_mirror_relay$request_uri;" in text
    relay = text.split("listen unix:/g/run/mirror.sock;")[1]
    # the relay answers at once and copies to the shadow named by the index the route set
    assert "proxy_set_header X-CubeLab-Shadow r0;" in text and "    r0 cubelab_r0_mirror;" in text
    assert "mirror /.cubelab-gateway/shadow;" in relay and "empty_gif;" in relay
    assert "proxy_pass http://$cubelab_shadow$request_uri;" in relay
    assert "server unix:/srv/b.sock max_conns=100;" in text


def test_project_routes_ask_the_control_plane_and_public_ones_do_not():
    text = render([Route("p.localhost", "team-a", (Split(A, 100),)),
                   Route("o.localhost", "team-a", (Split(B, 100),), expose="public")], SETTINGS)
    private, public = text.split("server_name p.localhost;")[1].split("server_name o.localhost;")
    assert "auth_request /.cubelab-gateway/auth;" in private
    assert "proxy_pass http://cubelab_auth/services/cubelab/gateway/auth?project=team-a;" in private
    assert 'proxy_set_header Authorization "";' in private
    assert "auth_request" not in public and 'proxy_set_header X-CubeLab-User "";' in public


def test_listens_on_loopback_without_server_tokens_and_streams():
    text = render([], SETTINGS)
    assert "listen 127.0.0.1:8090 default_server;" in text
    for line in ("server_tokens off;", "proxy_buffering off;", "proxy_request_buffering off;", "daemon off;",
                 "pid /data/gateway/nginx.pid;", "map $http_upgrade $cubelab_connection { default upgrade; '' ''; }"):
        assert line in text
    assert "listen [::1]:8090" in render([], GatewaySettings(prefix="/g", ip="::1"))


def test_splits_must_add_up_to_100_and_hosts_be_unique():
    with pytest.raises(FieldErrors) as refused:
        render([Route("m.localhost", "demo", (Split(A, 70), Split(B, 20)))], SETTINGS)
    assert refused.value.errors[0].field == "routes[0].splits" and "90" in str(refused.value.errors[0])
    with pytest.raises(FieldErrors) as refused:
        render([Route("m.localhost", "demo", (Split(A, 100),)), Route("m.localhost", "other", (Split(B, 100),))], SETTINGS)
    assert refused.value.errors[0].field == "routes[1].host"


@pytest.mark.parametrize("value", ["12.345", "-1", "101", "nan", "1e400", True, None, "20;"])
def test_percent_refuses_what_is_not_a_share(value):
    with pytest.raises(FieldError) as refused:
        percent_of(value, "mirror.percent")
    assert refused.value.field == "mirror.percent" and "two decimals" in refused.value.accepted


@pytest.mark.parametrize("settings, field", [
    (GatewaySettings(prefix="/g", ip="0.0.0.0"), "ip"),
    (GatewaySettings(prefix="relative"), "prefix"),
    (GatewaySettings(prefix="/g;x"), "prefix"),
    (GatewaySettings(prefix="/g", auth_address="example.com:80"), "auth_address"),
    (GatewaySettings(prefix="/g", mirror_timeout="2s;"), "mirror_timeout"),
    (GatewaySettings(prefix="/g", port=0), "port"),
])
def test_settings_are_checked(settings, field):
    with pytest.raises(FieldError) as refused:
        render([], settings)
    assert refused.value.field == field
