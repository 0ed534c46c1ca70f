"""``gisgrid hotspots run``: Gi*, local Moran or emerging hot spots of the store's incidents
into a file; ``gisgrid hotspots score``: the same scored against the demo's planted truth
(:mod:`gisgrid.analysis.truth`)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli.io import exit_on_error

console = Console(soft_wrap=True)
err = Console(stderr=True)
hotspots_app = typer.Typer(
    help="Hot spots: statistics on the store's incidents.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(hotspots_app, name="hotspots")


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.0%}"


@hotspots_app.command("score")
def score_cmd(
    scale: Annotated[str, typer.Option(help="The demo's scale: tiny, small or city.")] = "small",
    seed: Annotated[int, typer.Option(help="The demo's seed.")] = 42,
    level: Annotated[str, typer.Option(help="grid, community, street or hex.")] = "grid",
    cell_m: Annotated[float, typer.Option(help="Hexagon side in metres (level hex).")] = 250.0,
    permutations: Annotated[int, typer.Option(help="Gi* permutations, 0..9999.")] = 999,
    emerging: Annotated[bool, typer.Option(help="Score emerging hot spots too.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find hot spots in the store and score them against the planted truth of
    ``gisgrid demo --scale SCALE --seed SEED``: recall at 95 % with FDR, hot units outside
    the planted spots, emerging spots found as new, intensifying or consecutive."""
    from gisgrid.analysis.truth import load_truth, score_store, truth_path
    from gisgrid.cli.io import _engine
    from gisgrid.settings import get_settings

    with exit_on_error():
        truth = load_truth(truth_path(get_settings().data_path, scale, seed))
        engine = _engine()
        t0 = time.perf_counter()
        try:
            with err.status("hot spots...") as status:
                result = score_store(
                    engine,
                    truth,
                    level=level,
                    cell_m=cell_m,
                    permutations=permutations,
                    emerging=emerging,
                    step=lambda msg: status.update(f"{msg}..."),
                )
        finally:
            engine.dispose()
    seconds = time.perf_counter() - t0
    if as_json:
        print(json.dumps({**result.as_dict(), "seconds": round(seconds, 2)}, default=str))
        return
    table = Table(
        "planted spot",
        "kind",
        "units",
        "hot (95 %)",
        "emerging categories",
        "found",
        title=f"{scale} city, seed {seed}, by {level}",
    )
    for s in result.spots:
        cats = ", ".join(f"{k} {v}" for k, v in sorted(s.categories.items()))
        table.add_row(
            s.id, s.kind, str(s.units), str(s.hot_units), cats, "yes" if s.found else "no"
        )
    console.print(table)
    r = result
    console.print(
        f"hot spots found: {r.hotspots_found}/{r.hotspots_planted} ({_pct(r.recall)}); "
        f"their units hot: {_pct(r.unit_recall)}\n"
        f"hot units: {r.hot_units}, outside the planted spots: {r.hot_outside} "
        f"({_pct(r.outside_share)}), of which next to one: {r.hot_outside_in_ring}\n"
        f"emerging spots found as new, intensifying or consecutive: "
        f"{r.emerging_found}/{r.emerging_planted} ({_pct(r.emerging_recall)})\n"
        f"in {seconds:.1f} s"
    )


OUT_FORMATS = (".gpkg", ".geojson", ".parquet")


