"""A streaming replica of the local cluster: ``gisgrid db replica up|down|status``.

The replica lives in ``<data_dir>/replica`` (its own ``pgdata``, socket folder ``run`` and
``log``), listens on ``db_port + 1`` unless ``replica_port`` says otherwise, and runs as the
same system user as the primary. It is made once with ``pg_basebackup -R`` over the primary's
Unix socket, with a physical replication slot (``gisgrid_replica_<port>``), so the primary
keeps the WAL a stopped replica still needs: ``down`` stops it and keeps the slot (it catches
up when it comes back); ``down --remove`` deletes the replica and drops the slot.

The primary needs nothing gisgrid does not already give it: PostgreSQL's defaults
(``wal_level = replica``, ``max_wal_senders = 10``) and initdb's ``local replication all
trust`` line in ``pg_hba.conf``. :func:`replica_up` checks the first two and says what to
change if another server was configured otherwise.

Examples
--------
>>> from pathlib import Path
>>> from gisgrid.store.cluster import Cluster
>>> r = replica_of(Cluster(Path("/tmp/gg-doc"), port=5460))
>>> r.base, r.port, r.socket_dir
(PosixPath('/tmp/gg-doc/replica'), 5461, PosixPath('/tmp/gg-doc/replica/run'))
>>> slot_name(r)
'gisgrid_replica_5461'
"""

from __future__ import annotations

import shutil

from gisgrid.errors import ClusterError, InvalidInput
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster

REPLICA_DIR = "replica"


def replica_of(primary: Cluster, port: int | None = None) -> Cluster:
    """The replica cluster of ``primary`` (under ``<base>/replica``, on ``port`` or the
    primary's port + 1); nothing is started or made."""
    return Cluster(
        base=primary.base / REPLICA_DIR,
        port=port if port is not None else primary.port + 1,
        db_name=primary.db_name,
        db_user=primary.db_user,
        listen_tcp=primary.listen_tcp,
        bin_dir=primary.bin_dir,
        server_user=primary.server_user,
    )


def slot_name(replica: Cluster) -> str:
    """The primary's replication slot that keeps this replica's WAL."""
    return f"gisgrid_replica_{replica.port}"


def local_replica(settings: Settings) -> tuple[Cluster, Cluster]:
    """The local cluster the settings name and its replica, as (primary, replica)."""
    if settings.database_url:
        raise InvalidInput(
            "a replica is made only of the local cluster; with GISGRID_DATABASE_URL set, run"
            " the replica yourself and set GISGRID_READ_REPLICA_URL",
            field="database_url",
        )
    primary = Cluster.from_settings(settings)
    return primary, replica_of(primary, settings.replica_port)


def replica_url(settings: Settings) -> str | None:
    """The SQLAlchemy URL that tiles and analytics read from: GISGRID_READ_REPLICA_URL, or
    the local replica's socket with GISGRID_USE_REPLICA, or None (everything on the primary).

    Examples
    --------
    >>> replica_url(Settings(_env_file=None)) is None
    True
    >>> replica_url(Settings(read_replica_url="postgresql://u@h/db", _env_file=None))
    'postgresql+psycopg://u@h/db'
    >>> from pathlib import Path
    >>> s = Settings(use_replica=True, data_dir=Path("/tmp/gg-doc"), db_port=5460, _env_file=None)
    >>> replica_url(s)
    'postgresql+psycopg://postgres@/gisgrid?host=%2Ftmp%2Fgg-doc%2Freplica%2Frun&port=5461'
    """
    if settings.read_replica_url:
        url = settings.read_replica_url
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    if not settings.use_replica:
        return None
    return local_replica(settings)[1].url()


def _check_primary(primary: Cluster) -> None:
    """The primary runs and can stream WAL (wal_level and max_wal_senders)."""
    import psycopg

    if primary.running_pid() is None:
        raise ClusterError(
            f"the primary in {primary.pgdata} is not running; start it first (gisgrid db up)",
            field="primary",
        )
    with psycopg.connect(primary.libpq_url("postgres"), autocommit=True) as conn:
        level = conn.execute("SHOW wal_level").fetchone()
        senders = conn.execute("SHOW max_wal_senders").fetchone()
    if level is None or level[0] not in ("replica", "logical"):
        raise ClusterError(
            f"the primary has wal_level={level[0] if level else None!r}; a replica needs"
            " 'replica' or 'logical' (ALTER SYSTEM SET wal_level = 'replica', then restart)",
            field="wal_level",
        )
    if senders is None or int(senders[0]) < 1:
        raise ClusterError(
            "the primary has max_wal_senders=0; a replica needs at least 1"
            " (ALTER SYSTEM SET max_wal_senders = 10, then restart)",
            field="max_wal_senders",
        )


