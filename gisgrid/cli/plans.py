"""``gisgrid plans``: start a plan of a parent's grids, list the plans, read a plan's checks
and its diff against the current boundaries as rich tables (or JSON), auto-balance it,
publish it, and write it to or make it from a GeoPackage. The rules are the library's
(:mod:`gisgrid.planning`). ``create``, ``list``, ``balance``, ``publish``, ``export`` and
``import`` act as an account (``--as``, the admin by default), with that account's role and
scope; ``check`` and ``diff`` are run by whoever runs the store and read every plan, unscoped.
``check`` and ``publish`` end with exit code 1 when a hard check fails, so a script can stop."""

from __future__ import annotations

import json
from pathlib import Path
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


def _version(conn: Any, plan_id: int, given: int | None) -> int:
    """The version a command applies to: ``--version`` when given (a stale one is refused),
    else the plan's version now (the operator holds the store)."""
    from sqlalchemy import text

    from gisgrid.errors import NotFound

    if given is not None:
        return given
    found = conn.execute(text("SELECT version FROM plans WHERE id = :p"), {"p": plan_id}).scalar()
    if found is None:
        raise NotFound(f"no plan {plan_id}", field="id")
    return int(found)


VersionOpt = Annotated[
    int | None,
    typer.Option("--version", help="Apply only if the plan is at this version (its ETag)."),
]


@plans_app.command("balance")
def balance_cmd(
    plan_id: PlanId,
    seed: Annotated[int, typer.Option(help="The solver's seed.")] = 0,
    version: VersionOpt = None,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "admin",
    as_json: AsJson = False,
) -> None:
    """Replace the plan's draft with an auto-balanced proposal; its checks and spread."""
    from gisgrid.access.auth import caller_of
    from gisgrid.planning.plans import summary_json
    from gisgrid.planning.service import balance
    from gisgrid.settings import get_settings

    with exit_on_error():
        engine = _engine()
        try:
            with engine.begin() as conn:
                caller = caller_of(conn, as_user)
                v = _version(conn, plan_id, version)
                out = balance(conn, caller, plan_id, v, get_settings(), seed=seed)
        finally:
            engine.dispose()
    if as_json:
        body = {"plan": summary_json(out.plan), "balance": out.balance, "checks": out.checks}
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    b = out.balance or {}
    console.print(
        f"plan {plan_id} version {out.plan.version}: {len(b.get('codes', []))} grids"
        f" ({len(b.get('kept', []))} kept, {len(b.get('new', []))} new,"
        f" {len(b.get('retired', []))} retired)"
    )
    spread = Table("figure", "min", "max", "max/min", "cv", title="spread of the proposal")
    for name, s in (b.get("spread") or {}).items():
        if isinstance(s, dict):
            spread.add_row(name, *(f"{s.get(k, 0) or 0:,.2f}" for k in
                                   ("min", "max", "max_min_ratio", "cv")))  # fmt: skip
    console.print(spread)
    verdict = "[green]pass[/]" if out.checks["ok"] else "[bold red]fail[/]"
    console.print(
        f"checks {verdict}: {len(out.checks['hard'])} hard, {len(out.checks['soft'])} soft"
    )


@plans_app.command("publish")
def publish_cmd(
    plan_id: PlanId,
    at: Annotated[
        str | None, typer.Option("--at", help="When the new grids take effect; now by default.")
    ] = None,
    version: VersionOpt = None,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "admin",
    as_json: AsJson = False,
) -> None:
    """Publish a plan: its grids become the boundaries from --at (a centre account or admin);
    exit code 1 and the failing checks when a hard check fails."""
    from gisgrid.access.auth import caller_of
    from gisgrid.errors import ChecksFailed
    from gisgrid.planning.publish import publish, published_json
    from gisgrid.settings import get_settings

    engine = _engine()
    try:
        with exit_on_error():
            try:
                with engine.begin() as conn:
                    caller = caller_of(conn, as_user)
                    v = _version(conn, plan_id, version)
                    out = publish(conn, caller, plan_id, v, at, settings=get_settings())
            except ChecksFailed as exc:
                console.print(_failures("hard: these block publishing", exc.failures, "bold red"))
                raise
    finally:
        engine.dispose()
    body = published_json(out)
    if as_json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    console.print(
        f"plan {plan_id} published from {body['at']}: {len(out.opened)} grids opened,"
        f" {len(out.closed)} closed, {len(out.kept)} kept; moved "
        + ", ".join(f"{k} {v}" for k, v in out.moved.items())
        + f"; {out.rescoped_accounts} accounts re-scoped ({body['seconds']} s)"
    )
    if out.unmapped_accounts:
        t = Table("account", "username", "role", "from (retired)", title="re-scope these by hand")
        for u in out.unmapped_accounts:
            t.add_row(str(u["account_id"]), u["username"], u["role"], u["from"])
        console.print(t)


@plans_app.command("export")
def export_cmd(
    plan_id: PlanId,
    path: Annotated[Path, typer.Argument(help="The GeoPackage to write (.gpkg).")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "admin",
) -> None:
    """Write a plan as a GeoPackage: layer grids (code, name, parent_code, replaces_code) and
    layer checks (each failing check, drawn as the box to zoom to)."""
    from gisgrid.access.auth import caller_of
    from gisgrid.planning.files import export_plan
    from gisgrid.settings import get_settings

    with exit_on_error():
        engine = _engine()
        try:
            with engine.connect() as conn:
                export_plan(conn, caller_of(conn, as_user), plan_id, path, settings=get_settings())
        finally:
            engine.dispose()
    console.print(f"plan {plan_id} written to {path}")


@plans_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A GeoPackage (layer grids), GeoJSON or .zip.")],
    parent: Annotated[str, typer.Option("--parent", help="A community, street or district code.")],
    name: Annotated[str, typer.Option("--name", help="The new plan's name.")],
    make_valid: Annotated[bool, typer.Option(help="Repair invalid polygons.")] = False,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "admin",
) -> None:
    """Make a new plan from a file of grids (drawn in QGIS, say): checked like any load, every
    bad row listed and nothing written; then the plan's checks."""
    from gisgrid.access.auth import caller_of
    from gisgrid.planning.files import import_plan
    from gisgrid.settings import get_settings

    with exit_on_error():
        engine = _engine()
        try:
            with engine.begin() as conn:
                out = import_plan(
                    conn, caller_of(conn, as_user), parent, name, path,
                    make_valid=make_valid, settings=get_settings(),
                )  # fmt: skip
        finally:
            engine.dispose()
    verdict = "[green]pass[/]" if out.checks["ok"] else "[bold red]fail[/]"
    console.print(
        f"plan {out.plan.id} {out.plan.name!r} of {out.plan.parent.code}: {out.grids} grids;"
        f" checks {verdict}: {len(out.checks['hard'])} hard, {len(out.checks['soft'])} soft"
    )
