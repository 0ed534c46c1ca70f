from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from gisgrid.errors import ClusterError
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster, find_pg_bin_dir


def _postgis_version(c: Cluster) -> str:
    with psycopg.connect(c.libpq_url()) as conn:
        row = conn.execute("SELECT postgis_lib_version()").fetchone()
    assert row is not None
    return str(row[0])


def test_bin_dir_has_postgis() -> None:
    bin_dir = find_pg_bin_dir()
    major = bin_dir.parent.name
    assert (bin_dir / "pg_ctl").exists()
    assert Path(f"/usr/share/postgresql/{major}/extension/postgis.control").exists()


def test_explicit_bin_dir_without_pg_ctl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no pg_ctl") as info:
        find_pg_bin_dir(tmp_path)
    assert info.value.field == "pg_bin_dir"


def test_up_twice_is_harmless(spare_cluster: Cluster) -> None:
    first = spare_cluster.up()
    pid = spare_cluster.running_pid()
    second = spare_cluster.up()
    assert first["initialised"] is True
    assert first["functions_installed"] == [
        "assign_store",
        "rollup",
        "tiles",
        "tile_dirty",
        "partitions",
    ]
    assert second == {
        "initialised": False,
        "was_running": True,
        "database_created": False,
        "functions_installed": [],  # the function files are the ones the store runs
    }
    assert spare_cluster.running_pid() == pid
    assert _postgis_version(spare_cluster).startswith("3.")


def test_down_then_up_keeps_data(spare_cluster: Cluster) -> None:
    spare_cluster.up()
    with psycopg.connect(spare_cluster.libpq_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS keep_me (x int)")
        conn.execute("INSERT INTO keep_me VALUES (42)")
    assert spare_cluster.down() is True
    assert spare_cluster.running_pid() is None
    assert spare_cluster.down() is False
    status = spare_cluster.status()
    assert status["running"] is False and status["initialised"] is True
    spare_cluster.up()
    with psycopg.connect(spare_cluster.libpq_url()) as conn:
        assert conn.execute("SELECT max(x) FROM keep_me").fetchone() == (42,)


def test_up_after_a_crash_recovers(spare_cluster: Cluster) -> None:
    spare_cluster.up()
    old = spare_cluster.running_pid()
    spare_cluster.kill()
    pidfile = spare_cluster.pgdata / "postmaster.pid"
    assert pidfile.exists(), "a killed postmaster leaves its pid file behind"
    info = spare_cluster.up()
    assert info["was_running"] is False
    assert spare_cluster.running_pid() not in (None, old)
    assert _postgis_version(spare_cluster).startswith("3.")


def test_status_says_what_runs_where(spare_cluster: Cluster) -> None:
    spare_cluster.up()
    s = spare_cluster.status()
    assert s["running"] is True
    assert s["socket"] == str(spare_cluster.socket_dir / f".s.PGSQL.{spare_cluster.port}")
    assert Path(str(s["socket"])).is_socket()
    assert str(s["url"]).startswith("postgresql://")


@pytest.mark.skipif(os.geteuid() != 0, reason="the postgres-user path is taken only as root")
def test_server_runs_as_postgres_user_when_root(spare_cluster: Cluster) -> None:
    spare_cluster.up()
    pid = spare_cluster.running_pid()
    assert pid is not None
    uid = os.stat(f"/proc/{pid}").st_uid
    import pwd

    assert pwd.getpwuid(uid).pw_name == "postgres"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root meets an unreachable folder")
def test_unreachable_folder_moves_the_cluster(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    os.chmod(secret, 0o700)
    c = Cluster.from_settings(Settings(data_dir=secret / ".gisgrid"))
    assert c.moved
    assert str(c.base).startswith("/var/tmp/gisgrid-")
    # The same folder always maps to the same place, so `up` after `up` finds its data.
    again = Cluster.from_settings(Settings(data_dir=secret / ".gisgrid"))
    assert again.base == c.base


def test_cli_up_url_psql_down(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The README's promise: `gisgrid db up`, then psql on `gisgrid db url`."""
    base = Path(
        subprocess.check_output(["mktemp", "-d", "/tmp/gisgrid-cli-XXXX"], text=True).strip()
    )
    env = {**os.environ, "GISGRID_DATA_DIR": str(base), "GISGRID_DB_PORT": "55499"}
    exe = shutil.which("gisgrid") or str(Path(os.sys.executable).parent / "gisgrid")
    try:
        up = subprocess.run([exe, "db", "up"], env=env, capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        assert "new cluster" in up.stdout
        again = subprocess.run([exe, "db", "up"], env=env, capture_output=True, text=True)
        assert again.returncode == 0 and "already running" in again.stdout
        url = subprocess.check_output([exe, "db", "url"], env=env, text=True).strip()
        out = subprocess.run(
            ["psql", url, "-tAc", "select postgis_lib_version()"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().startswith("3.")
        status = subprocess.run(
            [exe, "db", "status", "--json"], env=env, capture_output=True, text=True
        )
        assert status.returncode == 0 and '"running": true' in status.stdout
        down = subprocess.run([exe, "db", "down"], env=env, capture_output=True, text=True)
        assert down.returncode == 0 and "stopped" in down.stdout
        stopped = subprocess.run([exe, "db", "status"], env=env, capture_output=True, text=True)
        assert stopped.returncode == 3
    finally:
        subprocess.run([exe, "db", "down"], env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
