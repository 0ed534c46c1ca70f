"""The planning tests' connection: the module's tiny city, each test rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    """A connection to the module's tiny city in a transaction rolled back after the test."""
    with store.connect() as c:
        outer = c.begin()
        try:
            yield c
        finally:
            outer.rollback()
