"""What the field intake tests share: a real PNG, settings with a photo store, a rolled-back
connection."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from gisgrid.incidents.photos import store_photo
from gisgrid.settings import Settings


def png(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "PNG")
    return buf.getvalue()


def photo_settings(base: Path) -> Settings:
    return Settings(data_dir=base, _env_file=None)


def stored_photo(settings: Settings, colour: tuple[int, int, int] = (200, 30, 30)) -> str:
    return store_photo(png(colour), settings)
