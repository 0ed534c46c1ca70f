"""The ``gisgrid`` console script: the library's commands and ``serve``, which starts this API.

``serve`` lives here because the library never imports the web layer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gisgrid.cli import main as cli
from gisgrid.settings import get_settings

app = cli.app


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
) -> None:
    """Serve the API and the web map (uvicorn)."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    application = create_app(settings)
    cli.console.print(f"serving on http://{host or settings.host}:{port or settings.port}")
    uvicorn.run(application, host=host or settings.host, port=port or settings.port)


def main() -> None:
    cli.main()
