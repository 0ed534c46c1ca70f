"""Row checks for file loads, vectorised: fields with pandas, geometries with shapely 2 arrays.

Every check adds to one :class:`Problems` collector, indexed by the row's position in the
file (0-based); the loader turns positions into row numbers at the end, so a check never
needs to know whether it reads a CSV line or a GeoPackage feature. Nothing here touches the
database: the checks that need it (foreign keys, keys already stored) are in gisgrid.io.load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from gisgrid.io.layers import FieldSpec, Layer
from gisgrid.times import city_to_utc

# ISO 8601 as PostgreSQL and the standard agree on it: a date, optionally a time (T or one
# space), optionally a zone. pandas' format="ISO8601" alone also takes 2026/03/02.
_ISO_RE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
_ZONE_RE = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)"
_ISO_FULL = re.compile(rf"^{_ISO_RE}{_ZONE_RE}?$")
# anchored at the date: a bare date's own "-01" (the day) is not a -01:00 zone
_HAS_ZONE = re.compile(rf"^{_ISO_RE}{_ZONE_RE}$")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}

BoolArray = NDArray[np.bool_]


class RowError(NamedTuple):
    """One bad row: its number in the file, the field, and the reason in words."""

    row: int
    field: str
    reason: str


@dataclass
class Problems:
    """Bad rows found so far, by 0-based position (row 0 = the file as a whole is -1)."""

    n: int
    _parts: list[tuple[NDArray[np.int64], str, str | Sequence[str]]] = field(default_factory=list)

    def add(self, where: BoolArray | NDArray[np.int64], fld: str, reason: str | Sequence[str]):
        """Record ``reason`` (one for all, or one per position) for ``fld`` at ``where``."""
        pos = np.flatnonzero(where) if where.dtype == np.bool_ else np.asarray(where, np.int64)
        if len(pos):
            self._parts.append((pos.astype(np.int64), fld, reason))

    def whole_file(self, fld: str, reason: str) -> None:
        self._parts.append((np.array([-1], dtype=np.int64), fld, reason))

    def bad(self) -> BoolArray:
        mask = np.zeros(self.n, dtype=bool)
        for pos, _, _ in self._parts:
            mask[pos[pos >= 0]] = True
        return mask

    def __len__(self) -> int:
        return sum(len(p) for p, _, _ in self._parts)

    def rows(self, row_of: Callable[[NDArray[np.int64]], NDArray[np.int64]]) -> list[RowError]:
        """Every problem as a RowError; ``row_of`` maps positions to row numbers."""
        out: list[RowError] = []
        for pos, fld, reason in self._parts:
            nums = np.where(pos < 0, 0, row_of(np.maximum(pos, 0)))
            reasons = [reason] * len(pos) if isinstance(reason, str) else list(reason)
            out.extend(RowError(int(r), fld, why) for r, why in zip(nums, reasons, strict=True))
        return sorted(out)


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def objects(s: pd.Series) -> NDArray[np.object_]:
    """The values as a numpy object array with None for every kind of missing."""
    arr = s.to_numpy(dtype=object)
    arr[s.isna().to_numpy()] = None
    return arr


def as_text(s: pd.Series) -> pd.Series:
    """Strings with whitespace stripped and blanks as NA; integral floats lose their '.0'."""
    if pd.api.types.is_bool_dtype(s):
        out = s.astype("string").str.lower()
    elif pd.api.types.is_float_dtype(s):
        f = s.astype("Float64")
        integral = f.notna() & (f % 1 == 0)
        out = f.astype("string")
        out[integral] = f[integral].astype("Int64").astype("string")
    else:
        out = s.astype("string")
    out = out.str.strip()
    return out.mask(out == "")


def parse_field(spec: FieldSpec, raw: pd.Series, problems: Problems) -> pd.Series:
    """Parse one column to its stored form; bad cells become NA and are recorded."""
    name = spec.name
    if spec.kind == "time":
        values = parse_times(raw, problems, name)
    elif spec.kind in ("int", "float"):
        values = _parse_number(spec, raw, problems)
    elif spec.kind == "bool":
        values = _parse_bool(raw, problems, name)
    elif spec.kind == "text[]":
        values = _parse_list(raw, problems, name)
    elif spec.kind == "json":
        values = _parse_json(raw, problems, name)
    else:
        values = as_text(raw)
        present = values.notna().to_numpy()
        if spec.max_len is not None:
            lengths = values.str.len().fillna(0).to_numpy()
            too_long = present & (lengths > spec.max_len)
            problems.add(
                too_long,
                name,
                [f"is {n} characters long; at most {spec.max_len}" for n in lengths[too_long]],
            )
        if spec.choices is not None:
            unknown = present & ~values.isin(spec.choices).to_numpy()
            problems.add(
                unknown,
                name,
                [
                    f"unknown {name} {_short(v)}; expected one of {', '.join(spec.choices)}"
                    for v in values[unknown]
                ],
            )
    if spec.required:
        problems.add(_missing(raw), name, "is required (blank)")
    return values


def _missing(raw: pd.Series) -> BoolArray:
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw):
        return raw.isna().to_numpy()
    text = raw.astype("string").str.strip()
    return (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)


def _parse_number(spec: FieldSpec, raw: pd.Series, problems: Problems) -> pd.Series:
    name = spec.name
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        nums = raw.astype("float64")
        given = nums.notna().to_numpy()
        text = nums.astype("string")
    else:
        text = as_text(raw)
        given = text.notna().to_numpy()
        nums = pd.to_numeric(text, errors="coerce").astype("float64")
    arr = nums.to_numpy(dtype=np.float64, na_value=np.nan)
    what = "an integer" if spec.kind == "int" else "a number"
    bad = given & ~np.isfinite(arr)
    problems.add(bad, name, [f"not {what}: {_short(v)}" for v in text[bad]])
    ok = given & ~bad
    if spec.kind == "int":
        frac = ok & (arr != np.floor(np.where(ok, arr, 0)))
        problems.add(frac, name, [f"not an integer: {_short(v)}" for v in text[frac]])
        ok &= ~frac
    for bound, op, word in ((spec.lo, np.less, "at least"), (spec.hi, np.greater, "at most")):
        if bound is None:
            continue
        out = ok & op(np.where(ok, arr, 0), bound)
        problems.add(out, name, [f"is {_short(v)}; must be {word} {bound}" for v in text[out]])
        ok &= ~out
    if spec.kind == "int":
        result = pd.Series(pd.array(np.where(ok, arr, 0), dtype="Int64"), index=raw.index)
    else:
        result = pd.Series(pd.array(arr, dtype="Float64"), index=raw.index)
    return result.mask(~ok)


def _parse_bool(raw: pd.Series, problems: Problems, name: str) -> pd.Series:
    text = as_text(raw).str.lower()
    is_true, is_false = text.isin(_TRUE).to_numpy(), text.isin(_FALSE).to_numpy()
    given = text.notna().to_numpy()
    bad = given & ~is_true & ~is_false
    problems.add(bad, name, [f"not true/false: {_short(v)}" for v in text[bad]])
    out = pd.Series(pd.array(is_true, dtype="boolean"), index=raw.index)
    return out.mask(~(is_true | is_false))


def parse_times(raw: pd.Series, problems: Problems, name: str) -> pd.Series:
    """ISO 8601 times to UTC, by the rule of :mod:`gisgrid.times`: a time without a zone is
    city time, a bare date 00:00 of that day in the city (:func:`gisgrid.times.city_to_utc`).

    Examples
    --------
    >>> got = parse_times(pd.Series(["2026-03-01", "2026-03-01T08:00Z"]), Problems(2), "t")
    >>> [t.isoformat() for t in got]
    ['2026-02-28T16:00:00+00:00', '2026-03-01T08:00:00+00:00']
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        return city_to_utc(raw)
    text = as_text(raw)
    given = text.notna().to_numpy()
    well_formed = text.str.fullmatch(_ISO_FULL).to_numpy(dtype=bool, na_value=False)
    zoned = text.str.contains(_HAS_ZONE).to_numpy(dtype=bool, na_value=False) & well_formed
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    naive = well_formed & ~zoned
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        # times that do not exist or repeat locally become NaT: refused rather than guessed
        out[naive] = city_to_utc(local).astype(out.dtype)
    if zoned.any():
        out[zoned] = pd.to_datetime(
            text[zoned], format="ISO8601", utc=True, errors="coerce"
        ).astype(out.dtype)
    bad = given & out.isna().to_numpy()
    problems.add(
        bad,
        name,
        [f"not an ISO 8601 time (e.g. 2026-03-02T09:30:00+08:00): {_short(v)}" for v in text[bad]],
    )
    return out


