"""The parameters of a hot-spot request, read once for every surface that serves one: the API's
``/analysis/hotspots``, the ``hotspots`` vector tiles, their TileJSON and the web map's panel.

:meth:`HotspotParams.parse` reads a query string (the incident filters ``category``,
``status``, ``from`` and ``to`` are left to :class:`gisgrid.tiles.filters.TileFilters`),
refuses an unknown name, a bad value and a parameter that does not apply to the method
(``step`` with Gi*, ``k`` with queen weights), each as InvalidInput naming it.
:meth:`HotspotParams.as_dict` is the canonical form, with every default filled in: the cache
key, the ``parameters`` member of the answer and the query of the tile URLs.
:meth:`HotspotParams.run` computes the answer with :func:`gisgrid.analysis.hotspots.hotspots` or
:func:`gisgrid.analysis.emerging.emerging_hotspots`, and adds each unit's count series.

Examples
--------
>>> p = HotspotParams.parse({"method": "lisa", "level": "hex", "cell_m": "150",
...                          "category": "01"})
>>> p.as_dict()["permutations"], p.as_dict()["cell_m"]
(999, 150.0)
>>> HotspotParams.parse({"method": "gistar", "step": "week"})
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: step: step applies to method='emerging' only
>>> HotspotParams.parse({"k": "eight"})
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: k: k='eight'; expected an integer
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gisgrid.access.scope import Scope
from gisgrid.analysis.emerging import MAX_K_TIME, STEPS, emerging_hotspots
from gisgrid.analysis.hotspots import P_VALUES, _check_alpha, hotspots
from gisgrid.analysis.permutation import check_permutations
from gisgrid.analysis.series import count_series
from gisgrid.analysis.units import LEVELS, VALUES, check_cell_m, check_choice
from gisgrid.analysis.weights import KINDS, MAX_K
from gisgrid.errors import InvalidInput
from gisgrid.store.engine import Bind
from gisgrid.tiles.filters import FILTER_PARAMS, TileFilters

if TYPE_CHECKING:
    import geopandas as gpd

METHODS = ("gistar", "lisa", "emerging")
PERMUTATIONS = {"gistar": 999, "lisa": 999, "emerging": 199}

# name -> (what it is, for the API's documentation)
DESCRIPTIONS: dict[str, str] = {
    "method": f"gistar (Getis-Ord Gi*), lisa (local Moran's I) or emerging; one of {METHODS}",
    "level": f"units of analysis: one of {LEVELS} (hex: hexagons of side cell_m)",
    "value": f"gistar and lisa: one of {VALUES} (rates are empirical-Bayes smoothed)",
    "weights": f"spatial weights: one of {KINDS}",
    "k": "weights=knn: neighbours per unit, 1..100 (default 8)",
    "distance_m": "weights=distance: the band in metres",
    "cell_m": "level=hex: hexagon side in metres (default 250)",
    "permutations": "conditional permutations, 0..9999 (default 999; emerging 199)",
    "seed": "random seed of the permutations (default 0)",
    "alpha": "significance level in (0, 1) (default 0.05)",
    "p_value": f"the p the classes use: one of {P_VALUES} (default: norm for gistar and "
    "emerging, sim for lisa)",
    "fdr": "Benjamini-Hochberg false discovery rate correction: true or false (default true)",
    "step": f"emerging: time step, one of {STEPS} (default week)",
    "k_time": f"emerging: time steps back in a bin's neighbourhood, 0..{MAX_K_TIME} (default 1)",
    "within": "an area id: only the units under it (the study area)",
}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r}; expected an integer", field=name) from None


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r}; expected a number", field=name) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{name}={raw!r}; expected a finite number", field=name)
    return value


def parse_bool(name: str, raw: str) -> bool:
    """true/1/yes or false/0/no, as a query string sends a switch.

    >>> parse_bool("fdr", "False")
    False
    """
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise InvalidInput(f"{name}={raw!r}; expected true or false", field=name)


_READ = {"int": _int, "float": _float, "bool": parse_bool, "str": lambda name, raw: raw}


def read_query(params: Mapping[str, str], kinds: Mapping[str, str]) -> dict[str, Any]:
    """The values of a query string by ``kinds`` (name -> "int", "float", "bool" or "str"),
    skipping the incident filters (:data:`~gisgrid.tiles.filters.FILTER_PARAMS`) and empty
    values (an unset field of a form); any other name is refused, naming it.

    >>> read_query({"k": "3", "category": "01", "alpha": ""}, {"k": "int", "alpha": "float"})
    {'k': 3}
    """
    out: dict[str, Any] = {}
    for name, raw in params.items():
        if name in FILTER_PARAMS:
            continue
        if name not in kinds:
            raise InvalidInput(
                f"unknown parameter; expected the filters {list(FILTER_PARAMS)} or {list(kinds)}",
                field=name,
            )
        if raw != "":
            out[name] = _READ[kinds[name]](name, raw)
    return out


@dataclass(frozen=True)
class HotspotParams:
    """What to compute; see :data:`DESCRIPTIONS`. ``None`` means the method's default."""

    method: str = "gistar"
    level: str = "grid"
    value: str = "count"
    weights: str = "queen"
    k: int = 8
    distance_m: float | None = None
    cell_m: float = 250.0
    permutations: int | None = None
    seed: int = 0
    alpha: float = 0.05
    p_value: str | None = None
    fdr: bool = True
    step: str = "week"
    k_time: int = 1
    within: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> HotspotParams:
        """From a query string (see :func:`read_query`); a parameter that does not apply to
        the method, the weights or the level is refused, naming it."""
        given = read_query(params, KINDS_OF)
        out = cls(**given).check()
        out._refuse_what_does_not_apply(given)
        return out

    def check(self) -> HotspotParams:
        """Every value in its range (a notebook may build the object directly)."""
        check_choice("method", self.method, METHODS)
        check_choice("level", self.level, LEVELS)
        check_choice("value", self.value, VALUES)
        check_choice("weights", self.weights, KINDS)
        check_choice("step", self.step, STEPS)
        if self.p_value is not None:
            check_choice("p_value", self.p_value, P_VALUES)
        if not 1 <= self.k <= MAX_K:
            raise InvalidInput(f"k={self.k}; expected an integer in 1..{MAX_K}", field="k")
        if not 0 <= self.k_time <= MAX_K_TIME:
            raise InvalidInput(
                f"k_time={self.k_time}; expected an integer in 0..{MAX_K_TIME}", field="k_time"
            )
        check_cell_m(self.cell_m)
        if self.distance_m is not None and not self.distance_m > 0:
            raise InvalidInput(
                f"distance_m={self.distance_m!r}; expected metres > 0", field="distance_m"
            )
        if self.weights == "distance" and self.distance_m is None:
            raise InvalidInput("weights='distance' needs distance_m", field="distance_m")
        if self.permutations is not None:
            check_permutations(self.permutations)
        _check_alpha(self.alpha)
        if self.p_value == "sim" and self.permutations == 0:
            raise InvalidInput("p_value='sim' needs permutations > 0", field="permutations")
        return self

    def _refuse_what_does_not_apply(self, given: Mapping[str, Any]) -> None:
        applies = set(self.as_dict())
        for name in given:
            if name not in applies:
                raise InvalidInput(f"{name} applies to {_where(name)} only", field=name)

    def as_dict(self) -> dict[str, Any]:
        """The parameters that apply to this request, defaults filled in, in a fixed order."""
        out = asdict(self)
        out["permutations"] = self.permutations_
        if self.method == "emerging":
            out.pop("value")
        else:
            out.pop("step")
            out.pop("k_time")
        if self.weights != "knn":
            out.pop("k")
        if self.weights != "distance":
            out.pop("distance_m")
        if self.level != "hex":
            out.pop("cell_m")
        if self.within is None:
            out.pop("within")
        if self.p_value is None:
            out.pop("p_value")
        return out

    def query_string(self) -> dict[str, str]:
        """:meth:`as_dict` as query-string values (booleans as true/false)."""
        return {
            k: ("true" if v else "false") if isinstance(v, bool) else str(v)
            for k, v in self.as_dict().items()
        }

    @property
    def permutations_(self) -> int:
        """The permutations this request runs: the given number, or the method's default."""
        if self.permutations is not None:
            return self.permutations
        return PERMUTATIONS[self.method]

    def run(
        self, bind: Bind, filters: TileFilters = TileFilters(), scope: Scope | None = None
    ) -> gpd.GeoDataFrame:
        """The answer: one row per unit with its statistics, ``class`` (the Gi* class, the
        LISA label or the emerging category), ``count`` (incidents in the period), ``counts``
        (per step of ``attrs["series_step"]``, starting at ``attrs["series_starts"]``) and
        geometry; ``attrs`` as the statistic's function sets them."""
        self.check()
        if self.method == "emerging":
            frame = self._emerging(bind, filters, scope)
            frame["class"] = frame["category"]
            frame["count"] = np.array([sum(c) for c in frame["counts"]], dtype=np.int64)
            frame.attrs["series_step"] = self.step
            frame.attrs["series_starts"] = frame.attrs["starts"]
            return frame
        frame = hotspots(
            bind,
            method=self.method,
            level=self.level,
            filters=filters,
            scope=scope,
            value=self.value,
            weights=self.weights,
            k=self.k,
            distance_m=self.distance_m,
            permutations=self.permutations_,
            seed=self.seed,
            alpha=self.alpha,
            cell_m=self.cell_m,
            within=self.within,
            p_value=self.p_value,
            fdr=self.fdr,
        )
        series = count_series(bind, frame, self.level, filters, scope)
        frame["counts"] = [row.tolist() for row in series.counts]
        frame.attrs["series_step"] = series.step
        frame.attrs["series_starts"] = [t.isoformat() for t in series.starts]
        return frame

    def _emerging(self, bind: Bind, filters: TileFilters, scope: Scope | None) -> gpd.GeoDataFrame:
        try:
            return emerging_hotspots(
                bind,
                level=self.level,
                filters=filters,
                scope=scope,
                step=self.step,
                weights=self.weights,
                k=self.k,
                distance_m=self.distance_m,
                k_time=self.k_time,
                permutations=self.permutations_,
                seed=self.seed,
                alpha=self.alpha,
                cell_m=self.cell_m,
                within=self.within,
                p_value=self.p_value or "norm",
                fdr=self.fdr,
            )
        except InvalidInput as e:
            # the cube's period comes from the filters, which a query string names from, to
            if e.field in ("since", "until"):
                raise InvalidInput(e.reason, field=_FILTER_NAME[e.field]) from e
            raise


_FILTER_NAME = {"since": "from", "until": "to"}
KINDS_OF = {
    **{f: "str" for f in ("method", "level", "value", "weights", "p_value", "step")},
    **{f: "int" for f in ("k", "permutations", "seed", "k_time", "within")},
    **{f: "float" for f in ("distance_m", "cell_m", "alpha")},
    "fdr": "bool",
}


def _where(name: str) -> str:
    return {
        "value": "method='gistar' or 'lisa'",
        "step": "method='emerging'",
        "k_time": "method='emerging'",
        "k": "weights='knn'",
        "distance_m": "weights='distance'",
        "cell_m": "level='hex'",
    }.get(name, "other requests")
