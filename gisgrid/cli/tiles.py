"""``gisgrid tiles export``: offline tiles (MBTiles or PMTiles) with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gisgrid.cli.io import exit_on_error

console = Console(soft_wrap=True)
err = Console(stderr=True)
tiles_app = typer.Typer(help="Tiles: export them for offline use.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tiles_app, name="tiles")


@tiles_app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="The file to write: .mbtiles or .pmtiles.")],
    layers: Annotated[
        str, typer.Option(help="Comma-separated tile layers, e.g. grids,incidents (see /tiles).")
    ] = "districts,streets,communities,grids,units,incidents",
    bbox: Annotated[
        str | None,
        typer.Option(help="minlon,minlat,maxlon,maxlat (WGS84); default: the grids' extent."),
    ] = None,
    zooms: Annotated[str, typer.Option(help="Zoom range, e.g. 10-16.")] = "10-14",
    category: Annotated[str | None, typer.Option(help="Category or group codes, a,b.")] = None,
    status: Annotated[str | None, typer.Option(help="Incident statuses, a,b.")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="reported_at from (ISO 8601, included).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--to", help="reported_at up to (included; a bare date: that whole day)."),
    ] = None,
    public: Annotated[
        bool,
        typer.Option("--public", help="Export what an anonymous caller sees (aggregates only)."),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Render the tiles of a box and zoom range into one file, skipping empty tiles.

    Without --public the file holds the whole store's view (as an admin sees it): keep it
    where only those who may see every incident can read it.
    """
    from gisgrid.access.scope import Scope
    from gisgrid.bbox import parse_bbox
    from gisgrid.cli.io import _engine
    from gisgrid.errors import InvalidInput
    from gisgrid.tiles.export import export_tiles, parse_zooms, tile_list
    from gisgrid.tiles.filters import TileFilters, known_categories
    from gisgrid.tiles.mapview import data_extent

    with exit_on_error():
        zoom_range = parse_zooms(zooms)
        engine = _engine()
        if bbox is None:
            with engine.connect() as conn:
                extent = data_extent(conn)
            if extent is None:
                raise InvalidInput("the store has no areas; give --bbox", field="bbox")
            box = extent
        else:
            box = parse_bbox(bbox, mercator=True)
        given = {
            k: v
            for k, v in {"category": category, "status": status, "from": since, "to": until}.items()
            if v
        }
        known: set[str] = set()
        if category:
            with engine.connect() as conn:
                known = known_categories(conn)
        filters = TileFilters.parse(given, known)
        names = [n.strip() for n in layers.split(",") if n.strip()]
        total = len(tile_list(box, zoom_range))
        progress = Progress(
            TextColumn("[bold]tiles[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        with progress:
            task = progress.add_task("tiles", total=total)
            report = export_tiles(
                engine,
                out,
                names,
                box,
                zoom_range,
                filters=filters,
                scope=None if public else Scope.everything(),
                overwrite=overwrite,
                progress=lambda n: progress.advance(task, n),
            )
    console.print(
        f"{report.path}: {report.tiles:,} tiles ({report.empty:,} empty skipped), "
        f"{report.bytes / 1e6:.1f} MB, zooms {zoom_range.start}-{zoom_range.stop - 1}, "
        f"in {report.seconds:.1f} s"
    )
