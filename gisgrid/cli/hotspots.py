"""``gisgrid hotspots score``: Gi* and emerging hot spots scored against the demo's planted
truth (:mod:`gisgrid.analysis.truth`)."""

from __future__ import annotations

import json
import math
import time
from typing import Annotated

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
