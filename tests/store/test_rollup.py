"""The incident rollup (gisgrid/sql/rollup.sql) equals a GROUP BY over incidents after every
kind of write, in the writer's transaction; a due time passing needs no write."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.store.migrate import migrate_down, migrate_to_head

DB = "rollup_scratch"

# The cube's key and counts, written out independently of rollup.sql's key function.
_EXPECTED_CUBE = """
SELECT COALESCE(grid_id, 0) AS grid_id,
       (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
       category, status,
       CASE WHEN status NOT IN ('closed', 'rejected') AND due_at IS NOT NULL
            THEN date_trunc('hour', due_at, 'UTC') ELSE 'infinity' END::text AS due_hour,
       COALESCE(status = 'closed' AND closed_at > due_at, false) AS late,
       resolved_on_spot AS on_spot,
       count(*)::integer AS n,
       round(sum(CASE WHEN status = 'closed'
                      THEN COALESCE(extract(epoch FROM closed_at - reported_at), 0) ELSE 0 END))
           AS handling
FROM incidents GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
"""
_CUBE = """
SELECT grid_id, day, category, status, due_hour::text, late, on_spot, n,
       round(handling_s::numeric)
FROM incident_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7
"""
_EXPECTED_GRID = """
SELECT grid_id, count(*) FILTER (WHERE NOT s), count(*) FILTER (WHERE NOT s AND o),
       count(*) FILTER (WHERE NOT s AND d), count(*) FILTER (WHERE s),
       count(*) FILTER (WHERE s AND o), count(*) FILTER (WHERE s AND d)
FROM (SELECT COALESCE(grid_id, 0) AS grid_id, left(category, 2) IN ('03', '04') AS s,
             status NOT IN ('closed', 'rejected') AS o,
             status NOT IN ('closed', 'rejected') AND due_at IS NOT NULL AS d
      FROM incidents) i
GROUP BY 1 ORDER BY 1
"""
_GRID = (
    "SELECT grid_id, n, open, open_due, n_sensitive, open_sensitive, open_due_sensitive"
    " FROM incident_rollup_grid ORDER BY 1"
)
_EXPECTED_DUE = """
SELECT date_trunc('hour', due_at, 'UTC')::text, COALESCE(grid_id, 0),
       left(category, 2) IN ('03', '04'), count(*)::integer
FROM incidents WHERE status NOT IN ('closed', 'rejected') AND due_at IS NOT NULL
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
_DUE = "SELECT due_hour::text, grid_id, sensitive, open FROM incident_rollup_due ORDER BY 1, 2, 3"

# a new incident: a copy of an existing one, moved in time and category
_COPY = """
INSERT INTO incidents (category, description, reported_at, status, priority, due_at,
                       closed_at, grid_id, community_id, street_id, district_id, geom)
SELECT category, 'copy', reported_at + make_interval(days => :days), :status, priority,
       due_at + make_interval(days => :days), NULL, grid_id, community_id, street_id,
       district_id, geom
FROM incidents ORDER BY id LIMIT :n
"""


def rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql)).all()]


def assert_rollup_matches(conn: Connection) -> None:
    expected = rows(conn, _EXPECTED_CUBE)
    assert expected, "no incidents: the test would prove nothing"
    assert rows(conn, _CUBE) == [(*r[:8], r[8]) for r in expected]
    assert rows(conn, _GRID) == rows(conn, _EXPECTED_GRID)
    assert rows(conn, _DUE) == rows(conn, _EXPECTED_DUE)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        yield c
        tx.rollback()


def test_the_migration_filled_it(conn: Connection) -> None:
    assert_rollup_matches(conn)


