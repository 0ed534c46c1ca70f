"""The ``gisgrid`` command (Typer + rich): the library's commands. ``gisgrid serve`` belongs to
the web layer and is added by :mod:`api.cli`, the console script's entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli import accounts as cli_accounts
from gisgrid.cli import assign as cli_assign
from gisgrid.cli import counted_bar
from gisgrid.cli import demo as cli_demo
from gisgrid.cli import hotspots as cli_hotspots
from gisgrid.cli import incidents as cli_incidents
from gisgrid.cli import io as cli_io
from gisgrid.cli import plans as cli_plans
from gisgrid.cli import replica as cli_replica
from gisgrid.cli import tiles as cli_tiles
from gisgrid.errors import GisgridError
from gisgrid.settings import Settings, get_settings

app = typer.Typer(help="gisgrid: GIS for city grid management.", no_args_is_help=True)
db_app = typer.Typer(help="The local PostGIS cluster (or the server GISGRID_DATABASE_URL names).")
app.add_typer(db_app, name="db")

console = Console(soft_wrap=True)
err = Console(stderr=True)


def _settings() -> Settings:
    return get_settings()


def _fail(exc: GisgridError) -> None:
    err.print(f"[bold red]error[/]: {exc}")
    raise typer.Exit(code=1)


@db_app.command("up")
def db_up() -> None:
    """Init (if needed), start, create the database and PostGIS, migrate, and install the
    function SQL whose text changed. Idempotent."""
    from gisgrid.store.cluster import Cluster, database_url
    from gisgrid.store.migrate import migrate_to_head

    settings = _settings()
    try:
        if settings.database_url:
            installed = migrate_to_head(database_url(settings))
            console.print("external database: migrated to head")
            _print_installed(installed)
            return
        cluster = Cluster.from_settings(settings)
        if cluster.moved:
            console.print(
                f"[yellow]note[/]: the server user {cluster.server_user!r} cannot reach "
                f"{settings.data_path}; the cluster lives in {cluster.base}"
            )
        with console.status("starting PostGIS and migrating..."):
            info = cluster.up()
    except GisgridError as exc:
        _fail(exc)
    state = "started" if not info["was_running"] else "already running"
    made = " (new cluster)" if info["initialised"] else ""
    console.print(f"PostGIS {state}{made}: {cluster.libpq_url()}")
    _print_installed(cast(list[str], info["functions_installed"]))


def _print_installed(names: list[str]) -> None:
    if names:
        files = ", ".join(f"{n}.sql" for n in names)
        console.print(f"function SQL installed (new or changed since the last run): {files}")


@db_app.command("down")
def db_down() -> None:
    """Stop the local cluster."""
    from gisgrid.store.cluster import Cluster

    try:
        stopped = Cluster.from_settings(_settings()).down()
    except GisgridError as exc:
        _fail(exc)
    console.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What runs where."""
    from gisgrid.store.cluster import Cluster, database_url
    from gisgrid.store.engine import make_engine, postgis_info

    settings = _settings()
    status: dict[str, object]
    if settings.database_url:
        status = {"external": True, "url": database_url(settings)}
        running = True
    else:
        status = Cluster.from_settings(settings).status()
        running = bool(status["running"])
    if running:
        engine = make_engine(settings)
        try:
            status.update(postgis_info(engine))
        except GisgridError as exc:
            status["error"] = str(exc)
        finally:
            engine.dispose()
    if as_json:
        print(json.dumps(status, indent=2))
        return
    table = Table(show_header=False)
    for k, v in status.items():
        table.add_row(k, str(v))
    console.print(table)
    if not running:
        raise typer.Exit(code=3)


