"""The HTML view of the OGC API - Features documents: plain pages, every value escaped.

Each page is rendered from the same JSON document the API serves, so the two cannot drift:
links become anchors, collections a table, a FeatureCollection a table of properties with
its paging links. No script, no map: the page works anywhere, and the web map is elsewhere.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

HTML = "text/html"

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:80rem}"
    "table{border-collapse:collapse;font-size:.9rem}"
    "td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}code{font-size:.85rem}"
)


def wants_html(request: Request) -> bool:
    """``f=html``, or no ``f`` and a browser's Accept header that puts text/html first."""
    f = request.query_params.get("f")
    if f is not None:
        return f == "html"
    accept = request.headers.get("accept", "")
    first = accept.split(",")[0].split(";")[0].strip().lower()
    return first == HTML


def _href(url: str, f_html: bool) -> str:
    """The html view of a link to one of our own JSON resources."""
    if not f_html:
        return url
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("f=")]
    return f"{base}?{'&'.join([*kept, 'f=html'])}"


def _links(links: list[dict[str, Any]]) -> str:
    items = []
    for link in links:
        # our own JSON links open as html pages; the alternate is the JSON itself
        ours = link["rel"] != "alternate" and link.get("type") in (
            "application/json",
            "application/geo+json",
        )
        href = escape(_href(link["href"], ours), quote=True)
        label = escape(link.get("title") or link["rel"])
        items.append(
            f'<li><a href="{href}">{label}</a> <small>({escape(link["rel"])})</small></li>'
        )
    return f"<ul>{''.join(items)}</ul>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return f"<code>{escape(json.dumps(value, ensure_ascii=False))}</code>"
    return escape(str(value))


def _collections_table(collections: list[dict[str, Any]]) -> str:
    rows = []
    for c in collections:
        items = next(link["href"] for link in c["links"] if link["rel"] == "items")
        bbox = c["extent"]["spatial"]["bbox"]
        rows.append(
            f'<tr><td><a href="{escape(_href(items, True), quote=True)}">{escape(c["id"])}</a>'
            f"</td><td>{escape(c['title'])}</td><td>{escape(c['description'])}</td>"
            f"<td>{_cell(bbox[0] if bbox else None)}</td>"
            f"<td>{_cell(c['extent']['temporal']['interval'][0])}</td></tr>"
        )
    head = "<tr><th>id</th><th>title</th><th>description</th><th>bbox</th><th>time</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _features_table(features: list[dict[str, Any]]) -> str:
    if not features:
        return "<p>No features.</p>"
    names = list(features[0]["properties"])
    head = "".join(f"<th>{escape(n)}</th>" for n in ["id", "geometry", *names])
    rows = []
    for f in features:
        geom = f.get("geometry") or {}
        cells = [_cell(f["id"]), _cell(geom.get("type"))]
        cells += [_cell(f["properties"].get(n)) for n in names]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render(title: str, doc: dict[str, Any]) -> HTMLResponse:
    """One page for a landing page, conformance, collection(s), items or item document."""
    parts = [f"<h1>{escape(title)}</h1>"]
    if doc.get("description"):
        parts.append(f"<p>{escape(doc['description'])}</p>")
    if "conformsTo" in doc:
        parts.append("<ul>" + "".join(f"<li>{escape(c)}</li>" for c in doc["conformsTo"]))
        parts.append("</ul>")
    if "collections" in doc:
        parts.append(_collections_table(doc["collections"]))
    if doc.get("type") == "FeatureCollection":
        parts.append(
            f"<p>{doc['numberReturned']} of {doc.get('numberMatched', 'more')} features "
            f"(at {escape(doc['timeStamp'])})</p>"
        )
        parts.append(_features_table(doc["features"]))
    if doc.get("type") == "Feature":
        parts.append(_features_table([doc]))
        parts.append(f"<pre>{escape(json.dumps(doc['geometry'])[:20000])}</pre>")
    if doc.get("links"):
        parts.append("<h2>Links</h2>" + _links(doc["links"]))
    body = "".join(parts)
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(page)