def test_inserts_transitions_and_deletes(conn: Connection) -> None:
    conn.execute(text(_COPY), {"days": 3, "status": "reported", "n": 1})
    assert_rollup_matches(conn)
    conn.execute(text(_COPY), {"days": 40, "status": "dispatched", "n": 25})
    assert_rollup_matches(conn)
    # a case without due time closes: only the open count moves
    conn.execute(text("UPDATE incidents SET due_at = NULL WHERE description = 'copy'"))
    conn.execute(
        text(
            "UPDATE incidents SET status = 'closed', closed_at = reported_at + interval '1 day'"
            " WHERE id = (SELECT min(id) FROM incidents WHERE description = 'copy')"
        )
    )
    assert_rollup_matches(conn)
    # transitions: closed (late and on time), rejected, a new due time, another category
    conn.execute(
        text(
            "UPDATE incidents SET status = 'closed', closed_at = due_at + interval '2 hours'"
            " WHERE description = 'copy' AND id % 3 = 0"
        )
    )
    conn.execute(
        text(
            "UPDATE incidents SET status = 'closed', closed_at = reported_at + interval '1 hour',"
            " resolved_on_spot = true WHERE description = 'copy' AND id % 3 = 1"
        )
    )
    assert_rollup_matches(conn)
    conn.execute(
        text(
            "UPDATE incidents SET due_at = due_at + interval '5 hours'"
            " WHERE status NOT IN ('closed', 'rejected')"
        )
    )
    conn.execute(
        text("UPDATE incidents SET status = 'rejected' WHERE description = 'copy' AND id % 3 = 2")
    )
    conn.execute(
        text(
            "UPDATE incidents SET category = (SELECT max(code) FROM incident_categories"
            " WHERE parent_code IS NOT NULL) WHERE id IN (SELECT id FROM incidents LIMIT 7)"
        )
    )
    assert_rollup_matches(conn)
    # an update that changes nothing the rollup keys on leaves it as it was
    before = rows(conn, _CUBE)
    conn.execute(text("UPDATE incidents SET description = 'seen'"))
    assert rows(conn, _CUBE) == before
    conn.execute(text("DELETE FROM incidents WHERE description = 'copy' AND id % 2 = 0"))
    assert_rollup_matches(conn)
    conn.execute(text("DELETE FROM incidents WHERE id IN (SELECT id FROM incidents LIMIT 5)"))
    assert_rollup_matches(conn)


def test_an_incident_outside_every_grid_counts_under_grid_0(conn: Connection) -> None:
    conn.execute(text("SELECT set_config('gisgrid.assign_trigger', 'off', true)"))
    conn.execute(text(_COPY), {"days": 1, "status": "reported", "n": 2})
    conn.execute(
        text(
            "UPDATE incidents SET grid_id = NULL, community_id = NULL, street_id = NULL,"
            " district_id = NULL WHERE description = 'copy'"
        )
    )
    assert conn.execute(text("SELECT sum(n) FROM incident_rollup WHERE grid_id = 0")).scalar() == 2
    assert_rollup_matches(conn)


def test_a_bulk_load_by_copy_and_insert_select(conn: Connection) -> None:
    conn.execute(text(_COPY), {"days": 400, "status": "in_progress", "n": 100000})
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE bulk ON COMMIT DROP AS SELECT category, reported_at, status,"
            " due_at, grid_id, community_id, street_id, district_id, geom FROM incidents"
        )
        cur.execute(
            "UPDATE bulk SET reported_at = reported_at + interval '2 years',"
            " due_at = due_at + interval '2 years'"
        )
        with cur.copy("COPY bulk TO STDOUT") as out:
            data = b"".join(bytes(chunk) for chunk in out)
        with cur.copy(
            "COPY incidents (category, reported_at, status, due_at, grid_id, community_id,"
            " street_id, district_id, geom) FROM STDIN"
        ) as copy:
            copy.write(data)
    assert_rollup_matches(conn)


def test_a_failed_load_leaves_it_as_it_was(store: Engine) -> None:
    with store.connect() as c:
        before = rows(c, _CUBE)
        c.rollback()
    with pytest.raises(Exception, match="due_at"), store.begin() as c:
        c.execute(text(_COPY), {"days": 2, "status": "reported", "n": 50})
        # a bad row later in the same load: due before reported
        c.execute(
            text(
                "UPDATE incidents SET due_at = reported_at - interval '1 day' WHERE id ="
                " (SELECT max(id) FROM incidents)"
            )
        )
    with store.connect() as c:
        assert rows(c, _CUBE) == before
        assert_rollup_matches(c)
        c.rollback()


