"""``gisgrid db backup`` / ``db restore``: a round trip gives every table back with the same
rows (count and checksum), a restore is all or nothing, and a store with rows is replaced
only when asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.errors import BackupError, Conflict, InvalidInput
from gisgrid.store.backup import backup_store, restore_store, store_rows, table_fingerprints
from gisgrid.store.cluster import Cluster
from gisgrid.store.migrate import current_revision
from tests.city_support import tiny_city
from tests.support import scratch_engine

SOURCE = "backup_source"


@pytest.fixture(scope="module")
def source(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, SOURCE) as engine:
        yield engine


@pytest.fixture(scope="module")
def dump(source: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "city.dump"
    report = backup_store(source.url.render_as_string(hide_password=False), path)
    assert report.tables >= 12 and report.bytes == path.stat().st_size
    return path


def test_a_round_trip_into_an_empty_database_gives_every_table_back(
    cluster: Cluster, source: Engine, dump: Path
) -> None:
    before = table_fingerprints(source)
    assert before["incidents"].rows > 0 and before["accounts"].rows > 0
    with scratch_engine(cluster, "backup_empty", migrate=False) as empty:
        report = restore_store(empty, dump)
        assert report.rows_before == 0
        after = table_fingerprints(empty)
        revision = current_revision(empty.url.render_as_string(hide_password=False))
    assert after == before  # every table, spatial_ref_sys and alembic_version included
    assert revision == current_revision(source.url.render_as_string(hide_password=False))


def test_a_freshly_migrated_store_counts_as_empty(
    cluster: Cluster, source: Engine, dump: Path
) -> None:
    with scratch_engine(cluster, "backup_migrated") as migrated:
        assert store_rows(migrated) == 0
        restore_store(migrated, dump)
        assert table_fingerprints(migrated) == table_fingerprints(source)


def test_a_store_with_rows_is_replaced_only_with_force(
    cluster: Cluster, source: Engine, dump: Path
) -> None:
    with tiny_city(cluster, "backup_full", seed=6) as other:
        mine = table_fingerprints(other)
        assert mine != table_fingerprints(source)
        with pytest.raises(Conflict) as info:
            restore_store(other, dump)
        assert info.value.field == "force"
        assert table_fingerprints(other) == mine
        restore_store(other, dump, force=True)
        assert table_fingerprints(other) == table_fingerprints(source)


def test_a_failed_restore_changes_nothing(cluster: Cluster, dump: Path, tmp_path: Path) -> None:
    with tiny_city(cluster, "backup_fail", seed=6) as other:
        # a table the archive does not know, holding on to PostGIS: the archive's
        # DROP EXTENSION fails inside the one transaction, after its tables were dropped
        with other.begin() as conn:
            conn.execute(text("CREATE TABLE local_notes (id int, geom geometry)"))
            conn.execute(text("INSERT INTO local_notes VALUES (1, 'POINT(126.6 45.7)')"))
        before = table_fingerprints(other)
        with pytest.raises(BackupError, match="nothing was changed"):
            restore_store(other, dump, force=True)
        assert table_fingerprints(other) == before
        not_a_dump = tmp_path / "notes.dump"
        not_a_dump.write_text("not an archive")
        with pytest.raises(InvalidInput) as info:
            restore_store(other, not_a_dump, force=True)
        assert info.value.field == "file"
        assert table_fingerprints(other) == before


def test_backup_never_overwrites_by_accident(source: Engine, dump: Path) -> None:
    url = source.url.render_as_string(hide_password=False)
    stamp = dump.stat().st_mtime_ns
    with pytest.raises(InvalidInput) as info:
        backup_store(url, dump)
    assert info.value.field == "file"
    assert dump.stat().st_mtime_ns == stamp
    with pytest.raises(BackupError):
        backup_store(url.replace(SOURCE, "no_such_database"), dump, overwrite=True)
    assert dump.stat().st_mtime_ns == stamp  # a failed dump leaves the old file whole
    assert not list(dump.parent.glob(".*partial*"))


def test_cli_backup_then_restore(
    cluster: Cluster,
    source: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    path = tmp_path / "cli.dump"
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname=SOURCE))
    made = runner.invoke(app, ["db", "backup", str(path)])
    assert made.exit_code == 0, made.output
    assert "backup of" in made.output and path.exists()
    with tiny_city(cluster, "backup_cli", seed=6) as target:
        monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname="backup_cli"))
        refused = runner.invoke(app, ["db", "restore", str(path)])
        assert refused.exit_code == 1 and "--force" in refused.output
        done = runner.invoke(app, ["db", "restore", str(path), "--force"])
        assert done.exit_code == 0, done.output
        assert "restored" in done.output and "migrated" in done.output
        assert table_fingerprints(target) == table_fingerprints(source)
    with psycopg.connect(cluster.libpq_url("postgres")) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'backup_cli'")
        assert left.fetchone() == (0,)