def _drop_slot(primary: Cluster, slot: str) -> bool:
    """Drop the replication slot if the primary runs and has it; returns whether dropped."""
    import psycopg

    if primary.running_pid() is None:
        return False
    with psycopg.connect(primary.libpq_url("postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s AND NOT active",
            (slot,),
        ).fetchone()
    return row is not None


def _base_backup(primary: Cluster, replica: Cluster) -> None:
    """pg_basebackup -R of the primary into the replica's pgdata, then the replica's own
    port and socket folder (the copied postgresql.auto.conf names the primary's)."""
    replica._prepare_dirs()
    _drop_slot(primary, slot_name(replica))  # left behind by a replica removed by hand
    replica._run(
        [
            replica._bin("pg_basebackup"),
            "-D",
            str(replica.pgdata),
            "-h",
            str(primary.socket_dir),
            "-p",
            str(primary.port),
            "-U",
            primary.db_user,
            "-R",  # standby.signal and primary_conninfo
            "-X",
            "stream",
            "-c",
            "fast",
            "-C",
            "-S",
            slot_name(replica),
        ]
    )
    with (replica.pgdata / "postgresql.auto.conf").open("a") as fh:
        fh.write(
            "\n# written by gisgrid.store.replica (after the primary's settings, so these win)\n"
            f"unix_socket_directories = '{replica.socket_dir}'\n"
            f"port = {replica.port}\n"
            f"listen_addresses = '{'127.0.0.1' if replica.listen_tcp else ''}'\n"
            "hot_standby = on\n"
            # tile and analysis reads run for seconds: without feedback, the primary's vacuum
            # may remove rows they still see and the replica cancels them
            "hot_standby_feedback = on\n"
        )


def replica_up(primary: Cluster, replica: Cluster) -> dict[str, object]:
    """Make the replica if it does not exist (pg_basebackup from the running primary), start
    it, and wait until it accepts connections. Idempotent."""
    made = False
    if not replica.initialised:
        _check_primary(primary)
        if replica.pgdata.exists():  # a base backup that failed half way
            shutil.rmtree(replica.pgdata)
        _base_backup(primary, replica)
        made = True
    was_running = replica.running_pid() is not None
    replica.start()
    return {"made": made, "was_running": was_running, "url": replica.libpq_url()}


def replica_down(primary: Cluster, replica: Cluster, remove: bool = False) -> dict[str, object]:
    """Stop the replica; with ``remove``, delete its folder and drop its replication slot on
    the primary (else the primary keeps WAL for it until it comes back)."""
    stopped = replica.stop()
    dropped = False
    if remove:
        shutil.rmtree(replica.base, ignore_errors=True)
        dropped = _drop_slot(primary, slot_name(replica))
    return {"stopped": stopped, "removed": remove, "slot_dropped": dropped}


def replica_status(primary: Cluster, replica: Cluster) -> dict[str, object]:
    """Where the replica is, whether it runs and replays, and how far it is behind the
    primary (bytes of WAL not yet replayed, and the primary's own measure of replay lag)."""
    import psycopg

    status: dict[str, object] = {
        "base": str(replica.base),
        "initialised": replica.initialised,
        "running": replica.running_pid() is not None,
        "pid": replica.running_pid(),
        "port": replica.port,
        "url": replica.libpq_url(),
        "slot": slot_name(replica),
        "log": str(replica.logfile),
    }
    if status["running"]:
        with psycopg.connect(replica.libpq_url("postgres"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
            ).fetchone()
        assert row is not None
        status["in_recovery"], status["replay_lsn"] = row
    if primary.running_pid() is not None:
        with psycopg.connect(primary.libpq_url("postgres"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_current_wal_lsn()::text, s.state,"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), s.replay_lsn)::bigint,"
                " extract(epoch FROM s.replay_lag)::float8"
                " FROM (SELECT 1) AS one LEFT JOIN pg_stat_replication s"
                " ON s.pid = (SELECT r.active_pid FROM pg_replication_slots r"
                "             WHERE r.slot_name = %s)",
                (slot_name(replica),),
            ).fetchone()
        assert row is not None
        status["primary_lsn"], status["streaming"], status["lag_bytes"], status["lag_s"] = row
        status["streaming"] = status["streaming"] == "streaming"
    return status
