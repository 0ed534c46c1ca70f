"""Buildings, households and residents of the synthetic city."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gisgrid import vocab
from gisgrid.synth import names as nm
from gisgrid.synth.geo import Plane, where_or_none

REF_YEAR = 2026
# Share of residents by 5-year age band 0-4 ... 95-99 (an ageing north-eastern city).
AGE_BANDS = np.array([2.6, 3.4, 4.0, 4.1, 4.6, 5.8, 7.2, 7.4, 7.0, 7.6, 8.6, 9.0, 8.4, 7.0,
                      5.0, 3.4, 2.2, 1.2, 0.5, 0.1])  # fmt: skip
AGE_P = AGE_BANDS / AGE_BANDS.sum()
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = np.array(list("10X98765432"))


def hierarchy_lookup(areas: list[dict[str, Any]]) -> dict[int, tuple[int, int, int]]:
    """grid id -> (community id, street id, district id)."""
    parent = {a["id"]: a["parent_id"] for a in areas}
    out = {}
    for a in areas:
        if a["level"] == "grid":
            c = parent[a["id"]]
            s = parent[c]
            out[a["id"]] = (c, s, parent[s])
    return out


def assign_columns(grid_ids: np.ndarray, lookup: dict[int, tuple[int, int, int]]) -> pd.DataFrame:
    keys = np.array(sorted(lookup))
    vals = np.array([lookup[k] for k in keys])
    pos = np.searchsorted(keys, grid_ids)
    return pd.DataFrame(
        {
            "grid_id": grid_ids,
            "community_id": vals[pos, 0],
            "street_id": vals[pos, 1],
            "district_id": vals[pos, 2],
        }
    )


def _footprints(pts: np.ndarray, urban: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotated-rectangle footprints (metres) around building points."""
    n = len(pts)
    length = np.where(urban, rng.uniform(22, 34, n), rng.uniform(8, 12, n))
    width = np.where(urban, rng.uniform(10, 14, n), rng.uniform(7, 10, n))
    theta = rng.uniform(-0.25, 0.25, n)
    dx = np.array([-1, 1, 1, -1, -1])[None, :] * (length[:, None] / 2)
    dy = np.array([-1, -1, 1, 1, -1])[None, :] * (width[:, None] / 2)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    xs = pts[:, 0:1] + dx * c - dy * s
    ys = pts[:, 1:2] + dx * s + dy * c
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def buildings(
    h: dict[str, Any],
    grid_geom_xy: dict[int, Any],
    lookup: dict[int, tuple[int, int, int]],
    district_name: dict[int, str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Footprints kept wholly inside their grid (shrunk, or dropped, where they would cross)."""
    plane: Plane = h["plane"]
    pts, hh, urban, grid = h["b_pts"], h["b_hh"], h["b_urban"], h["b_grid"]
    fp = _footprints(pts, urban, rng)
    gg = np.array([grid_geom_xy[g] for g in grid], dtype=object)
    shapely.prepare(gg)
    ok = shapely.within(fp, gg)
    small = shapely.box(pts[:, 0] - 3, pts[:, 1] - 3, pts[:, 0] + 3, pts[:, 1] + 3)
    fp = np.where(ok, fp, small)
    ok = shapely.within(fp, gg)
    fp, pts, hh, urban, grid = fp[ok], pts[ok], hh[ok], urban[ok], grid[ok]
    n = len(fp)
    cols = assign_columns(grid, lookup)
    floors = np.where(urban, np.clip(np.ceil(hh / rng.integers(2, 7, n)), 2, 33), 1).astype(int)
    road = np.array(nm.area_names(rng, 400, ""))[rng.integers(0, 400, n)]
    road = np.char.add(road, np.array(["路", "街", "大街", "道"])[rng.integers(0, 4, n)])
    dname = np.array([district_name[d] for d in cols["district_id"]])
    address = np.char.add(
        np.char.add(np.char.add(dname, road), rng.integers(1, 400, n).astype(str)), "号"
    )
    lon, lat = plane.to_lonlat(pts[:, 0], pts[:, 1])
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "code": np.char.add("B", np.arange(1, n + 1).astype(str)),
            "address": address,
            "floors": floors,
            "household_count": hh,
            "use": np.where(urban, "residential", "rural_house"),
            "geom": shapely.multipolygons(plane.geom_to_lonlat(fp), indices=np.arange(n)),
        }
    )
    df = pd.concat([df, cols], axis=1)
    df["lon"], df["lat"], df["urban"] = lon, lat, urban
    return df


def households(b: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n_b = b["household_count"].to_numpy()
    bidx = np.repeat(np.arange(len(b)), n_b)
    n = len(bidx)
    within = np.concatenate([np.arange(k) for k in n_b]) if n else np.array([], int)
    floors = np.maximum(b["floors"].to_numpy()[bidx], 1)
    per_floor = np.maximum(1, np.ceil(n_b[bidx] / floors)).astype(int)
    floor_no = within // per_floor + 1
    room = within % per_floor + 1
    unit = (room - 1) // 2 + 1
    urban = b["urban"].to_numpy()[bidx]
    unit_no = np.where(
        urban,
        np.char.add(
            np.char.add(np.char.add(unit.astype(str), "-"), floor_no.astype(str)),
            np.char.zfill(room.astype(str), 2),
        ),
        "",
    )
    addr = b["address"].to_numpy()[bidx].astype(str)
    address = np.where(urban, np.char.add(np.char.add(addr, " "), unit_no), addr)
    lon = b["lon"].to_numpy()[bidx]
    lat = b["lat"].to_numpy()[bidx]
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "building_id": b["id"].to_numpy()[bidx],
            "address": address,
            "unit_no": where_or_none(urban, unit_no),
            "size": rng.choice(np.array([1, 2, 3, 4, 5]), n, p=[0.24, 0.33, 0.25, 0.11, 0.07]),
            "geom": shapely.points(lon, lat),
        }
    )
    for c in ("grid_id", "community_id", "street_id", "district_id"):
        df[c] = b[c].to_numpy()[bidx]
    df["urban"] = urban
    return df


def id_numbers(
    district_code: np.ndarray, birth: pd.DatetimeIndex, male: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Unique valid 18-character id numbers (GB 11643): area + birth date + seq + check."""
    n = len(male)
    prefix = np.char.add(district_code.astype(str), birth.strftime("%Y%m%d").to_numpy().astype(str))
    seq = rng.integers(0, 500, n) * 2 + male.astype(int)  # odd sequence digit: male
    body = np.char.add(prefix, np.char.zfill(seq.astype(str), 3))
    # Two people never share a number: redraw the sequence of any repeat.
    for _ in range(100):
        dup = pd.Series(body).duplicated().to_numpy()
        if not dup.any():
            break
        k = int(dup.sum())
        seq[dup] = rng.integers(0, 500, k) * 2 + male[dup].astype(int)
        body[dup] = np.char.add(prefix[dup], np.char.zfill(seq[dup].astype(str), 3))
    digits = body.view("<U1").reshape(n, 17).astype(int)
    check = _CHECK[(digits * _WEIGHTS).sum(axis=1) % 11]
    return np.char.add(body, check)


def hash_many(numbers: np.ndarray, salt: str) -> list[str]:
    """Salted HMAC-SHA256 of many already-valid id numbers (see gisgrid.access.privacy)."""
    base = hmac.new(salt.encode(), digestmod=hashlib.sha256)
    out = []
    for num in numbers.tolist():
        h = base.copy()
        h.update(num.encode())
        out.append(h.hexdigest())
    return out


def residents(
    hh: pd.DataFrame, district_code_of: dict[int, str], salt: str, rng: np.random.Generator
) -> pd.DataFrame:
    sizes = hh["size"].to_numpy()
    hidx = np.repeat(np.arange(len(hh)), sizes)
    n = len(hidx)
    first = np.zeros(n, bool)
    first[np.cumsum(sizes) - sizes] = True
    age = (rng.choice(len(AGE_P), n, p=AGE_P) * 5 + rng.integers(0, 5, n)).astype(int)
    age = np.where(first, np.maximum(age, 20 + rng.integers(0, 30, n) * (age < 20)), age)
    male = rng.random(n) < 0.49
    birth_year = REF_YEAR - age
    doy = rng.integers(0, 365, n)
    birth = pd.to_datetime(birth_year.astype(str), format="%Y") + pd.to_timedelta(doy, "D")
    dcode = np.array([district_code_of[d] for d in hh["district_id"].to_numpy()])[hidx]
    ids = id_numbers(dcode, pd.DatetimeIndex(birth), male, rng)
    urban = hh["urban"].to_numpy()[hidx]
    alone = sizes[hidx] == 1
    tags_bits = {
        "elderly_alone": alone & (age >= 65),
        "disabled": rng.random(n) < 0.025,
        "special_care": rng.random(n) < 0.005,
        "low_income": rng.random(n) < 0.03,
        "veteran": male & (age >= 22) & (rng.random(n) < 0.02),
        "left_behind_child": ~urban & (age < 16) & (rng.random(n) < 0.15),
        "rental_tenant": urban & (rng.random(n) < 0.12),
        "community_correction": (age >= 18) & (rng.random(n) < 0.0005),
    }
    assert set(tags_bits) <= set(vocab.RESIDENT_TAGS)
    names_of = list(tags_bits)
    bits = np.stack([tags_bits[k] for k in names_of], axis=1)
    code = bits @ (1 << np.arange(len(names_of)))
    lut = {c: [names_of[i] for i in range(len(names_of)) if c >> i & 1] for c in np.unique(code)}
    tag_arr = np.array([lut[c] for c in code.tolist()] if n else [], dtype=object)
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "household_id": hh["id"].to_numpy()[hidx],
            "name": nm.person_names(rng, n),
            "id_hash": hash_many(ids, salt),
            "birth_year": birth_year,
            "sex": np.where(male, "M", "F"),
            "tags": tag_arr,
        }
    )
    for c in ("grid_id", "community_id", "street_id", "district_id"):
        df[c] = hh[c].to_numpy()[hidx]
    return df