def _pg_array(items: list[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items)
    return "{" + ",".join(quoted) + "}"


def _parse_list(raw: pd.Series, problems: Problems, name: str) -> pd.Series:
    """Lists (GeoJSON arrays), JSON array text, or ';'-separated text, as PostgreSQL arrays."""
    out: list[str | None] = []
    bad: list[int] = []
    for i, v in enumerate(raw.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append(None)
            continue
        items: Any = v
        if isinstance(v, str):
            s = v.strip()
            if not s:
                out.append(None)
                continue
            if s.startswith("["):
                try:
                    items = json.loads(s)
                except ValueError:
                    items = None
            else:
                items = [p.strip() for p in s.split(";") if p.strip()]
        if isinstance(items, list | tuple | np.ndarray) and all(
            isinstance(x, str | int | float) for x in items
        ):
            out.append(_pg_array([str(x) for x in items]))
        else:
            bad.append(i)
            out.append(None)
    if bad:
        problems.add(
            np.array(bad, dtype=np.int64),
            name,
            [f"not a list (JSON array or a;b;c): {_short(raw.iloc[i])}" for i in bad],
        )
    return pd.Series(out, index=raw.index, dtype="string")


def _parse_json(raw: pd.Series, problems: Problems, name: str) -> pd.Series:
    out: list[str | None] = []
    bad: list[int] = []
    for i, v in enumerate(raw.to_numpy(dtype=object)):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
            continue
        obj = v
        if isinstance(v, str):
            if not v.strip():
                out.append(None)
                continue
            try:
                obj = json.loads(v)
            except ValueError:
                obj = None
        if isinstance(obj, dict):
            out.append(json.dumps(obj, ensure_ascii=False))
        else:
            bad.append(i)
            out.append(None)
    if bad:
        problems.add(
            np.array(bad, dtype=np.int64),
            name,
            [f"not a JSON object: {_short(raw.iloc[i])}" for i in bad],
        )
    return pd.Series(out, index=raw.index, dtype="string")


def gather_extras(df: pd.DataFrame, columns: list[str], props: pd.Series | None) -> pd.Series:
    """Unknown columns folded into one JSON object per row (a place's ``props``)."""
    merged: list[str | None] = []
    base = props.to_numpy(dtype=object) if props is not None else [None] * len(df)
    cols = {c: objects(as_text(df[c])) for c in columns}
    for i in range(len(df)):
        b = base[i]
        obj = json.loads(b) if isinstance(b, str) else {}
        for c, values in cols.items():
            if values[i] is not None:
                obj.setdefault(c, values[i])
        merged.append(json.dumps(obj, ensure_ascii=False) if obj else None)
    return pd.Series(merged, index=df.index, dtype="string")


def check_order(layer: Layer, values: dict[str, pd.Series], problems: Problems) -> None:
    """The time-order rules of the table (due_at after reported_at ...), row by row."""
    from gisgrid.io.layers import ORDERS

    for later, op, earlier in ORDERS.get(layer.table, ()):
        if later not in values or earlier not in values:
            continue
        a, b = values[later], values[earlier]
        both = (a.notna() & b.notna()).to_numpy()
        wrong = both & ~((a > b) if op == ">" else (a >= b)).to_numpy(dtype=bool, na_value=True)
        word = "after" if op == ">" else "not before"
        problems.add(wrong, later, f"must be {word} {earlier}")


def check_duplicates(values: pd.Series, problems: Problems, name: str, row_of: Any) -> None:
    """Every repeat of a value in the column, naming the row that has it first."""
    present = values.notna()
    dup = (values.duplicated(keep="first") & present).to_numpy()
    if not dup.any():
        return
    firsts = values[present].drop_duplicates(keep="first")
    first_pos = pd.Series(np.arange(len(values))[present.to_numpy()], index=values[present].index)
    where = dict(zip(firsts.to_numpy(), row_of(first_pos[firsts.index].to_numpy()), strict=True))
    problems.add(
        dup,
        name,
        [
            f"duplicate {name} {_short(v)} in the file (first on row {where[v]})"
            for v in values[dup]
        ],
    )


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


@dataclass(frozen=True)
class GeomLabels:
    """The field names geometry errors are reported under: 'geom', or the CSV's lon/lat."""

    x: str = "geom"
    y: str = "geom"

    @property
    def both(self) -> str:
        return self.x if self.x == self.y else f"{self.x}/{self.y}"


def _promote_polygons(geoms: NDArray[np.object_], where: BoolArray) -> None:
    """Polygon -> MultiPolygon in place (the columns are MultiPolygon)."""
    idx = np.flatnonzero(where)
    if len(idx):
        geoms[idx] = shapely.multipolygons(geoms[idx], indices=np.arange(len(idx)))


def check_geometries(
    geoms: NDArray[np.object_],
    layer: Layer,
    problems: Problems,
    *,
    make_valid: bool = False,
    labels: GeomLabels = GeomLabels(),
    from_: str | None = None,
    skip: BoolArray | None = None,
) -> tuple[NDArray[np.object_], int]:
    """Check (and where allowed fix) every geometry; returns the geometries and repairs made.

    Examples
    --------
    >>> from gisgrid.io.layers import get_layer
    >>> p = Problems(3)
    >>> g = shapely.points([126.6, 45.7, np.nan], [45.7, 126.6, 1.0])
    >>> _, repaired = check_geometries(g, get_layer("incidents"), p)
    >>> [(r.row, r.reason[:24]) for r in p.rows(lambda pos: pos + 1)]
    [(2, 'lon/lat swapped? (45.700'), (3, 'coordinates are NaN or i')]
    """
    from gisgrid.crs import convert_geometry, out_of_china

    geoms = np.asarray(geoms, dtype=object)
    if shapely.has_z(geoms).any():  # the columns are 2D; force_2d copies every geometry
        geoms = shapely.force_2d(geoms)
    if skip is not None:
        geoms[skip] = None
    missing = shapely.is_missing(geoms)
    if layer.geom_required:
        problems.add(
            missing & ~skip if skip is not None else missing, labels.both, "missing geometry"
        )
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    nonfinite = np.zeros(len(geoms), dtype=bool)
    nonfinite[np.unique(owner[~np.isfinite(coords).all(axis=1)])] = True
    problems.add(nonfinite, labels.both, "coordinates are NaN or infinite")
    empty = ~missing & ~nonfinite & shapely.is_empty(geoms)
    problems.add(empty, labels.both, "empty geometry")
    ok = ~missing & ~nonfinite & ~empty

    type_id = shapely.get_type_id(geoms)
    if layer.geom == "point":
        # A one-point MultiPoint is a point that a format (Shapefile, some GPKGs) wrapped.
        single = ok & (type_id == 4) & (shapely.get_num_geometries(geoms) == 1)
        geoms[single] = shapely.get_geometry(geoms[single], 0)
        type_id[single] = 0
        wrong, expected = ok & (type_id != 0), "Point"
    else:
        _promote_polygons(geoms, ok & (type_id == 3))
        type_id[ok & (type_id == 3)] = 6
        wrong, expected = ok & (type_id != 6), "Polygon or MultiPolygon"
    problems.add(
        wrong, labels.both, [f"{_TYPE_NAMES[t]} given, {expected} expected" for t in type_id[wrong]]
    )
    ok &= ~wrong

    # Range and swap, judged on the middle of each geometry's bounds.
    bounds = shapely.bounds(geoms)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    with np.errstate(invalid="ignore"):
        x_bad = ok & ((bounds[:, 0] < -180) | (bounds[:, 2] > 180))
        y_bad = ok & ((bounds[:, 1] < -90) | (bounds[:, 3] > 90))
    swapped = ok & out_of_china(cx, cy) & ~out_of_china(cy, cx)
    problems.add(
        swapped,
        labels.both,
        [
            f"lon/lat swapped? ({x:.6f}, {y:.6f}) is outside China, ({y:.6f}, {x:.6f}) inside"
            for x, y in zip(cx[swapped], cy[swapped], strict=True)
        ],
    )
    for bad, name in ((x_bad & ~swapped, labels.x), (y_bad & ~swapped & ~x_bad, labels.y)):
        problems.add(
            bad,
            name,
            [
                "coordinates out of range: lon must be in [-180, 180] and lat in [-90, 90] "
                f"(got {x:.6f}, {y:.6f})"
                for x, y in zip(cx[bad], cy[bad], strict=True)
            ],
        )
    ok &= ~(swapped | x_bad | y_bad)

    if from_ is not None and ok.any():
        geoms[ok] = convert_geometry(geoms[ok], from_, "wgs84")

    repaired = 0
    if layer.geom == "multipolygon":
        invalid = ok & ~shapely.is_valid(geoms)
        if invalid.any() and make_valid:
            fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
            fixed_type = shapely.get_type_id(fixed)
            is_poly = fixed_type == 3
            fixed[is_poly] = shapely.multipolygons(fixed[is_poly], indices=np.arange(is_poly.sum()))
            usable = (shapely.get_type_id(fixed) == 6) & ~shapely.is_empty(fixed)
            geoms[np.flatnonzero(invalid)[usable]] = fixed[usable]
            lost = np.flatnonzero(invalid)[~usable]
            problems.add(lost, labels.both, "invalid polygon that make_valid cannot keep as area")
            repaired = int(usable.sum())
        elif invalid.any():
            reasons = shapely.is_valid_reason(geoms[invalid])
            problems.add(
                invalid,
                labels.both,
                [f"invalid polygon: {r}; load with make_valid to repair it" for r in reasons],
            )
    return geoms, repaired
