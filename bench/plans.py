"""Plans: checks + stats of a plan of a whole urban district, beside a plain geopandas overlay.

Run as ``python -m bench plans [--database-url URL] [--district CODE] [--merges N]
[--repeats R]`` against the demo store the GISGRID_* settings name (``gisgrid demo --scale
small``: started, and loaded when empty, as bench.tiles does), or another database (the city
twin). It takes the district with the most current grids (or ``--district``), and in one
transaction that is rolled back, makes a plan of it (its current grids copied into
plan_areas, as a plan starts) and times, best and median of R runs:

- ``as started``: ``check_plan`` + ``plan_stats`` of the copy;
- ``edited``: the same after N merges of neighbouring grids (2N grids redrawn), the state a
  planner's plan is in after a session of edits; and ``checks_and_stats`` on it, which reads
  the plan once for both (what an edit answers with);
- ``peer``: the same checks and figures as a user would compute them with geopandas alone:
  read the draft grids, the parent and the registers with ``read_postgis``, then
  ``overlay(difference)`` for gaps and grids outside the parent, ``overlay(intersection)`` of
  the grids with themselves for overlaps, ``overlay(intersection)`` of the buildings with the
  grids for cut buildings and building counts, and ``sjoin`` for households (residents through
  them), places, incidents (12 months, open) and visit logs (12 months); once, on the edited
  plan (each run reads everything again, as gisgrid does).

The issue's target: checks + stats <= 1 s for a district plan (hundreds to thousands of grids).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 1, tzinfo=UTC)  # the synthetic city's end ("now")

_UNDER = (
    "WITH RECURSIVE down(id) AS (SELECT CAST(:p AS bigint)"
    " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id"
    " WHERE c.valid_to IS NULL)"
    " SELECT a.id FROM areas a WHERE a.id IN (SELECT id FROM down) AND a.level = 'grid'"
    " AND a.valid_to IS NULL"
)


def _district(conn: Any, code: str | None) -> tuple[int, str, int]:
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT d.id, d.code, count(g.id) AS n FROM areas d JOIN areas g"
            " ON g.level = 'grid' AND g.valid_to IS NULL AND left(g.code, 6) = d.code"
            " WHERE d.level = 'district' AND d.valid_to IS NULL GROUP BY d.id, d.code"
            " ORDER BY n DESC"
        )
    ).all()
    for r in rows:
        if code is None or r.code == code:
            return int(r.id), str(r.code), int(r.n)
    raise SystemExit(f"no district {code!r} with grids in the store")


def _make_plan(conn: Any, parent: int) -> int:
    from sqlalchemy import text

    plan: int = conn.execute(
        text(
            f"WITH g AS ({_UNDER}) INSERT INTO plans (name, parent_area_id, base_grid_ids,"
            " base_version) SELECT 'bench', :p, array_agg(a.id ORDER BY a.id),"
            " max(a.valid_from) FROM areas a WHERE a.id IN (SELECT id FROM g) RETURNING id"
        ),
        {"p": parent},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO plan_areas (plan_id, code, name, parent_id, replaces_area_id, geom)"
            f" SELECT :plan, a.code, a.name, a.parent_id, a.id, a.geom FROM areas a"
            f" WHERE a.id IN ({_UNDER})"
        ),
        {"plan": plan, "p": parent},
    )
    return plan


def _merge(conn: Any, plan: int, n: int) -> int:
    """Merge ``n`` pairs of neighbouring draft grids (each grid in one pair at most)."""
    import shapely
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT code, ST_AsBinary(geom) AS g FROM plan_areas WHERE plan_id = :p ORDER BY code"
        ),
        {"p": plan},
    ).all()
    codes = [r.code for r in rows]
    geoms = shapely.from_wkb([bytes(r.g) for r in rows])
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    used: set[int] = set()
    merged = 0
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if merged >= n or i >= j or i in used or j in used:
            continue
        both = shapely.union(geoms[i], geoms[j])
        if shapely.get_num_geometries(both) != 1:
            continue
        used |= {i, j}
        conn.execute(
            text(
                "UPDATE plan_areas SET geom = ST_Multi(ST_GeomFromWKB(:g, 4326))"
                " WHERE plan_id = :p AND code = :c"
            ),
            {"g": shapely.to_wkb(both), "p": plan, "c": codes[i]},
        )
        conn.execute(
            text("DELETE FROM plan_areas WHERE plan_id = :p AND code = :c"),
            {"p": plan, "c": codes[j]},
        )
        merged += 1
    return merged


def _gisgrid(conn: Any, plan: int, settings: Any, shared: bool = False) -> dict[str, Any]:
    from gisgrid.planning.checks import check_plan
    from gisgrid.planning.reports import checks_and_stats
    from gisgrid.planning.workload import plan_stats

    if shared:
        checks, stats = checks_and_stats(conn, plan, settings, now=NOW)
    else:
        checks = check_plan(conn, plan, settings=settings, now=NOW)
        stats = plan_stats(conn, plan, settings=settings, now=NOW)
    return {"checks": checks, "stats": stats}


def _peer(conn: Any, plan: int) -> dict[str, Any]:
    """The checks' overlay work and the per-grid figures with geopandas alone."""
    import geopandas as gpd
    import pandas as pd

    from gisgrid.crs import metric_crs

    def read(sql: str, **params: Any) -> gpd.GeoDataFrame:
        return gpd.read_postgis(sql, conn, geom_col="geom", params=params)

    grids = read("SELECT code, geom FROM plan_areas WHERE plan_id = %(p)s", p=plan)
    parent = read(
        "SELECT a.id, a.geom FROM plans p JOIN areas a ON a.id = p.parent_area_id"
        " WHERE p.id = %(p)s",
        p=plan,
    )
    box = dict(zip(("w", "s", "e", "n"), grids.total_bounds.tolist(), strict=True))
    env = "geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
    since = NOW - timedelta(days=365)
    households = read(
        "SELECT h.id, (SELECT count(*) FROM residents r WHERE r.household_id = h.id)"
        f" AS residents, h.geom FROM households h WHERE h.{env}",
        **box,
    )
    buildings = read(f"SELECT id, geom FROM buildings WHERE {env}", **box)
    places = read(f"SELECT id, geom FROM places WHERE {env}", **box)
    incidents = read(
        "SELECT id, (reported_at >= %(since)s AND reported_at < %(now)s) AS last_12m,"
        " status NOT IN ('closed', 'rejected') AS open, geom FROM incidents"
        f" WHERE {env}",
        since=since,
        now=NOW,
        **box,
    )
    visits = read(
        f"SELECT id, geom FROM visit_logs WHERE {env} AND visited_at >= %(since)s"
        " AND visited_at < %(now)s",
        since=since,
        now=NOW,
        **box,
    )
    c = grids.union_all().centroid
    crs = metric_crs(c.x, c.y)
    gm, pm = grids.to_crs(crs), parent.to_crs(crs)
    gaps = gpd.overlay(pm, gm, how="difference")
    outside = gpd.overlay(gm, pm, how="difference")
    pairs = gpd.overlay(
        gm.rename(columns={"code": "a"}), gm.rename(columns={"code": "b"}), how="intersection"
    )
    overlaps = pairs[pairs["a"] < pairs["b"]]
    bm = buildings.to_crs(crs)
    bm["full"] = bm.area
    pieces = gpd.overlay(bm, gm, how="intersection")
    pieces["share"] = pieces.area / pieces["full"]
    best = pieces.sort_values("share").groupby("id").tail(1)
    cut = best[best["share"] < 0.99]
    figures = pd.DataFrame(index=grids["code"])
    figures["buildings"] = best.groupby("code").size()
    hh = gpd.sjoin(households, grids, predicate="within")
    figures["households"] = hh.groupby("code").size()
    figures["residents"] = hh.groupby("code")["residents"].sum()
    figures["places"] = gpd.sjoin(places, grids, predicate="within").groupby("code").size()
    inc = gpd.sjoin(incidents, grids, predicate="within")
    figures["incidents_12m"] = inc.groupby("code")["last_12m"].sum()
    figures["open_incidents"] = inc.groupby("code")["open"].sum()
    figures["visit_logs"] = gpd.sjoin(visits, grids, predicate="within").groupby("code").size()
    figures = figures.fillna(0)
    return {
        "gaps": len(gaps.explode()),
        "outside": len(outside),
        "overlaps": len(overlaps),
        "cut": len(cut),
        "figures": figures,
    }


