"""A schema as the Lab's generated types read it: ``jlpm build:types`` runs
openapi-typescript with ``--properties-required-by-default``, so an object
schema without ``required`` makes every property required in TypeScript."""

from __future__ import annotations

from typing import Any


def as_generated(schema: Any) -> Any:
    if isinstance(schema, list):
        return [as_generated(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: as_generated(v) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict) and "required" not in out:
        out["required"] = list(out["properties"])
    return out
