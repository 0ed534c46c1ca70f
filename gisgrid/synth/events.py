"""A year of incidents (with planted hotspots and their ground truth) and visit logs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gisgrid.synth import names as nm
from gisgrid.synth.geo import Plane, nearest_seed, where_or_none
from gisgrid.taxonomy import leaf_categories
from gisgrid.times import CITY_TZ as TZ

END_LOCAL = pd.Timestamp("2026-11-01 00:00", tz=TZ)  # the synthetic "now"
DAYS = 365
START_LOCAL = END_LOCAL - pd.Timedelta(days=DAYS)
HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 3, 5, 6.5, 7, 6.5, 4.5, 5, 6, 6.5, 6,
                  5.5, 4, 3.5, 3, 2.5, 2, 1.4])  # fmt: skip
HOURS_P = HOURS / HOURS.sum()
PATHS = {
    "reported": ["reported"],
    "accepted": ["reported", "accepted"],
    "dispatched": ["reported", "accepted", "dispatched"],
    "in_progress": ["reported", "accepted", "dispatched", "in_progress"],
    "feedback": ["reported", "accepted", "dispatched", "in_progress", "feedback"],
    "closed": ["reported", "accepted", "dispatched", "in_progress", "feedback", "closed"],
    "rejected": ["reported", "rejected"],
    "returned": ["reported", "accepted", "dispatched", "returned"],
    "escalated": ["reported", "accepted", "escalated"],
}
STATUSES = list(PATHS)
# By age on the synthetic "now": a city that runs the loop closes (or rejects) what is three
# weeks old, so the open backlog is the last three weeks'. Year-old open cases would fill every
# centre's queue (least time left first) and the sweeper's first run, long after END_LOCAL.
P_OLD = [0, 0, 0, 0, 0, 0.96, 0.04, 0, 0]
P_MID = [0.02, 0.03, 0.08, 0.12, 0.08, 0.6, 0.03, 0.02, 0.02]
P_NEW = [0.25, 0.2, 0.2, 0.15, 0.05, 0.09, 0.02, 0.01, 0.03]


def _season_profile(season: str, dates: pd.DatetimeIndex) -> np.ndarray:
    m = dates.month.to_numpy()
    d = dates.day.to_numpy()
    if season == "winter":
        w = np.select([np.isin(m, [12, 1, 2]), np.isin(m, [11, 3])], [1.0, 0.35], 0.02)
    elif season == "heating":
        on = (m >= 11) | (m <= 3) | ((m == 10) & (d >= 20)) | ((m == 4) & (d <= 20))
        w = np.where(on, 1.0, 0.05) * np.where(np.isin(m, [11, 1]), 1.4, 1.0)
    elif season == "summer":
        w = np.select([np.isin(m, [6, 7, 8]), np.isin(m, [5, 9])], [1.0, 0.5], 0.1)
    elif season == "rain":
        w = np.select([np.isin(m, [7, 8]), np.isin(m, [6, 9])], [1.0, 0.4], 0.05)
    else:
        w = np.ones(len(dates))
    weekday = np.where(dates.day_of_week.to_numpy() >= 5, 0.6, 1.0)
    p = w * weekday
    return p / p.sum()


def _times(rng: np.random.Generator, day_p: np.ndarray, n: int) -> pd.DatetimeIndex:
    day = rng.choice(DAYS, n, p=day_p)
    hour = rng.choice(24, n, p=HOURS_P)
    secs = day * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    return START_LOCAL + pd.to_timedelta(secs, "s")


def _at_buildings(b: pd.DataFrame, bi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(bi)
    lon = b["lon"].to_numpy()[bi] + rng.uniform(-1.9e-5, 1.9e-5, n)
    lat = b["lat"].to_numpy()[bi] + rng.uniform(-1.3e-5, 1.3e-5, n)
    return shapely.points(lon, lat)


@dataclass
class Plan:
    """Every incident's draws that need the whole year at once (where, what, when, status,
    unit, source), sorted by reported_at; :func:`chunks` turns slices of it into rows."""

    bi: np.ndarray
    ci: np.ndarray
    reported: pd.DatetimeIndex
    status: np.ndarray
    handle_h: np.ndarray
    unit_id: np.ndarray
    source: np.ndarray
    grid: np.ndarray
    codes: np.ndarray
    sla_of: np.ndarray
    name_of: np.ndarray
    truth: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.bi)


def incidents(
    b: pd.DataFrame,
    areas: pd.DataFrame,
    units: pd.DataFrame,
    acc: pd.DataFrame,
    n: int,
    n_hot: int,
    n_emerging: int,
    plane: Plane,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """All incidents and their events in one piece (one chunk: the draws of :func:`chunks`
    over the whole year in one call)."""
    plan = plan_incidents(b, units, n, n_hot, n_emerging, plane, rng)
    ((df, events),) = chunks(plan, b, acc, rng, bounds=[0, len(plan)])
    return df, events, ground_truth(plan)


def ground_truth(plan: Plan) -> dict[str, Any]:
    return {
        "period": {"start": str(START_LOCAL), "end": str(END_LOCAL)},
        "planted": plan.truth,
    }


def month_bounds(plan: Plan) -> list[int]:
    """Row offsets that cut the (sorted) incidents at each local month's start."""
    starts = pd.date_range(START_LOCAL, END_LOCAL, freq="MS", tz=TZ)
    cuts = np.searchsorted(plan.reported.to_numpy(), starts.tz_convert("UTC").to_numpy())
    return sorted({0, *(int(c) for c in cuts), len(plan)})


