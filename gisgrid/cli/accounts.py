"""``gisgrid accounts``: create, import, deactivate, rescope and export accounts; activation
codes and passwords. The rules are the library's (:mod:`gisgrid.access.accounts`)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli.io import _engine

console = Console(soft_wrap=True)
err = Console(stderr=True)

accounts_app = typer.Typer(
    help="Accounts: create, import, deactivate, rescope, export; activation and passwords.",
    no_args_is_help=True,
)
VALID_DAYS_HELP = "Days the activation codes work."


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")


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


@accounts_app.command("create")
def create_cmd(
    username: Annotated[str, typer.Argument(help="The new account's username.")],
    role: Annotated[str, typer.Option(help="grid_worker, community, street_centre, ... admin.")],
    scope: Annotated[
        str | None, typer.Option(help="Scope area code (a grid's for a grid worker ...).")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="Unit code (unit accounts only).")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the console.")] = None,
    valid_days: Annotated[int, typer.Option(help=VALID_DAYS_HELP, min=1)] = 14,
) -> None:
    """Create one account; prints its one-time activation code (no password is set)."""
    from gisgrid.access.accounts import NewAccount, create_accounts
    from gisgrid.cli.io import exit_on_error

    engine = _engine()
    try:
        with exit_on_error():
            (a,) = create_accounts(
                engine,
                [NewAccount(username, role, scope, unit, display_name)],
                valid_for=timedelta(days=valid_days),
            )
    finally:
        engine.dispose()
    console.print(f"created {a.username}; activation code (until {a.expires_at:%Y-%m-%d}):")
    print(a.code)


@accounts_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: username, role, scope_code, ...")],
    codes: Annotated[Path, typer.Option(help="New CSV file for the activation codes to hand out.")],
    valid_days: Annotated[int, typer.Option(help=VALID_DAYS_HELP, min=1)] = 14,
    show: Annotated[int, typer.Option(help="Bad rows to print at most (0 = all).")] = 1000,
) -> None:
    """Create every account of a file, or none (every bad row is listed)."""
    from gisgrid.cli.io import exit_on_error
    from gisgrid.io.accounts import import_accounts

    engine = _engine()
    try:
        with exit_on_error(show):
            report = import_accounts(
                engine, file, codes_path=codes, valid_for=timedelta(days=valid_days)
            )
    finally:
        engine.dispose()
    console.print(
        f"imported {report.rows:,} accounts in {report.seconds:.1f} s; "
        f"their activation codes are in {report.codes_path}"
    )
    if report.ignored_columns:
        console.print(f"ignored columns: {', '.join(report.ignored_columns)}")


@accounts_app.command("export")
def export_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file to write.")],
    role: Annotated[str | None, typer.Option(help="Only this role.")] = None,
) -> None:
    """Write the accounts (codes, state; never hashes or codes) to CSV or XLSX."""
    from gisgrid.cli.io import exit_on_error
    from gisgrid.io.accounts import export_accounts

    engine = _engine()
    try:
        with exit_on_error():
            n = export_accounts(engine, file, role)
    finally:
        engine.dispose()
    console.print(f"wrote {n:,} accounts to {file}")


def _change(what: str, username: str, done: str) -> None:
    from gisgrid.access import accounts
    from gisgrid.cli.io import exit_on_error

    engine = _engine()
    try:
        with exit_on_error():
            getattr(accounts, what)(engine, username)
    finally:
        engine.dispose()
    console.print(f"{username}: {done}")


@accounts_app.command("deactivate")
def deactivate_cmd(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """The account can no longer sign in; its tokens stop working at once."""
    _change("deactivate", username, "deactivated; its tokens no longer work")


@accounts_app.command("reactivate")
def reactivate_cmd(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Undo deactivate: the password works again (earlier tokens stay void)."""
    _change("reactivate", username, "active again")


@accounts_app.command("rescope")
def rescope_cmd(
    username: Annotated[str, typer.Argument(help="The account.")],
    scope: Annotated[str, typer.Argument(help="The new scope area's code.")],
) -> None:
    """Give an account another scope area (by code; the level must fit the role)."""
    from gisgrid.access.accounts import rescope
    from gisgrid.cli.io import exit_on_error

    engine = _engine()
    try:
        with exit_on_error():
            rescope(engine, username, scope)
    finally:
        engine.dispose()
    console.print(f"{username}: scope is now {scope}")


@accounts_app.command("activation-code")
def activation_code_cmd(
    username: Annotated[str, typer.Argument(help="The account.")],
    valid_days: Annotated[int, typer.Option(help=VALID_DAYS_HELP, min=1)] = 14,
) -> None:
    """A new one-time activation code for an account (lost code, forgotten password)."""
    from gisgrid.access.accounts import issue_activation
    from gisgrid.cli.io import exit_on_error

    engine = _engine()
    try:
        with exit_on_error():
            a = issue_activation(engine, username, valid_for=timedelta(days=valid_days))
    finally:
        engine.dispose()
    console.print(f"activation code for {a.username} (until {a.expires_at:%Y-%m-%d}):")
    print(a.code)


@accounts_app.command("activate")
def activate_cmd(
    username: Annotated[str, typer.Argument(help="The account.")],
    code: Annotated[str, typer.Option(help="The one-time activation code.", prompt=True)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")
    ] = False,
) -> None:
    """First sign-in: an activation code and the account's new password."""
    from gisgrid.access.accounts import activate
    from gisgrid.cli.io import exit_on_error
    from gisgrid.errors import translate_db_errors

    password = _read_password(password_stdin)
    engine = _engine()
    try:
        with exit_on_error(), translate_db_errors(), engine.begin() as conn:
            activate(conn, username, code, password)
    finally:
        engine.dispose()
    console.print(f"{username}: activated; sign in with the new password")
