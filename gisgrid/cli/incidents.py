"""``gisgrid incidents sweep``: one escalation sweep by hand, and what it escalated."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli.io import exit_on_error

console = Console(soft_wrap=True)
incidents_app = typer.Typer(help="Incidents: the escalation sweep.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")


@incidents_app.command("sweep")
def sweep_cmd(
    now: Annotated[
        str | None,
        typer.Option(
            help="Sweep as if it were this time (ISO 8601; no zone: city time); default: now."
        ),
    ] = None,
) -> None:
    """Escalate the overdue cases that are due, as the server's sweeper does (safe beside it)."""
    from gisgrid.cli.io import _engine
    from gisgrid.incidents.escalation import EscalationPolicy, sweep
    from gisgrid.settings import get_settings
    from gisgrid.times import parse_instant

    with exit_on_error():
        at = parse_instant(now, "now") if now is not None else None
        policy = EscalationPolicy.from_settings(get_settings())
        engine = _engine()
        try:
            result = sweep(engine, at, policy)
        finally:
            engine.dispose()
    when = result.now.isoformat(timespec="seconds")
    if not result.escalated:
        console.print(f"nothing to escalate at {when}")
        return
    table = Table(title=f"escalated at {when}")
    for col in ("incident", "was", "to", "why"):
        table.add_column(col, overflow="fold")
    for e in result.escalated:
        table.add_row(str(e.incident_id), f"{e.from_status}, {e.from_level}", e.to_level, e.note)
    console.print(table)
    levels = ", ".join(f"{n} to {lvl}" for lvl, n in sorted(result.by_level.items()))
    busy = f"; {result.skipped_busy} busy, left to the next sweep" if result.skipped_busy else ""
    n = len(result.escalated)
    console.print(f"escalated {n} case{'' if n == 1 else 's'} ({levels}){busy}")
