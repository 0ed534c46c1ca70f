"""``gisgrid incidents sweep``: escalates what is due at --now, once, and names a bad --now."""

from __future__ import annotations

from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.assign.index import GridIndex
from gisgrid.cli.main import app
from gisgrid.incidents.workflow import report
from gisgrid.times import parse_instant
from tests.incidents.support import CATEGORY, beat, caller

DB = "cli_incidents_scratch"  # its own copy of the tiny city (the sweep commits)
DUE = "2026-11-27T10:00:00+08:00"  # a Friday


def run(store: Engine, *args: str) -> object:
    env = {"GISGRID_DATABASE_URL": store.url.render_as_string(hide_password=False)}
    return CliRunner().invoke(app, ["incidents", "sweep", *args], env=env)


def test_sweep_escalates_what_is_due_once(store: Engine) -> None:
    here = beat(store)
    due = parse_instant(DUE, "due")
    with store.begin() as conn:
        conn.execute(text("DELETE FROM incidents"))  # only this test's case
        inc = report(
            conn,
            caller(conn, here.worker),
            GridIndex.from_areas(store),
            lon=here.lon,
            lat=here.lat,
            category=CATEGORY,
            reported_at=parse_instant("2026-11-26T10:00:00+08:00", "at"),
        )
        conn.execute(
            text("UPDATE incidents SET due_at = :d WHERE id = :id"), {"d": due, "id": inc.id}
        )
    early = run(store, "--now", "2026-11-30T09:00")  # Monday 09:00 city time: not a day yet
    assert early.exit_code == 0, early.output  # type: ignore[attr-defined]
    assert "nothing to escalate at 2026-11-30T09:00:00+08:00" in early.output  # type: ignore[attr-defined]

    swept = run(store, "--now", "2026-11-30T10:00")
    out = swept.output  # type: ignore[attr-defined]
    assert swept.exit_code == 0, out  # type: ignore[attr-defined]
    assert str(inc.id) in out and "1 working day overdue" in out
    assert "escalated 1 case (1 to district)" in out
    again = run(store, "--now", "2026-11-30T10:00")
    assert "nothing to escalate" in again.output  # type: ignore[attr-defined]
    with store.connect() as conn:
        level = conn.execute(
            text("SELECT escalation_level FROM incidents WHERE id = :id"), {"id": inc.id}
        ).scalar_one()
    assert level == "district"


def test_a_bad_now_is_named(store: Engine) -> None:
    result = run(store, "--now", "monday")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "now: now='monday'" in result.output  # type: ignore[attr-defined]
