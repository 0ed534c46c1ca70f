"""Photos of incidents: checked, stored by content, attached, and served only within scope.

A photo is stored once under its SHA-256, as ``<data_path>/photos/ab/cd/<sha>.<ext>``; the
hash is what ``incidents.photos`` and ``incident_events.photos`` hold. Only JPEG, PNG and WebP
are accepted, known by their magic bytes and, when Pillow is installed, by Pillow opening them
(so a truncated or forged header is refused too). Attaching a photo does not change the case:
no new version and no event, so it needs no If-Match.

Examples
--------
>>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
'png'
>>> sniff(b"hello") is None
True
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.incidents.workflow import Conn, _visible_sql, get_incident
from gisgrid.settings import Settings

EXTENSIONS = ("jpg", "png", "webp")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def sniff(data: bytes) -> str | None:
    """The extension (jpg, png, webp) the magic bytes name, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _what(data: bytes) -> str:
    """A short name for refused content, for the error message."""
    head = data[:64]
    if not data:
        return "an empty file"
    if head.startswith(b"%PDF"):
        return "a PDF"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return f"unknown binary content starting {data[:4].hex()}"


def _check_with_pillow(data: bytes, ext: str) -> None:
    try:
        from PIL import Image
    except ImportError:  # magic bytes only: Pillow is optional
        return
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            im.verify()
    except Exception as exc:  # Pillow raises many kinds for broken files
        raise InvalidInput(
            f"looks like {ext.upper()} but cannot be read as an image ({exc})", field="photo"
        ) from None
    if fmt != _PIL_FORMATS[ext]:
        raise InvalidInput(f"magic bytes say {ext}, the image says {fmt}", field="photo")


def check_photo(data: bytes, max_bytes: int) -> str:
    """The photo's extension, or InvalidInput(field="photo") naming the size or the content."""
    if len(data) > max_bytes:
        raise InvalidInput(
            f"is larger than the limit of {max_bytes} bytes (GISGRID_MAX_PHOTO_BYTES)",
            field="photo",
        )
    ext = sniff(data)
    if ext is None:
        raise InvalidInput(f"is {_what(data)}; expected one of JPEG, PNG, WebP", field="photo")
    _check_with_pillow(data, ext)
    return ext


def photo_dir(settings: Settings) -> Path:
    return settings.data_path / "photos"


def _path(settings: Settings, sha: str, ext: str) -> Path:
    return photo_dir(settings) / sha[:2] / sha[2:4] / f"{sha}.{ext}"


def store_photo(data: bytes, settings: Settings) -> str:
    """Check ``data`` and store it by content; returns its SHA-256 (hex). Idempotent.

    Examples
    --------
    >>> import tempfile
    >>> s = Settings(data_dir=Path(tempfile.mkdtemp()), _env_file=None)
    >>> png = bytes.fromhex(
    ...     "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    ...     "0000000a4944415478da6360000000020001e527defc0000000049454e44ae426082"
    ... )
    >>> sha = store_photo(png, s)
    >>> sha == store_photo(png, s), find_photo(s, sha).suffix
    (True, '.png')
    """
    ext = check_photo(data, settings.max_photo_bytes)
    sha = hashlib.sha256(data).hexdigest()
    path = _path(settings, sha, ext)
    if path.exists():
        return sha
    path.parent.mkdir(parents=True, exist_ok=True)
    # write then rename: a reader never sees half a file, two writers of one hash agree
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


def check_sha(sha: str) -> str:
    if not _SHA_RE.match(sha):
        raise NotFound(f"no photo {sha!r}", field="sha")
    return sha


def find_photo(settings: Settings, sha: str) -> Path:
    """The stored file of a hash; NotFound when there is none."""
    check_sha(sha)
    for ext in EXTENSIONS:
        path = _path(settings, sha, ext)
        if path.is_file():
            return path
    raise NotFound(f"no photo {sha}", field="sha")


def attach_photo(conn: Conn, caller: Caller, incident_id: int, sha: str) -> list[str]:
    """Append a stored photo's hash to an incident the caller may see; returns its photos.

    The version is not bumped: a photo adds evidence, it does not move the case.
    """
    check_sha(sha)
    get_incident(conn, caller, incident_id)
    row = conn.execute(
        text(
            "UPDATE incidents SET photos = CASE WHEN :sha = ANY(photos) THEN photos"
            " ELSE array_append(photos, CAST(:sha AS text)) END WHERE id = :id RETURNING photos"
        ),
        {"sha": sha, "id": incident_id},
    ).one()
    return list(row.photos)


def may_see_photo(conn: Conn, caller: Caller, sha: str) -> bool:
    """Whether an incident, or an event of one, in the caller's scope references ``sha``."""
    check_sha(sha)
    where, params = _visible_sql(caller)
    found: Any = conn.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM incidents i WHERE {where} AND (:sha = ANY(i.photos)"
            " OR EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = i.id"
            " AND :sha = ANY(e.photos))))"
        ),
        {**params, "sha": sha},
    ).scalar_one()
    return bool(found)
