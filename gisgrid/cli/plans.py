"""``gisgrid plans check ID`` and ``gisgrid plans diff ID``: a plan's checks and its diff
against the current boundaries, as rich tables (or JSON). ``check`` ends with exit code 1 when
a hard check fails, so a script can refuse to publish. The CLI is run by whoever runs the
store: it reads every plan, unscoped."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli.io import _engine, exit_on_error

console = Console(soft_wrap=True)
plans_app = typer.Typer(help="Plans: redrawn grid boundaries, their checks and diff.")

PlanId = Annotated[int, typer.Argument(help="The plan's id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(plans_app, name="plans")


def _failures(title: str, rows: list[dict[str, Any]], style: str) -> Table:
    table = Table(title=title, title_style=style)
    for col in ("check", "grids", "area m²", "where (lon, lat)", "message"):
        table.add_column(col, overflow="fold", justify="right" if col == "area m²" else "left")
    for f in rows:
        area = "" if f["area_m2"] is None else f"{f['area_m2']:,.1f}"
        where = "" if f["point"] is None else f"{f['point'][0]:.5f}, {f['point'][1]:.5f}"
        message = f["message"]
        if f.get("building_ids"):
            message += f" (buildings {', '.join(map(str, f['building_ids']))})"
        table.add_row(f["check"], ", ".join(f["codes"]), area, where, message)
    return table


@plans_app.command("check")
def check_cmd(plan_id: PlanId, as_json: AsJson = False) -> None:
    """Run a plan's checks; exit code 1 when a hard check fails."""
    from gisgrid.planning.checks import check_plan

    with exit_on_error():
        engine = _engine()
        try:
            with engine.connect() as conn:
                result = check_plan(conn, plan_id)
        finally:
            engine.dispose()
    if as_json:
        console.print_json(json.dumps(result, ensure_ascii=False))
    else:
        if result["hard"]:
            console.print(_failures("hard: these block publishing", result["hard"], "bold red"))
        if result["soft"]:
            console.print(_failures("soft: worth a look", result["soft"], "yellow"))
        verdict = "[green]passes[/]" if result["ok"] else "[bold red]fails[/]"
        console.print(
            f"plan {plan_id} {verdict}: {len(result['hard'])} hard, {len(result['soft'])} soft"
        )
    if not result["ok"]:
        raise typer.Exit(code=1)


@plans_app.command("diff")
def diff_cmd(plan_id: PlanId, as_json: AsJson = False) -> None:
    """What publishing a plan would change: grids, the rows that move, workers to re-scope."""
    from gisgrid.planning.diff import plan_diff

    with exit_on_error():
        engine = _engine()
        try:
            with engine.connect() as conn:
                d = plan_diff(conn, plan_id)
        finally:
            engine.dispose()
    if as_json:
        console.print_json(json.dumps(d, ensure_ascii=False))
        return
    grids = Table(title=f"plan {plan_id}: grids")
    grids.add_column("change")
    grids.add_column("n", justify="right")
    grids.add_column("codes", overflow="fold")
    changed = [f"{c['code']} ({c['delta_m2']:,.0f} m²)" for c in d["changed"]]
    for label, codes in (
        ("kept", d["kept"]),
        ("changed", changed),
        ("new", d["new"]),
        ("retired", d["retired"]),
    ):
        grids.add_row(label, str(len(codes)), ", ".join(codes))
    console.print(grids)
    if d["moves"]:
        moves = Table(title="what moves to another grid")
        for col in ("from", "to", "households", "residents", "places", "open incidents"):
            moves.add_column(col, justify="left" if col in ("from", "to") else "right")
        for m in d["moves"]:
            moves.add_row(
                m["from"],
                m["to"] or "(no grid)",
                *(str(m[k]) for k in ("households", "residents", "places", "open_incidents")),
            )
        console.print(moves)
    if d["workers"]:
        workers = Table(title="grid workers to re-scope")
        for col in ("account", "username", "from", "why", "to (holds most of the old grid)"):
            workers.add_column(col)
        for w in d["workers"]:
            workers.add_row(
                str(w["account_id"]), w["username"], w["from"], w["why"], w["to"] or "-"
            )
        console.print(workers)
