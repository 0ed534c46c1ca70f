"""The ``gisgrid`` console script: the library's commands and ``serve``, which starts this API.

``serve`` lives here because the library never imports the web layer.
"""

from __future__ import annotations

import copy
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gisgrid.cli import main as cli
from gisgrid.errors import GisgridError
from gisgrid.settings import check_workers, default_workers, get_settings

if TYPE_CHECKING:
    import uvicorn

app = cli.app


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes (default: the core count when GISGRID_SECRET_KEY is"
            " set, else 1); more than one needs GISGRID_SECRET_KEY set."
        ),
    ] = None,
) -> None:
    """Serve the API and the web map (uvicorn): one process per core when GISGRID_SECRET_KEY
    is set, else one."""
    import uvicorn

    settings = get_settings()
    try:
        n = check_workers(settings, default_workers(settings) if workers is None else workers)
    except GisgridError as exc:
        cli._fail(exc)
    host, port = host or settings.host, port or settings.port
    cli.console.print(f"serving on http://{host}:{port} with {n} worker(s)")
    if n == 1:
        from api.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=log_config())
    else:
        # Each worker process imports the app and builds its own settings from the same
        # environment; what they must share (the signing key, tile versions) is shared through
        # that environment and the database.
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            "api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=n,
            log_config=log_config(),
        )
        Multiprocess(config, sockets=[listening_socket(config)]).run()


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus gisgrid's own INFO lines (the escalation sweeper's "escalated
    N overdue cases") through the same handler: without it they go nowhere.

    >>> log_config()["loggers"]["gisgrid"]
    {'handlers': ['default'], 'level': 'INFO', 'propagate': False}
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["gisgrid"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """uvicorn's bound socket for ``config``, marked as TCP so its connections get TCP_NODELAY.

    uvicorn binds the workers' shared socket with ``proto`` 0, and asyncio turns on
    TCP_NODELAY only for accepted sockets whose ``proto`` is IPPROTO_TCP; without it every
    response on a keep-alive connection waits ~40 ms for the client's delayed ACK
    (uvicorn issue 3149; a single worker binds through asyncio and is not affected).
    """
    bound = config.bind_socket()
    if bound.family not in (socket.AF_INET, socket.AF_INET6):
        return bound
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    return sock


def main() -> None:
    cli.main()