def plan_incidents(
    b: pd.DataFrame,
    units: pd.DataFrame,
    n: int,
    n_hot: int,
    n_emerging: int,
    plane: Plane,
    rng: np.random.Generator,
) -> Plan:
    """Draw where, what and when of every incident, its status, unit and source."""
    cats = leaf_categories()
    codes = np.array([c.code for c in cats])
    rank = rng.permutation(len(cats)) + 1
    cat_w = 1.0 / rank**0.8
    cat_w /= cat_w.sum()
    dates = pd.date_range(START_LOCAL, periods=DAYS, freq="D")
    # sorted: a set of strings iterates in a per-process order, and each draws from rng
    profiles = {s: _season_profile(s, dates) for s in sorted({c.season for c in cats})}
    season_of = np.array([c.season for c in cats])
    sla_of = np.array([c.sla_hours for c in cats])
    kind_of = np.array([c.unit_kind for c in cats])
    name_of = np.array([c.name_zh for c in cats])

    hh = b["household_count"].to_numpy().astype(float)
    bxy = np.column_stack(plane.to_xy(b["lon"].to_numpy(), b["lat"].to_numpy()))
    n_hot_total = int(n * 0.08) if n_hot else 0
    n_em_total = int(n * 0.04) if n_emerging else 0
    n_bg = n - n_hot_total - n_em_total

    # Background: where people live, by category frequency and season.
    cat_i = rng.choice(len(cats), n_bg, p=cat_w)
    when_arr = np.empty(n_bg, dtype="datetime64[ns]")
    for s, prof in profiles.items():
        sel = np.flatnonzero(season_of[cat_i] == s)
        if len(sel):
            when_arr[sel] = _times(rng, prof, len(sel)).tz_convert("UTC").tz_localize(None)
    when = pd.DatetimeIndex(when_arr).tz_localize("UTC")
    b_i = rng.choice(len(b), n_bg, p=hh / hh.sum())
    parts_b, parts_c, parts_t, truth = [b_i], [cat_i], [when], []

    urban = np.flatnonzero(b["urban"].to_numpy())
    pool = urban if len(urban) else np.arange(len(b))
    for kind, k, total in (("hotspot", n_hot, n_hot_total), ("emerging", n_emerging, n_em_total)):
        if not k:
            continue
        centres = rng.choice(pool, k, replace=False, p=hh[pool] / hh[pool].sum())
        per = rng.multinomial(total, np.ones(k) / k)
        for j, (ci, m) in enumerate(zip(centres, per, strict=True)):
            radius = float(rng.uniform(250, 400))
            near = np.flatnonzero(((bxy - bxy[ci]) ** 2).sum(axis=1) <= radius**2)
            hc = rng.choice(len(cats), rng.integers(1, 3), replace=False, p=cat_w)
            bi = rng.choice(near, m)
            ci_arr = rng.choice(hc, m)
            if kind == "hotspot":
                start_day = 0
                day = rng.choice(DAYS, m, p=profiles["all"])
            else:
                start_day = int(rng.integers(200, 260))
                day = (start_day + (DAYS - start_day) * np.sqrt(rng.random(m))).astype(int)
                day = np.minimum(day, DAYS - 1)
            secs = day * 86400 + rng.choice(24, m, p=HOURS_P) * 3600 + rng.integers(0, 3600, m)
            t = (START_LOCAL + pd.to_timedelta(secs, "s")).tz_convert("UTC")
            parts_b.append(bi)
            parts_c.append(ci_arr)
            parts_t.append(t)
            truth.append(
                {
                    "id": f"{kind}-{j + 1}",
                    "kind": kind,
                    "lon": float(b["lon"].iat[ci]),
                    "lat": float(b["lat"].iat[ci]),
                    "radius_m": round(radius, 1),
                    "categories": [str(codes[c]) for c in hc],
                    "start": str((START_LOCAL + pd.Timedelta(days=start_day)).date()),
                    "end": str(END_LOCAL.date()),
                    "incidents": int(m),
                    "grid_ids": sorted({int(g) for g in b["grid_id"].to_numpy()[near]}),
                }
            )
    bi = np.concatenate(parts_b)
    ci = np.concatenate(parts_c)
    reported = pd.DatetimeIndex(
        np.concatenate([t.tz_convert("UTC").tz_localize(None).to_numpy() for t in parts_t])
    ).tz_localize("UTC")
    order = np.argsort(reported.to_numpy(), kind="stable")
    bi, ci, reported = bi[order], ci[order], reported[order]
    total = len(bi)

    end_utc = END_LOCAL.tz_convert("UTC")
    age_days = (end_utc - reported).total_seconds().to_numpy() / 86400
    u = rng.random(total)
    status = np.empty(total, dtype=object)
    for lo, hi, p in ((20, 1e9, P_OLD), (3, 20, P_MID), (-1, 3, P_NEW)):
        sel = (age_days > lo) & (age_days <= hi)
        cum = np.cumsum(p) / np.sum(p)
        status[sel] = np.array(STATUSES)[np.searchsorted(cum, u[sel])]
    sla_h = sla_of[ci]
    # Handling time relative to the SLA: most on time, a long tail overdue.
    handle_h = np.maximum(sla_h * rng.lognormal(-0.4, 0.8, total), 0.2)
    grid = b["grid_id"].to_numpy()[bi]
    # The nearest unit of the kind the category needs.
    unit_id = np.full(total, -1, dtype=np.int64)
    uxy = np.column_stack(plane.to_xy(units["lon"].to_numpy(), units["lat"].to_numpy()))
    ukind = units["kind"].to_numpy()
    for kind in np.unique(kind_of[ci]):
        us = np.flatnonzero(ukind == kind)
        sel = np.flatnonzero(kind_of[ci] == kind)
        if len(us) and len(sel):
            unit_id[sel] = units["id"].to_numpy()[us[nearest_seed(bxy[bi[sel]], uxy[us])]]
    dispatched = np.isin(status, ["dispatched", "in_progress", "feedback", "closed", "returned"])
    unit_id = np.where(dispatched & (unit_id > 0), unit_id, -1)

    source = rng.choice(
        np.array(["grid_worker", "hotline", "app", "camera"]), total, p=[0.6, 0.25, 0.1, 0.05]
    )
    return Plan(
        bi, ci, reported, status, handle_h, unit_id, source, grid, codes, sla_of, name_of, truth
    )