def test_truncate_empties_it(conn: Connection) -> None:
    conn.execute(text("TRUNCATE incidents CASCADE"))
    assert rows(conn, _CUBE) == []
    assert rows(conn, _GRID) == []
    assert rows(conn, _DUE) == []


def test_a_rebuild_gives_what_the_triggers_kept(conn: Connection) -> None:
    conn.execute(text(_COPY), {"days": 5, "status": "dispatched", "n": 40})
    kept = [rows(conn, q) for q in (_CUBE, _GRID, _DUE)]
    assert kept[2], "no open case with a due time: the due table would prove nothing"
    conn.execute(text("SELECT gisgrid_rollup_rebuild()"))
    assert [rows(conn, q) for q in (_CUBE, _GRID, _DUE)] == kept
    assert_rollup_matches(conn)


_RAW_OVERDUE = """
SELECT count(*) FROM incidents
WHERE status NOT IN ('closed', 'rejected') AND due_at < now() AND grid_id = :g
  AND left(category, 2) NOT IN ('03', '04')
"""
_ROLLUP_OVERDUE = """
SELECT COALESCE(sum(overdue), 0) FROM gisgrid_rollup_grids(gisgrid_tile_parse('{}'), ARRAY[:g])
"""


def test_a_due_time_passing_turns_a_case_overdue_without_a_write(store: Engine) -> None:
    with store.begin() as c:
        g, cat = c.execute(
            text(
                "SELECT grid_id, category FROM incidents WHERE grid_id IS NOT NULL"
                " AND left(category, 2) NOT IN ('03', '04') LIMIT 1"
            )
        ).one()
        new = c.execute(
            text(
                "INSERT INTO incidents (category, description, reported_at, status, due_at,"
                " grid_id, geom) SELECT :cat, 'due soon', now() - interval '1 day', 'reported',"
                " clock_timestamp() + interval '1.5 seconds', :g, geom FROM incidents"
                " WHERE grid_id = :g LIMIT 1 RETURNING id"
            ),
            {"cat": cat, "g": g},
        ).scalar_one()
    try:
        with store.connect() as c:
            before = c.execute(text(_ROLLUP_OVERDUE), {"g": g}).scalar_one()
            assert before == c.execute(text(_RAW_OVERDUE), {"g": g}).scalar_one()
            cube = rows(c, _CUBE)
            c.rollback()
        time.sleep(2.0)
        with store.connect() as c:
            after = c.execute(text(_ROLLUP_OVERDUE), {"g": g}).scalar_one()
            assert after == before + 1
            assert after == c.execute(text(_RAW_OVERDUE), {"g": g}).scalar_one()
            assert rows(c, _CUBE) == cube  # nothing was written
            c.rollback()
    finally:
        with store.begin() as c:
            c.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": new})


_OLD_GRID = """
SELECT COALESCE(grid_id, 0), left(category, 2) IN ('03', '04'),
       CASE WHEN status NOT IN ('closed', 'rejected') AND due_at IS NOT NULL
            THEN date_trunc('hour', due_at, 'UTC') ELSE 'infinity' END::text,
       count(*)::integer, count(*) FILTER (WHERE status NOT IN ('closed', 'rejected'))::integer
FROM incidents GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def test_migration_0014_reshapes_a_filled_rollup_both_ways(store: Engine) -> None:
    # last in the module: it takes the module's store down to 0013 and back up to head
    url = store.url.render_as_string(hide_password=False)
    with store.begin() as c:
        c.execute(text(_COPY), {"days": 9, "status": "accepted", "n": 30})
    store.dispose()
    migrate_down(url, "0013_rollup")
    with store.connect() as c:
        old = "SELECT grid_id, sensitive, due_hour::text, n, open FROM incident_rollup_grid"
        assert rows(c, old + " ORDER BY 1, 2, 3") == rows(c, _OLD_GRID)
        assert c.execute(text("SELECT to_regclass('incident_rollup_due')")).scalar() is None
        c.rollback()
    store.dispose()
    migrate_to_head(url)
    with store.connect() as c:
        assert_rollup_matches(c)
        c.rollback()
    # and the triggers are back: a write is counted
    with store.connect() as c:
        c.execute(text(_COPY), {"days": 11, "status": "reported", "n": 3})
        assert_rollup_matches(c)
        c.rollback()
