"""A plan as a GeoPackage, and a GeoPackage (drawn in QGIS, say) as a new plan.

Export (:func:`export_plan`): layer ``grids``, one MultiPolygon (EPSG:4326) per draft grid
with ``code``, ``name``, ``parent_code`` (the community it falls under) and ``replaces_code``
(the current grid it descends from, empty for a wholly new one); layer ``checks``, one row
per failing check (``severity`` hard or soft, ``check``, ``codes``, ``message``,
``message_zh``, ``area_m2``) drawn as the box to zoom to.

Import (:func:`import_plan`): the layer ``grids`` (or the file's only layer) is read and
checked like any load (:func:`gisgrid.io.read.read_frame`,
:func:`gisgrid.io.checks.check_geometries`): all or nothing, every bad row with its number
and reason (:class:`gisgrid.errors.LoadError`). A row needs a ``code`` (digits, unique in the
file) and a polygon; ``name`` defaults to the code; ``parent_code`` must be a current
community under the plan's parent (or the parent itself), and defaults to the community
holding the polygon's inner point; ``replaces_code`` must be one of the parent's current
grids, and defaults to the grid of the same code. A code that names any other area, now or
ever (a retired code is never reused), is refused. Then the plan's checks and stats run on
it and are kept on the plan, as after an edit.

Examples
--------
>>> sorted(GRIDS_LAYER.fields)
['code', 'name', 'parent_code', 'replaces_code']
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput, LoadError
from gisgrid.io.checks import as_text, check_duplicates, check_geometries
from gisgrid.io.layers import FieldSpec, Layer
from gisgrid.io.read import read_frame
from gisgrid.planning.plans import (
    Conn,
    PlanSummary,
    bump,
    create_plan,
    get_plan,
    resolve_parent,
    transaction,
)
from gisgrid.planning.reports import checks_and_stats
from gisgrid.planning.service import keep_reports
from gisgrid.settings import Settings, get_settings

MAX_CODE = 32
_CODE_RE = re.compile(r"^[0-9]{1,32}$")


def _text_field(name: str, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "text", "text", required, max_len=200)


GRIDS_LAYER = Layer(
    name="grids",
    table="plan_areas",
    geom="multipolygon",
    geom_required=True,
    fields={
        n: _text_field(n, n == "code") for n in ("code", "name", "parent_code", "replaces_code")
    },
    keys=("code",),
)
"""What a plan file's ``grids`` layer holds (the reader picks this layer by its name)."""


# -- export --------------------------------------------------------------------------------------


def _grids_frame(conn: Conn, plan_id: int) -> gpd.GeoDataFrame:
    rows = conn.execute(
        text(
            "SELECT pa.code, pa.name, p.code AS parent_code, r.code AS replaces_code,"
            " ST_AsBinary(pa.geom) AS wkb FROM plan_areas pa"
            " LEFT JOIN areas p ON p.id = pa.parent_id"
            " LEFT JOIN areas r ON r.id = pa.replaces_area_id"
            " WHERE pa.plan_id = :p ORDER BY pa.code"
        ),
        {"p": plan_id},
    ).all()
    return gpd.GeoDataFrame(
        {
            "code": [r.code for r in rows],
            "name": [r.name for r in rows],
            "parent_code": [r.parent_code for r in rows],
            "replaces_code": [r.replaces_code for r in rows],
        },
        geometry=[shapely.from_wkb(bytes(r.wkb)) for r in rows],
        crs=4326,
    )


def _checks_frame(checks: dict[str, Any]) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    for severity in ("hard", "soft"):
        for f in checks.get(severity, []):
            rows.append(
                {
                    "severity": severity,
                    "check": f["check"],
                    "codes": ", ".join(f.get("codes") or []),
                    "message": f.get("message", ""),
                    "message_zh": f.get("message_zh", ""),
                    "area_m2": f.get("area_m2"),
                }
            )
            bbox = f.get("bbox")
            geoms.append(shapely.box(*bbox) if bbox else None)
    columns = ["severity", "check", "codes", "message", "message_zh", "area_m2"]
    frame = pd.DataFrame(rows, columns=columns).astype({"area_m2": "float64"})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def export_plan(
    conn: Conn, caller: Caller, plan_id: int, path: Path, *, settings: Settings | None = None
) -> Path:
    """Write plan ``plan_id`` (one the caller may read) to the GeoPackage ``path``.

    Examples
    --------
    >>> export_plan(conn, planner, 7, Path("plan7.gpkg"))  # doctest: +SKIP
    PosixPath('plan7.gpkg')
    """
    get_plan(conn, caller, plan_id, fresh=True)
    grids = _grids_frame(conn, plan_id)
    checks, _ = checks_and_stats(conn, plan_id, settings or get_settings())
    path = Path(path)
    path.unlink(missing_ok=True)
    grids.to_file(path, layer="grids", driver="GPKG", engine="pyogrio")
    _checks_frame(checks).to_file(path, layer="checks", driver="GPKG", engine="pyogrio")
    return path