def chunks(
    plan: Plan,
    b: pd.DataFrame,
    acc: pd.DataFrame,
    rng: np.random.Generator,
    bounds: list[int] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """The incidents and their events, one slice of the plan at a time (by default one local
    month each), drawing the rest of each row from ``rng`` in slice order."""
    bounds = month_bounds(plan) if bounds is None else bounds
    end_utc = END_LOCAL.tz_convert("UTC")
    gw = acc[acc.role == "grid_worker"].drop_duplicates("scope_area_id")
    gw_of = dict(zip(gw.scope_area_id, gw.id, strict=True))
    first_event = 1
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        df, events = _chunk(plan, slice(lo, hi), b, acc, gw_of, end_utc, first_event, rng)
        first_event += len(events)
        yield df, events


def _chunk(
    plan: Plan,
    part: slice,
    b: pd.DataFrame,
    acc: pd.DataFrame,
    gw_of: dict[int, int],
    end_utc: pd.Timestamp,
    first_event: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    bi, ci, reported = plan.bi[part], plan.ci[part], plan.reported[part]
    status, source, grid = plan.status[part], plan.source[part], plan.grid[part]
    unit_id, handle_h = plan.unit_id[part], plan.handle_h[part]
    codes, name_of = plan.codes, plan.name_of
    total = len(bi)
    sla_h = plan.sla_of[ci]
    due = reported + pd.to_timedelta(sla_h * 3600, "s")
    cols = {c: b[c].to_numpy()[bi] for c in ("grid_id", "community_id", "street_id", "district_id")}
    reporter_id = np.where(source == "grid_worker", [gw_of.get(g, -1) for g in grid], -1)
    reporter_name = where_or_none(np.isin(source, ["hotline", "app"]), nm.person_names(rng, total))
    escal = np.where(
        status == "escalated",
        rng.choice(np.array(["street", "district", "city"]), total, p=[0.7, 0.25, 0.05]),
        "grid",
    )
    priority = np.select([sla_h <= 2, sla_h <= 12], ["urgent", "high"], "normal")
    priority = np.where(rng.random(total) < 0.05, "low", priority)
    address = b["address"].to_numpy()[bi]
    ids = np.arange(part.start + 1, part.start + total + 1)
    local_day = reported.tz_convert(TZ).strftime("%Y%m%d").to_numpy().astype(str)
    df = pd.DataFrame(
        {
            "id": ids,
            "code": np.char.add(np.char.add(np.char.add("EV", local_day), "-"), ids.astype(str)),
            "category": codes[ci],
            "description": np.char.add(np.char.add(name_of[ci], "，位于"), address.astype(str)),
            "address": address,
            "source": source,
            "reported_at": reported,
            "reporter_id": where_or_none(reporter_id > 0, reporter_id),
            "reporter_name": reporter_name,
            "status": status,
            "escalation_level": escal,
            "priority": priority,
            "assigned_unit_id": where_or_none(unit_id > 0, unit_id),
            "due_at": due,
            "geom": _at_buildings(b, bi, rng),
            **cols,
        }
    )
    events, closed_at = _events(df, handle_h, end_utc, acc, first_event, rng)
    df["closed_at"] = closed_at
    df["updated_at"] = events.groupby("incident_id")["at"].max().reindex(df["id"]).to_numpy()
    df["version"] = events.groupby("incident_id").size().reindex(df["id"]).to_numpy()
    return df, events


def _events(
    df: pd.DataFrame,
    handle_h: np.ndarray,
    end_utc: pd.Timestamp,
    acc: pd.DataFrame,
    first_id: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Series]:
    street_acc = acc[acc.role == "street_centre"].set_index("scope_area_id")["id"]
    unit_acc = acc[acc.role == "unit"].set_index("unit_id")["id"]
    steps = np.array([len(PATHS[s]) for s in df["status"]])
    inc = np.repeat(np.arange(len(df)), steps)
    k = np.concatenate([np.arange(s) for s in steps]) if len(df) else np.array([], int)
    to = np.concatenate([PATHS[s] for s in df["status"]]) if len(df) else np.array([])
    # Each step takes a share of the handling time; the last lands at reported + handling.
    frac = np.where(steps[inc] > 1, k / np.maximum(steps[inc] - 1, 1), 0.0)
    jitter = np.where(k > 0, rng.uniform(0.8, 1.0, len(k)), 1.0)
    rep = df["reported_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()[inc]
    at = rep + (handle_h[inc] * frac * jitter * 3600 * 1e9).astype("timedelta64[ns]")
    at = np.minimum(at, end_utc.tz_localize(None).to_datetime64() - np.timedelta64(1, "s"))
    at = np.maximum(at, rep)
    frm = np.empty(len(k), dtype=object)
    frm[1:] = to[:-1]
    frm[k == 0] = None
    street = df["street_id"].to_numpy()[inc]
    unit = df["assigned_unit_id"].to_numpy()[inc]
    centre = street_acc.reindex(street).to_numpy()
    unit_actor = unit_acc.reindex(pd.array(unit, dtype="Int64")).to_numpy()
    reporter = df["reporter_id"].to_numpy()[inc]
    actor = np.where(
        np.isin(to, ["in_progress", "feedback"]),
        unit_actor,
        np.where(to == "reported", reporter, centre),
    )
    ev = pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + len(k)),
            "incident_id": df["id"].to_numpy()[inc],
            "at": pd.DatetimeIndex(at).tz_localize("UTC"),
            "actor_id": pd.array(pd.to_numeric(pd.Series(actor), errors="coerce"), dtype="Int64"),
            "from_status": frm,
            "to_status": to,
            "unit_id": pd.array(np.where(to == "dispatched", unit, None), dtype="Int64"),
            "note": None,
        }
    )
    last = ev.groupby("incident_id")["at"].max()
    closed = pd.Series(last.reindex(df["id"]).to_numpy(), index=df.index)
    closed[df["status"].to_numpy() != "closed"] = pd.NaT
    return ev, closed


