"""``gisgrid load`` and ``gisgrid export``: the file commands, registered onto the main app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from gisgrid.cli import counted_bar
from gisgrid.errors import GisgridError, LoadError

console = Console(soft_wrap=True)
err = Console(stderr=True)

LAYER_HELP = "areas, buildings, households, places, units, incidents or visit_logs."


def _engine() -> Engine:
    """The store's engine; without GISGRID_DATABASE_URL the local cluster is started first."""
    from gisgrid.settings import get_settings
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine

    settings = get_settings()
    if not settings.database_url:
        Cluster.from_settings(settings).up()
    return make_engine(settings)


def print_load_error(exc: LoadError, show: int = 1000) -> None:
    """Every bad row (up to ``show``; 0 = all) as a table of row, field and reason."""
    rows = exc.rows if show <= 0 else exc.rows[:show]
    bad_rows = len({r[0] for r in exc.rows})
    table = Table(title=f"{exc.table or 'load'}: {bad_rows:,} bad rows, nothing was loaded")
    table.add_column("row", justify="right")
    table.add_column("field")
    table.add_column("reason", overflow="fold")
    for row, field, reason in rows:
        table.add_row("file" if row == 0 else str(row), field, reason)
    console.print(table)
    if len(rows) < len(exc.rows):
        console.print(f"... and {len(exc.rows) - len(rows):,} more problems (--show 0 lists all)")


@contextmanager
def exit_on_error(show: int = 1000) -> Iterator[None]:
    """End a command with exit code 1 on a library error: a bad file as the table of its bad
    rows, anything else as one line naming the field and the reason."""
    try:
        yield
    except LoadError as exc:
        print_load_error(exc, show)
        raise typer.Exit(code=1) from exc
    except GisgridError as exc:
        err.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(code=1) from exc


def load(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Annotated[
        Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile/.zip, CSV, Parquet.")
    ],
    key: Annotated[
        str | None,
        typer.Option(
            help="Unique column to upsert on (e.g. code). Areas by code are versioned: a"
            " changed area closes its current version and opens a new one."
        ),
    ] = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            "--valid-from",
            help="With areas --key code: when the new versions begin (ISO 8601; a bare date"
            " is 00:00 that day in the city; default now).",
        ),
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of the file (overrides the file's own), e.g. EPSG:4547.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="gcj02 or bd09: Chinese map coordinates.")
    ] = None,
    make_valid: Annotated[
        bool, typer.Option("--make-valid", help="Repair invalid polygons instead of refusing.")
    ] = False,
    lon_col: Annotated[str, typer.Option(help="CSV longitude column.")] = "lon",
    lat_col: Annotated[str, typer.Option(help="CSV latitude column.")] = "lat",
    show: Annotated[int, typer.Option(help="Bad rows to print at most (0 = all).")] = 1000,
    max_distance_m: Annotated[
        float | None,
        typer.Option(help="Give a point outside every grid the nearest grid within this."),
    ] = None,
) -> None:
    """Load a file into a layer: every row, or (with a table of every bad row) none.

    Points (and buildings) are stored with their grid, community, street and district."""
    from gisgrid.io.load import load_file

    engine = _engine()
    progress = counted_bar(err, f"loading {file.name}", transient=True)
    task = progress.add_task("load", total=None)

    def tick(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        with exit_on_error(show), progress:
            report = load_file(
                engine,
                layer,
                file,
                key=key,
                src_crs=crs,
                from_=from_,
                make_valid=make_valid,
                lon_col=lon_col,
                lat_col=lat_col,
                progress=tick,
                max_distance_m=max_distance_m,
                valid_from=valid_from,
            )
    finally:
        engine.dispose()
    console.print(
        f"loaded {report.rows:,} rows into {report.table} "
        f"({report.inserted:,} new, {report.updated:,} updated) in {report.seconds:.2f} s: "
        f"{report.rows_per_s:,.0f} rows/s"
    )
    if report.versions is not None:
        v = report.versions
        moved = ", ".join(f"{k} {n:,}" for k, n in v.moved.items() if n)
        console.print(
            f"versions from {v.at.isoformat()}: {report.unchanged:,} unchanged, "
            f"{len(v.replaced):,} replaced ({v.cascaded:,} of them below a replaced area), "
            f"rows moved: {moved or 'none'}; {v.rescoped_accounts:,} accounts re-scoped"
        )
    if report.repaired:
        console.print(f"repaired {report.repaired:,} invalid polygons (--make-valid)")
    if report.ignored_columns:
        console.print(f"ignored columns: {', '.join(report.ignored_columns)}")


def export(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Annotated[Path, typer.Argument(help=".gpkg, .parquet, .geojson or .csv")],
    format: Annotated[
        str | None, typer.Option("--format", help="gpkg, parquet, geojson or csv.")
    ] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north in lon/lat.")] = None,
    area: Annotated[
        str | None, typer.Option(help="Area code: rows inside its current boundary.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="ISO 8601, included; a bare date: 00:00 in the city.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="ISO 8601, included; a bare date: that whole city day.")
    ] = None,
) -> None:
    """Export a layer, filtered by bbox, area and time."""
    from gisgrid.io.load import export_layer

    engine = _engine()
    try:
        with exit_on_error(), err.status(f"exporting {layer}..."):
            n = export_layer(
                engine,
                layer,
                file,
                fmt=format,
                bbox=bbox,
                area_code=area,
                since=since,
                until=until,
            )
    finally:
        engine.dispose()
    console.print(f"wrote {n:,} rows to {file}")


def register(app: typer.Typer) -> None:
    """Add ``load`` and ``export`` to the ``gisgrid`` command.

    Examples
    --------
    >>> app = typer.Typer()
    >>> register(app)
    >>> sorted(c.name for c in app.registered_commands)
    ['export', 'load']
    """
    app.command("load")(load)
    app.command("export")(export)
