"""What every list endpoint shares over HTTP: reading ``limit``, ``cursor`` and
the filters from the query string, and describing them (and ``next_cursor``)
in the OpenAPI document. The contract itself is :mod:`cubelab_hub.domain.paging`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tornado.web import RequestHandler

from ...domain.paging import DEFAULT_LIMIT, FILTERS, MAX_LIMIT, ListFilters, parse_filters, parse_limit

LIMIT_PARAM = {"name": "limit", "in": "query", "required": False, "description": "the most items in one page",
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}
CURSOR_PARAM = {"name": "cursor", "in": "query", "required": False,
                "description": "the next_cursor of the previous page (same list, same filters); absent for the first page",
                "schema": {"type": "string"}}


def list_params(*filters: str, statuses: Sequence[str] | None = None) -> list[dict]:
    """The query parameters of a list: ``limit``, ``cursor`` and the named filters."""
    params = [LIMIT_PARAM, CURSOR_PARAM]
    for name in filters:
        schema: dict = {"type": "string"}
        if name in ("since", "until"):
            schema["format"] = "date-time"
        if name == "status" and statuses:
            schema["enum"] = list(statuses)
        params.append({"name": name, "in": "query", "required": False, "description": FILTERS[name], "schema": schema})
    return params


def list_schema(key: str, item: dict) -> dict:
    """A page of a list: its items under ``key`` and the cursor of the next page."""
    return {"type": "object", "required": [key, "next_cursor"], "properties": {
        key: {"type": "array", "items": item},
        "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last page"},
    }}


class ListArguments(RequestHandler):
    """Mixed into a handler (before its API base class): the page and filters a
    list request asks for."""

    def page_arguments(self, filters: Iterable[str] = (), statuses: Sequence[str] | None = None
                       ) -> tuple[int, str | None, ListFilters]:
        limit = parse_limit(self.get_argument("limit", None))
        cursor = self.get_argument("cursor", None) or None
        names = list(filters)
        parsed = parse_filters({name: self.get_argument(name, None) for name in names}, names, statuses)
        return limit, cursor, parsed

    def visible_projects(self) -> set[str] | None:
        """The projects whose rows the caller may list; None: every project (admins)."""
        return None if self.actor.admin else set(self.actor.projects)
