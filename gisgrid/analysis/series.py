"""Each unit's incidents step by step: the series a hot-spot answer shows beside a unit's
statistic (the web map's sparkline), counted as the space-time cube of emerging hot spots
counts them (:func:`gisgrid.analysis.emerging.space_time_cube`: the same SQL, the same
scope rule), over the filters' period or, without one, the data's.

Weeks by default; months when the period holds more than :data:`MAX_WEEKS` weeks, so that
a series stays short enough to draw. Unlike the cube, a series may be short: it describes,
it tests nothing.

Examples
--------
>>> from datetime import datetime, timedelta
>>> from gisgrid.times import CITY_TZ
>>> until = datetime(2026, 11, 1, tzinfo=CITY_TZ)
>>> series_step(until - timedelta(days=70), until), series_step(until - timedelta(days=900), until)
('week', 'month')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from gisgrid.access.scope import Scope
from gisgrid.analysis.emerging import STEPS, _area_counts, _hex_counts, _period, _starts
from gisgrid.analysis.units import LEVELS, check_choice
from gisgrid.store.engine import Bind, connection
from gisgrid.tiles.filters import TileFilters

if TYPE_CHECKING:
    import geopandas as gpd

MAX_WEEKS = 104


@dataclass(frozen=True)
class CountSeries:
    """Counts per unit (rows, in the order of the units given) and step (columns, oldest
    first); ``starts[t]`` is when step t begins, ``until`` when the last one ends."""

    counts: NDArray[np.int64]
    starts: tuple[datetime, ...]
    until: datetime
    step: str


def series_step(since: datetime, until: datetime) -> str:
    """ "week", or "month" when [since, until) holds more than MAX_WEEKS weeks."""
    weeks = math.ceil((until - since) / timedelta(days=7))
    return "week" if weeks <= MAX_WEEKS else "month"


def count_series(
    bind: Bind,
    units: gpd.GeoDataFrame,
    level: str,
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    step: str | None = None,
) -> CountSeries:
    """The incidents under the filters per unit of ``units`` (as
    :func:`gisgrid.analysis.units.unit_values` returns them: an ``id`` column; hexagons also
    ``attrs["cell_m"]``) and per ``step`` ("week", "month", or None to choose by
    :func:`series_step`)."""
    check_choice("level", level, LEVELS)
    if step is not None:
        check_choice("step", step, STEPS)
    with connection(bind) as conn:
        since, until = _period(conn, filters, scope, step or "week", None, None)
        if step is None:
            step = series_step(since, until)
            if step == "month":
                since, until = _period(conn, filters, scope, step, None, None)
        starts = _starts(step, since, until)
        if level == "hex":
            counts = _hex_counts(conn, units, filters, scope, starts, until)
        else:
            counts = _area_counts(
                conn, units, level, filters, scope, step, since, until, len(starts)
            )
    return CountSeries(counts, starts, until, step)
