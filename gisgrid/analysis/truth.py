"""Scoring hot-spot findings against the synthetic city's planted truth.

The demo city (:mod:`gisgrid.synth`) plants hot spots (extra incidents all year around a
centre) and emerging hot spots (extra incidents rising over the last months), and writes
them to ``<data dir>/demo/ground_truth_<scale>_<seed>.json``: each with kind, centre (lon,
lat), radius_m and the codes of the grids holding its buildings. A spot's units are those
grids at grid level, and the units touching its circle at any other level (hexagons).

The scores, from Gi* and emerging hot spots run with an unlimited scope:

- recall: the share of planted hot spots with at least one unit hot at 95 % or 99 % (FDR);
  ``unit_recall``: the share of their units that are;
- outside share: of the units hot at 95 % or 99 %, the share in no planted spot (hot or
  emerging: both are planted concentrations). ``ring``: how many of those outside units
  are queen neighbours of a planted unit, where Gi* spills over by construction (a unit's
  neighbourhood holds the spot);
- emerging recall: the share of planted emerging spots with a unit categorised as a new,
  intensifying or consecutive hot spot.

Examples
--------
>>> HOT_CLASSES, sorted(EMERGING_FOUND)
(('hot_99', 'hot_95'), ['consecutive_hot', 'intensifying_hot', 'new_hot'])
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gisgrid.access.scope import Scope
from gisgrid.analysis.emerging import emerging_hotspots
from gisgrid.analysis.heat import Bind
from gisgrid.analysis.hotspots import hotspots
from gisgrid.analysis.weights import spatial_weights
from gisgrid.crs import metric_crs
from gisgrid.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import geopandas as gpd

HOT_CLASSES = ("hot_99", "hot_95")
EMERGING_FOUND = frozenset({"new_hot", "intensifying_hot", "consecutive_hot"})


def truth_path(data_dir: Path, scale: str, seed: int) -> Path:
    """Where ``gisgrid demo`` writes the planted truth of a scale and seed."""
    return Path(data_dir) / "demo" / f"ground_truth_{scale}_{seed}.json"


def load_truth(path: Path) -> dict[str, Any]:
    """The planted truth in ``path``; NotFound naming the file when there is none."""
    try:
        truth: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(
            f"no planted truth at {path}: run `gisgrid demo` with this scale and seed first",
            field="seed",
        ) from None
    if not isinstance(truth.get("planted"), list):
        raise InvalidInput(f"{path} has no list of planted spots", field="seed")
    return truth


@dataclass(frozen=True)
class SpotScore:
    id: str
    kind: str
    units: int
    hot_units: int
    categories: dict[str, int]
    found: bool


@dataclass(frozen=True)
class TruthScore:
    """The figures of one run (see the module doc); ``spots`` one line per planted spot."""

    level: str
    hotspots_planted: int
    hotspots_found: int
    recall: float
    unit_recall: float
    hot_units: int
    hot_outside: int
    outside_share: float
    hot_outside_in_ring: int
    emerging_planted: int
    emerging_found: int
    emerging_recall: float
    spots: list[SpotScore] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def planted_units(
    units: gpd.GeoDataFrame, truth: dict[str, Any], level: str
) -> dict[str, set[int]]:
    """Planted spot id -> the ids of its units among ``units`` (id, code, geometry)."""
    if level == "grid":
        id_of = dict(zip(units["code"], units["id"], strict=True))
        return {
            s["id"]: {int(id_of[c]) for c in s["grid_codes"] if c in id_of}
            for s in truth["planted"]
        }
    import geopandas as gpd
    import shapely

    w, s_, e, n = units.total_bounds
    crs = metric_crs([w, e], [s_, n])
    metric = units.to_crs(crs)
    out: dict[str, set[int]] = {}
    for s in truth["planted"]:
        centre = gpd.GeoSeries([shapely.Point(s["lon"], s["lat"])], crs=4326).to_crs(crs)
        circle = centre.iloc[0].buffer(float(s["radius_m"]))
        hit = metric.geometry.intersects(circle).to_numpy()
        out[s["id"]] = {int(i) for i in metric["id"].to_numpy()[hit]}
    return out


def score(
    hot: gpd.GeoDataFrame, emerging: gpd.GeoDataFrame | None, truth: dict[str, Any], level: str
) -> TruthScore:
    """Score a :func:`gisgrid.analysis.hotspots.hotspots` (Gi*) result and an
    :func:`gisgrid.analysis.emerging.emerging_hotspots` result (or None) of the same units
    against ``truth``."""
    spots = planted_units(hot, truth, level)
    is_hot = hot["class"].isin(HOT_CLASSES).to_numpy()
    hot_ids = {int(i) for i in hot["id"].to_numpy()[is_hot]}
    category = (
        dict(zip(emerging["id"], emerging["category"], strict=True)) if emerging is not None else {}
    )
    in_any = set().union(*spots.values()) if spots else set()
    w = spatial_weights(hot, "queen")
    ring: set[int] = set()
    for unit in in_any:
        ring.update(w.neighbours_of(unit))
    ring -= in_any
    lines = []
    for s in truth["planted"]:
        members = spots[s["id"]]
        cats: dict[str, int] = {}
        for unit in members:
            c = str(category.get(unit, "not_run"))
            cats[c] = cats.get(c, 0) + 1
        n_hot = len(members & hot_ids)
        found = n_hot > 0 if s["kind"] == "hotspot" else bool(set(cats) & EMERGING_FOUND)
        lines.append(SpotScore(s["id"], s["kind"], len(members), n_hot, cats, found))
    hot_spots = [ln for ln in lines if ln.kind == "hotspot"]
    em_spots = [ln for ln in lines if ln.kind == "emerging"]
    hot_members = set().union(*(spots[ln.id] for ln in hot_spots)) if hot_spots else set()
    outside = hot_ids - in_any
    return TruthScore(
        level=level,
        hotspots_planted=len(hot_spots),
        hotspots_found=sum(ln.found for ln in hot_spots),
        recall=_share(sum(ln.found for ln in hot_spots), len(hot_spots)),
        unit_recall=_share(len(hot_members & hot_ids), len(hot_members)),
        hot_units=len(hot_ids),
        hot_outside=len(outside),
        outside_share=_share(len(outside), len(hot_ids)),
        hot_outside_in_ring=len(outside & ring),
        emerging_planted=len(em_spots),
        emerging_found=sum(ln.found for ln in em_spots) if emerging is not None else 0,
        emerging_recall=_share(sum(ln.found for ln in em_spots), len(em_spots))
        if emerging is not None
        else float("nan"),
        spots=lines,
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def score_store(
    bind: Bind,
    truth: dict[str, Any],
    level: str = "grid",
    cell_m: float = 250.0,
    permutations: int = 999,
    seed: int = 0,
    emerging: bool = True,
    step: Callable[[str], None] | None = None,
) -> TruthScore:
    """Run Gi* (counts, queen weights, ``permutations``) and, with ``emerging``, emerging hot
    spots (weekly, 199 permutations) on the store's incidents as an unlimited scope sees them,
    and score both against ``truth``. ``step`` is told what runs next (for a progress line)."""
    say = step or (lambda _msg: None)
    scope = Scope.everything()
    say("Gi* hot spots")
    hot = hotspots(
        bind, "gistar", level, scope=scope, permutations=permutations, seed=seed, cell_m=cell_m
    )
    found = None
    if emerging:
        say("emerging hot spots")
        found = emerging_hotspots(bind, level, scope=scope, cell_m=cell_m, seed=seed)
    say("scoring")
    result = score(hot, found, truth, level)
    if np.isnan(result.recall):
        raise InvalidInput("the truth plants no hot spot to score against", field="seed")
    return result
