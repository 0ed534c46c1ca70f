"""``gisgrid accounts``: list accounts and set their passwords."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

console = Console(soft_wrap=True)
err = Console(stderr=True)

accounts_app = typer.Typer(help="Accounts: list them, set passwords.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")


def _engine() -> Engine:
    from gisgrid.settings import get_settings
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine

    settings = get_settings()
    if not settings.database_url:
        Cluster.from_settings(settings).up()
    return make_engine(settings)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # one line, without its newline, as `echo "$PW" | gisgrid accounts ...` sends it
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@accounts_app.command("set-password")
def set_password_cmd(
    username: Annotated[str, typer.Argument(help="The account's username.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")
    ] = False,
) -> None:
    """Set one account's password (stored as an argon2 hash); prompts unless --password-stdin."""
    from gisgrid.access.auth import set_password

    password = _read_password(password_stdin)
    engine = _engine()
    try:
        set_password(engine, username, password)
    finally:
        engine.dispose()
    console.print(f"password set for {username}")


@accounts_app.command("demo-passwords")
def demo_passwords_cmd(
    password: Annotated[str, typer.Option("--password", help="The one password for everyone.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """FOR THE SYNTHETIC DEMO CITY ONLY: give every account the same password."""
    from gisgrid.access.auth import set_every_password

    if not yes and not typer.confirm(
        "this gives EVERY account the same password; only for the synthetic demo city. Go on?"
    ):
        raise typer.Exit(code=1)
    engine = _engine()
    try:
        n = set_every_password(engine, password)
    finally:
        engine.dispose()
    console.print(f"demo only: {n} accounts now share one password")


@accounts_app.command("list")
def list_cmd(
    role: Annotated[str | None, typer.Option(help="Only this role.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List accounts: username, role, scope, unit, active, whether a password is set."""
    from dataclasses import asdict

    from gisgrid.access.auth import list_accounts

    engine = _engine()
    try:
        rows = list_accounts(engine, role)
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table("id", "username", "role", "scope", "unit", "active", "password")
    for column in table.columns:  # fold, never cut: a pipe is 80 columns wide, names are long
        column.overflow = "fold"
    for r in rows:
        scope = f"{r.scope_level} {r.scope_area_id}" if r.scope_area_id else "everything"
        table.add_row(
            str(r.id),
            r.username,
            r.role,
            scope,
            str(r.unit_id or ""),
            "yes" if r.active else "no",
            "set" if r.has_password else "-",
        )
    console.print(table)
