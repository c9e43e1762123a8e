"""The control plane's services: what it does, apart from how it is asked over HTTP.

Each service takes its collaborators (database, hub client, engines, other
services) in its constructor; :meth:`ControlPlane.initialize` builds them in
dependency order. Services raise domain errors (``FieldError``, ``NotFound``,
``Conflict``); the base handler maps them to HTTP in one place.
"""
