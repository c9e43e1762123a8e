"""Pages of lists: the ``limit``, the opaque ``cursor`` and the filters every
list endpoint takes.

A cursor is the sort key of the last row of a page (keyset pagination, never an
offset over all rows), wrapped as urlsafe base64 of a small JSON document that
also names the list it belongs to and a digest of the filters it was made
with. A cursor of another list, made with other filters, or edited by hand is
refused with a :class:`FieldError` naming ``cursor``; it never widens what a
caller sees, since visibility is applied by the query itself.

Pure Python: no Jupyter, tornado or SQLAlchemy imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import FieldError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
LIMIT_ACCEPTED = f"a whole number from 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
CURSOR_ACCEPTED = "the next_cursor of the previous page of the same list, with the same filters"
TIME_ACCEPTED = "an ISO 8601 time such as 2026-01-31T12:00:00Z or 2026-01-31"
# a cursor is a handful of short values; anything longer was not made here
MAX_CURSOR_CHARS = 2048

# the filters a list may take, with what each accepts (for the messages and the OpenAPI document)
FILTERS = {
    "project": "the name of a project",
    "q": "text the name contains (case-insensitive)",
    "status": "a status",
    "creator": "a user name",
    "since": TIME_ACCEPTED + " (created at or after)",
    "until": TIME_ACCEPTED + " (created before)",
}


def parse_limit(value: str | None) -> int:
    """``?limit=`` -> 1..MAX_LIMIT; absent or empty is the default."""
    if value is None or value == "":
        return DEFAULT_LIMIT
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_LIMIT:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise FieldError("limit", f"'{shown}' is not a whole number from 1 to {MAX_LIMIT}", LIMIT_ACCEPTED)
    return int(text)


def parse_time(field: str, value: str) -> datetime:
    """An ISO 8601 date or time -> an aware UTC datetime (naive means UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise FieldError(field, f"'{shown}' is not an ISO 8601 time", TIME_ACCEPTED) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


@dataclass(frozen=True)
class ListFilters:
    """The server-side filters of one list request (None: not asked)."""

    project: str | None = None
    q: str | None = None
    status: str | None = None
    creator: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def digest(self) -> str:
        """A short fingerprint a cursor carries, so it only continues the list it came from."""
        parts = [self.project, self.q, self.status, self.creator,
                 self.since.isoformat() if self.since else None, self.until.isoformat() if self.until else None]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def parse_filters(args: Mapping[str, str | None], accepted: Iterable[str], statuses: Sequence[str] | None = None) -> ListFilters:
    """The query arguments a list accepts -> :class:`ListFilters`.

    ``args`` holds the request's query arguments (absent ones may be missing or
    None); only the names in ``accepted`` are read. ``statuses`` lists the values
    ``status`` may take.
    """
    accepted = set(accepted)
    values: dict[str, Any] = {}
    for name in ("project", "q", "status", "creator"):
        if name not in accepted:
            continue
        value = args.get(name)
        if value is None or value == "":
            continue
        if len(value) > 255:
            raise FieldError(name, f"is {len(value)} characters long", "at most 255 characters")
        values[name] = value
    if "q" in values:
        values["q"] = values["q"].lower()
    if statuses is not None and values.get("status") is not None and values["status"] not in statuses:
        raise FieldError("status", f"'{values['status'][:40]}' is not a status of this list", ", ".join(statuses))
    for name in ("since", "until"):
        if name in accepted and args.get(name):
            values[name] = parse_time(name, args[name])
    if values.get("since") and values.get("until") and values["since"] >= values["until"]:
        raise FieldError("until", "is not after since", "a time after since")
    return ListFilters(**values)


# ---------------------------------------------------------------- cursors


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()}
    return value


def encode_cursor(kind: str, key: Sequence[Any], filters: ListFilters | None = None) -> str:
    """The cursor after a row whose sort key is ``key`` in the list ``kind``."""
    doc = {"k": kind, "f": (filters or ListFilters()).digest(), "v": [_encode_value(v) for v in key]}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, text: str | None, types: Sequence[type], filters: ListFilters | None = None) -> tuple | None:
    """The sort key a cursor carries, checked against its list and filters.

    ``types``: the type of each key part (``str``, ``int``, ``datetime``);
    ``None`` for no cursor (the first page).
    """
    if text is None or text == "":
        return None

    def bad(why: str) -> FieldError:
        return FieldError("cursor", why, CURSOR_ACCEPTED)

    if len(text) > MAX_CURSOR_CHARS or not text.isascii():
        raise bad("is not a cursor of this list")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad("is not a cursor of this list") from None
    if not isinstance(doc, dict) or set(doc) != {"k", "f", "v"}:
        raise bad("is not a cursor of this list")
    if doc["k"] != kind:
        raise bad("belongs to another list")
    if doc["f"] != (filters or ListFilters()).digest():
        raise bad("was made with other filters; start again without a cursor")
    values = doc["v"]
    if not isinstance(values, list) or len(values) != len(types):
        raise bad("is not a cursor of this list")
    key = []
    for value, expected in zip(values, types, strict=True):
        if expected is datetime:
            if not isinstance(value, dict) or set(value) != {"t"} or not isinstance(value["t"], str):
                raise bad("is not a cursor of this list")
            try:
                key.append(parse_time("cursor", value["t"]))
            except FieldError:
                raise bad("is not a cursor of this list") from None
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**63 - 1:
                raise bad("is not a cursor of this list")
            key.append(value)
        elif expected is str:
            if not isinstance(value, str) or len(value) > 1024:
                raise bad("is not a cursor of this list")
            key.append(value)
        else:  # pragma: no cover - a programming error, not input
            raise TypeError(f"unsupported cursor key type {expected!r}")
    return tuple(key)


@dataclass
class Page:
    """One page of a list: its items and the cursor of the next (None on the last)."""

    items: list
    next_cursor: str | None


def page_from(rows: Sequence[Any], limit: int, kind: str, key: Callable[[Any], Sequence[Any]], filters: ListFilters | None = None) -> Page:
    """A page from up to ``limit + 1`` rows in list order: the extra row only
    says that another page follows."""
    items = list(rows[:limit])
    more = len(rows) > limit and items
    return Page(items, encode_cursor(kind, key(items[-1]), filters) if more else None)


def page_in_memory(items: Iterable[Any], limit: int, after: tuple | None, kind: str, key: Callable[[Any], tuple],
                   filters: ListFilters | None = None) -> Page:
    """A page of a small, bounded collection (a group's members, one user's
    servers) sorted by ``key``, with the same cursors as the database lists."""
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    return page_from(ordered[: limit + 1], limit, kind, key, filters)
