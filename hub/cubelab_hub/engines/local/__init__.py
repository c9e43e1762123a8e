"""The local engine: pipeline runs as processes on this machine."""

from .engine import LocalEngine

__all__ = ["LocalEngine"]