def visit_logs(
    hh: pd.DataFrame, acc: pd.DataFrame, per_grid: int, rng: np.random.Generator
) -> pd.DataFrame:
    gw = acc[acc.role == "grid_worker"].drop_duplicates("scope_area_id")
    gw_of = dict(zip(gw.scope_area_id, gw.id, strict=True))
    by_grid = hh.groupby("grid_id").indices
    picks = [rng.choice(ix, rng.poisson(per_grid)) for ix in by_grid.values()]
    hi = np.concatenate(picks) if picks else np.array([], int)
    n = len(hi)
    dates = pd.date_range(START_LOCAL, periods=DAYS, freq="D")
    day_p = _season_profile("all", dates)
    day = rng.choice(DAYS, n, p=day_p)
    secs = day * 86400 + rng.integers(9, 17, n) * 3600 + rng.integers(0, 3600, n)
    when = (START_LOCAL + pd.to_timedelta(secs, "s")).tz_convert("UTC")
    need = np.array([c.code for c in leaf_categories() if c.code.startswith("06")])
    notes = np.array(
        [
            "入户走访，了解家庭情况",
            "询问供暖情况",
            "宣传防诈骗知识",
            "登记人员变动",
            "探望独居老人",
            "了解就业需求",
            "检查用火用电安全",
            "收集居民意见",
        ]
    )
    grid = hh["grid_id"].to_numpy()[hi]
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "worker_id": [gw_of[g] for g in grid],
            "subject_type": "household",
            "subject_id": hh["id"].to_numpy()[hi],
            "visited_at": when,
            "note": notes[rng.integers(0, len(notes), n)],
            "need_category": where_or_none(
                rng.random(n) < 0.2, need[rng.integers(0, len(need), n)]
            ),
            "mood": rng.choice(
                np.array(["calm", "worried", "upset", "urgent"]), n, p=[0.7, 0.2, 0.08, 0.02]
            ),
            "geom": hh["geom"].to_numpy()[hi],
        }
    )
    for c in ("grid_id", "community_id", "street_id", "district_id"):
        df[c] = hh[c].to_numpy()[hi]
    return df
