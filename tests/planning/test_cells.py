"""Building cells on the tiny city: they tile the parent, keep to community lines, hold each
building whole, carry the weights of their rows, and their rook graph is connected."""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from gisgrid.errors import InvalidInput, NotFound
from gisgrid.planning.cells import building_cells, cell_adjacency

DB = "planning_cells_scratch"


@pytest.fixture(scope="module")
def street(store: Engine) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT id FROM areas WHERE level = 'street' AND valid_to IS NULL"
                    " ORDER BY code LIMIT 1"
                )
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def cells(store: Engine, street: int) -> gpd.GeoDataFrame:
    return building_cells(store, street)


def _area_geoms(store: Engine, sql: str, crs: object, **params: object) -> gpd.GeoSeries:
    with store.connect() as conn:
        wkb = conn.execute(text(sql), params).scalars().all()
    return gpd.GeoSeries(shapely.from_wkb(wkb), crs=4326).to_crs(crs)


def test_cells_tile_the_parent(store: Engine, street: int, cells: gpd.GeoDataFrame) -> None:
    parent = _area_geoms(
        store, "SELECT ST_AsBinary(geom) FROM areas WHERE id = :i", cells.crs, i=street
    ).iat[0]
    geoms = cells.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert abs(shapely.area(geoms).sum() - parent.area) < 1.0
    union = shapely.union_all(geoms)
    assert abs(union.area - parent.area) < 1.0  # no overlaps: the sum equals the union
    assert shapely.symmetric_difference(union, parent).area < 1.0


def test_no_cell_crosses_a_community_line(
    store: Engine, street: int, cells: gpd.GeoDataFrame
) -> None:
    with store.connect() as conn:
        comms = conn.execute(
            text(
                "SELECT id, ST_AsBinary(geom) FROM areas WHERE parent_id = :s"
                " AND level = 'community' AND valid_to IS NULL"
            ),
            {"s": street},
        ).all()
    outline = dict(
        zip(
            [r[0] for r in comms],
            gpd.GeoSeries(shapely.from_wkb([r[1] for r in comms]), crs=4326).to_crs(cells.crs),
            strict=True,
        )
    )
    assert set(cells["community_id"]) == set(outline)
    for cid, geom in zip(cells["community_id"], cells.geometry, strict=True):
        assert geom.difference(outline[cid]).area < 0.01


def test_every_building_is_whole_in_its_cell(store: Engine, cells: gpd.GeoDataFrame) -> None:
    ids = [int(i) for i in cells["building_id"].dropna()]
    fps = _area_geoms(
        store,
        "SELECT ST_AsBinary(geom) FROM buildings WHERE id = ANY(:ids) ORDER BY id",
        cells.crs,
        ids=ids,
    )
    by_id = dict(zip(sorted(ids), fps, strict=True))
    has = cells[cells["building_id"].notna()]
    assert len(has) == len(set(ids)) > 50
    for bid, geom in zip(has["building_id"], has.geometry, strict=True):
        assert by_id[int(bid)].difference(geom).area < 1e-6
    # and no other cell takes a bite of it
    tree = shapely.STRtree(cells.geometry.to_numpy())
    for bid, fp in by_id.items():
        for k in tree.query(fp, predicate="intersects"):
            if cells["building_id"].iat[k] != bid:
                assert cells.geometry.iat[k].intersection(fp).area < 1e-6


def test_weights_come_from_the_rows(store: Engine, street: int, cells: gpd.GeoDataFrame) -> None:
    with store.connect() as conn:
        hh, res = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM households WHERE street_id = :s),"
                " (SELECT count(*) FROM residents WHERE street_id = :s)"
            ),
            {"s": street},
        ).one()
        inc = conn.execute(
            text(
                "SELECT count(*) FROM incidents WHERE street_id = :s"
                " AND reported_at > now() - interval '12 months'"
            ),
            {"s": street},
        ).scalar_one()
    assert cells["households"].sum() == hh > 0
    assert cells["residents"].sum() == res > 0
    assert cells["incidents_12m"].sum() == inc > 0
    assert (cells.loc[cells["building_id"].isna(), ["households", "residents"]] == 0).all().all()


def test_rook_graph_is_connected_within_each_community(cells: gpd.GeoDataFrame) -> None:
    w = cell_adjacency(cells, by_community=True)
    comm = cells["community_id"].to_numpy()
    assert all(comm[i] == comm[j] for i in w.neighbors for j in w.neighbors[i])
    labels = w.component_labels
    for cid in np.unique(comm):
        assert len(set(labels[comm == cid])) == 1, f"community {cid} falls apart"
    # across communities, cells on both sides of a community line are neighbours
    w_all = cell_adjacency(cells)
    assert w_all.n_components == 1 < len(np.unique(comm))
    assert all(d > 1.0 for ds in w_all.weights.values() for d in ds)


def test_a_community_is_its_own_parent(store: Engine, cells: gpd.GeoDataFrame) -> None:
    cid = int(cells["community_id"].iat[0])
    mine = building_cells(store, cid)
    assert set(mine["community_id"]) == {cid}
    assert len(mine) == int((cells["community_id"] == cid).sum())


@pytest.fixture()
def a_grid(store: Engine) -> Iterator[int]:
    with store.connect() as conn:
        yield int(
            conn.execute(
                text("SELECT id FROM areas WHERE level = 'grid' ORDER BY id LIMIT 1")
            ).scalar_one()
        )


def test_a_grid_or_an_unknown_parent_is_refused(store: Engine, a_grid: int) -> None:
    with pytest.raises(InvalidInput, match="is a grid") as e:
        building_cells(store, a_grid)
    assert e.value.field == "parent_area_id"
    with pytest.raises(NotFound) as nf:
        building_cells(store, 10**9)
    assert nf.value.field == "parent_area_id"


def test_a_coarse_voronoi_never_cuts_a_footprint() -> None:
    # sampled every 50 m, the long block's inside near the small hut is nearer to the hut's
    # corners than to the block's own samples: the cell must still hold the block whole
    from gisgrid.planning.cells import _community_cells

    block, hut = shapely.box(0, 0, 100, 10), shapely.box(20, 11, 22, 13)
    outline = shapely.box(-50, -50, 150, 60)
    cells = _community_cells(outline, [block, hut], step_m=50.0)
    assert cells[0].contains(block) and cells[1].contains(hut)
    assert cells[0].intersection(cells[1]).area < 1e-9
    assert abs(cells[0].area + cells[1].area - outline.area) < 1e-6


def test_land_cut_off_from_every_building_is_an_atom_of_its_own() -> None:
    from gisgrid.planning.cells import _atoms

    outline = shapely.MultiPolygon([shapely.box(0, 0, 50, 50), shapely.box(100, 0, 150, 50)])
    fps = [shapely.box(5, 5, 15, 15), shapely.box(30, 30, 40, 40)]
    geoms, owner = _atoms(outline, fps, 2.0)
    assert owner == [0, 1, -1]
    assert geoms[2].equals(shapely.box(100, 0, 150, 50))
    assert abs(sum(g.area for g in geoms) - outline.area) < 1e-6