@hotspots_app.command("run")
def run_cmd(
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Write the units: .gpkg, .geojson or .parquet.")
    ],
    method: Annotated[str, typer.Option(help="gistar, lisa or emerging.")] = "gistar",
    level: Annotated[str, typer.Option(help="grid, community, street or hex.")] = "grid",
    within: Annotated[
        str | None, typer.Option(help="Only the units under this area (its code).")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="Category or group codes, comma-separated.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Statuses, comma-separated.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Reported from (ISO 8601).")] = None,
    to: Annotated[str | None, typer.Option(help="Reported up to, included (ISO 8601).")] = None,
    value: Annotated[
        str, typer.Option(help="count, per_1000_residents or per_household.")
    ] = "count",
    weights: Annotated[str, typer.Option(help="queen, knn or distance.")] = "queen",
    k: Annotated[int, typer.Option(help="Neighbours for knn weights.")] = 8,
    distance_m: Annotated[
        float | None, typer.Option(help="Band for distance weights, metres.")
    ] = None,
    cell_m: Annotated[float, typer.Option(help="Hexagon side in metres (level hex).")] = 250.0,
    step: Annotated[str, typer.Option(help="Emerging: week or month.")] = "week",
    permutations: Annotated[int, typer.Option(help="Permutations, 0..9999.")] = 999,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = 0,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
) -> None:
    """Hot and cold spots (Gi*), clusters and outliers (local Moran) or emerging hot spots of
    the store's incidents, as every unit's statistics in a file, with a count per class.
    Everything in the store counts (the command runs with the database's own rights)."""
    from gisgrid.access.scope import Scope
    from gisgrid.analysis.emerging import emerging_hotspots
    from gisgrid.analysis.hotspots import hotspots
    from gisgrid.cli.io import _engine
    from gisgrid.errors import InvalidInput
    from gisgrid.store.engine import connection
    from gisgrid.tiles.filters import TileFilters, known_categories

    with exit_on_error():
        suffix = out.suffix.lower()
        if suffix not in OUT_FORMATS:
            raise InvalidInput(
                f"out={str(out)!r}; expected a file ending {OUT_FORMATS}", field="out"
            )
        if method not in ("gistar", "lisa", "emerging"):
            raise InvalidInput(
                f"method={method!r}; expected one of ('gistar', 'lisa', 'emerging')",
                field="method",
            )
        engine = _engine()
        try:
            with connection(engine) as conn:
                params = {"category": category, "status": status, "from": from_, "to": to}
                filters = TileFilters.parse(
                    {k: v for k, v in params.items() if v}, known_categories(conn)
                )
                area = _area_id(conn, within) if within else None
            t0 = time.perf_counter()
            common = dict(
                level=level, filters=filters, scope=Scope.everything(), weights=weights, k=k,
                distance_m=distance_m, permutations=permutations, seed=seed, alpha=alpha,
                cell_m=cell_m, within=area,
            )  # fmt: skip
            with err.status(f"{method} on {level} units..."):
                if method == "emerging":
                    result = emerging_hotspots(engine, step=step, **common)  # type: ignore[arg-type]
                    column = "category"
                else:
                    result = hotspots(engine, method=method, value=value, **common)  # type: ignore[arg-type]
                    column = "class"
        finally:
            engine.dispose()
        seconds = time.perf_counter() - t0
        _write(result, out)
    table = Table(column, "units", title=f"{method}, {len(result):,} {level} units")
    for name, n in result[column].value_counts().items():
        table.add_row(str(name), f"{n:,}")
    console.print(table)
    console.print(f"wrote {out} in {seconds:.1f} s")


def _area_id(conn: Any, code: str) -> int:
    from sqlalchemy import text

    from gisgrid.errors import InvalidInput

    found = conn.execute(
        text("SELECT id FROM areas WHERE code = :c AND valid_to IS NULL"), {"c": code}
    ).scalar()
    if found is None:
        raise InvalidInput(f"within={code!r} is not the code of a current area", field="within")
    return int(found)


def _write(result: Any, out: Path) -> None:
    """The units as a file; list columns (emerging's series) become JSON text, which every
    format holds."""
    import numpy as np

    frame = result.copy()
    for col in frame.columns:
        if col == "geometry":
            continue
        if frame[col].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            frame[col] = frame[col].map(lambda v: json.dumps(np.asarray(v).tolist()))
    frame.attrs = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    tmp.unlink(missing_ok=True)
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(tmp)
    else:
        driver = "GPKG" if out.suffix.lower() == ".gpkg" else "GeoJSON"
        frame.to_file(
            tmp, driver=driver, engine="pyogrio", layer=out.stem if driver == "GPKG" else None
        )
    tmp.replace(out)  # the file appears only when complete
