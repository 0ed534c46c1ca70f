"""Keyset paging: the opaque ``cursor`` a page's ``next`` link carries.

A page is asked for "after this key" (``WHERE (t, id) < (:t, :id)``), so page 1,000 costs what
page 1 costs; OFFSET would read and throw away every row before it. The cursor is the last
row's sort key as JSON in URL-safe base64: opaque to clients, checked on the way back in
(a malformed one is InvalidInput naming the field).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from gisgrid.errors import InvalidInput

Key = tuple[Any, ...]
MAX_CURSOR_CHARS = 200


def encode_cursor(*key: int | str | datetime) -> str:
    """The cursor for a page that ends at the row with sort key ``key``.

    Examples
    --------
    >>> encode_cursor(42)
    'WzQyXQ'
    >>> decode_cursor(encode_cursor(42), (int,))
    (42,)
    """
    parts = [k.isoformat() if isinstance(k, datetime) else k for k in key]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...], field: str = "cursor") -> Key:
    """The sort key in ``cursor``, one value per type in ``kinds`` (int, str or an aware datetime).

    Examples
    --------
    >>> from datetime import UTC
    >>> t = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    >>> decode_cursor(encode_cursor(t, 7), (datetime, int)) == (t, 7)
    True
    >>> decode_cursor("not-a-cursor", (int,))
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: cursor: cursor='not-a-cursor' is not a cursor this server \
issued; follow the next link of a page (or leave cursor out for the first page)
    """
    bad = InvalidInput(
        f"cursor={cursor[:MAX_CURSOR_CHARS]!r} is not a cursor this server issued; follow the"
        " next link of a page (or leave cursor out for the first page)",
        field=field,
    )
    if not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(parts, list) or len(parts) != len(kinds):
        raise bad
    key: list[Any] = []
    for value, kind in zip(parts, kinds, strict=True):
        if kind is datetime:
            try:
                t = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                t = None
            if t is None or t.tzinfo is None:
                raise bad
            key.append(t)
        elif kind is int and isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**63:
                raise bad
            key.append(value)
        elif kind is str and isinstance(value, str):
            key.append(value)
        else:
            raise bad
    return tuple(key)
