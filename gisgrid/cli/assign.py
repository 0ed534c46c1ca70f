"""``gisgrid assign``: points to grids, file to file, or the store again after a redraw."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from gisgrid.cli.io import exit_on_error
from gisgrid.errors import InvalidInput

console = Console(soft_wrap=True)
err = Console(stderr=True)

TABLE_HELP = "incidents, visit_logs, places, buildings, households or all."


def assign(
    points: Annotated[
        Path | None,
        typer.Argument(help="Points: CSV (lon/lat), GeoParquet, GeoJSON, GeoPackage, Shapefile."),
    ] = None,
    grids: Annotated[
        Path | None, typer.Option(help="Grid polygons: GeoJSON, GeoPackage, Shapefile, GeoParquet.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".csv, .parquet, .gpkg or .geojson")
    ] = None,
    grid_id_col: Annotated[
        str | None,
        typer.Option(help="Grid id column (default: id, else code, else the row number)."),
    ] = None,
    time_col: Annotated[
        str | None, typer.Option(help="Time of each point: grids valid at that time.")
    ] = None,
    max_distance_m: Annotated[
        float | None,
        typer.Option(help="Give a point outside every grid the nearest grid within this."),
    ] = None,
    lon_col: Annotated[str, typer.Option(help="CSV longitude column.")] = "lon",
    lat_col: Annotated[str, typer.Option(help="CSV latitude column.")] = "lat",
    reassign: Annotated[
        bool, typer.Option("--reassign", help="Recompute the store's assignments.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="--reassign: incidents/visit logs from this date on.")
    ] = None,
    area: Annotated[
        str | None, typer.Option(help="--reassign: only rows in or assigned to this area code.")
    ] = None,
    table: Annotated[str, typer.Option(help=f"--reassign: {TABLE_HELP}")] = "all",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="--reassign: report what would move; write nothing.")
    ] = False,
    chunk_rows: Annotated[int, typer.Option(help="--reassign: rows per transaction.")] = 100_000,
    top: Annotated[int, typer.Option(help="--reassign: moves to list.")] = 10,
    show: Annotated[int, typer.Option(help="Bad rows to print at most (0 = all).")] = 1000,
    workers: Annotated[
        int | None,
        typer.Option(help="Files: run on a local dask cluster of this many worker processes."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Files: run on this dask.distributed scheduler (tcp://h:p)."),
    ] = None,
) -> None:
    """Assign points to grids (POINTS --grids GRIDS -o OUT), or re-assign the store
    (--reassign) after boundaries changed.

    Rules: a point goes to the grid that covers it (on a shared edge: the lowest id); outside
    every grid it has none, or the nearest within --max-distance-m; with a time, only the
    grid versions valid at that time count."""
    with exit_on_error(show):
        if reassign:
            if points is not None or grids is not None or out is not None:
                raise InvalidInput(
                    "--reassign works on the store: give no POINTS, --grids or --out",
                    field="reassign",
                )
            _reassign(table, since, area, max_distance_m, dry_run, chunk_rows, top)
            return
        if since is not None or area is not None or dry_run:
            raise InvalidInput("--since, --area and --dry-run go with --reassign", field="since")
        if points is None or grids is None or out is None:
            raise InvalidInput(
                "give POINTS, --grids and --out (or --reassign to work on the store)",
                field="points" if points is None else ("grids" if grids is None else "out"),
            )
        if workers is not None or dask is not None:
            _files_dask(
                points,
                grids,
                out,
                workers,
                dask,
                grid_id_col,
                time_col,
                max_distance_m,
                lon_col,
                lat_col,
            )
            return
        _files(points, grids, out, grid_id_col, time_col, max_distance_m, lon_col, lat_col)


def _files(
    points: Path,
    grids: Path,
    out: Path,
    grid_id_col: str | None,
    time_col: str | None,
    max_distance_m: float | None,
    lon_col: str,
    lat_col: str,
) -> None:
    from gisgrid.io.assign_file import assign_file

    with err.status(f"assigning {points.name} to {grids.name}..."):
        report = assign_file(
            points,
            grids,
            out,
            grid_id_col=grid_id_col,
            time_col=time_col,
            max_distance_m=max_distance_m,
            lon_col=lon_col,
            lat_col=lat_col,
        )
    table = Table(title=f"{report.points:,} points, {report.grids:,} grids -> {out}")
    table.add_column("", style="bold")
    table.add_column("points", justify="right")
    table.add_row("assigned", f"{report.assigned:,}")
    if max_distance_m is not None:
        table.add_row(f"  of which by nearest (<= {max_distance_m:g} m)", f"{report.by_nearest:,}")
    table.add_row("unassigned", f"{report.unassigned:,}")
    if report.no_location:
        table.add_row("  of which without a location", f"{report.no_location:,}")
    console.print(table)
    console.print(
        f"assigned in {report.seconds:.2f} s ({report.points_per_s:,.0f} points/s, index "
        f"build included); {report.total_seconds:.2f} s with reading and writing"
    )


def _files_dask(
    points: Path,
    grids: Path,
    out: Path,
    workers: int | None,
    address: str | None,
    grid_id_col: str | None,
    time_col: str | None,
    max_distance_m: float | None,
    lon_col: str,
    lat_col: str,
) -> None:
    from gisgrid.assign.scaleout import assign_file_dask
    from gisgrid.io.assign_file import read_grids

    if workers is not None and address is not None:
        raise InvalidInput("give --workers or --dask, not both", field="dask")
    if workers is not None and workers < 1:
        raise InvalidInput("must be at least 1", field="workers")
    where = address or f"a local cluster of {workers} workers"
    # the in-memory path's reader: the same ids and codes, and the same refusals
    index = read_grids(grids, grid_id_col)
    opts: dict[str, object] = {"lon_col": lon_col, "lat_col": lat_col}
    if time_col:
        opts["time_col"] = time_col
    if max_distance_m is not None:
        opts["max_distance_m"] = max_distance_m
    with err.status(f"assigning {points.name} to {grids.name} on {where}..."):
        counts = assign_file_dask(points, index, out, workers=workers, address=address, **opts)
    table = Table(title=f"{counts['points']:,} points on {where} -> {out}")
    table.add_column("", style="bold")
    table.add_column("points", justify="right")
    for key in ("assigned", "nearest", "unassigned"):
        table.add_row(key, f"{counts[key]:,}")
    console.print(table)
    console.print(f"{counts['partitions']} partitions in {counts['seconds']:.2f} s")


def _reassign(
    table: str,
    since: str | None,
    area: str | None,
    max_distance_m: float | None,
    dry_run: bool,
    chunk_rows: int,
    top: int,
) -> None:
    from gisgrid.assign.store import reassign
    from gisgrid.settings import get_settings
    from gisgrid.store.engine import make_engine

    engine = make_engine(get_settings())
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def tick(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(f"re-assigning {name}", total=max(total, 1))
        progress.update(tasks[name], completed=done if total else 1)

    try:
        with progress:
            report = reassign(
                engine,
                table,
                since=since,
                area=area,
                max_distance_m=max_distance_m,
                dry_run=dry_run,
                chunk_rows=chunk_rows,
                progress=tick,
            )
    finally:
        engine.dispose()
    verb = "would move" if dry_run else "moved"
    counts = Table(title="dry run: nothing was written" if dry_run else "re-assigned")
    for col in ("table", "checked", verb, "hierarchy only", "now unassigned", "now assigned"):
        counts.add_column(col, justify="left" if col == "table" else "right")
    if not dry_run:
        counts.add_column("skipped (changed meanwhile)", justify="right")
    for t in report.tables.values():
        row = [t.table, t.checked, t.moved, t.hierarchy_only, t.now_unassigned, t.now_assigned]
        if not dry_run:
            row.append(t.skipped)
        counts.add_row(*(v if isinstance(v, str) else f"{v:,}" for v in row))
    console.print(counts)
    console.print(f"{report.moved:,} rows {verb} to another grid in {report.seconds:.1f} s")
    if report.moves:
        moves = Table(title=f"top moves ({verb})")
        moves.add_column("from grid code")
        moves.add_column("")
        moves.add_column("to grid code")
        moves.add_column("rows", justify="right")
        for a, b, k in report.top_moves(top):
            moves.add_row(a, "->", b, f"{k:,}")
        console.print(moves)


def register(app: typer.Typer) -> None:
    """Add ``assign`` to the ``gisgrid`` command.

    Examples
    --------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['assign']
    """
    app.command("assign")(assign)
