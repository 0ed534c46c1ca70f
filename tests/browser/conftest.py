"""What the browser tests share: the module's tiny city served on a loopback port, and one
headless Chromium (Debian's, no download) for the module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from api.app import create_app
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.live_server import serving

CHROMIUM = "/usr/bin/chromium"
# flags that work here (DESIGN.md); WebGL, which MapLibre needs, from SwiftShader
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


@pytest.fixture(scope="module")
def city(cluster: Cluster, store: Engine) -> tuple[Engine, Settings]:
    """The module's tiny city (``store``) and the settings that serve it."""
    url = cluster.url(dbname=store.url.database)
    return store, Settings(database_url=url, secret_key="browser-key-" + "b" * 32, _env_file=None)


@pytest.fixture(scope="module")
def server(city: tuple[Engine, Settings]) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread."""
    with serving(create_app(city[1])) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
