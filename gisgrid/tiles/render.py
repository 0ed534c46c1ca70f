"""Render a tile together with the versions of the tables it read, in one snapshot, so a
cache keyed on those versions never serves a tile older than the data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text

from gisgrid.tiles.grid import check_tile
from gisgrid.tiles.layers import Layer
from gisgrid.tiles.raster import render_tile


def versions(conn: Connection, tables: Iterable[str]) -> tuple[int, ...]:
    """The data versions of these tables, in the order given."""
    names = list(tables)
    got: dict[str, int] = dict(
        conn.execute(
            text("SELECT layer, version FROM gisgrid_tile_versions() WHERE layer = ANY(:t)"),
            {"t": names},
        ).all()
    )
    return tuple(int(got.get(t, 0)) for t in names)


_ALL_VERSIONS = "(SELECT json_object_agg(layer, version) FROM gisgrid_tile_versions())"


def render(
    conn: Connection, layer: Layer, z: int, x: int, y: int, qp: dict[str, Any]
) -> tuple[bytes, tuple[int, ...]]:
    """The tile (empty bytes for an empty tile) and the versions of ``layer.tables`` it
    shows, read in one snapshot: a vector tile and the versions in one statement (a STABLE
    function sees its calling statement's snapshot), the heat raster in a REPEATABLE READ
    transaction. Below the layer's minzoom: empty."""
    check_tile(z, x, y)
    if conn.in_transaction():
        conn.commit()
    if z < layer.minzoom:
        return b"", versions(conn, layer.tables)
    if layer.kind == "vector":
        row = conn.execute(
            text(f"SELECT {layer.function}(:z, :x, :y, CAST(:qp AS json)), {_ALL_VERSIONS}"),
            {"z": z, "x": x, "y": y, "qp": json.dumps(qp)},
        ).one()
        if conn.in_transaction():
            conn.commit()
        got = row[1] or {}
        return bytes(row[0] or b""), tuple(int(got.get(t, 0)) for t in layer.tables)

    rr = conn.execution_options(isolation_level="REPEATABLE READ")
    with rr.begin():
        seen = versions(rr, layer.tables)
        body = render_tile(rr, z, x, y, qp)
    conn.execution_options(isolation_level="READ COMMITTED")
    return body, seen
