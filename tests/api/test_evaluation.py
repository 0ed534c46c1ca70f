"""Closure rate, on-time rate and mean handling time, against a direct pandas computation."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.evaluation import incident_rates
from gisgrid.errors import InvalidInput

DB = "evaluation_scratch"
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("by", ["grid", "unit"])
def test_rates_equal_a_direct_computation(store: Engine, by: str) -> None:
    with store.connect() as conn:
        got = {r.id: r for r in incident_rates(conn, Scope.everything(), by, SINCE, UNTIL, NOW)}
        df = pd.read_sql(
            "SELECT grid_id, assigned_unit_id, status, reported_at, due_at, closed_at"
            " FROM incidents",
            conn,
        )
    key = "grid_id" if by == "grid" else "assigned_unit_id"
    df = df.dropna(subset=[key])
    assert set(got) == set(df[key].astype(int))
    for k, g in df.groupby(key):
        r = got[int(k)]
        closed = g[g.status == "closed"]
        assert r.reported == len(g)
        assert r.closed == len(closed)
        assert r.on_time == int((closed.closed_at <= closed.due_at).sum())
        assert r.closure_rate == pytest.approx(len(closed) / len(g))
        open_ = g[~g.status.isin(["closed", "rejected"])]
        assert r.overdue == int((open_.due_at < pd.Timestamp(NOW)).sum())
        if len(closed):
            hours = (closed.closed_at - closed.reported_at).dt.total_seconds() / 3600
            assert r.mean_handling_h == pytest.approx(hours.mean())
            assert r.on_time_rate == pytest.approx(r.on_time / r.closed)


def test_scope_limits_the_groups(store: Engine) -> None:
    with store.connect() as conn:
        grid = conn.execute(
            text("SELECT grid_id FROM incidents GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        rates = incident_rates(conn, Scope("grid", grid), "grid", SINCE, UNTIL, NOW)
    assert [r.id for r in rates] == [grid]


@pytest.mark.parametrize(
    ("by", "since", "until", "limit", "field"),
    [
        ("street", SINCE, UNTIL, 10, "by"),
        ("grid", UNTIL, SINCE, 10, "until"),
        ("grid", SINCE, UNTIL, 0, "limit"),
    ],
    ids=["bad-group", "until-before-since", "zero-limit"],
)
def test_bad_inputs_name_the_field(
    store: Engine, by: str, since: datetime, until: datetime, limit: int, field: str
) -> None:
    with store.connect() as conn, pytest.raises(InvalidInput) as info:
        incident_rates(conn, Scope.everything(), by, since, until, NOW, limit)
    assert info.value.field == field
