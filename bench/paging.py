"""Page 1,000 of ``GET /incidents``: keyset cursor beside the same query with OFFSET.

Run as ``python -m bench paging [--page 1000] [--limit 100] [--repeats 5] [--database-url URL]``
against the store the GISGRID_* settings name (or the URL). For the whole city (an admin) and
for the district with the most incidents (a district centre), it times
``gisgrid.incidents.workflow.incident_page`` with the cursor that page ``--page`` starts after,
and the same SELECT (scope, order by reported_at, id descending) with ``OFFSET (page-1)*limit``:
best of ``--repeats``, warm buffers, in milliseconds, with the row counts. Read-only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sqlalchemy import Connection, text

from gisgrid.access.auth import Caller
from gisgrid.access.scope import Scope
from gisgrid.incidents import workflow
from gisgrid.paging import encode_cursor
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


def _measure(conn: Connection, caller: Caller, page: int, limit: int, repeats: int) -> str:
    where, params = workflow._visible_sql(caller)
    order = " ORDER BY i.reported_at DESC, i.id DESC"
    base = f"SELECT {workflow._COLUMNS} FROM incidents i WHERE {where}{order}"
    skip = (page - 1) * limit
    rows = conn.execute(text(f"SELECT count(*) FROM incidents i WHERE {where}"), params).scalar()
    key = conn.execute(
        text(f"SELECT i.reported_at, i.id FROM incidents i WHERE {where}{order} OFFSET :o LIMIT 1"),
        {**params, "o": skip - 1},
    ).one_or_none()
    if key is None:
        return f"{caller.username}: {rows:,} rows, fewer than {page} pages of {limit}"
    cursor = encode_cursor(key[0], key[1])
    by_offset = text(f"{base} LIMIT :limit OFFSET :o")
    offset_rows = conn.execute(by_offset, {**params, "limit": limit, "o": skip}).all()
    keyset = workflow.incident_page(conn, caller, limit=limit, cursor=cursor).incidents
    assert [r.id for r in offset_rows] == [i.id for i in keyset], "the two pages differ"
    t_off = _best_ms(
        lambda: conn.execute(by_offset, {**params, "limit": limit, "o": skip}).all(), repeats
    )
    t_key = _best_ms(
        lambda: workflow.incident_page(conn, caller, limit=limit, cursor=cursor), repeats
    )
    return (
        f"{caller.username:<28}{rows:>12,}{t_off:>12.1f}{t_key:>12.1f}"
        f"{t_off / max(t_key, 1e-6):>9.0f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    settings = get_settings(**({"database_url": args.database_url} if args.database_url else {}))
    engine = make_engine(settings)
    with engine.connect() as conn:
        district = conn.execute(
            text(
                "SELECT district_id FROM incidents WHERE district_id IS NOT NULL"
                " GROUP BY district_id ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
        callers = [Caller(0, "admin (whole city)", None, "admin", None, Scope.everything())]
        if district is not None:
            scope = Scope(level="district", area_id=int(district))
            callers.append(
                Caller(0, f"district centre {district}", None, "district_centre", None, scope)
            )
        print(f"page {args.page} of {args.limit} (OFFSET {(args.page - 1) * args.limit:,})")
        head = ["caller", "rows", "OFFSET ms", "cursor ms", "ratio"]
        print(f"{head[0]:<28}" + "".join(f"{h:>12}" for h in head[1:]))
        for caller in callers:
            print(_measure(conn, caller, args.page, args.limit, args.repeats), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
