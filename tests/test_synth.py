"""The synthetic city: deterministic for a seed, and keeping its invariants."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import table_counts
from gisgrid.store.migrations import env_include
from gisgrid.store.models import Base
from gisgrid.synth import City, generate
from gisgrid.synth.city import MAX_GRID_HH, MAX_GRID_PEOPLE
from gisgrid.synth.store import store_is_empty, write_city
from tests.support import scratch_engine


@pytest.fixture(scope="module")
def tiny() -> City:
    return generate("tiny", seed=7)


@pytest.fixture(scope="module")
def tiny_db(cluster: Cluster, tiny: City) -> Iterator[Engine]:
    with scratch_engine(cluster, "synth_scratch") as engine:
        write_city(engine, tiny)
        yield engine


def _geoms(df: pd.DataFrame) -> np.ndarray:
    return np.asarray(df["geom"].to_numpy(), dtype=object)


def test_same_seed_same_city(tiny: City) -> None:
    again = generate("tiny", seed=7)
    for name, df in tiny.tables.items():
        other = again.tables[name]
        assert len(df) == len(other), name
        if "geom" in df:
            assert shapely.equals_exact(_geoms(df), _geoms(other), tolerance=0).all(), name
        plain = [c for c in df.columns if c != "geom"]
        pd.testing.assert_frame_equal(df[plain], other[plain], obj=name)
    assert tiny.ground_truth == again.ground_truth


_DIGEST = """
import hashlib, pandas as pd
from gisgrid.synth import generate
city = generate("tiny", seed=7)
h = hashlib.sha256()
for name, df in sorted(city.tables.items()):
    plain = df[[c for c in df.columns if c not in ("geom", "tags", "categories")]]
    h.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
print(h.hexdigest())
"""


def test_same_seed_same_city_in_another_process() -> None:
    """String hashing differs per process (PYTHONHASHSEED): nothing may depend on it."""
    import os
    import subprocess
    import sys

    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_another_seed_another_city(tiny: City) -> None:
    other = generate("tiny", seed=8)
    assert list(other.tables["residents"]["id_hash"][:50]) != list(
        tiny.tables["residents"]["id_hash"][:50]
    )


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale='huge'; expected one of"):
        generate("huge")


@pytest.mark.parametrize("level", ["street", "community", "grid"])
def test_children_tile_their_parent(tiny: City, level: str) -> None:
    areas = tiny.tables["areas"]
    geom = dict(zip(areas["id"], _geoms(areas), strict=True))
    children = areas[areas["level"] == level]
    assert len(children) > 0
    for parent_id, kids in children.groupby("parent_id"):
        parent = geom[parent_id]
        kid_geoms = [geom[i] for i in kids["id"]]
        union = shapely.union_all(kid_geoms)
        summed = sum(g.area for g in kid_geoms)
        # no gap: the union is the parent; no overlap: the areas add up to it
        assert abs(union.area - parent.area) / parent.area < 1e-6
        assert abs(summed - parent.area) / parent.area < 1e-6
        assert shapely.symmetric_difference(union, parent).area / parent.area < 1e-6


def test_districts_lie_in_the_city_without_overlap(tiny: City) -> None:
    # tiny holds one district of the whole city outline: the districts do not tile the city,
    # but they must lie inside it and must not overlap each other
    areas = tiny.tables["areas"]
    geom = dict(zip(areas["id"], _geoms(areas), strict=True))
    districts = areas[areas["level"] == "district"]
    assert len(districts) > 0
    for parent_id, kids in districts.groupby("parent_id"):
        city = geom[parent_id]
        kid_geoms = [geom[i] for i in kids["id"]]
        union = shapely.union_all(kid_geoms)
        assert shapely.difference(union, city).area / union.area < 1e-6
        assert abs(sum(g.area for g in kid_geoms) - union.area) / union.area < 1e-6


def test_codes_nest_and_grids_are_15_digits(tiny: City) -> None:
    areas = tiny.tables["areas"].set_index("id")
    for row in areas.itertuples():
        if row.level in ("street", "community", "grid"):
            parent_code = areas.at[row.parent_id, "code"]
            assert row.code.startswith(parent_code) and len(row.code) == len(parent_code) + 3
    grids = areas[areas.level == "grid"]
    assert grids["code"].str.fullmatch(r"\d{15}").all()
    assert grids["code"].is_unique


def test_grids_respect_the_size_rule(tiny: City) -> None:
    grids = tiny.tables["areas"].query("level == 'grid'")
    assert grids["households"].max() <= MAX_GRID_HH
    assert grids["population"].max() <= MAX_GRID_PEOPLE
    assert grids["households"].sum() == len(tiny.tables["households"])


@pytest.mark.parametrize("table", ["buildings", "places", "incidents", "visit_logs", "households"])
def test_everything_lies_inside_its_grid(tiny: City, table: str) -> None:
    areas = tiny.tables["areas"]
    geom = dict(zip(areas["id"], _geoms(areas), strict=True))
    df = tiny.tables[table]
    grid_geoms = np.array([geom[g] for g in df["grid_id"]], dtype=object)
    assert shapely.covers(grid_geoms, _geoms(df)).all()


def test_hierarchy_columns_agree_with_the_areas(tiny: City) -> None:
    areas = tiny.tables["areas"].set_index("id")
    b = tiny.tables["buildings"]
    assert (areas.loc[b["grid_id"], "parent_id"].to_numpy() == b["community_id"].to_numpy()).all()
    assert (areas.loc[b["community_id"], "parent_id"].to_numpy() == b["street_id"].to_numpy()).all()
    assert (areas.loc[b["street_id"], "parent_id"].to_numpy() == b["district_id"].to_numpy()).all()


def test_incidents_follow_the_year(tiny: City) -> None:
    inc = tiny.tables["incidents"]
    local = inc["reported_at"].dt.tz_convert("Asia/Shanghai")
    assert local.min() >= pd.Timestamp("2025-11-01", tz="Asia/Shanghai")
    assert local.max() < pd.Timestamp("2026-11-01", tz="Asia/Shanghai")
    assert set(inc["status"]) >= {"closed", "reported", "in_progress"}
    snow = inc[inc["category"].str.startswith("09")]  # winter services
    winter = snow["reported_at"].dt.tz_convert("Asia/Shanghai").dt.month.isin([11, 12, 1, 2, 3])
    assert winter.mean() > 0.8


def test_the_open_backlog_is_the_last_three_weeks(tiny: City) -> None:
    """A city that runs the loop has closed or rejected what is three weeks old: year-old open
    cases would fill every queue and the demo's first escalation sweep."""
    inc = tiny.tables["incidents"]
    end = pd.Timestamp("2026-11-01", tz="Asia/Shanghai")
    old = inc["reported_at"] < end - pd.Timedelta(days=20)
    assert set(inc.loc[old, "status"]) == {"closed", "rejected"}
    assert inc.loc[~old, "status"].isin(["reported", "accepted", "escalated"]).any()


