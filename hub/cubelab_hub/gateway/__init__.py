"""The local gateway: one loopback port in front of every service's replicas.

:mod:`.routes` (what it is told), :mod:`.config` (routes -> nginx configuration,
pure), :mod:`.process` (nginx as a child process, reloaded without dropping
requests). Why nginx: ``bench/gateway.py``'s docstring and docs/services.md.
"""
