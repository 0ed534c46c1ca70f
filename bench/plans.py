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

Then, unless ``--no-publish``, in a transaction of its own, rolled back: **publishing** a
district plan after N merges made by the library's edit
(:func:`gisgrid.planning.publish.publish`, as an admin, with household/resident limits
opened up so that the synthetic grids' sizes do not block it; the other hard checks apply,
so the biggest district whose grids pass them as they are is taken): old versions closed,
new ones opened, registers and open incidents reassigned; the rows moved are counted.

And unless ``--edits 0``: **one edit round trip through the API** (a TestClient of
``create_app`` on the same store, a bearer token of the admin): ``POST /plans/{id}/split``
with If-Match, answering the plan, the changed codes, its checks and stats, on a plan of the
street with the most grids, ``--edits`` times (each on another grid: a north-south line
through its middle; refused splits are counted apart), p50/p95. That plan is committed by the
API and deleted afterwards.

The issue's targets: checks + stats <= 1 s for a district plan (hundreds to thousands of
grids); an edit round trip p50 <= 200 ms on a street plan; publishing a district plan with
its rows reassigned <= 30 s.
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


WIDE_LIMITS = {
    "plan_households_min": 0,
    "plan_households_max": 10**9,
    "plan_residents_min": 0,
    "plan_residents_max": 10**9,
}


def _districts(conn: Any) -> list[tuple[int, str, int]]:
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT d.id, d.code, count(g.id) AS n FROM areas d JOIN areas g"
            " ON g.level = 'grid' AND g.valid_to IS NULL AND left(g.code, 6) = d.code"
            " WHERE d.level = 'district' AND d.valid_to IS NULL GROUP BY d.id, d.code"
            " ORDER BY n DESC"
        )
    ).all()
    return [(int(r.id), str(r.code), int(r.n)) for r in rows]


def _library_merges(conn: Any, admin: Any, plan: int, n: int) -> int:
    """``n`` merges of two touching grids of one community, through the library's edit (so
    the draft stays valid, as a planner's would); the plan's version after them."""
    import shapely
    from sqlalchemy import text

    from gisgrid.errors import InvalidInput
    from gisgrid.planning.edits import merge

    rows = conn.execute(
        text(
            "SELECT code, parent_id, ST_AsBinary(geom) AS g FROM plan_areas WHERE plan_id = :p"
            " ORDER BY code"
        ),
        {"p": plan},
    ).all()
    geoms = shapely.from_wkb([bytes(r.g) for r in rows])
    a, b = shapely.STRtree(geoms).query(geoms, predicate="touches")
    used: set[int] = set()
    version, done = 1, 0
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if done >= n:
            break
        if i >= j or i in used or j in used or rows[i].parent_id != rows[j].parent_id:
            continue
        try:
            version = merge(conn, admin, plan, version, [rows[i].code, rows[j].code]).plan.version
        except InvalidInput:
            continue
        used |= {i, j}
        done += 1
    return version


def _mend_multipart(conn: Any, plan: int) -> int:
    """What a planner does first with a grid in two parts: each part but the biggest goes to
    the draft grid of its community sharing the longest edge with it. The grids mended."""
    import shapely
    from sqlalchemy import text

    rows = conn.execute(
        text("SELECT code, parent_id, ST_AsBinary(geom) AS g FROM plan_areas WHERE plan_id = :p"),
        {"p": plan},
    ).all()
    geoms = {r.code: shapely.from_wkb(bytes(r.g)) for r in rows}
    parent = {r.code: r.parent_id for r in rows}
    mended = 0
    for code in [c for c, g in geoms.items() if shapely.get_num_geometries(g) > 1]:
        parts = sorted(shapely.get_parts(geoms[code]), key=lambda p: p.area, reverse=True)
        keep = parts[0]
        for part in parts[1:]:
            near = [c for c in geoms if c != code and parent[c] == parent[code]]
            edge = {c: shapely.intersection(part.boundary, geoms[c].boundary).length for c in near}
            best = max(edge, key=lambda c: edge[c], default=None)
            if best is None or edge[best] <= 0:
                keep = shapely.union(keep, part)
                continue
            geoms[best] = shapely.union(geoms[best], part)
        geoms[code] = keep
        mended += 1
    for code, g in geoms.items():
        conn.execute(
            text(
                "UPDATE plan_areas SET geom = ST_Multi(ST_GeomFromWKB(:g, 4326))"
                " WHERE plan_id = :p AND code = :c"
            ),
            {"g": shapely.to_wkb(g), "p": plan, "c": code},
        )
    return mended


def _publish_bench(engine: Any, settings: Any, merges: int) -> dict[str, Any]:
    """Publish a district plan edited by ``merges`` library merges, as an admin, limits
    opened up, in a transaction rolled back after: the biggest district whose grids pass
    the other hard checks as they are (a synthetic grid in two parts blocks its district)."""
    from gisgrid.access.auth import Caller
    from gisgrid.access.scope import Scope
    from gisgrid.planning.checks import check_plan
    from gisgrid.planning.publish import publish

    wide = settings.model_copy(update=WIDE_LIMITS)
    admin = Caller(0, "bench", None, "admin", None, Scope.everything())
    skipped = []
    with engine.connect() as conn:
        districts = _districts(conn)
        conn.rollback()
        for did, code, n in districts:
            tx = conn.begin()
            try:
                plan = _make_plan(conn, did)
                mended = _mend_multipart(conn, plan)
                hard = check_plan(conn, plan, settings=wide, now=NOW)["hard"]
                if hard:
                    skipped.append(f"{code} ({sorted({f['check'] for f in hard})})")
                    continue
                version = _library_merges(conn, admin, plan, merges)
                t0 = time.perf_counter()
                out = publish(conn, admin, plan, version, settings=wide)
                return {
                    "district": code,
                    "grids": n,
                    "s": time.perf_counter() - t0,
                    "opened": len(out.opened),
                    "closed": len(out.closed),
                    "kept": len(out.kept),
                    "moved": out.moved,
                    "skipped": skipped,
                    "mended": mended,
                }
            finally:
                tx.rollback()
    return {"refused": skipped}


