"""The synthetic Harbin twin: a deterministic city inside the real district outlines.

``generate(scale, seed)`` builds every table as a DataFrame, with planted hotspots written to
``City.ground_truth``; ``write_city`` loads it into PostGIS in one transaction.

Examples
--------
>>> from gisgrid.synth import SCALES
>>> sorted(SCALES)
['city', 'small', 'tiny']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gisgrid.synth import events, people, services
from gisgrid.synth.city import BOUNDARIES, SCALES, VALID_FROM, City, Scale
from gisgrid.synth.city import generate_hierarchy_and_people as _hierarchy
from gisgrid.synth.geo import Plane
from gisgrid.taxonomy import categories

__all__ = ["SCALES", "STREAM_ABOVE", "City", "Scale", "generate"]

# More incidents than this are generated and loaded a month at a time (City.incident_chunks).
STREAM_ABOVE = 1_000_000


def generate(
    scale: str | Scale,
    seed: int = 42,
    *,
    salt: str = "gisgrid-demo-salt-change-me",
    boundaries: Path = BOUNDARIES,
    step: Callable[[str], None] | None = None,
    incidents: int | None = None,
) -> City:
    """Generate the whole city for a scale ('tiny', 'small', 'city') and seed.

    ``incidents`` overrides the scale's number of incidents. Above :data:`STREAM_ABOVE` the
    incidents and their events are not in ``City.tables``: ``City.incident_chunks`` yields
    them one local month at a time, drawn as they are consumed (a 10M year does not fit in
    memory as DataFrames); below, every table is in memory as before, the same for a seed.
    """
    if isinstance(scale, str):
        if scale not in SCALES:
            raise ValueError(f"scale={scale!r}; expected one of {sorted(SCALES)}")
        scale = SCALES[scale]
    if incidents is not None:
        if incidents < 1:
            raise ValueError(f"incidents={incidents!r}; expected a positive number")
        scale = dataclasses.replace(scale, incidents=incidents)
    say = step or (lambda _msg: None)
    city = City(scale=scale, seed=seed)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 7]).spawn(6)]

    say("areas")
    h = _hierarchy(scale, seed, boundaries)
    plane = h["plane"]
    lookup = people.hierarchy_lookup(h["areas"])
    grid_xy = {a["id"]: a["geom_xy"] for a in h["areas"] if a["level"] == "grid"}
    dname = {a["id"]: a["name"] for a in h["areas"] if a["level"] == "district"}
    dcode = {a["id"]: a["code"] for a in h["areas"] if a["level"] == "district"}

    say("buildings")
    b = people.buildings(h, grid_xy, lookup, dname, rngs[0])
    say("households")
    hh = people.households(b, rngs[1])
    say("residents")
    res = people.residents(hh, dcode, salt, rngs[2])

    areas = _areas_frame(h, plane, hh, res)
    say("places, units, accounts")
    pl = services.places(b, rngs[3])
    un = services.units(areas, b, rngs[3])
    acc = services.accounts(areas, un, rngs[3])
    say("incidents")
    inc: pd.DataFrame | None = None
    ev: pd.DataFrame | None = None
    if scale.incidents > STREAM_ABOVE:
        plan = events.plan_incidents(
            b, un, scale.incidents, scale.hotspots, scale.emerging, plane, rngs[4]
        )
        city.incident_chunks = events.chunks(plan, b, acc, rngs[4])
        city.incident_count = len(plan)
        truth = events.ground_truth(plan)
    else:
        inc, ev, truth = events.incidents(
            b, areas, un, acc, scale.incidents, scale.hotspots, scale.emerging, plane, rngs[4]
        )
    code_of = dict(zip(areas["id"], areas["code"], strict=True))
    for t in truth["planted"]:
        t["grid_codes"] = [code_of[g] for g in t.pop("grid_ids")]
    say("visit logs")
    vl = events.visit_logs(hh, acc, scale.visits_per_grid, rngs[5])

    cats = pd.DataFrame([c._asdict() for c in categories()]).drop(columns=["season"])
    city.tables = {
        "incident_categories": cats,
        "areas": areas,
        "units": un,
        "accounts": acc,
        "buildings": b,
        "households": hh,
        "residents": res,
        "places": pl,
        "visit_logs": vl,
    }
    if inc is not None and ev is not None:
        city.tables["incidents"] = inc
        city.tables["incident_events"] = ev
    city.ground_truth = {"scale": scale.name, "seed": seed, **truth}
    return city


def _areas_frame(
    h: dict[str, Any], plane: Plane, hh: pd.DataFrame, res: pd.DataFrame
) -> pd.DataFrame:
    rows = h["areas"]
    geoms = [
        a["geom"] if a["geom"] is not None else plane.geom_to_lonlat(a["geom_xy"]) for a in rows
    ]
    df = pd.DataFrame(
        {
            "id": [a["id"] for a in rows],
            "code": [a["code"] for a in rows],
            "name": [a["name"] for a in rows],
            "level": [a["level"] for a in rows],
            "parent_id": pd.array([a["parent_id"] for a in rows], dtype="Int64"),
            "valid_from": VALID_FROM,
            "geom": geoms,
        }
    )
    hh_count = pd.Series(0, index=df["id"], dtype="int64")
    pop = pd.Series(0, index=df["id"], dtype="int64")
    for col in ("grid_id", "community_id", "street_id", "district_id"):
        hh_count = hh_count.add(hh.groupby(col).size(), fill_value=0)
        pop = pop.add(res.groupby(col).size(), fill_value=0)
    city_id = df.loc[df.level == "city", "id"].iat[0]
    hh_count[city_id] = len(hh)
    pop[city_id] = len(res)
    df["households"] = hh_count.reindex(df["id"]).fillna(0).astype(int).to_numpy()
    df["population"] = pop.reindex(df["id"]).fillna(0).astype(int).to_numpy()
    return df
