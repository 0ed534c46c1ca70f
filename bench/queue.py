"""The console's queue for a district centre: gisgrid's first page beside the plain SQL.

Run as ``python -m bench queue [--limit 50] [--repeats 7] [--database-url URL]`` against the
store the GISGRID_* settings name (the small demo: ``gisgrid demo --scale small``). For the
district centre of the district with the most open incidents it times, best of
``--repeats`` with warm buffers, in milliseconds:

- ``gisgrid.incidents.queue.queue_page``: the first page, a middle one and the last (keyset
  cursor: the one a client holds after reading the pages before);
- ``GET /queue`` through the app (a TestClient, a real signed token: routing, auth, ETag,
  serialisation), and the same request answered 304 by its ETag;
- the peer, what a developer would write first: ``WHERE district_id = :d AND status NOT IN
  ('closed', 'rejected') ORDER BY due_at LIMIT :n OFFSET :k`` for the same pages.

Goal: the first page <= 100 ms server side. Read-only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from api.app import create_app
from gisgrid.access.auth import Caller, issue_token
from gisgrid.access.scope import Scope
from gisgrid.incidents import queue, workflow
from gisgrid.settings import get_settings
from gisgrid.store.engine import make_engine


def _best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _cursor_before(conn: Connection, caller: Caller, page: int, limit: int) -> str | None:
    """The cursor a client holds after reading ``page - 1`` pages (None for the first)."""
    cursor = None
    for _ in range(page - 1):
        cursor = queue.queue_page(conn, caller, limit=limit, cursor=cursor).next_cursor
        if cursor is None:
            raise SystemExit(f"fewer than {page} pages of {limit}")
    return cursor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    settings = get_settings(**({"database_url": args.database_url} if args.database_url else {}))
    engine = make_engine(settings)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()
        district, n_open = conn.execute(
            text(
                "SELECT district_id, count(*) FROM incidents"
                " WHERE status NOT IN ('closed', 'rejected') AND district_id IS NOT NULL"
                " GROUP BY district_id ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
        account = conn.execute(
            text(
                "SELECT id, token_version FROM accounts WHERE role = 'district_centre'"
                " AND scope_area_id = :d AND active ORDER BY id LIMIT 1"
            ),
            {"d": district},
        ).one()
        caller = Caller(
            account.id, "district centre", None, "district_centre", None,
            Scope("district", int(district)),
        )  # fmt: skip
        print(
            f"{total:,} incidents; district {district}: {n_open:,} open cases;"
            f" pages of {args.limit}, best of {args.repeats}, ms"
        )
        where, params = workflow._visible_sql(caller)
        peer = text(
            f"SELECT {workflow._COLUMNS} FROM incidents i WHERE {where}"
            f" AND {queue.OPEN_SQL} ORDER BY i.due_at LIMIT :limit OFFSET :offset"
        )
        print(f"{'page':>6}{'gisgrid':>10}{'peer OFFSET':>13}{'ratio':>8}")
        last = max(1, -(-n_open // args.limit))
        for page in sorted({1, max(1, last // 2), last}):
            cursor = _cursor_before(conn, caller, page, args.limit)
            ours = _best_ms(
                lambda c=cursor: queue.queue_page(conn, caller, limit=args.limit, cursor=c),
                args.repeats,
            )
            offset = (page - 1) * args.limit
            theirs = _best_ms(
                lambda o=offset: conn.execute(
                    peer, {**params, "limit": args.limit, "offset": o}
                ).all(),
                args.repeats,
            )
            print(f"{page:>6}{ours:>10.1f}{theirs:>13.1f}{theirs / max(ours, 1e-6):>7.1f}x")
    token = issue_token(
        account.id, "district_centre", settings, version=account.token_version
    ).access_token
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        url = f"/queue?limit={args.limit}"
        first = client.get(url, headers=headers)
        assert first.status_code == 200, first.text
        api_ms = _best_ms(lambda: client.get(url, headers=headers), args.repeats)
        cached = {**headers, "If-None-Match": first.headers["ETag"]}
        assert client.get(url, headers=cached).status_code == 304
        not_modified_ms = _best_ms(lambda: client.get(url, headers=cached), args.repeats)
    print(f"GET /queue first page (TestClient, in process): {api_ms:.1f} ms")
    print(f"GET /queue with its ETag (304): {not_modified_ms:.1f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
