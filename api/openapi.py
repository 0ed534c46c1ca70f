"""The OpenAPI document says what the server answers: every error status an operation can
give, in the shape it gives it.

FastAPI documents the 200 and a 422 that this API never sends (request validation errors are
400 in the ``{error, field, reason}`` shape, :func:`api.errors.install`). :func:`install`
wraps ``app.openapi`` so that each operation also lists, where it applies:

- 400 everywhere: bad input naming the field, or a Host the server does not answer to;
- 401 where the operation reads a bearer token (its ``security``);
- 404 where the path names something;
- 413 where there is a request body;
- 503 everywhere: the database cannot be reached;

each with the error schema (Open311's routes: GeoReport's error list). Descriptions a route
gives itself are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "The error class, e.g. InvalidInput."},
        "field": {"type": ["string", "null"], "description": "The field it is about."},
        "reason": {"type": "string"},
        "rows": {
            "type": "array",
            "items": {"type": "object"},
            "description": "A file load's bad rows (row, field, reason).",
        },
    },
    "required": ["error", "field", "reason"],
}
OPEN311_ERROR: dict[str, Any] = {
    "title": "Open311Error",
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
DESCRIPTIONS = {
    "400": "Bad input (`field` names it), or a Host this server does not answer to",
    "401": "No valid bearer token where one is needed",
    "404": "Not found, or outside the caller's scope",
    "413": "The request body is larger than this operation's limit",
    "503": "The database cannot be reached",
}
METHODS = ("get", "put", "post", "delete", "patch")


def document(app: FastAPI, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (FastAPI's document of ``app``) with the error responses added, in place."""
    del app
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR
    schemas["Open311Error"] = OPEN311_ERROR
    # FastAPI's own validation error schemas describe the 422 this API does not send
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method in METHODS:
                _operation(path, op)
    return doc


def _operation(path: str, op: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    responses.pop("422", None)
    statuses = ["400", "503"]
    if op.get("security"):
        statuses.append("401")
    if "{" in path:
        statuses.append("404")
    if "requestBody" in op:
        statuses.append("413")
    ref = "Open311Error" if path.startswith("/open311/") else "Error"
    for status in statuses:
        responses.setdefault(status, {"description": DESCRIPTIONS[status]})
    for status, response in responses.items():
        if status[:1] in ("4", "5") and "content" not in response:
            schema = {"$ref": f"#/components/schemas/{ref}"}
            response["content"] = {"application/json": {"schema": schema}}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer the completed document (built once, then kept)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
