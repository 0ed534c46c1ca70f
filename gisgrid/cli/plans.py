"""``gisgrid plans``: start a plan of a parent's grids and list the plans. The rules are the
library's (:mod:`gisgrid.planning.plans`); the command acts as an account (``--as``, the
admin by default), with that account's role and scope."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

console = Console(soft_wrap=True)

plans_app = typer.Typer(help="Plans: redraw the grids under a parent.", no_args_is_help=True)
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


def _engine() -> Engine:
    from gisgrid.settings import get_settings
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine

    settings = get_settings()
    if not settings.database_url:
        Cluster.from_settings(settings).up()
    return make_engine(settings)


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