@db_app.command("url")
def db_url(
    sqlalchemy: Annotated[bool, typer.Option(help="SQLAlchemy form (postgresql+psycopg).")] = False,
) -> None:
    """Print the connection URL (libpq form, for psql)."""
    from gisgrid.store.cluster import Cluster, database_url

    settings = _settings()
    if settings.database_url:
        url = database_url(settings)
        print(url if sqlalchemy else url.replace("postgresql+psycopg://", "postgresql://"))
        return
    cluster = Cluster.from_settings(settings)
    print(cluster.url() if sqlalchemy else cluster.libpq_url())


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Stop the local cluster, delete its data (and its replica's), and bring it up empty."""
    from gisgrid.store.cluster import Cluster

    settings = _settings()
    if settings.database_url:
        _fail(GisgridError("reset works only on the local cluster", field="database_url"))
    cluster = Cluster.from_settings(settings)
    if not yes and not typer.confirm(f"delete every row in {cluster.pgdata}?"):
        raise typer.Exit(code=1)
    try:
        # a replica of the old cluster could never follow the new one (another system id)
        from gisgrid.store.replica import replica_down, replica_of

        replica_down(cluster, replica_of(cluster, settings.replica_port), remove=True)
        cluster.reset()
        cluster.up()
    except GisgridError as exc:
        _fail(exc)
    console.print(f"reset: {cluster.libpq_url()}")


def _running_store(settings: Settings) -> None:
    """Start the local cluster (and make its database) if it is not running; no migration:
    a backup takes the store as it is, a restore brings its own schema."""
    from gisgrid.store.cluster import Cluster

    if not settings.database_url:
        Cluster.from_settings(settings).up(migrate=False)


@db_app.command("cluster")
def db_cluster(
    again: Annotated[
        bool, typer.Option("--again", help="Also the months clustered before.")
    ] = False,
    grace_days: Annotated[
        int, typer.Option(min=0, help="A month is done once it has been over this many days.")
    ] = 7,
) -> None:
    """Rewrite each month of incidents that has ended in spatial order (CLUSTER on its GiST
    index), so a map tile reads a few pages instead of one a row. Each month is locked while
    it is rewritten (seconds): run it at a quiet hour."""
    from datetime import timedelta

    from gisgrid.store.engine import make_engine
    from gisgrid.store.partitions import cluster_months

    settings = _settings()
    try:
        _running_store(settings)
        engine = make_engine(settings)
        try:
            with counted_bar(console) as bar:
                task = bar.add_task("months", total=None)

                def step(part: str, done: int, total: int) -> None:
                    bar.update(task, description=part or "months", completed=done, total=total)

                done = cluster_months(
                    engine, grace=timedelta(days=grace_days), again=again, progress=step
                )
        finally:
            engine.dispose()
    except GisgridError as exc:
        _fail(exc)
    if not done:
        console.print("nothing to do: every month that has ended is clustered")
        return
    rows = sum(c.rows for c in done)
    secs = sum(c.seconds for c in done)
    console.print(f"clustered {len(done)} months, {rows:,} incidents, in {secs:.1f} s")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (pg_dump -Fc).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Dump the store to FILE in pg_dump's custom format (read back before it is kept)."""
    from gisgrid.store.backup import backup_store
    from gisgrid.store.cluster import database_url

    settings = _settings()
    try:
        _running_store(settings)
        with console.status("pg_dump ..."):
            report = backup_store(
                database_url(settings), file, overwrite=force, bin_dir=settings.pg_bin_dir
            )
    except GisgridError as exc:
        _fail(exc)
    console.print(
        f"backup of {report.tables} tables ({report.bytes:,} bytes) in {report.seconds:.1f} s: "
        f"{report.path}"
    )


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup made by `gisgrid db backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that holds rows.")
    ] = False,
) -> None:
    """Replace the store's contents with a backup (all or nothing), then migrate to head."""
    from gisgrid.store.backup import restore_store
    from gisgrid.store.cluster import database_url
    from gisgrid.store.engine import make_engine, table_counts
    from gisgrid.store.migrate import migrate_to_head

    settings = _settings()
    try:
        _running_store(settings)
        engine = make_engine(settings)
        try:
            with console.status("pg_restore ..."):
                report = restore_store(engine, file, force=force, bin_dir=settings.pg_bin_dir)
            migrate_to_head(database_url(settings))
            counts = table_counts(engine)
        finally:
            engine.dispose()
    except GisgridError as exc:
        _fail(exc)
    replaced = f", replacing {report.rows_before:,} rows" if report.rows_before else ""
    console.print(f"restored {report.tables} tables from {report.path}{replaced}; migrated")
    console.print(", ".join(f"{t} {n:,}" for t, n in counts.items()))


@app.command()
def version() -> None:
    """Print the gisgrid version."""
    from gisgrid import __version__

    print(__version__)


cli_demo.register(app)
cli_io.register(app)
cli_assign.register(app)
cli_accounts.register(app)
cli_tiles.register(app)
cli_hotspots.register(app)
cli_incidents.register(app)
cli_plans.register(app)
cli_replica.register(db_app)


def main() -> None:
    try:
        app()
    except GisgridError as exc:
        err.print(f"[bold red]error[/]: {exc}")
        sys.exit(1)
