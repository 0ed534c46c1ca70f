"""Open new versions of every grid under one area, and move their rows: then roll back.

Run as ``python -m bench versions [--level district] [--database-url URL]`` against the
store the GISGRID_* settings name (or the URL). It takes the area of ``--level`` with the
most current grids, stages a new version of each of them (same geometry, a new name: every
register row and open incident in them moves to a new id, the worst case of a redraw) and
times :func:`gisgrid.assign.versions.open_versions` at now, with the rows it moved per table.
Everything happens in one transaction that is rolled back: the store is left as it was.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from sqlalchemy import text

from gisgrid.assign.versions import STAGED, open_versions, stage_areas
from gisgrid.settings import get_settings
from gisgrid.store.engine import make_engine

_UNDER = """
WITH RECURSIVE down AS (
    SELECT id, level FROM areas WHERE id = :top
    UNION ALL
    SELECT a.id, a.level FROM areas a JOIN down d ON a.parent_id = d.id
    WHERE a.valid_to IS NULL
)
SELECT id FROM down WHERE level = 'grid'
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="district", choices=("district", "street", "community"))
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    settings = get_settings(**({"database_url": args.database_url} if args.database_url else {}))
    engine = make_engine(settings)
    col = f"{args.level}_id"
    with engine.connect() as conn:
        top = conn.execute(
            text(
                f"SELECT {col} FROM places WHERE {col} IS NOT NULL"
                " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
        if top is None:
            print("no places with a grid: load a city first (gisgrid demo)")
            return
        grids = [int(i) for i in conn.execute(text(_UNDER), {"top": top}).scalars()]
        try:  # in the transaction the reads above began
            stage_areas(conn)
            conn.execute(
                text(
                    f"INSERT INTO {STAGED} (code, name, level, parent_id, responsible,"
                    " households, population, geom) SELECT code, name || ' (v2)', level,"
                    " parent_id, responsible, households, population, geom FROM areas"
                    " WHERE id = ANY(:ids)"
                ),
                {"ids": grids},
            )
            t0 = time.perf_counter()
            change = open_versions(conn, datetime.now(UTC), grids)
            seconds = time.perf_counter() - t0
        finally:
            conn.rollback()
    engine.dispose()
    moved = ", ".join(f"{k} {n:,}" for k, n in change.moved.items())
    print(f"{args.level} {top}: {len(grids):,} grids replaced in {seconds:.2f} s (rolled back)")
    print(f"rows moved: {moved}; accounts re-scoped {change.rescoped_accounts:,}")


if __name__ == "__main__":
    main()
