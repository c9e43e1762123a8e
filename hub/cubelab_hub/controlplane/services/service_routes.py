"""Services as the gateway's routes: pure, from the services and their healthy
replicas to one route per host.

A host's route belongs to the service whose host it is (its own, or the
generated ``<name>.<domain>``). Its traffic splits as the service's ``canary``
says (``svcA:20%,svcB:30%`` sends those shares to those services' replicas;
the rest stays here), and ``mirror`` copies a share to another service's
replicas. A split or mirror target with no healthy replica gets nothing: its
share stays on the route's own service, and a mirror to it is left out, so no
request is sent where nothing answers. A service with no healthy replica has
no route. Who may reach it is the service's ``expose``. Two services on one
host (a takeover under way) give one route: the first of them in ``services``
keeps the host until the other has taken it over.

The routes are the gateway's own types (:mod:`cubelab_hub.gateway.routes`),
which check every value before it reaches the gateway's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from ...domain.services import Service, service_host
from ...gateway.routes import Backend, Mirror, Route, Split

__all__ = ["Backend", "Mirror", "Route", "Split", "gateway_routes"]


def gateway_routes(services: Sequence[Service], addresses: Mapping[str, Sequence[str]], domain: str) -> list[Route]:
    """One route per host of a service with healthy replicas, sorted by host.

    ``addresses``: service name -> its healthy replicas' addresses
    (``127.0.0.1:PORT``)."""
    by_name = {s.name: s for s in services}

    def backend(name: str):
        found = tuple(addresses.get(name) or ())
        return Backend(name=name, addresses=found) if found else None

    routes = []
    hosts: set[str] = set()
    for service in services:
        own = backend(service.name)
        host = service_host(service, domain)
        if own is None or host in hosts:
            continue
        hosts.add(host)
        splits = []
        kept = Decimal(100)
        for target, percent in service.canary.items():
            other = backend(target) if target in by_name and by_name[target].project == service.project else None
            if other is None or not percent:
                continue
            splits.append(Split(backend=other, percent=Decimal(percent)))
            kept -= Decimal(percent)
        if kept > 0:
            splits.insert(0, Split(backend=own, percent=kept))
        mirror = None
        if service.mirror:
            target, percent = service.mirror
            shadow = backend(target) if target in by_name and by_name[target].project == service.project else None
            if shadow is not None:
                mirror = Mirror(backend=shadow, percent=Decimal(percent))
        routes.append(Route(host=host, project=service.project, splits=tuple(splits),
                                  mirror=mirror, expose=service.expose))
    return sorted(routes, key=lambda r: r.host)
