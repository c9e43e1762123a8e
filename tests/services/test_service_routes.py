"""The gateway's routes from services and their healthy replicas (pure)."""

from decimal import Decimal

from cubelab_hub.controlplane.services.service_routes import Backend, Mirror, Route, Split, gateway_routes
from cubelab_hub.domain.services import service_from_dict

DOMAIN = "svc.example.com"


def svc(name, project="proj", **fields):
    return service_from_dict({"project": project, "name": name, "owner": "alice", "command": "serve", **fields}, DOMAIN)


def test_a_split_and_a_mirror_become_weighted_backends_and_a_shadow():
    services = [svc("main", canary="canary:20%", mirror="shadow:50%", expose="public"), svc("canary"), svc("shadow")]
    addresses = {"main": ["127.0.0.1:9001", "127.0.0.1:9002"], "canary": ["127.0.0.1:9003"], "shadow": ["127.0.0.1:9004"]}
    routes = gateway_routes(services, addresses, DOMAIN)
    main = Backend("main", ("127.0.0.1:9001", "127.0.0.1:9002"))
    assert routes[1] == Route(
        host="main.svc.example.com", project="proj",
        splits=(Split(main, Decimal(80)), Split(Backend("canary", ("127.0.0.1:9003",)), Decimal(20))),
        mirror=Mirror(Backend("shadow", ("127.0.0.1:9004",)), Decimal(50)), expose="public",
    )
    assert [r.host for r in routes] == ["canary.svc.example.com", "main.svc.example.com", "shadow.svc.example.com"]


def test_targets_without_healthy_replicas_get_nothing_and_services_without_any_have_no_route():
    services = [svc("main", canary="canary:30%", mirror="shadow:10%"), svc("canary"), svc("shadow"), svc("down")]
    routes = gateway_routes(services, {"main": ["127.0.0.1:9001"]}, DOMAIN)
    assert routes == [Route("main.svc.example.com", "proj", (Split(Backend("main", ("127.0.0.1:9001",)), Decimal(100)),))]


def test_a_target_of_another_project_is_never_routed_to():
    services = [svc("main", canary="other:50%"), svc("other", project="elsewhere")]
    routes = gateway_routes(services, {"main": ["127.0.0.1:1"], "other": ["127.0.0.1:2"]}, DOMAIN)
    assert [s.backend.name for s in routes[0].splits] == ["main"]


def test_one_route_per_host_the_first_service_keeps_it_during_a_takeover():
    old, new = svc("old", host="app.svc.example.com"), svc("new", host="app.svc.example.com")
    routes = gateway_routes([old, new], {"old": ["127.0.0.1:1"], "new": ["127.0.0.1:2"]}, DOMAIN)
    assert [(r.host, r.splits[0].backend.name) for r in routes] == [("app.svc.example.com", "old")]


def test_the_routes_are_the_gateways_own_and_pass_its_checks():
    from cubelab_hub.gateway import routes as gateway
    from cubelab_hub.gateway.config import GatewaySettings, render

    services = [svc("main", canary="canary:20%", mirror="shadow:50%"), svc("canary"), svc("shadow")]
    routes = gateway_routes(services, {"main": ["127.0.0.1:9001"], "canary": ["127.0.0.1:9003"], "shadow": ["127.0.0.1:9004"]}, DOMAIN)
    assert all(isinstance(r, gateway.Route) for r in routes)
    assert gateway.check_routes(routes) == routes
    assert "server_name main.svc.example.com;" in render(routes, GatewaySettings(prefix="/srv/gateway"))