def _time(fn: Any, repeats: int) -> tuple[float, float, Any]:
    runs, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
    return min(runs), statistics.median(runs), out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text

    from bench.tiles import _store
    from gisgrid.settings import get_settings

    _, engine = _store(args.database_url)
    settings = get_settings()
    res: dict[str, Any] = {}
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            did, code, n = _district(conn, args.district)
            plan = _make_plan(conn, did)
            print(f"district {code}: {n:,} current grids; plan {plan} (rolled back after)")
            best, med, out = _time(lambda: _gisgrid(conn, plan, settings), args.repeats)
            res["as started"] = (n, best, med, out)
            merged = _merge(conn, plan, args.merges)
            grids = conn.execute(
                text("SELECT count(*) FROM plan_areas WHERE plan_id = :p"), {"p": plan}
            ).scalar_one()
            best, med, out = _time(lambda: _gisgrid(conn, plan, settings), args.repeats)
            res[f"edited ({merged} merges)"] = (grids, best, med, out)
            best, med, out = _time(lambda: _gisgrid(conn, plan, settings, True), args.repeats)
            res["edited, one read (checks_and_stats)"] = (grids, best, med, out)
            t0 = time.perf_counter()
            peer = _peer(conn, plan)
            res["peer (geopandas)"] = (grids, time.perf_counter() - t0, None, peer)
        finally:
            tx.rollback()
    return res


def report(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="checks + stats of a district plan (s)")
    for col in ("case", "grids", "best", "median", "hard", "soft"):
        table.add_column(col, justify="left" if col == "case" else "right")
    peer_s = res["peer (geopandas)"][1]
    for case, (grids, best, med, out) in res.items():
        if case.startswith("peer"):
            table.add_row(case, f"{grids:,}", f"{best:.3f}", "-", "-", "-")
            continue
        checks = out["checks"]
        table.add_row(
            case,
            f"{grids:,}",
            f"{best:.3f}",
            f"{med:.3f}",
            str(len(checks["hard"])),
            str(len(checks["soft"])),
        )
    console = Console()
    console.print(table)
    edited = next(k for k in res if k.startswith("edited ("))
    ratio = peer_s / res[edited][1]
    console.print(f"peer / gisgrid (edited plan, best): {ratio:.1f}x")
    # the figures agree with the peer's (households per grid)
    ours = {g["code"]: g["households"] for g in res[edited][3]["stats"]["grids"]}
    theirs = res["peer (geopandas)"][3]["figures"]["households"].to_dict()
    same = sum(ours.get(k, 0) == int(v) for k, v in theirs.items())
    console.print(f"households per grid equal to the peer's in {same:,} of {len(theirs):,} grids")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", help="this database instead of the demo store")
    parser.add_argument("--district", help="this district's code (default: most grids)")
    parser.add_argument("--merges", type=int, default=50, help="pairs merged for 'edited'")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    report(run(args))


if __name__ == "__main__":
    main()
