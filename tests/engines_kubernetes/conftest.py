"""Fixtures of the Kubernetes engine tests: a fake API server on 127.0.0.1 (the
only stand-in allowed: it sits at the HTTP boundary) and a kubernetes-asyncio
client configured to talk to it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:  # the repository's hub/ on the path when the package is not installed
    import cubelab_hub  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hub"))

from kubernetes_asyncio import client as k8s

from cubelab_hub.engines.kubernetes.client import ArgoClient

from .fake_apiserver import FakeApiServer


@pytest.fixture
async def apiserver():
    server = await FakeApiServer().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def argo(apiserver):
    configuration = k8s.Configuration()
    configuration.host = apiserver.url
    client = ArgoClient(k8s.ApiClient(configuration))
    try:
        yield client
    finally:
        await client.close()