def _street(conn: Any) -> tuple[str, int]:
    from sqlalchemy import text

    row = conn.execute(
        text(
            "SELECT s.code, count(g.id) AS n FROM areas s JOIN areas g ON g.level = 'grid'"
            " AND g.valid_to IS NULL AND left(g.code, length(s.code)) = s.code"
            " WHERE s.level = 'street' AND s.valid_to IS NULL GROUP BY s.code"
            " ORDER BY n DESC LIMIT 1"
        )
    ).one()
    return str(row.code), int(row.n)


def _edit_round_trips(url: str, settings: Any, edits: int) -> dict[str, Any]:
    """``edits`` splits through the API on a street plan; latencies of the answered ones."""
    import shapely
    from fastapi.testclient import TestClient
    from shapely.geometry import mapping, shape
    from sqlalchemy import text

    from api.app import create_app
    from gisgrid.access.auth import issue_token
    from gisgrid.store.engine import make_engine

    app_settings = settings.model_copy(update={"database_url": url, "escalation_sweep_s": 0})
    engine = make_engine(url)
    with engine.connect() as conn:
        street, n = _street(conn)
        admin = conn.execute(
            text("SELECT id, token_version FROM accounts WHERE role = 'admin' ORDER BY id LIMIT 1")
        ).one()
    token = issue_token(int(admin.id), "admin", app_settings, version=int(admin.token_version))
    auth = {"Authorization": f"Bearer {token.access_token}"}
    ok: list[float] = []
    refused = 0
    plan = None
    try:
        # a loopback Host: the app answers those whatever GISGRID_TRUSTED_HOSTS says
        with TestClient(create_app(app_settings), base_url="http://127.0.0.1") as client:
            r = client.post("/plans", json={"parent": street, "name": "bench"}, headers=auth)
            if r.status_code != 201:
                raise RuntimeError(f"POST /plans {street}: {r.status_code} {r.text}")
            plan, version = r.json()["id"], r.json()["version"]
            grids = client.get(f"/plans/{plan}", headers=auth).json()["features"]
            for f in grids:
                if len(ok) >= edits:
                    break
                g = shape(f["geometry"])
                w, s, e, nn = g.bounds
                x = (w + e) / 2
                line = mapping(shapely.LineString([(x, s - 0.001), (x, nn + 0.001)]))
                body = {"code": f["id"], "cut": line}
                headers = auth | {"If-Match": f'"{version}"'}
                t0 = time.perf_counter()
                r = client.post(f"/plans/{plan}/split", json=body, headers=headers)
                took = time.perf_counter() - t0
                if r.status_code == 200:
                    ok.append(took)
                    version = r.json()["plan"]["version"]
                else:
                    refused += 1
    finally:
        if plan is not None:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM plan_areas WHERE plan_id = :p"), {"p": plan})
                conn.execute(text("DELETE FROM plans WHERE id = :p"), {"p": plan})
        engine.dispose()
    ok.sort()
    pick = (lambda q: ok[min(len(ok) - 1, int(q * len(ok)))]) if ok else (lambda q: float("nan"))
    return {
        "street": street,
        "grids": n,
        "answered": len(ok),
        "refused": refused,
        "p50": pick(0.5),
        "p95": pick(0.95),
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

    url, engine = _store(args.database_url)
    settings = get_settings()
    res: dict[str, Any] = {}
    extra: dict[str, Any] = {}
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
    if not args.no_publish:
        extra["publish"] = _publish_bench(engine, settings, args.merges)
    if args.edits:
        extra["edits"] = _edit_round_trips(url, settings, args.edits)
    res["_extra"] = extra
    return res


def report(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    extra = res.pop("_extra", {})
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
    if "publish" in extra:
        p = extra["publish"]
        if "refused" in p:
            console.print(f"no district plan passes the hard checks to publish: {p['refused']}")
        else:
            console.print(
                f"publish of the edited district plan of {p['district']} ({p['grids']:,}"
                f" grids): {p['s']:.2f} s (goal <= 30 s); {p['opened']:,} opened,"
                f" {p['closed']:,} closed, {p['kept']:,} kept; rows moved {p['moved']}"
                + f"; {p['mended']} grids in two parts mended first"
                + (f"; skipped {', '.join(p['skipped'])}" if p["skipped"] else "")
            )
    if "edits" in extra:
        e = extra["edits"]
        console.print(
            f"edit round trip through the API (split + checks + stats) on street {e['street']}"
            f" ({e['grids']} grids): p50 {e['p50'] * 1000:.0f} ms, p95 {e['p95'] * 1000:.0f} ms"
            f" over {e['answered']} splits (goal p50 <= 200 ms); {e['refused']} refused"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", help="this database instead of the demo store")
    parser.add_argument("--district", help="this district's code (default: most grids)")
    parser.add_argument("--merges", type=int, default=50, help="pairs merged for 'edited'")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--edits", type=int, default=30, help="API split round trips (0: none)")
    parser.add_argument("--no-publish", action="store_true", help="skip timing the publish")
    args = parser.parse_args(argv)
    report(run(args))


if __name__ == "__main__":
    main()
