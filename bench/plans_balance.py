"""Auto-balance of a street beside plain spopt max-p and AZP on the same cells and weights.

Run as ``python -m bench plans-balance [--street CODE] [--seed 0] [--database-url URL]``. On
the demo store (started, and loaded with ``gisgrid demo --scale small`` when empty, as
``bench.tiles`` does) it takes the street whose current grid count is nearest 100 (or
``--street``), makes its building cells once (timed apart), and cuts each community's cells:

- gisgrid: ``gisgrid.planning.balance.auto_balance`` (seeded growth + AZP-like moves on
  workload evenness, the household/people limits and Polsby-Popper);
- spopt ``MaxPHeuristic``: attribute = workload, threshold = the households minimum (max-p
  knows only a lower bound; it makes as many regions as it can), 3 constructions and 3
  annealing rounds (``--maxp-iterations``; spopt's 99 and 10 take minutes per community);
- spopt ``AZP``: attribute = workload, as many regions per community as gisgrid made.

All three run per community on the same rook graph (``cell_adjacency(by_community=True)``)
and the same workload (households x 1 + residents x 0.3 + incidents in 12 months x 1 by
default). The table gives, over the street's grids: how many, workload CV and max/min, the
share that meets the limits, mean Polsby-Popper, and the seconds the cut took; the ratio
columns divide the peer's figure by gisgrid's.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

TARGET_GRIDS = 100


@dataclass
class Result:
    name: str
    grids: int
    cv: float
    max_min: float
    meets: float
    pp: float
    seconds: float


def _street(engine: Any, code: str | None) -> tuple[int, str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.id, s.code, count(g.id) AS n FROM areas s"
                " JOIN areas c ON c.parent_id = s.id AND c.valid_to IS NULL"
                " JOIN areas g ON g.parent_id = c.id AND g.valid_to IS NULL AND g.level = 'grid'"
                " WHERE s.level = 'street' AND s.valid_to IS NULL"
                " AND (CAST(:code AS text) IS NULL OR s.code = CAST(:code AS text))"
                " GROUP BY s.id, s.code ORDER BY abs(count(g.id) - :n), s.code LIMIT 1"
            ),
            {"code": code, "n": TARGET_GRIDS},
        ).one()
    return int(row.id), str(row.code), int(row.n)


def _score(name: str, cells: Any, labels: np.ndarray, limits: Any, seconds: float) -> Result:
    import shapely

    from gisgrid.planning.balance import spread

    wl, pp, ok = [], [], []
    bounds = limits.bounds()
    for g in np.unique(labels):
        part = cells[labels == g]
        geom = shapely.union_all(part.geometry.to_numpy())
        wl.append(float(part["workload"].sum()))
        pp.append(4 * np.pi * geom.area / geom.length**2)
        ok.append(bounds.breach(part["households"].sum(), part["residents"].sum()) == 0)
    s = spread(np.array(wl))
    return Result(name, len(wl), s["cv"], s["max_min_ratio"], float(np.mean(ok)),
                  float(np.mean(pp)), seconds)  # fmt: skip


def _peers(cells: Any, ours: np.ndarray, limits: Any, seed: int, maxp_iter: int) -> list[Result]:
    from libpysal.weights import W
    from spopt.region import AZP, MaxPHeuristic

    from gisgrid.planning.cells import cell_adjacency

    w_all = cell_adjacency(cells, by_community=True)
    comm = cells["community_id"].to_numpy()
    out = []
    for name in ("spopt MaxPHeuristic", "spopt AZP"):
        labels = np.full(len(cells), -1, dtype=np.int64)
        t0 = time.perf_counter()
        nxt = 0
        for cid in np.unique(comm):
            members = np.flatnonzero(comm == cid)
            pos = {int(m): i for i, m in enumerate(members)}
            w = W(
                {pos[i]: [pos[j] for j in w_all.neighbors[i]] for i in members.tolist()},
                silence_warnings=True,
            )
            gdf = cells.iloc[members].reset_index(drop=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name.endswith("MaxPHeuristic"):
                    np.random.seed(seed)  # max-p draws from numpy's global generator
                    model: Any = MaxPHeuristic(
                        gdf, w, ["workload"], "households", limits.households_min, top_n=2,
                        max_iterations_construction=maxp_iter, max_iterations_sa=maxp_iter,
                    )  # fmt: skip
                else:
                    k = len(np.unique(ours[members]))
                    model = AZP(gdf, w, ["workload"], n_clusters=k, random_state=seed)
                model.solve()
            lab = np.asarray(model.labels_, dtype=np.int64)
            lab = np.unique(lab, return_inverse=True)[1]  # max-p may leave -1/0-based gaps
            labels[members] = lab + nxt
            nxt += int(lab.max()) + 1
        out.append(_score(name, cells, labels, limits, time.perf_counter() - t0))
    return out


def main(argv: list[str]) -> None:
    from bench.tiles import _store
    from gisgrid.planning.balance import Limits, auto_balance, workload_weights
    from gisgrid.planning.cells import building_cells

    parser = argparse.ArgumentParser(prog="python -m bench plans-balance")
    parser.add_argument("--street", help="street code (default: the one nearest 100 grids)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="this database instead of the demo store")
    parser.add_argument(
        "--maxp-iterations",
        type=int,
        default=3,
        help="max-p constructions and annealing rounds (spopt's defaults, 99 and 10, take"
        " minutes per community in pure Python)",
    )
    args = parser.parse_args(argv)

    _, engine = _store(args.database_url)
    try:
        sid, code, now = _street(engine, args.street)
        t0 = time.perf_counter()
        cells = building_cells(engine, sid)
        t_cells = time.perf_counter() - t0
        limits = Limits()
        weights = workload_weights()
        t0 = time.perf_counter()
        p = auto_balance(engine, sid, limits=limits, weights=weights, seed=args.seed, cells=cells)
        t_ours = time.perf_counter() - t0
        cells = p.cells
        ours = cells["grid"].to_numpy()
        current = _current(engine, cells, limits)
        rows = [current, _score("gisgrid auto_balance", cells, ours, limits, t_ours)]
        rows += _peers(cells, ours, limits, args.seed, args.maxp_iterations)
    finally:
        engine.dispose()
    print(
        f"street {code}: {now} current grids, {len(cells)} building cells in"
        f" {cells['community_id'].nunique()} communities (cells made in {t_cells:.2f} s);"
        f" limits households {limits.households_min:g}..{limits.households_max:g}, residents"
        f" {limits.residents_min:g}..{limits.residents_max:g}; weights {weights}"
    )
    base = rows[1]
    head = (f"{'method':<22} {'grids':>5} {'wl CV':>7} {'max/min':>8} {'meet':>6} {'mean PP':>8}"
            f" {'time s':>8} | {'CV x':>6} {'max/min x':>9} {'PP x':>6} {'time x':>7}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.name:<22} {r.grids:>5} {r.cv:>7.3f} {r.max_min:>8.2f} {r.meets:>6.0%}"
            f" {r.pp:>8.3f} {r.seconds:>8.2f} | {r.cv / base.cv:>6.2f}"
            f" {r.max_min / base.max_min:>9.2f} {r.pp / base.pp:>6.2f}"
            f" {r.seconds / base.seconds if r.seconds else 0:>7.1f}"
        )
    print(
        f"gisgrid: {len(p.grids)} grids, all within the limits:"
        f" {bool(p.grids['meets'].all())}, {t_cells + t_ours:.2f} s with the cells (goal <= 10 s)"
    )


def _current(engine: Any, cells: Any, limits: Any) -> Result:
    """The street's grids as they are, scored on the same cells (each cell to the current grid
    holding its building, or its point on surface)."""
    import geopandas as gpd
    import shapely
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, ST_AsBinary(geom) FROM areas WHERE level = 'grid'"
                " AND valid_to IS NULL AND parent_id = ANY(:c)"
            ),
            {"c": [int(c) for c in cells["community_id"].unique()]},
        ).all()
    grids = gpd.GeoSeries(shapely.from_wkb([r[1] for r in rows]), crs=4326).to_crs(cells.crs)
    pts = shapely.point_on_surface(cells.geometry.to_numpy())
    pi, gi = shapely.STRtree(grids.to_numpy()).query(pts, predicate="intersects")
    labels = np.full(len(cells), -1, dtype=np.int64)
    labels[pi] = gi
    res = _score("current grids", cells, labels, limits, 0.0)
    # the current grids' own outlines, not their cells' union, for compactness
    res.pp = float(np.mean(4 * np.pi * grids.area / grids.length**2))
    return res
