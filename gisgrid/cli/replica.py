"""``gisgrid db replica up|down|status``: a streaming replica of the local cluster, which
tiles and analytics read when GISGRID_USE_REPLICA (or GISGRID_READ_REPLICA_URL) is set."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gisgrid.cli.io import exit_on_error
from gisgrid.settings import get_settings

console = Console(soft_wrap=True)
replica_app = typer.Typer(
    help="A streaming replica of the local cluster (<data_dir>/replica, port db_port + 1).",
    no_args_is_help=True,
)


def register(db_app: typer.Typer) -> None:
    db_app.add_typer(replica_app, name="replica")


@replica_app.command("up")
def up() -> None:
    """Make the replica (pg_basebackup -R from the running primary) if it does not exist,
    and start it. Idempotent. Serve with GISGRID_USE_REPLICA=1 to read tiles from it."""
    from gisgrid.store.replica import local_replica, replica_up

    with exit_on_error():
        primary, replica = local_replica(get_settings())
        with console.status("pg_basebackup and start ..."):
            info = replica_up(primary, replica)
    state = "already running" if info["was_running"] else "started"
    made = " (new, from a base backup)" if info["made"] else ""
    console.print(f"replica {state}{made}: {info['url']}")


@replica_app.command("down")
def down(
    remove: Annotated[
        bool,
        typer.Option(
            "--remove",
            help="Also delete the replica's folder and drop its replication slot on the"
            " primary (which otherwise keeps WAL for it).",
        ),
    ] = False,
) -> None:
    """Stop the replica (keeping its slot, so it catches up when it comes back)."""
    from gisgrid.store.replica import local_replica, replica_down

    with exit_on_error():
        primary, replica = local_replica(get_settings())
        info = replica_down(primary, replica, remove=remove)
    console.print(
        ("stopped" if info["stopped"] else "not running") + ("; removed" if remove else "")
    )


@replica_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Whether the replica runs, streams, and how far it is behind the primary. Exit code 3
    when it is not running."""
    from gisgrid.store.replica import local_replica, replica_status

    with exit_on_error():
        primary, replica = local_replica(get_settings())
        info = replica_status(primary, replica)
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        table = Table(show_header=False)
        for k, v in info.items():
            table.add_row(k, str(v))
        console.print(table)
    if not info["running"]:
        raise typer.Exit(code=3)
