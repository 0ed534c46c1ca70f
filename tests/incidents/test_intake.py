"""Field intake: idempotent reports, photos, resolved on the spot, support of a case."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.evaluation import incident_rates
from gisgrid.assign.index import GridIndex
from gisgrid.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gisgrid.incidents import intake
from gisgrid.incidents.workflow import act, events, get_incident
from gisgrid.settings import Settings
from tests.incidents.field_support import photo_settings, stored_photo
from tests.incidents.support import CATEGORY, Beat, beat, caller

DB = "intake_scratch"


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return photo_settings(Path(tmp_path_factory.mktemp("photos")))


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def send(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings, **kw: object
) -> intake.Intake:
    args: dict[str, object] = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, **kw}
    return intake.report(conn, caller(conn, here.worker), index, settings, **args)  # type: ignore[arg-type]


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def count(conn: Connection, key: str) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM incidents WHERE idempotency_key = :k"), {"k": key}
        ).scalar_one()
    )


def test_the_same_key_returns_the_first_case(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    key = str(uuid.uuid4())
    first = send(conn, index, here, settings, idempotency_key=key, description="gate")
    again = send(conn, index, here, settings, idempotency_key=key, description="gate")
    assert first.created and not again.created
    assert again.incident.id == first.incident.id
    assert count(conn, key) == 1
    other = send(conn, index, here, settings, idempotency_key=str(uuid.uuid4()))
    assert other.created and other.incident.id != first.incident.id


def test_two_sends_of_one_key_at_once_make_one_case(
    store: Engine, index: GridIndex, here: Beat, settings: Settings
) -> None:
    """Both pass the lookup before either commits: the unique index decides, the loser
    returns the winner's case."""
    key = str(uuid.uuid4())
    barrier = threading.Barrier(2)
    got: list[intake.Intake | BaseException] = []

    def one() -> None:
        try:
            with store.begin() as c:
                me = caller(c, here.worker)
                barrier.wait()
                got.append(
                    intake.report(
                        c,
                        me,
                        index,
                        settings,
                        lon=here.lon,
                        lat=here.lat,
                        category=CATEGORY,
                        idempotency_key=key,
                    )
                )
        except BaseException as exc:
            got.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert all(isinstance(g, intake.Intake) for g in got), got
        results = [g for g in got if isinstance(g, intake.Intake)]
        assert sorted(r.created for r in results) == [False, True]
        assert len({r.incident.id for r in results}) == 1
        with store.connect() as c:
            assert count(c, key) == 1
    finally:
        with store.begin() as c:
            c.execute(text("DELETE FROM incidents WHERE idempotency_key = :k"), {"k": key})


def test_photos_must_be_stored(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    sha = stored_photo(settings)
    inc = send(conn, index, here, settings, photos=[sha, sha]).incident
    assert conn.execute(
        text("SELECT photos FROM incidents WHERE id = :i"), {"i": inc.id}
    ).scalar_one() == [sha]
    with pytest.raises(InvalidInput) as err:
        send(conn, index, here, settings, photos=["0" * 64])
    assert err.value.field == "photos"


def test_resolved_on_spot_is_closed_at_once_and_counted_apart(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    sha = stored_photo(settings)
    inc = send(conn, index, here, settings, photos=[sha], resolved_on_spot=True).incident
    assert (inc.status, inc.version) == ("closed", 2) and inc.closed_at is not None
    evs = events(conn, caller(conn, here.worker), inc.id)
    assert [(e.from_status, e.to_status) for e in evs] == [
        (None, "reported"),
        ("reported", "closed"),
    ]
    assert evs[1].note == intake.ON_SPOT_NOTE
    [rates] = incident_rates(conn, Scope("grid", here.grid_id), "grid", None, None, soon())
    before = rates
    send(conn, index, here, settings, photos=[sha], resolved_on_spot=True)
    [rates] = incident_rates(conn, Scope("grid", here.grid_id), "grid", None, None, soon())
    assert rates.on_spot == before.on_spot + 1
    assert (rates.reported, rates.closed, rates.on_time) == (
        before.reported,
        before.closed,
        before.on_time,
    )


def test_resolved_on_spot_needs_a_photo_and_a_grid_worker(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    with pytest.raises(InvalidInput) as err:
        send(conn, index, here, settings, resolved_on_spot=True)
    assert err.value.field == "photos"
    community = conn.execute(
        text(
            "SELECT username FROM accounts WHERE role = 'community' AND scope_area_id ="
            " (SELECT parent_id FROM areas WHERE id = :g) LIMIT 1"
        ),
        {"g": here.grid_id},
    ).scalar_one_or_none()
    if community is None:
        pytest.skip("no community account above the worker's grid in the tiny city")
    sha = stored_photo(settings)
    with pytest.raises(PermissionDenied) as denied:
        intake.report(
            conn,
            caller(conn, community),
            index,
            settings,
            lon=here.lon,
            lat=here.lat,
            category=CATEGORY,
            photos=[sha],
            resolved_on_spot=True,
        )
    assert denied.value.field == "resolved_on_spot"
    # nothing half-written: no case was opened by either refusal
    assert (
        conn.execute(text("SELECT count(*) FROM incidents WHERE resolved_on_spot")).scalar_one()
        == 0
    )


def test_support_adds_an_event_and_leaves_the_case(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    inc = send(conn, index, here, settings).incident
    sha = stored_photo(settings, (10, 120, 10))
    me = caller(conn, here.worker)
    got = intake.support(conn, me, settings, inc.id, note="still broken", photos=[sha])
    assert got.supporters == 1
    after = get_incident(conn, me, inc.id)
    assert (after.status, after.version) == (inc.status, inc.version)
    last = events(conn, me, inc.id)[-1]
    assert (last.kind, last.from_status, last.to_status) == ("support", "reported", "reported")
    assert last.photos == (sha,) and last.note == "still broken"
    assert intake.support(conn, me, settings, inc.id, note="again").supporters == 2


def test_support_refusals(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    inc = send(conn, index, here, settings).incident
    me = caller(conn, here.worker)
    with pytest.raises(InvalidInput) as err:
        intake.support(conn, me, settings, inc.id)
    assert err.value.field == "note"
    with pytest.raises(NotFound):
        intake.support(conn, caller(conn, here.outsider), settings, inc.id, note="x")
    act(conn, caller(conn, here.street_centre), inc.id, "reject", 1, note="dup")
    with pytest.raises(Conflict):
        intake.support(conn, me, settings, inc.id, note="x")


def test_a_bad_key_is_refused_before_anything_is_written(
    conn: Connection, index: GridIndex, here: Beat, settings: Settings
) -> None:
    with pytest.raises(InvalidInput) as err:
        send(conn, index, here, settings, idempotency_key="has space")
    assert err.value.field == "idempotency_key"
