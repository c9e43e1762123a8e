"""Engines that execute pipeline runs; see :mod:`cubelab_hub.engines.base`."""