def test_planted_hotspots_are_where_the_truth_says(tiny: City) -> None:
    inc = tiny.tables["incidents"]
    pts = _geoms(inc)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    assert tiny.ground_truth["planted"], "tiny plants at least one hotspot"
    for spot in tiny.ground_truth["planted"]:
        dx = (x - spot["lon"]) * 111_320 * np.cos(np.radians(spot["lat"]))
        dy = (y - spot["lat"]) * 110_574
        near = (dx**2 + dy**2) <= (spot["radius_m"] + 5) ** 2
        in_cat = inc["category"].isin(spot["categories"]).to_numpy()
        # every planted incident is inside its circle: at least that many are found there
        assert (near & in_cat).sum() >= spot["incidents"]
        assert spot["grid_codes"]


def test_residents_ids_are_unique_hashes(tiny: City) -> None:
    res = tiny.tables["residents"]
    assert res["id_hash"].is_unique
    assert res["id_hash"].str.fullmatch(r"[0-9a-f]{64}").all()


def test_loaded_store_keeps_the_invariants(tiny_db: Engine, tiny: City) -> None:
    counts = table_counts(tiny_db)
    for name, df in tiny.tables.items():
        assert counts[name] == len(df), name
    with tiny_db.connect() as conn:
        for table in ("buildings", "places", "incidents", "visit_logs"):
            outside = conn.execute(
                text(
                    f"SELECT count(*) FROM {table} t JOIN areas g ON g.id = t.grid_id "
                    "WHERE NOT ST_Covers(g.geom, t.geom)"
                )
            ).scalar_one()
            assert outside == 0, table
        overlaps = conn.execute(
            text(
                "SELECT count(*) FROM areas a JOIN areas b ON a.id < b.id AND a.level = 'grid' "
                "AND b.level = 'grid' AND a.geom && b.geom "
                "WHERE ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 1"
            )
        ).scalar_one()
        assert overlaps == 0
        # sequences were moved past the loaded ids: a new row gets a fresh id
        new_id = conn.execute(
            text(
                "INSERT INTO places (kind, name, geom) VALUES "
                "('camera', 'x', 'SRID=4326;POINT(126.6 45.6)') RETURNING id"
            )
        ).scalar_one()
        assert new_id > len(tiny.tables["places"])
        conn.rollback()


def test_load_leaves_the_schema_as_migrated(tiny_db: Engine) -> None:
    """The bulk load drops keys and indexes; every one must be back, and checked."""
    with tiny_db.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": env_include, "compare_type": True}
        )
        assert compare_metadata(ctx, Base.metadata) == []
        # a partition's copy of its parent's foreign key (conparentid) is not one of ours
        fks = conn.execute(
            text("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0")
        )
        assert fks.scalar_one() == sum(len(t.foreign_keys) for t in Base.metadata.tables.values())
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO residents (household_id, name) VALUES (-1, 'x')"))
        conn.rollback()


def test_store_is_not_empty_after_load_and_replace_reloads(tiny_db: Engine, tiny: City) -> None:
    assert not store_is_empty(tiny_db)
    write_city(tiny_db, tiny, replace=True)
    assert table_counts(tiny_db)["areas"] == len(tiny.tables["areas"])


def test_a_streamed_city_loads_the_same_incidents_month_by_month(
    cluster: Cluster, tiny: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above STREAM_ABOVE the incidents come a city month at a time (a 10M year does not fit
    in memory as DataFrames); the rows are the same in number and place, keys and all."""
    import gisgrid.synth

    monkeypatch.setattr(gisgrid.synth, "STREAM_ABOVE", 1_000)
    streamed = generate("tiny", tiny.seed)
    assert "incidents" not in streamed.tables and streamed.incident_chunks is not None
    assert streamed.ground_truth == tiny.ground_truth
    with scratch_engine(cluster, "streamed_scratch") as engine:
        counts = write_city(engine, streamed)
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT count(*) FROM incident_keys")).scalar_one()
            months = conn.execute(
                text("SELECT count(DISTINCT tableoid) FROM incidents")
            ).scalar_one()
            firsts = conn.execute(
                text("SELECT reported_at FROM incidents ORDER BY id LIMIT 3")
            ).scalars()
            assert list(firsts) == list(tiny.tables["incidents"]["reported_at"].iloc[:3])
    assert counts["incidents"] == keys == len(tiny.tables["incidents"])
    assert counts["incident_events"] == len(tiny.tables["incident_events"])
    assert months == 12
