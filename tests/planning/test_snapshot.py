"""How a plan is read (:class:`gisgrid.planning.snapshot.Snapshot`): the grids a plan made by
create_plan leaves as they were are copies (their rows are counted by grid_id, not read and
located), so an edit reads only the rows of the grids it redrew."""

from __future__ import annotations

from datetime import UTC, datetime

import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection

from gisgrid.planning import edits, plans
from gisgrid.planning.snapshot import Snapshot
from tests.planning.support import STREET, planner
from tests.planning.tables import draft

DB = "plan_snapshot_scratch"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_an_unedited_plan_redraws_nothing(conn: Connection) -> None:
    plan = plans.create_plan(conn, planner(conn), STREET, "snapshot")
    snap = Snapshot(conn, plan.id, NOW)
    # create_plan puts the grids on the drafts' grid (PRECISION_DEG): still copies
    assert len(snap.current) > 2
    assert snap.redrawn.tolist() == []
    assert (snap.copies >= 0).all()
    assert len(snap.moved("households").xy) == 0


def test_a_split_redraws_the_grid_it_splits(conn: Connection) -> None:
    who = planner(conn)
    plan = plans.create_plan(conn, who, STREET, "snapshot")
    grids = draft(conn, plan.id)
    code = max(grids, key=lambda c: grids[c].area)
    w, s, e, n = grids[code].bounds
    x = (w + e) / 2
    cut = mapping(shapely.LineString([(x, s - 0.001), (x, n + 0.001)]))
    edits.split(conn, who, plan.id, plan.version, code, cut)
    snap = Snapshot(conn, plan.id, NOW)
    assert [snap.current.codes[j] for j in snap.redrawn] == [code]
    assert sum(snap.copies >= 0) == len(snap.current) - 1
