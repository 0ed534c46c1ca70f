"""``gisgrid plans``: start a plan of a parent's grids, list the plans, and read a plan's
checks and its diff against the current boundaries as rich tables (or JSON). The rules are the
library's (:mod:`gisgrid.planning`). ``create`` and ``list`` act as an account (``--as``, the
admin by default), with that account's role and scope; ``check`` and ``diff`` are run by
whoever runs the store and read every plan, unscoped. ``check`` ends with exit code 1 when a
hard check fails, so a script can refuse to publish."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli.io import _engine, exit_on_error

console = Console(soft_wrap=True)

plans_app = typer.Typer(help="Plans: redraw the grids under a parent.", no_args_is_help=True)
PlanId = Annotated[int, typer.Argument(help="The plan's id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AS_HELP = "The account to act as (its role and scope apply)."


def register(app: typer.Typer) -> None:
    """Add ``gisgrid plans`` to ``app``.

    Examples
    --------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [g.name for g in app.registered_groups]
    ['plans']
    """
    app.add_typer(plans_app, name="plans")


@plans_app.command("create")
def create_cmd(
    parent: Annotated[str, typer.Option("--parent", help="A community, street or district code.")],
    name: Annotated[str, typer.Option("--name", help="The plan's name.")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "admin",
) -> None:
    """Start a plan: a copy of every current grid under the parent."""
    from gisgrid.access.auth import caller_of
    from gisgrid.planning.plans import create_plan, plan_geojson

    engine = _engine()
    try:
        with engine.begin() as conn:
            caller = caller_of(conn, as_user)
            s = create_plan(conn, caller, parent, name)
            grids = len(plan_geojson(conn, caller, s.id)["features"])
    finally:
        engine.dispose()
    console.print(
        f"plan {s.id} {s.name!r} of {s.parent.level} {s.parent.code} {s.parent.name}:"
        f" {grids} grids, version {s.version}"
    )


@plans_app.command("list")
def list_cmd(
    parent: Annotated[str | None, typer.Option("--parent", help="Only this parent.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "admin",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the plans the account may see, newest change first (discarded ones only with
    --status discarded)."""
    from gisgrid.access.auth import caller_of
    from gisgrid.planning.plans import list_plans, summary_json

    engine = _engine()
    try:
        with engine.connect() as conn:
            rows = list_plans(conn, caller_of(conn, as_user), parent=parent, status=status)
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps([summary_json(r) for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table("id", "name", "parent", "status", "version", "stale", "updated")
    for column in table.columns:
        column.overflow = "fold"
    for r in rows:
        table.add_row(
            str(r.id),
            r.name,
            f"{r.parent.code} {r.parent.name}",
            r.status,
            str(r.version),
            "stale" if r.stale else "",
            f"{r.updated_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


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
