"""Row ids as they arrive in URLs and bodies.

Pure Python: no Jupyter, tornado or SQLAlchemy imports.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import FieldError

# The database's integer keys are signed 64-bit (SQLite and PostgreSQL BIGINT):
# a larger number names no row, and handing it to the driver overflows.
MAX_ID = 2**63 - 1
ID_ACCEPTED = f"a whole number from 1 to {MAX_ID}"
_ID_RE = re.compile(r"[0-9]+")


def parse_id(value: Any, field: str = "id") -> int:
    """Text or an int -> a row id in 1..MAX_ID, or :class:`FieldError`.

    Callers looking a row up answer 404 for the error (no row can have such an
    id); ``FieldError`` is a ``ValueError``, so ``except ValueError`` catches it.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldError(field, f"must be a whole number, got {type(value).__name__}", ID_ACCEPTED)
    text = str(value)
    # [0-9], not int()'s rules: int() also takes '+1', ' 1', '1_0' and other scripts' digits
    if not _ID_RE.fullmatch(text):
        raise FieldError(field, f"'{text[:40]}' is not a whole number", ID_ACCEPTED)
    digits = text.lstrip("0")
    # compared as text first: int() of thousands of digits is refused by Python itself
    if not digits or len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise FieldError(field, f"'{shown}' is outside 1..{MAX_ID}", ID_ACCEPTED)
    return int(digits)


# Run ids are generated ('run-' and hex digits) and stored in a 40-character column;
# text of any other shape names no run (and a NUL byte is refused by PostgreSQL itself).
_RUN_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,40}")


def is_run_id(value: Any) -> bool:
    """Whether ``value`` has the shape of a run id (callers answer 404 when not)."""
    return isinstance(value, str) and _RUN_ID_RE.fullmatch(value) is not None
