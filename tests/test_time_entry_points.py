"""A bare date means the same city day at every entry point that takes one.

Incidents are planted at the edges of one day in the tiny city (a day after the synthetic
year, so nothing else falls near it); each entry point is asked for that day and must answer
the same four. Under the old readings the tile filters and OGC API differed by 8 hours: OGC
read a bare date as a UTC day, which drops ``utc-evening`` and takes ``utc-late``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gisgrid.access.scope import Scope
from gisgrid.analysis import evaluation, heat
from gisgrid.assign.store import reassign
from gisgrid.incidents import open311
from gisgrid.io.export import export_layer
from gisgrid.query import features as ft
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.filters import TileFilters
from tests.city_support import bearer_header, tiny_city, username_of
from tests.incidents.support import CATEGORY, beat

DB = "times_scratch"
DAY = "2030-06-15"
PLANTED = {
    "before": "2030-06-14T23:59:59.999999+08:00",
    "first": "2030-06-15T00:00:00+08:00",
    "utc-evening": "2030-06-14T20:00:00Z",  # 04:00 in the city
    "utc-midnight": "2030-06-15T00:00:00Z",  # 08:00 in the city
    "last": "2030-06-15T23:59:59.999999+08:00",
    "after": "2030-06-16T00:00:00+08:00",
    "utc-late": "2030-06-15T20:00:00Z",  # 04:00 the next day in the city
}
THE_DAY = {"first", "utc-evening", "utc-midnight", "last"}
NOW = datetime(2030, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[tuple[Engine, dict[int, str]]]:
    """The tiny city with the planted incidents; their ids -> their labels."""
    with tiny_city(cluster, DB) as engine:
        here = beat(engine)
        with engine.begin() as conn:
            ids = {
                conn.execute(
                    text(
                        "INSERT INTO incidents (code, category, source, reported_at, status, geom)"
                        " VALUES (:code, :c, 'import', :at, 'reported',"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
                    ),
                    {"code": label, "c": CATEGORY, "at": at, "x": here.lon, "y": here.lat},
                ).scalar_one(): label
                for label, at in PLANTED.items()
            }
        yield engine, ids


@pytest.fixture(scope="module")
def client(cluster: Cluster, store: tuple[Engine, dict[int, str]]) -> Iterator[TestClient]:
    settings = Settings(database_url=cluster.url(dbname=DB), secret_key="t" * 40, _env_file=None)
    with TestClient(create_app(settings)) as c:
        c.headers.update(bearer_header(c, username_of(store[0], "admin")))
        yield c


def test_the_tile_filters_count_the_city_day(store: tuple[Engine, dict[int, str]]) -> None:
    engine, _ = store
    with engine.connect() as conn:
        for to in (DAY, "2030-06-15T23:59:59.999999"):
            filters = TileFilters.parse({"from": DAY, "to": to}, ())
            areas = heat.area_counts(conn, "grid", filters, Scope.everything())
            assert int(areas["count"].sum()) == len(THE_DAY), to


@pytest.mark.parametrize(
    "value",
    [DAY, f"{DAY}/{DAY}", f"{DAY}T00:00:00+08:00/{DAY}", f"{DAY}T00:00/{DAY}T23:59:59.999999"],
    ids=["bare-date", "date-to-the-same-date", "instant-to-date", "naive-city-times"],
)
def test_ogc_items_are_the_same_day(store: tuple[Engine, dict[int, str]], value: str) -> None:
    engine, labels = store
    incidents = ft.COLLECTIONS["incidents"]
    query = ft.item_query(incidents, {"datetime": value, "limit": "10000"})
    with engine.connect() as conn:
        found, _ = ft.items(conn, incidents, query, Scope.everything())
    assert {labels[f["id"]] for f in found} == THE_DAY


def test_ogc_api_and_stats_api_are_the_same_day(
    client: TestClient, store: tuple[Engine, dict[int, str]]
) -> None:
    _, labels = store
    r = client.get("/collections/incidents/items", params={"datetime": DAY, "limit": 10000})
    assert r.status_code == 200, r.text
    assert {labels[f["id"]] for f in r.json()["features"]} == THE_DAY
    r = client.get("/stats/incidents", params={"since": DAY, "until": DAY})
    assert r.status_code == 200, r.text
    assert sum(g["reported"] for g in r.json()["groups"]) == len(THE_DAY)
    assert r.json()["until"] == f"{DAY}T23:59:59.999999+08:00"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"until": "0.5"}, "until"),
        ({"since": "1700000000"}, "since"),
        ({"since": DAY, "until": "2030-06-14"}, "until"),
        ({"since": "9999-12-31T23:00-05:00"}, "since"),
    ],
    ids=["unix-time-until", "unix-time-since", "until-before-since", "past-year-9999"],
)
def test_stats_refuse_what_is_not_a_time(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    r = client.get("/stats/incidents", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_open311_and_evaluation_are_the_same_day(store: tuple[Engine, dict[int, str]]) -> None:
    engine, labels = store
    with engine.connect() as conn:
        requests = open311.requests(conn, start_date=DAY, end_date=DAY)
        rates = evaluation.incident_rates(conn, Scope.everything(), "grid", DAY, DAY, NOW)
    assert {labels[int(r["service_request_id"])] for r in requests} == THE_DAY
    assert sum(r.reported for r in rates) == len(THE_DAY)


def test_export_is_the_same_day(store: tuple[Engine, dict[int, str]], tmp_path: Path) -> None:
    engine, _ = store
    out = tmp_path / "day.csv"
    assert export_layer(engine, "incidents", out, since=DAY, until=DAY) == len(THE_DAY)
    assert set(pd.read_csv(out)["code"]) == THE_DAY


def test_reassign_since_a_date_starts_at_city_midnight(
    store: tuple[Engine, dict[int, str]],
) -> None:
    engine, _ = store
    report = reassign(engine, "incidents", since=DAY, dry_run=True)
    assert report.tables["incidents"].checked == len(PLANTED) - 1  # all but "before"
