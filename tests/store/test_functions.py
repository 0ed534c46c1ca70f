"""The repeatable step: ``gisgrid db up`` brings a store's functions to the code in hand."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.sql import load_sql
from gisgrid.store.cluster import Cluster
from gisgrid.store.functions import FUNCTION_FILES
from gisgrid.store.migrate import migrate_down, migrate_to_head
from tests.support import scratch_engine

SHA = {f.name: f.sha256 for f in FUNCTION_FILES}

# A store migrated while tiles.sql was older: one tile function with another body, one that
# returned another type (CREATE OR REPLACE cannot change that), one the file no longer makes,
# and the checksum of that older text.
OLDER_TILES = """
CREATE OR REPLACE FUNCTION gisgrid_tile_areas(
    lvl text, layer text, z integer, x integer, y integer, query_params json
) RETURNS bytea LANGUAGE sql STABLE AS $$ SELECT ''::bytea $$;
DROP FUNCTION gisgrid_tile_versions();
CREATE FUNCTION gisgrid_tile_versions() RETURNS TABLE (layer varchar, version bigint)
LANGUAGE sql STABLE AS $$ SELECT v.layer, v.version FROM tile_versions v $$;
CREATE FUNCTION gisgrid_tile_retired(z integer, x integer, y integer, query_params json)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT ''::bytea $$;
UPDATE gisgrid_sql_state SET sha256 = repeat('0', 64) WHERE name = 'tiles';
"""


@pytest.fixture()
def store(cluster: Cluster) -> Iterator[Engine]:
    """A fresh database migrated to head."""
    with scratch_engine(cluster, "functions_scratch") as engine:
        yield engine


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _db_up(engine: Engine) -> str:
    """``gisgrid db up`` against the database, as an external GISGRID_DATABASE_URL."""
    result = CliRunner().invoke(app, ["db", "up"], env={"GISGRID_DATABASE_URL": _url(engine)})
    assert result.exit_code == 0, result.output
    return result.output


def _state(engine: Engine) -> dict[str, tuple[str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, sha256, installed_at FROM gisgrid_sql_state"))
        return {r.name: (r.sha256, r.installed_at) for r in rows}


def _functions(engine: Engine) -> dict[str, int]:
    """Every gisgrid function, by signature, with its oid (a new oid: dropped and made again)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.oid::regprocedure::text, p.oid::bigint FROM pg_proc p"
                " WHERE p.proname LIKE 'gisgrid\\_%'"
            )
        )
        return {str(sig): int(oid) for sig, oid in rows}


def _source(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}
            ).scalar_one()
        )


def test_a_store_migrated_with_an_older_tiles_sql_gets_the_current_functions(
    store: Engine,
) -> None:
    before = _state(store)
    with store.begin() as conn:
        conn.connection.driver_connection.execute(OLDER_TILES)  # type: ignore[union-attr]
    assert _source(store, "gisgrid_tile_areas") not in load_sql("tiles")

    out = _db_up(store)

    assert "tiles.sql" in out and "assign_store.sql" not in out
    # every function is the current file's text again, with the file's return types
    current = load_sql("tiles")
    for name in ("gisgrid_tile_areas", "gisgrid_tile_versions", "gisgrid_tile_grids"):
        assert _source(store, name) in current, name
    with store.connect() as conn:
        versions = dict(conn.execute(text("SELECT * FROM gisgrid_tile_versions()")).all())
        kind = conn.execute(
            text("SELECT pg_typeof(layer)::text FROM gisgrid_tile_versions() LIMIT 1")
        ).scalar_one()
    assert "overdue" in versions and kind == "text"
    assert not any("gisgrid_tile_retired" in sig for sig in _functions(store))
    # only the changed file was installed again, and its checksum recorded
    after = _state(store)
    assert after["tiles"][0] == SHA["tiles"] and after["tiles"][1] > before["tiles"][1]
    assert after["assign_store"] == before["assign_store"]


def test_a_second_run_changes_nothing(store: Engine) -> None:
    state, functions = _state(store), _functions(store)
    assert {name: sha for name, (sha, _) in state.items()} == SHA

    assert migrate_to_head(_url(store)) == []
    _db_up(store)

    assert _state(store) == state
    assert _functions(store) == functions  # same oids: nothing dropped and made again


def test_two_processes_migrating_at_once_take_turns(cluster: Cluster) -> None:
    with scratch_engine(cluster, "functions_race", migrate=False) as engine:
        script = (
            "import json, sys; from gisgrid.store.migrate import migrate_to_head; "
            "print(json.dumps(migrate_to_head(sys.argv[1])))"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, _url(engine)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                for p in procs:
                    p.kill()
                raise
            assert proc.returncode == 0, err[-2000:]
            outs.append(json.loads(out.splitlines()[-1]))
        # the first installs both files; the second waits, then finds nothing to do
        assert sorted(outs) == [[], [f.name for f in FUNCTION_FILES]]


def test_down_forgets_the_checksums_and_up_installs_again(store: Engine) -> None:
    url = _url(store)
    migrate_down(url, "0004")
    with store.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('gisgrid_sql_state')")).scalar() is None
    assert migrate_to_head(url) == [f.name for f in FUNCTION_FILES]
    assert {name: sha for name, (sha, _) in _state(store).items()} == SHA

    migrate_down(url, "base")
    assert _functions(store) == {}
    with store.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_type WHERE typname LIKE 'gisgrid\\_%'")
        ).scalar_one()
    assert left == 0  # the tile params type, the lineage view, the checksum table
    migrate_to_head(url)
    assert {name: sha for name, (sha, _) in _state(store).items()} == SHA
