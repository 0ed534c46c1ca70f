"""Request size (issue 14): a body over its route's limit is a 413 before it is read whole,
whether its Content-Length says so, lies, or is absent (chunked); a body sent to a route that
needs a token is refused without one before it is read at all."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import FORM_SLACK_BYTES, WITHIN_MAX_BODY_BYTES
from gisgrid.settings import Settings
from tests.live_server import serving

DB = "limits_scratch"
BODY_LIMIT = 64 * 1024
PHOTO_LIMIT = 200 * 1024


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    return {"max_body_bytes": BODY_LIMIT, "max_photo_bytes": PHOTO_LIMIT}


@pytest.fixture(scope="module")
def live(app_settings: Settings) -> Iterator[str]:
    with serving(create_app(app_settings)) as url:
        yield url


def _polygon(n: int) -> dict[str, Any]:
    ring = [[126.6 + i * 1e-7, 45.7 + (i % 2) * 1e-7] for i in range(n)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_a_json_body_over_the_default_limit_is_413(
    client: TestClient, worker: tuple[dict[str, str], int]
) -> None:
    headers, _ = worker
    body = {"lon": 126.6, "lat": 45.7, "category": "0101", "description": "x" * BODY_LIMIT}
    r = client.post("/incidents", json=body, headers=headers)
    assert r.status_code == 413, r.text
    assert r.json() == {
        "error": "TooLarge",
        "field": None,
        "reason": f"the request body is larger than the limit of {BODY_LIMIT} bytes for this route",
    }


def test_within_takes_a_larger_polygon_than_the_default_limit(
    client: TestClient, admin: dict[str, str]
) -> None:
    geometry = _polygon(5_000)  # ~200 kB of JSON: over 64 kB, under the route's own limit
    assert BODY_LIMIT < len(json.dumps(geometry)) < WITHIN_MAX_BODY_BYTES
    r = client.post("/query/within", json={"geometry": geometry}, headers=admin)
    assert r.status_code in (200, 400), r.text  # a 400 is about the polygon, not its size
    assert r.status_code != 413
    big = {"geometry": geometry, "pad": "x" * WITHIN_MAX_BODY_BYTES}
    assert client.post("/query/within", json=big, headers=admin).status_code == 413


def test_a_photo_over_its_limit_is_413_and_one_under_it_is_read(
    client: TestClient, worker: tuple[dict[str, str], int]
) -> None:
    headers, _ = worker
    path = "/incidents/1/photos"
    big = bytes(PHOTO_LIMIT + FORM_SLACK_BYTES)
    r = client.post(path, files={"photo": ("p.jpg", big, "image/jpeg")}, headers=headers)
    assert r.status_code == 413, r.text
    assert str(PHOTO_LIMIT + FORM_SLACK_BYTES) in r.json()["reason"]
    # over GISGRID_MAX_PHOTO_BYTES but within the envelope's slack: the photo rule's own 400
    r = client.post(path, files={"photo": ("p.jpg", bytes(PHOTO_LIMIT + 1), "image/jpeg")},
                    headers=headers)  # fmt: skip
    assert r.status_code in (400, 404), r.text


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/incidents", {}),
        ("/incidents/1/accept", {}),
        ("/incidents/1/photos", {}),
        ("/query/within", {"Authorization": "Bearer not-a-token"}),
    ],
)
def test_no_token_is_401_before_the_body_is_read(
    live: str, path: str, headers: dict[str, str]
) -> None:
    """Content-Length says 2 GB and only 10 bytes come: the 401 is there at once."""
    status, body = _send_head(live, path, {"Content-Length": str(2 * 1024**3), **headers})
    assert status == 401, body
    assert json.loads(body)["error"] == "NotAuthenticated"


def test_a_content_length_over_the_limit_is_413_before_the_body(
    live: str, worker: tuple[dict[str, str], int]
) -> None:
    headers, _ = worker
    for path in ("/incidents", "/incidents/1/photos", "/query/within"):
        status, body = _send_head(live, path, {"Content-Length": str(2 * 1024**3), **headers})
        assert status == 413, (path, body)
        assert json.loads(body)["error"] == "TooLarge"


def test_a_streamed_body_without_content_length_stops_at_the_limit(
    live: str, worker: tuple[dict[str, str], int]
) -> None:
    """Chunked, no Content-Length, 64 kB chunks up to 256 MB: the 413 comes long before."""
    headers, _ = worker
    sent, status, body = _stream(live, "/incidents", headers, total=256 * 1024**2)
    assert status == 413, body
    assert sent < 64 * 1024**2, f"the server read {sent} bytes before answering"


def test_a_content_length_that_lies_low_is_cut_at_what_it_says(
    live: str, worker: tuple[dict[str, str], int]
) -> None:
    """Content-Length 100 and then 1 MB: the body is the 100 bytes it named (broken JSON, a
    400 naming the body); the rest is never taken as part of it."""
    headers, _ = worker
    url = urlsplit(live)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(_head("/incidents", {"Content-Length": "100", **headers}) + b"{" * 1024 * 1024)
        status, body = _response(s)
    assert status == 400, body


# -- raw HTTP/1.1, so that the client decides what Content-Length says ----------------------


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(s: socket.socket, timeout_s: float = 10.0) -> tuple[int, str]:
    data = b""
    deadline = time.monotonic() + timeout_s
    while b"\r\n\r\n" not in data or not _complete(data):
        assert time.monotonic() < deadline, f"no full answer in {timeout_s} s: {data[:200]!r}"
        ready, _, _ = select.select([s], [], [], 0.2)
        if ready:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _send_head(live: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    url = urlsplit(live)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(_head(path, headers) + b'{"lon": 1,')
        return _response(s, timeout_s=5.0)


def _stream(live: str, path: str, headers: dict[str, str], total: int) -> tuple[int, int, str]:
    url = urlsplit(live)
    chunk = b"[" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(_head(path, {"Transfer-Encoding": "chunked", **headers}))
        while sent < total:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break  # the server has answered
            try:
                s.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, body = _response(s)
    return sent, status, body
