"""What publishing a plan would change: the draft grids against the parent's current grids.

:func:`plan_diff` answers

- ``kept``: codes in both whose polygons differ by under 1 m^2 (symmetric difference);
- ``changed``: codes in both, redrawn (with the area that changed hands, ``delta_m2``);
- ``new``: draft codes that no current grid has; ``retired``: current codes the draft drops;
- ``moves``: what changes grid, counted per (old code, new code) pair where the two differ:
  ``households``, ``residents`` (via their household), ``places`` and ``open_incidents``
  (closed incidents keep the grid they were reported in, so they never move). A point's old
  grid is the current polygon holding it, its new grid the draft polygon holding it, decided
  as the workload decides it (:mod:`gisgrid.planning.snapshot`); ``to`` is None for a point
  the draft leaves in no grid (a gap);
- ``workers``: grid workers whose grid is retired or split (its polygon now lies in more
  than one draft grid by more than 1 m^2), each with the draft grid holding most of their
  old grid (``to``, None when none does).

Examples
--------
>>> _pairs(np.array([0, 0, 1, 1]), np.array([0, 1, 1, -1]), {"households": np.ones(4)},
...        ["A", "B"], ["A", "B"])
[{'from': 'A', 'to': 'B', 'households': 1}, {'from': 'B', 'to': None, 'households': 1}]
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from gisgrid.planning.snapshot import Conn, IntArray, Snapshot, solid_area


def plan_diff(conn: Conn, plan_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """The diff JSON of a plan against the current boundaries (see the module); NotFound for
    no such plan. It reads and writes nothing else.

    Examples
    --------
    >>> plan_diff(conn, plan_id)["new"]  # doctest: +SKIP
    ['230108001001011']
    """
    return diff_of(Snapshot(conn, plan_id, now))


def diff_of(snap: Snapshot) -> dict[str, Any]:
    """:func:`plan_diff` of a plan already read."""
    draft, current = snap.draft, snap.current
    old_at = {c: i for i, c in enumerate(current.codes)}
    i = np.array([k for k, c in enumerate(draft.codes) if c in old_at], dtype=np.int64)
    j = np.array([old_at[draft.codes[k]] for k in i], dtype=np.int64)
    delta = solid_area(shapely.symmetric_difference(draft.metric[i], current.metric[j]))
    kept = [draft.codes[k] for k, dm in zip(i, delta, strict=True) if dm == 0]
    changed = [
        {"code": draft.codes[k], "delta_m2": round(float(dm), 1)}
        for k, dm in zip(i, delta, strict=True)
        if dm > 0
    ]
    drafted = set(draft.codes)
    return {
        "kept": kept,
        "changed": changed,
        "new": sorted(drafted - set(old_at)),
        "retired": sorted(set(old_at) - drafted),
        "moves": _moves(snap),
        "workers": _workers(snap, drafted),
    }


def _pairs(
    old: IntArray,
    new: IntArray,
    columns: dict[str, np.ndarray],
    old_codes: list[str],
    new_codes: list[str],
) -> list[dict[str, Any]]:
    """Column sums per (old code, new code) for the points whose code changes."""
    out: dict[tuple[str, str | None], dict[str, int]] = defaultdict(dict)
    frm = np.array([*old_codes, None], dtype=object)[old]  # -1 picks the None
    to = np.array([*new_codes, None], dtype=object)[new]
    moving = (old >= 0) & (frm != to)
    for k in np.flatnonzero(moving):
        key = (frm[k], to[k])
        for name, values in columns.items():
            out[key][name] = out[key].get(name, 0) + int(values[k])
    return [
        {"from": f, "to": t, **v}
        for (f, t), v in sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]


def _moves(snap: Snapshot) -> list[dict[str, Any]]:
    draft, current = snap.draft, snap.current
    kinds = (
        ("households", {"households": "households", "residents": "residents"}),
        ("places", {"places": "places"}),
        ("incidents", {"open_incidents": "open"}),
    )
    table: dict[tuple[str, str | None], dict[str, int]] = {}
    names = ("households", "residents", "places", "open_incidents")
    for kind, cols in kinds:
        points = snap.moved(kind)
        old = points.columns["grid"].astype(np.int64)
        new = draft.layout.locate(points.xy)
        values = {out: points.columns[src] for out, src in cols.items()}
        for row in _pairs(old, new, values, current.codes, draft.codes):
            key = (row.pop("from"), row.pop("to"))
            table.setdefault(key, dict.fromkeys(names, 0)).update(row)
    rows = [{"from": f, "to": t, **v} for (f, t), v in table.items() if any(v.values())]
    return sorted(rows, key=lambda r: (r["from"], r["to"] or ""))


def _workers(snap: Snapshot, drafted: set[str]) -> list[dict[str, Any]]:
    draft, current = snap.draft, snap.current
    where = {int(g): j for j, g in enumerate(current.ids)}
    redrawn = set(snap.redrawn.tolist())  # a grid the draft copies keeps its worker
    out = []
    for w in snap.workers:
        j = where.get(w.grid_id)
        if j is None or (j not in redrawn and current.codes[j] in drafted):
            continue
        code = current.codes[j]
        near = draft.layout.tree.query(current.geoms[j], predicate="intersects")
        held = solid_area(shapely.intersection(draft.metric[near], current.metric[j]))
        pieces = int(np.sum(held > 0))
        retired = code not in drafted
        if not retired and pieces <= 1:
            continue
        to = draft.codes[near[int(np.argmax(held))]] if pieces else None
        out.append(
            {
                "account_id": w.id,
                "username": w.username,
                "from": code,
                "to": to,
                "why": "retired" if retired else "split",
            }
        )
    return out