def export_bytes(
    conn: Conn, caller: Caller, plan_id: int, *, settings: Settings | None = None
) -> bytes:
    """:func:`export_plan` into memory (what the API sends)."""
    with tempfile.TemporaryDirectory(prefix="gisgrid-plan-") as d:
        path = export_plan(conn, caller, plan_id, Path(d) / "plan.gpkg", settings=settings)
        return path.read_bytes()


# -- import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """A plan made from a file: the plan, how many grids it read, its checks and stats."""

    plan: PlanSummary
    grids: int
    checks: dict[str, Any]
    stats: dict[str, Any]


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    return as_text(df[name]).where(lambda s: s.str.len() > 0, None)


def _known(conn: Conn, parent_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """(current community code -> id under the parent or the parent itself, current grid
    code -> id under it)."""
    under = conn.execute(
        text(
            "WITH RECURSIVE down(id) AS (SELECT CAST(:p AS bigint) UNION ALL SELECT c.id"
            " FROM areas c JOIN down d ON c.parent_id = d.id WHERE c.valid_to IS NULL)"
            " SELECT a.id, a.code, a.level FROM areas a JOIN down d ON d.id = a.id"
            " WHERE a.valid_to IS NULL"
        ),
        {"p": parent_id},
    ).all()
    communities = {str(r.code): int(r.id) for r in under if r.level == "community"}
    grids = {str(r.code): int(r.id) for r in under if r.level == "grid"}
    return communities, grids


def _taken(conn: Conn, codes: list[str], own: set[str]) -> set[str]:
    """Codes of the file that name an area other than the parent's current grids."""
    rows = conn.execute(
        text("SELECT DISTINCT code FROM areas WHERE code = ANY(:c)"), {"c": codes}
    ).scalars()
    return {str(c) for c in rows} - own


def _community_at(conn: Conn, communities: dict[str, int], geoms: np.ndarray) -> list[str | None]:
    """The code of the community holding each polygon's inner point."""
    if not len(geoms):
        return []
    points = [shapely.to_wkb(shapely.point_on_surface(g)) if g is not None else None
              for g in geoms]  # fmt: skip
    rows = conn.execute(
        text(
            "SELECT p.i, (SELECT a.code FROM areas a WHERE a.id = ANY(:ids)"
            "  AND ST_Covers(a.geom, ST_GeomFromWKB(p.wkb, 4326)) ORDER BY a.level = 'community'"
            "  DESC LIMIT 1) FROM unnest(CAST(:wkbs AS bytea[])) WITH ORDINALITY AS p(wkb, i)"
            " ORDER BY p.i"
        ),
        {"ids": list(communities.values()), "wkbs": points},
    ).all()
    return [r[1] for r in rows]


def _check_rows(
    conn: Conn, parent_id: int, path: Path, make_valid: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    frame = read_frame(Path(path), GRIDS_LAYER)
    df, problems, row_of = frame.df, frame.pre_bad, frame.row_of
    if len(df) == 0:
        raise LoadError([(0, "file", "holds no grids")], table="plan_areas")
    if "code" not in df.columns:
        problems.whole_file("code", "the file has no column 'code'")
        raise LoadError(problems.rows(row_of), table="plan_areas")
    geoms, _ = check_geometries(frame.geoms, GRIDS_LAYER, problems, make_valid=make_valid)
    code = _column(df, "code")
    problems.add(code.isna().to_numpy(), "code", "missing code")
    bad_code = code.notna() & ~code.fillna("").str.fullmatch(_CODE_RE.pattern)
    problems.add(
        bad_code.to_numpy(),
        "code",
        [f"code {c!r} is not 1 to {MAX_CODE} digits" for c in code[bad_code]],
    )
    check_duplicates(code, problems, "code", row_of)
    communities, grids = _known(conn, parent_id)
    taken = _taken(conn, [c for c in code.dropna().tolist()], set(grids))
    hit = code.isin(taken).to_numpy()
    problems.add(
        hit,
        "code",
        [f"code {c} is (or was) an area outside this plan's grids; codes are never reused"
         for c in code[hit]],
    )  # fmt: skip
    parent_code = _column(df, "parent_code")
    unknown = parent_code.notna() & ~parent_code.isin(list(communities))
    problems.add(
        unknown.to_numpy(),
        "parent_code",
        [f"{c!r} is not a current community under the plan's parent" for c in parent_code[unknown]],
    )
    replaces = _column(df, "replaces_code")
    stray = replaces.notna() & ~replaces.isin(list(grids))
    problems.add(
        stray.to_numpy(),
        "replaces_code",
        [f"{c!r} is not one of the parent's current grids" for c in replaces[stray]],
    )
    if len(problems):
        raise LoadError(problems.rows(row_of), table="plan_areas")
    missing = parent_code.isna().to_numpy()
    if missing.any():
        found = _community_at(conn, communities, geoms[missing])
        parent_code.iloc[np.flatnonzero(missing)] = found
        lost = np.flatnonzero(missing)[[f is None for f in found]]
        problems.add(lost, "parent_code", "lies in no community under the plan's parent")
        if len(problems):
            raise LoadError(problems.rows(row_of), table="plan_areas")
    out = pd.DataFrame(
        {
            "code": code,
            "name": _column(df, "name").fillna(code),
            "parent_id": parent_code.map(communities),
            "replaces_area_id": replaces.fillna(code).map(grids),
        }
    )
    return out, geoms


def import_plan(
    conn: Conn | Engine,
    caller: Caller,
    parent: object,
    name: object,
    path: Path,
    *,
    make_valid: bool = False,
    settings: Settings | None = None,
) -> Imported:
    """A new draft plan of ``parent`` (an id or a code) whose grids are those of the plan
    file ``path``: a planner or admin whose scope holds the parent (as
    :func:`gisgrid.planning.plans.create_plan`); LoadError with every bad row, and nothing
    written, for a bad file.

    Examples
    --------
    >>> imported = import_plan(conn, planner, "230108001", "from QGIS", Path("p.gpkg"))
    ... # doctest: +SKIP
    >>> imported.checks["ok"]  # doctest: +SKIP
    True
    """
    s = settings or get_settings()
    with transaction(conn) as c:
        area = resolve_parent(c, caller, parent)
        rows, geoms = _check_rows(c, area.id, path, make_valid)
        plan = create_plan(c, caller, area.id, name)
        c.execute(text("DELETE FROM plan_areas WHERE plan_id = :p"), {"p": plan.id})
        c.execute(
            text(
                "INSERT INTO plan_areas (plan_id, code, name, parent_id, replaces_area_id, geom)"
                " SELECT :p, r.code, r.name, r.parent_id, r.replaces, ST_Multi(ST_ReducePrecision("
                " ST_GeomFromWKB(r.wkb, 4326), 1e-9)) FROM unnest(CAST(:codes AS text[]),"
                " CAST(:names AS text[]), CAST(:parents AS bigint[]), CAST(:replaces AS bigint[]),"
                " CAST(:wkbs AS bytea[])) AS r(code, name, parent_id, replaces, wkb)"
            ),
            {
                "p": plan.id,
                "codes": rows["code"].tolist(),
                "names": rows["name"].tolist(),
                "parents": [int(v) for v in rows["parent_id"]],
                "replaces": [None if pd.isna(v) else int(v) for v in rows["replaces_area_id"]],
                "wkbs": [shapely.to_wkb(g) for g in geoms],
            },
        )
        current = set(
            c.execute(
                text("SELECT code FROM areas WHERE id = ANY(:ids)"),
                {"ids": [int(v) for v in rows["replaces_area_id"].dropna()]},
            ).scalars()
        )
        bump(c, plan.id, [code for code in rows["code"] if code not in current])
        checks, stats = checks_and_stats(c, plan.id, s)
        keep_reports(c, plan.id, checks, stats)
        return Imported(get_plan(c, caller, plan.id, fresh=True), len(rows), checks, stats)


def imported_json(i: Imported) -> dict[str, Any]:
    """The import's answer as JSON values."""
    from gisgrid.planning.plans import summary_json

    return {"plan": summary_json(i.plan), "grids": i.grids, "checks": i.checks, "stats": i.stats}


def check_upload_name(filename: str | None) -> str:
    """The suffix an uploaded plan file keeps (the reader goes by it): .gpkg, .geojson,
    .json, .zip (a zipped shapefile); InvalidInput naming ``file`` otherwise.

    Examples
    --------
    >>> check_upload_name("plan.GPKG")
    '.gpkg'
    >>> check_upload_name("plan.exe")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: file: 'plan.exe': expected a .gpkg, .geojson, .json or .zip file
    """
    suffix = Path(filename or "").suffix.lower()
    if suffix not in (".gpkg", ".geojson", ".json", ".zip"):
        raise InvalidInput(
            f"{filename!r}: expected a .gpkg, .geojson, .json or .zip file", field="file"
        )
    return suffix
