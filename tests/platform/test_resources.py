"""The REST resources are an explicit list of modules that hold request
handlers, routes and schemas only; the work lives in services. No hub needed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from tornado.web import RequestHandler

from cubelab_hub.controlplane import handlers


def _modules():
    return [importlib.import_module(f"{handlers.__name__}.{info.name}") for info in pkgutil.iter_modules(handlers.__path__)]


def test_every_module_with_routes_is_listed_and_every_listed_one_has_routes():
    with_routes = {m.__name__ for m in _modules() if hasattr(m, "ROUTES")}
    listed = {m.__name__ for m in handlers.default_resources}
    assert with_routes == listed
    assert all(m.ROUTES for m in handlers.default_resources)


def test_handler_modules_define_no_class_but_request_handlers():
    others = []
    for module in _modules():
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and not issubclass(obj, RequestHandler):
                others.append(f"{module.__name__}.{name}")
    # the base module's error type is how handlers refuse a request themselves
    assert others == ["cubelab_hub.controlplane.handlers.base.APIError"]


def test_no_resource_module_has_a_setup_hook():
    """Services and hooks are built by the control plane, not by each module at start-up."""
    assert [m.__name__ for m in _modules() if hasattr(m, "setup")] == []


def test_collect_gathers_routes_and_schemas_of_the_given_modules_only():
    from cubelab_hub.controlplane.handlers import me, projects

    routes, schemas = handlers.collect([me])
    assert [kw["openapi_path"] for _p, _h, kw in routes] == ["/me"]
    assert set(schemas) == {"Me"}
    routes, _ = handlers.collect([projects, me])  # any order, any subset: nothing depends on another
    assert {kw["openapi_path"] for _p, _h, kw in routes} >= {"/me", "/projects"}
