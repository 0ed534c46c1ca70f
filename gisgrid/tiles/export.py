"""Offline tiles: the tile layers of a box and zoom range written to MBTiles or PMTiles.

Several vector layers go into one tile: an MVT tile is a protobuf message whose layers are a
repeated field, so the layers' tiles concatenate into a valid tile. Tiles are stored gzipped
(the MBTiles convention for pbf), rows in the TMS scheme (MBTiles 1.3). PMTiles is made from
the finished MBTiles by the ``pmtiles`` package's converter. The file appears only when the
export is complete: it is written beside the target and renamed at the end.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from gisgrid import __version__
from gisgrid.access.scope import Scope
from gisgrid.bbox import BboxLike, parse_bbox
from gisgrid.errors import InvalidInput
from gisgrid.tiles.filters import TileFilters, query_params
from gisgrid.tiles.grid import MAX_ZOOM, tiles_in_bbox
from gisgrid.tiles.layers import Layer, layer_of
from gisgrid.tiles.render import render

FORMATS = (".mbtiles", ".pmtiles")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    tiles: int  # tiles written (empty ones are skipped)
    empty: int
    bytes: int
    seconds: float


def parse_zooms(text: str) -> range:
    """``"10-16"`` or ``"12"`` as a range of zooms, refusing what is outside 0..22.

    >>> parse_zooms("10-16")
    range(10, 17)
    >>> parse_zooms("12")
    range(12, 13)
    """
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise InvalidInput(
            f"{text!r}; expected Z or ZMIN-ZMAX, e.g. 10-16", field="zooms"
        ) from None
    if not 0 <= a <= b <= MAX_ZOOM:
        raise InvalidInput(f"{text!r}; expected 0 <= ZMIN <= ZMAX <= {MAX_ZOOM}", field="zooms")
    return range(a, b + 1)


def tile_list(bbox: tuple[float, float, float, float], zooms: range) -> list[tuple[int, int, int]]:
    return [zxy for z in zooms for zxy in tiles_in_bbox(bbox, z)]


def _layers(names: Sequence[str]) -> list[Layer]:
    if not names:
        raise InvalidInput("no layer given", field="layers")
    layers = [layer_of(n) for n in names]
    kinds = {layer.kind for layer in layers}
    if "raster" in kinds and len(layers) > 1:
        raise InvalidInput(
            "the heat layer is PNG and goes alone into a file; vector layers go together",
            field="layers",
        )
    return layers


def export_tiles(
    engine: Engine,
    out: Path,
    layers: Sequence[str],
    bbox: BboxLike,
    zooms: range,
    filters: TileFilters | None = None,
    scope: Scope | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Render every tile of ``bbox`` at ``zooms`` for ``layers`` into ``out``.

    ``scope`` is whose view to export: ``Scope.everything()`` for the whole store, ``None``
    for what an anonymous caller sees (aggregates; layers that need sign-in are refused).
    ``progress`` is called with the number of tiles done since the last call.
    """
    started = time.perf_counter()
    chosen = _layers(layers)
    box = parse_bbox(bbox, mercator=True)
    if out.suffix not in FORMATS:
        raise InvalidInput(
            f"{out.name}: expected a file ending in {' or '.join(FORMATS)}", field="out"
        )
    if out.exists() and not overwrite:
        raise InvalidInput(f"{out} exists; pass overwrite to replace it", field="out")
    if scope is None:
        private = [layer.id for layer in chosen if not layer.public]
        if private:
            raise InvalidInput(
                f"{private} need a signed-in view, not the public one", field="layers"
            )
    qp = query_params(filters or TileFilters(), scope)
    raster = chosen[0].kind == "raster"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".mbtiles", dir=out.parent, prefix=f".{out.stem}-")
    os.close(fd)
    tmp = Path(tmp_name)
    written = empty = size = 0
    try:
        db = sqlite3.connect(tmp)
        try:
            _create_schema(db)
            with engine.connect() as conn:
                for z, x, y in tile_list(box, zooms):
                    body = b"".join(render(conn, layer, z, x, y, qp)[0] for layer in chosen)
                    if body:
                        data = body if raster else gzip.compress(body, 6, mtime=0)
                        db.execute(
                            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
                            (z, x, (1 << z) - 1 - y, data),
                        )
                        written += 1
                        size += len(data)
                    else:
                        empty += 1
                    if progress is not None:
                        progress(1)
            _write_metadata(db, chosen, box, zooms, qp, raster)
            db.commit()
        finally:
            db.close()
        if out.suffix == ".pmtiles":
            from pmtiles.convert import mbtiles_to_pmtiles

            pm = tmp.with_suffix(".pmtiles")
            mbtiles_to_pmtiles(str(tmp), str(pm), zooms.stop - 1)
            tmp.unlink()
            tmp = pm
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(out, written, empty, size, time.perf_counter() - started)


def _create_schema(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE metadata (name text, value text);
        CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer,
                            tile_data blob);
        CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
        """
    )


def _write_metadata(
    db: sqlite3.Connection,
    layers: list[Layer],
    bbox: tuple[float, float, float, float],
    zooms: range,
    qp: dict[str, object],
    raster: bool,
) -> None:
    w, s, e, n = bbox
    meta = {
        "name": "gisgrid " + ", ".join(layer.id for layer in layers),
        "format": "png" if raster else "pbf",
        "type": "overlay",
        "version": __version__,
        "description": "; ".join(f"{layer.id}: {layer.description}" for layer in layers),
        "attribution": "gisgrid",
        "bounds": f"{w},{s},{e},{n}",
        "center": f"{(w + e) / 2},{(s + n) / 2},{zooms.start}",
        "minzoom": str(zooms.start),
        "maxzoom": str(zooms.stop - 1),
        "filters": json.dumps({k: v for k, v in qp.items() if not k.startswith("scope")}),
    }
    if not raster:
        meta["json"] = json.dumps(
            {
                "vector_layers": [
                    {
                        "id": layer.id,
                        "description": layer.description,
                        "minzoom": max(layer.minzoom, zooms.start),
                        "maxzoom": zooms.stop - 1,
                        "fields": layer.fields,
                    }
                    for layer in layers
                ]
            }
        )
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
