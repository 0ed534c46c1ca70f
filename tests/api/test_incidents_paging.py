"""``GET /incidents`` pages by key: follow ``next``; pages are disjoint, complete and stable."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.paging import encode_cursor
from tests.city_support import point_in
from tests.incidents.support import CATEGORY

Headers = dict[str, str]


def _walk(client: TestClient, url: str, headers: Headers) -> list[list[dict[str, Any]]]:
    pages = []
    next_url: str | None = url
    while next_url:
        r = client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["incidents"])
        next_url = body.get("next")
        assert len(pages) < 10_000
    return pages


def _all_ids(store: Engine) -> list[int]:
    with store.connect() as conn:
        rows = conn.execute(text("SELECT id FROM incidents ORDER BY reported_at DESC, id DESC"))
        return [int(r[0]) for r in rows]


def test_pages_are_disjoint_complete_and_newest_first(
    client: TestClient, admin: Headers, store: Engine
) -> None:
    want = _all_ids(store)
    assert len(want) > 20
    limit = min(1000, max(2, len(want) // 9))
    pages = _walk(client, f"/incidents?limit={limit}", admin)
    got = [i["id"] for page in pages for i in page]
    assert got == want  # every incident once, in (reported_at, id) descending order
    assert all(len(p) == limit for p in pages[:-1]) and 1 <= len(pages[-1]) <= limit


def test_a_full_last_page_has_no_next(client: TestClient, admin: Headers, store: Engine) -> None:
    with store.connect() as conn:
        status, n = conn.execute(
            text(
                "SELECT status, count(*) AS n FROM incidents GROUP BY status"
                " HAVING count(*) BETWEEN 2 AND 1000 ORDER BY n DESC LIMIT 1"
            )
        ).one()
    body = client.get(f"/incidents?status={status}&limit={n}", headers=admin).json()
    assert len(body["incidents"]) == n and body["next"] is None
    one_short = client.get(f"/incidents?status={status}&limit={n - 1}", headers=admin).json()
    assert one_short["next"] is not None


def test_next_keeps_the_filters(client: TestClient, admin: Headers, store: Engine) -> None:
    with store.connect() as conn:
        want = [
            int(r[0])
            for r in conn.execute(
                text(
                    "SELECT id FROM incidents WHERE status = 'closed'"
                    " ORDER BY reported_at DESC, id DESC"
                )
            )
        ]
    assert len(want) > 600
    pages = _walk(client, "/incidents?status=closed&limit=300", admin)
    assert [i["id"] for p in pages for i in p] == want


def test_pages_are_stable_while_newer_incidents_arrive(
    client: TestClient, admin: Headers, worker: tuple[Headers, int], store: Engine
) -> None:
    before = _all_ids(store)
    limit = min(1000, max(2, len(before) // 6))
    header, grid = worker
    lon, lat = point_in(store, grid)
    got: list[int] = []
    added: list[int] = []
    r = client.get(f"/incidents?limit={limit}", headers=admin).json()
    while True:
        got.extend(i["id"] for i in r["incidents"])
        # a grid worker reports between every two pages: newer than anything paged so far
        new = client.post(
            "/incidents", json={"lon": lon, "lat": lat, "category": CATEGORY}, headers=header
        )
        assert new.status_code == 201, new.text
        added.append(new.json()["id"])
        if r["next"] is None:
            break
        r = client.get(r["next"], headers=admin).json()
    assert got == before  # nothing repeated, nothing skipped, none of the new ones
    assert _all_ids(store)[: len(added)] == added[::-1]  # the new ones are page 1 now


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "%%%",
        encode_cursor(1),  # the wrong shape
        encode_cursor("yesterday", 1),
        encode_cursor("2026-03-01T08:00:00", 1),  # no zone
        encode_cursor("2026-03-01T08:00:00+00:00", "1"),
        "x" * 5000,
    ],
    ids=["garbage", "empty", "not-base64", "one-key", "not-a-time", "naive", "str-id", "huge"],
)
def test_a_malformed_cursor_is_a_400_naming_it(
    client: TestClient, admin: Headers, cursor: str
) -> None:
    r = client.get("/incidents", params={"cursor": cursor}, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "cursor"
