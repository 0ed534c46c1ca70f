"""Incidents partitioned by city month (migration 0011): keys unique over every month, events
kept through a move and gone with their case, months made late take their rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError, NotSupportedError
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.store.partitions import cluster_months, months_to_cluster

POINT = "SRID=4326;POINT(126.6 45.75)"


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        yield c
        c.rollback()


def _first(conn: Connection) -> tuple[int, str]:
    row = conn.execute(text("SELECT id, code FROM incidents ORDER BY id LIMIT 1")).one()
    return int(row.id), str(row.code)


def _report(conn: Connection, at: str, **cols: object) -> int:
    names = ", ".join(["category", "reported_at", "geom", *cols])
    values = ", ".join([":cat", "CAST(:at AS timestamptz)", ":geom", *(f":{k}" for k in cols)])
    return int(
        conn.execute(
            text(f"INSERT INTO incidents ({names}) VALUES ({values}) RETURNING id"),
            {"cat": "0101", "at": at, "geom": POINT, **cols},
        ).scalar_one()
    )


def _partition_of(conn: Connection, incident_id: int) -> str:
    return str(
        conn.execute(
            text("SELECT tableoid::regclass::text FROM incidents WHERE id = :i"), {"i": incident_id}
        ).scalar_one()
    )


def _events(conn: Connection, incident_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM incident_events WHERE incident_id = :i"), {"i": incident_id}
        ).scalar_one()
    )


def test_every_row_is_in_its_city_months_partition(conn: Connection) -> None:
    kind = conn.execute(
        text("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'incidents'::regclass")
    ).scalar_one()
    assert kind == "r"
    misplaced = conn.execute(
        text(
            "SELECT count(*) FROM incidents WHERE tableoid::regclass::text <>"
            " 'incidents_p' || to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMM')"
        )
    ).scalar_one()
    assert misplaced == 0
    # local midnight of the 1st, not UTC's: 2026-03-01 00:30 in Harbin is February in UTC
    new = _report(conn, "2026-03-01T00:30:00+08:00")
    assert _partition_of(conn, new) == "incidents_p202603"


def test_an_id_is_unique_over_every_month(conn: Connection) -> None:
    first, _ = _first(conn)
    with pytest.raises(IntegrityError, match="pk_incidents"):
        _report(conn, "2026-06-15T12:00:00+08:00", id=first)


def test_a_code_is_unique_over_every_month(conn: Connection) -> None:
    _, code = _first(conn)
    with pytest.raises(IntegrityError, match="uq_incidents_code"):
        _report(conn, "2026-06-15T12:00:00+08:00", code=code)


def test_moving_a_case_to_another_month_keeps_its_keys_and_events(conn: Connection) -> None:
    first, code = _first(conn)
    before = _events(conn, first)
    assert before > 0
    month = _partition_of(conn, first)
    conn.execute(
        text("UPDATE incidents SET reported_at = reported_at - interval '40 days' WHERE id = :i"),
        {"i": first},
    )
    assert _partition_of(conn, first) != month
    assert _events(conn, first) == before
    keys = conn.execute(text("SELECT code FROM incident_keys WHERE id = :i"), {"i": first})
    assert keys.scalar_one() == code


def test_deleting_a_case_deletes_its_keys_and_events(conn: Connection) -> None:
    first, _ = _first(conn)
    conn.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": first})
    assert _events(conn, first) == 0
    keys = conn.execute(text("SELECT count(*) FROM incident_keys WHERE id = :i"), {"i": first})
    assert keys.scalar_one() == 0


def test_a_month_made_late_takes_its_rows_from_the_default(conn: Connection) -> None:
    late = _report(conn, "2031-01-15T12:00:00+08:00")
    conn.execute(
        text(
            "INSERT INTO incident_events (incident_id, from_status, to_status)"
            " VALUES (:i, NULL, 'reported')"
        ),
        {"i": late},
    )
    assert _partition_of(conn, late) == "incidents_default"
    made = conn.execute(
        text("SELECT gisgrid_incident_partitions('2030-12-20', '2031-01-20')")
    ).scalar_one()
    assert made == 2
    assert _partition_of(conn, late) == "incidents_p203101"
    assert _events(conn, late) == 1
    again = conn.execute(text("SELECT gisgrid_incident_partitions('2031-01-01', '2031-01-02')"))
    assert again.scalar_one() == 0


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {part} WHERE id = :i",
        "UPDATE {part} SET status = 'accepted' WHERE id = :i",
        "INSERT INTO {part} SELECT * FROM incidents WHERE id = :i",
    ],
)
def test_a_statement_naming_a_partition_is_refused(conn: Connection, statement: str) -> None:
    # the triggers that keep incident_keys, the rollup and the tile log are incidents' own
    # statement triggers: a write to one month's table directly would leave them wrong
    first, _ = _first(conn)
    part = _partition_of(conn, first)
    with pytest.raises(NotSupportedError, match=f'on the partition "{part}" of incidents'):
        conn.execute(text(statement.format(part=part)), {"i": first})
    conn.rollback()
    assert _partition_of(conn, first) == part


def test_writes_through_incidents_pass_the_guard(conn: Connection) -> None:
    first, _ = _first(conn)
    conn.execute(text("UPDATE incidents SET status = 'accepted' WHERE id = :i"), {"i": first})
    new = _report(conn, "2026-03-02T09:00:00+08:00")
    assert _partition_of(conn, new) == "incidents_p202603"
    # a month made later carries the guard too
    conn.execute(text("SELECT gisgrid_incident_partitions('2032-05-01', '2032-05-02')"))
    with pytest.raises(NotSupportedError, match="incidents_p203205"):
        conn.execute(text("DELETE FROM incidents_p203205"))


_ORDER = "SELECT id FROM {part} ORDER BY ctid"
_ROWS = "SELECT id, code, grid_id, status, ST_AsEWKB(geom) FROM incidents ORDER BY id"


def test_ended_months_are_rewritten_in_spatial_order_once(store: Engine) -> None:
    with store.connect() as c:
        before = c.execute(text(_ROWS)).all()
        months = months_to_cluster(c, datetime(2026, 12, 2, tzinfo=UTC))
        c.rollback()
    # the tiny city's year: November 2025 to October 2026 are over (by a week) on 2 December
    assert [m for m, _ in months] == [f"incidents_p{y}{m:02d}" for y, m in _YEAR]
    assert all(index.endswith("geom_idx") for _, index in months)
    part = months[3][0]
    with store.connect() as c:
        order_before = c.execute(text(_ORDER.format(part=part))).scalars().all()
        c.rollback()
    seen: list[tuple[str, int, int]] = []
    done = cluster_months(
        store, datetime(2026, 12, 2, tzinfo=UTC), progress=lambda p, k, n: seen.append((p, k, n))
    )
    assert [d.partition for d in done] == [m for m, _ in months]
    assert seen[-1] == ("", 12, 12) and seen[0] == (months[0][0], 0, 12)
    with store.connect() as c:
        # the same rows, in another physical order, marked as clustered
        assert c.execute(text(_ROWS)).all() == before
        order_after = c.execute(text(_ORDER.format(part=part))).scalars().all()
        assert sorted(order_after) == sorted(order_before) and order_after != order_before
        assert (
            sum(d.rows for d in done)
            == c.execute(
                text("SELECT count(*) FROM incidents WHERE reported_at < '2026-11-01+08'")
            ).scalar_one()
        )
        assert months_to_cluster(c, datetime(2026, 12, 2, tzinfo=UTC)) == []
        assert len(months_to_cluster(c, datetime(2026, 12, 2, tzinfo=UTC), again=True)) == 12
        c.rollback()
    assert cluster_months(store, datetime(2026, 12, 2, tzinfo=UTC)) == []


_YEAR = [(2025, 11), (2025, 12)] + [(2026, m) for m in range(1, 11)]


def test_cli_cluster(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # after the test above: every month that has ended is done
    monkeypatch.setenv("GISGRID_DATABASE_URL", store.url.render_as_string(hide_password=False))
    runner = CliRunner()
    none = runner.invoke(app, ["db", "cluster"])
    assert none.exit_code == 0, none.output
    assert "nothing to do" in none.output
    again = runner.invoke(app, ["db", "cluster", "--again", "--grace-days", "0"])
    assert again.exit_code == 0, again.output
    assert re.search(r"clustered 1[2-9] months, [\d,]+ incidents", again.output), again.output
    bad = runner.invoke(app, ["db", "cluster", "--grace-days", "-1"])
    assert bad.exit_code == 2 and "grace-days" in bad.output
