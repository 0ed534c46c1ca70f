// gisgrid web map. Plain ES module, no build step; MapLibre GL JS is vendored next to it.
//
// Everything on the map comes from this server: the tile catalogue (GET /tiles, then each
// layer's TileJSON), /locate and /units/nearest for the click popup, /token and /me to sign
// in, the Hotspots panel's /analysis answers (hotspots.js) and the planner mode's /plans
// (planner.js, with the vendored terra-draw for drawing). There is no basemap unless GISGRID_BASEMAP_URL names one, and no glyphs: the style uses
// circle, fill, line and raster layers only, and every text is HTML (popups, the legend).
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { hotspotClick, hotspotLegend, initHotspots, refreshHotspots } from "/static/hotspots.js";
import { initPlanner, plannerClick, plannerLegend, plannerSession } from "/static/planner.js";

const TOKEN_KEY = "gisgrid.session";
const POINT_HIT_PX = 6; // how close a click must be to a point to open its popup

// Area levels, coarse to fine. An outline shows from its `from` zoom on; the choropleth
// fills the finest level shown, so each level fills from its `from` to the next level's.
const AREAS = [
  { id: "districts", from: 0, line: "#323f4b", width: 2.4 },
  { id: "streets", from: 9, line: "#52606d", width: 1.6, dash: [4, 2] },
  { id: "communities", from: 10, line: "#7b8794", width: 1.1 },
  { id: "grids", from: 11, line: "#9aa5b1", width: 0.6 },
];
// Layers whose tiles take the incident filters (category, from, to).
const FILTERED = new Set(["districts", "streets", "communities", "grids", "hex", "heat", "incidents"]);
const CHORO_COLOURS = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"];
const HEX_COLOURS = ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"];
const INCIDENT_COLOURS = { overdue: "#d62728", open: "#f59f00", closed: "#8d99a6" };
const METRICS = {
  incidents: { area: "incidents", hex: "count", en: "Incidents", zh: "事件数" },
  open: { area: "open", hex: "open", en: "Open", zh: "未结" },
  overdue: { area: "overdue", hex: "overdue", en: "Overdue", zh: "超期" },
};
const LEVEL_NAMES = {
  districts: "District 区", streets: "Street 街道", communities: "Community 社区", grids: "Grid 网格",
};
const STATUS_NAMES = {
  reported: "上报 reported", accepted: "受理 accepted", dispatched: "派遣 dispatched",
  in_progress: "处置中 in progress", feedback: "反馈 feedback", closed: "结案 closed",
  rejected: "退回 rejected", returned: "返回 returned", escalated: "上报上级 escalated",
};
const UNIT_KINDS = {
  police: "派出所 police", fire: "消防 fire", sanitation: "环卫 sanitation", housing: "房管 housing",
  utilities: "公用事业 utilities", urban_management: "城管 urban management",
  civil_affairs: "民政 civil affairs", environment: "环保 environment", traffic: "交通 traffic",
  market: "市场监管 market",
};

const state = {
  config: null,
  catalog: new Map(), // layer id -> catalogue entry from GET /tiles
  session: loadSession(), // {token, expiresAt, me} or null
  filters: { category: "", from: "", to: "" },
  metric: "incidents",
  show: {
    choropleth: false, heat: true, hex: false, incidents: true, units: true, places: false,
    outlines: true, basemap: true,
  },
  breaks: {}, // source id -> class breaks of the choropleth / hex fill
  heatLegend: null, // the heat layer's TileJSON legend
  errors: new Map(), // source id -> last tile error
  popup: null,
};

const $ = (sel) => document.querySelector(sel);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function setStatus(text) {
  $("#status").textContent = text;
}

// ------------------------------------------------------------------ session

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
    if (s && s.token && s.expiresAt > Date.now()) return s;
  } catch {
    // a damaged entry is the same as none
  }
  sessionStorage.removeItem(TOKEN_KEY);
  return null;
}

function bearer() {
  return state.session ? { Authorization: `Bearer ${state.session.token}` } : {};
}

function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

// MapLibre asks this for every style, TileJSON and tile request: the token goes to our own
// server only, never to a basemap host. Tiles skip the HTTP cache's stored copy without
// revalidating, because one tile URL answers differently to an anonymous and a signed-in
// caller (clusters or points, the caller's scope).
function transformRequest(url) {
  if (!sameOrigin(url)) return { url };
  const req = { url, headers: bearer() };
  if (new URL(url, location.href).pathname.startsWith("/tiles")) req.cache = "no-cache";
  return req;
}

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { ...bearer(), ...(options.headers || {}) } });
  if (r.status === 401 && state.session) {
    signedOut("Session expired — please sign in again 会话已过期");
  }
  return r;
}

// ------------------------------------------------------------------ filters and URLs

// The filters as a query string. Dates go as they are: the server reads a bare date as a
// whole day in the city, `to` included (gisgrid.times), and puts the instants it made of
// them into the TileJSON's tile URLs.
function filterQuery() {
  const q = new URLSearchParams();
  const f = state.filters;
  if (f.category) q.set("category", f.category);
  if (f.from) q.set("from", f.from);
  if (f.to) q.set("to", f.to);
  return q.toString();
}

// The catalogue lists the filters each layer takes; FILTERED is the fallback.
function takesFilters(id) {
  const filters = state.catalog.get(id)?.filters;
  return Array.isArray(filters) ? filters.includes("category") : FILTERED.has(id);
}

function tilejsonUrl(id) {
  const entry = state.catalog.get(id);
  const q = takesFilters(id) ? filterQuery() : "";
  if (!q) return entry.tilejson;
  return entry.tilejson + (entry.tilejson.includes("?") ? "&" : "?") + q;
}

function canRead(id) {
  const entry = state.catalog.get(id);
  return Boolean(entry) && (entry.public !== false || Boolean(state.session));
}

// ------------------------------------------------------------------ the map

function emptyStyle() {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0ec" } }],
  };
  const bm = state.config && state.config.basemap;
  if (bm) {
    style.sources.basemap = {
      type: "raster", tiles: [bm.tiles], tileSize: 256, attribution: bm.attribution || "",
    };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  return style;
}

function truthy(prop) {
  return ["any", ["==", ["get", prop], true], ["==", ["get", prop], "true"], ["==", ["get", prop], 1]];
}

function fillStep(prop, breaks, colours) {
  const expr = ["step", ["to-number", ["coalesce", ["get", prop], 0]], colours[0]];
  breaks.forEach((b, i) => expr.push(b, colours[Math.min(i + 1, colours.length - 1)]));
  return expr;
}

// The display zoom range of each area level: from its own `from` (or the server's minzoom
// when that is higher) up to where the next finer level that the server has takes over.
function areaRanges() {
  const present = AREAS.filter((a) => state.catalog.has(a.id)).map((a) => ({
    ...a, from: Math.max(a.from, state.catalog.get(a.id).minzoom ?? 0),
  }));
  return present.map((a, i) => ({ ...a, to: i + 1 < present.length ? present[i + 1].from : 24 }));
}

// The whole grid extent, but no further out than START_MINZOOM (where the grids show): a
// city's extent is wide, and a first look should show grids, heat and incidents.
const START_MINZOOM = 11;
function startView(city) {
  if (!city.bounds) return { center: [126.63, 45.75], zoom: START_MINZOOM };
  const [w, s, e, n] = city.bounds;
  const el = document.getElementById("map");
  const fit = Math.log2(Math.min(
    (el.clientWidth - 48) / (((e - w) / 360) * 512),
    (el.clientHeight - 48) / ((mercY(n) - mercY(s)) * 512),
  ));
  if (fit >= START_MINZOOM) return { bounds: city.bounds, fitBoundsOptions: { padding: 24 } };
  return { center: city.center ?? [(w + e) / 2, (s + n) / 2], zoom: START_MINZOOM };
}

function mercY(lat) {
  const r = (lat * Math.PI) / 180;
  return 0.5 - Math.log(Math.tan(Math.PI / 4 + r / 2)) / (2 * Math.PI);
}

function addSource(map, id) {
  const entry = state.catalog.get(id);
  // a computed layer (hotspots) needs its analysis parameters: the Hotspots panel adds it
  if (!entry || entry.computed || !canRead(id) || map.getSource(id)) return false;
  if (entry.type === "raster") {
    map.addSource(id, { type: "raster", url: tilejsonUrl(id), tileSize: 256 });
  } else {
    map.addSource(id, { type: "vector", url: tilejsonUrl(id) });
  }
  return true;
}

function addLayers(map) {
  const has = (id) => Boolean(map.getSource(id));
  for (const id of state.catalog.keys()) addSource(map, id);

  for (const a of areaRanges()) {
    if (!has(a.id)) continue;
    map.addLayer({
      id: `${a.id}-fill`, type: "fill", source: a.id, "source-layer": a.id,
      minzoom: a.from, maxzoom: a.to,
      paint: {
        "fill-color": fillStep(METRICS[state.metric].area, [1], CHORO_COLOURS),
        "fill-opacity": 0.62,
      },
    });
  }
  if (has("heat")) {
    map.addLayer({
      // over the choropleth, under outlines and points; the tiles carry their own
      // transparency (see the legend's opacity per stop)
      id: "heat", type: "raster", source: "heat", paint: { "raster-opacity": 0.85 },
      layout: { visibility: "none" },
    });
  }
  if (has("hex")) {
    map.addLayer({
      id: "hex-fill", type: "fill", source: "hex", "source-layer": "hex",
      layout: { visibility: "none" },
      paint: {
        "fill-color": fillStep(METRICS[state.metric].hex, [1], HEX_COLOURS),
        "fill-opacity": 0.7, "fill-outline-color": "rgba(255,255,255,0.6)",
      },
    });
  }
  // fine outlines first, so the coarser ones draw over them
  for (const a of [...areaRanges()].reverse()) {
    if (!has(a.id)) continue;
    map.addLayer({
      id: `${a.id}-line`, type: "line", source: a.id, "source-layer": a.id, minzoom: a.from,
      layout: { "line-join": "round" },
      paint: {
        "line-color": a.line, "line-width": a.width, ...(a.dash ? { "line-dasharray": a.dash } : {}),
      },
    });
  }
  addPlacesLayer(map);
  if (has("units")) {
    map.addLayer({
      id: "units", type: "circle", source: "units", "source-layer": "units",
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 4, 16, 8],
        "circle-color": ["case", truthy("available"), "#0b7a5a", "#8d99a6"],
        "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
      },
    });
  }
  if (has("incidents")) {
    map.addLayer({
      id: "incident-clusters", type: "circle", source: "incidents", "source-layer": "incidents",
      filter: ["has", "point_count"],
      paint: {
        "circle-radius": [
          "interpolate", ["linear"], ["to-number", ["get", "point_count"]],
          1, 4, 10, 6, 100, 9, 1000, 13, 10000, 18,
        ],
        // the share of the cluster's incidents that are open and overdue
        "circle-color": [
          "interpolate", ["linear"],
          ["/", ["to-number", ["coalesce", ["get", "overdue"], 0]],
            ["max", 1, ["to-number", ["get", "point_count"]]]],
          0, "#2563a8", 0.05, "#f59e0b", 0.2, "#c2410c",
        ],
        "circle-opacity": 0.7, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
      },
    });
    map.addLayer({
      id: "incident-points", type: "circle", source: "incidents", "source-layer": "incidents",
      filter: ["!", ["has", "point_count"]],
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 14, 4.5, 18, 8],
        "circle-color": [
          "case", truthy("overdue"), INCIDENT_COLOURS.overdue,
          ["==", ["get", "status"], "closed"], INCIDENT_COLOURS.closed, INCIDENT_COLOURS.open,
        ],
        "circle-stroke-color": "#fff", "circle-stroke-width": 1.2,
      },
    });
  }
  applyVisibility(map);
}

// Places need a token: their source and layer come and go with the session.
function addPlacesLayer(map) {
  if (!canRead("places") || map.getLayer("places")) return;
  addSource(map, "places");
  map.addLayer(
    {
      id: "places", type: "circle", source: "places", "source-layer": "places",
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 13, 2.5, 17, 6],
        "circle-color": "#0e7490", "circle-stroke-color": "#fff", "circle-stroke-width": 1,
      },
    },
    map.getLayer("units") ? "units" : undefined,
  );
}

function removePlacesLayer(map) {
  if (map.getLayer("places")) map.removeLayer("places");
  if (map.getSource("places")) map.removeSource("places");
}

const GROUPS = {
  choropleth: () => AREAS.map((a) => `${a.id}-fill`),
  heat: () => ["heat"],
  hex: () => ["hex-fill"],
  incidents: () => ["incident-clusters", "incident-points"],
  units: () => ["units"],
  places: () => ["places"],
  outlines: () => AREAS.map((a) => `${a.id}-line`),
  basemap: () => ["basemap"],
};

// A layer group shown or hidden from code (the planner mode), its checkbox following.
function setShown(map, group, on) {
  state.show[group] = on;
  const box = document.querySelector(`[data-layer="${group}"]`);
  if (box) box.checked = on;
  applyVisibility(map);
  renderLegend(map);
}

function applyVisibility(map) {
  for (const [group, layers] of Object.entries(GROUPS)) {
    for (const id of layers()) {
      if (map.getLayer(id)) {
        map.setLayoutProperty(id, "visibility", state.show[group] ? "visible" : "none");
      }
    }
  }
  const placesBox = document.querySelector('[data-layer="places"]');
  placesBox.disabled = !canRead("places");
  placesBox.closest("li").classList.toggle("disabled", placesBox.disabled);
  document.querySelector("[data-needs-signin]").hidden = !placesBox.disabled;
}

// Re-request the TileJSON (and so every tile) of each source: after a filter change, only the
// filtered ones; after signing in or out, all of them.
function refreshSources(map, onlyFiltered) {
  for (const id of state.catalog.keys()) {
    const src = map.getSource(id);
    if (!src || state.catalog.get(id).computed) continue;
    if (onlyFiltered && !takesFilters(id)) continue;
    src.setUrl(tilejsonUrl(id));
    state.errors.delete(id);
  }
  state.breaks = {};
  // the Hotspots panel's answer depends on the category and the caller too
  refreshHotspots();
}

// ------------------------------------------------------------------ choropleth classes

// Up to five classes, at the quintiles of the loaded features' values, as whole numbers.
function quintileBreaks(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length || sorted[sorted.length - 1] <= 0) return [1];
  const out = [];
  for (const p of [0.2, 0.4, 0.6, 0.8]) {
    const v = Math.max(1, Math.ceil(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]));
    if (!out.length || v > out[out.length - 1]) out.push(v);
  }
  return out;
}

function sourceValues(map, id, prop) {
  const seen = new Map();
  for (const f of map.querySourceFeatures(id, { sourceLayer: id })) {
    // a polygon cut by tile edges comes once per tile
    const key = f.properties.id ?? f.id ?? JSON.stringify(f.geometry.coordinates[0]?.[0]);
    seen.set(key, Number(f.properties[prop] ?? 0));
  }
  return [...seen.values()];
}

function updateClasses(map) {
  let changed = false;
  const targets = [
    ...AREAS.map((a) => [a.id, `${a.id}-fill`, METRICS[state.metric].area, CHORO_COLOURS]),
    ["hex", "hex-fill", METRICS[state.metric].hex, HEX_COLOURS],
  ];
  for (const [src, layer, prop, colours] of targets) {
    if (!map.getLayer(layer) || !map.isSourceLoaded(src)) continue;
    const values = sourceValues(map, src, prop);
    if (!values.length) continue;
    const breaks = quintileBreaks(values);
    const key = `${prop}:${breaks.join(",")}`;
    if (state.breaks[src]?.key === key) continue;
    state.breaks[src] = { key, breaks };
    map.setPaintProperty(layer, "fill-color", fillStep(prop, breaks, colours));
    changed = true;
  }
  if (changed) renderLegend(map);
}

// ------------------------------------------------------------------ legend

function classRows(breaks, colours) {
  const rows = [];
  const edges = [0, ...breaks];
  edges.forEach((lo, i) => {
    const hi = i + 1 < edges.length ? edges[i + 1] - 1 : null;
    let label;
    if (hi === null) label = `≥ ${lo}`;
    else if (hi <= lo) label = `${lo}`;
    else label = `${lo}–${hi}`;
    rows.push(`<div class="row"><span class="swatch" style="background:${colours[i]}"></span>${label}</div>`);
  });
  return rows.join("");
}

function rgba(hex, opacity) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${opacity ?? 1})`;
}

function fmtValue(v) {
  return v >= 1000 ? `${v / 1000}k` : `${v}`;
}

// The heat tiles' own legend (their TileJSON's `legend`): colour stops evenly spaced on its
// scale (log10), so the ramp is drawn with equal steps between the stops.
function heatLegend() {
  const lg = state.heatLegend;
  if (!lg || !Array.isArray(lg.stops) || !lg.stops.length) {
    return `<div class="block" data-legend="heat"><div class="title">Heatmap 热力</div>
      <div class="ends"><span>low 低</span><span>high 高</span></div></div>`;
  }
  const colours = lg.stops.map((s) => rgba(s.color, Math.max(s.opacity ?? 1, 0.08)));
  const labels = lg.stops.map((s) => `<span>${esc(fmtValue(s.value))}</span>`);
  return `<div class="block" data-legend="heat"><div class="title">Heatmap 热力:
    ${esc(lg.title || "density")}</div>
    <div class="ramp" style="background:linear-gradient(90deg,${colours.join(",")})"></div>
    <div class="ends">${labels.join("")}</div>
    <div class="muted">${esc(lg.unit || "")}${lg.scale ? ` (${esc(lg.scale)})` : ""}</div></div>`;
}

async function loadHeatLegend(map) {
  const entry = state.catalog.get("heat");
  if (!entry) return;
  try {
    const r = await api(entry.tilejson);
    if (r.ok) state.heatLegend = (await r.json()).legend || null;
  } catch {
    state.heatLegend = null;
  }
  renderLegend(map);
}

function shownAreaLevel(map) {
  const z = map.getZoom();
  const r = areaRanges().find((a) => z >= a.from && z < a.to);
  return r ? r.id : null;
}

function renderLegend(map) {
  const m = METRICS[state.metric];
  const parts = [];
  const level = shownAreaLevel(map);
  if (state.show.choropleth && level) {
    const b = state.breaks[level]?.breaks || [1];
    parts.push(`<div class="block" data-legend="choropleth"><div class="title">${esc(LEVEL_NAMES[level])}:
      ${m.en} ${m.zh}</div>${classRows(b, CHORO_COLOURS)}</div>`);
  }
  if (state.show.hex && map.getLayer("hex-fill")) {
    const b = state.breaks.hex?.breaks || [1];
    parts.push(`<div class="block" data-legend="hex"><div class="title">Hexagons 六边形: ${m.en} ${m.zh}</div>
      ${classRows(b, HEX_COLOURS)}</div>`);
  }
  const plan = plannerLegend();
  if (plan) parts.push(plan);
  const hot = hotspotLegend();
  if (hot) parts.push(hot);
  if (state.show.heat && map.getLayer("heat")) parts.push(heatLegend());
  if (state.show.incidents && map.getLayer("incident-points")) {
    // single incidents only reach a signed-in caller from zoom 14; clusters otherwise
    const single = state.session && map.getZoom() >= 14;
    parts.push(`<div class="block"><div class="title">Incidents 事件</div>${single ? `
      <div class="row"><span class="dot" style="background:${INCIDENT_COLOURS.open}"></span>open 未结</div>
      <div class="row"><span class="dot" style="background:${INCIDENT_COLOURS.overdue}"></span>overdue 超期</div>
      <div class="row"><span class="dot" style="background:${INCIDENT_COLOURS.closed}"></span>closed 结案</div>` : `
      <div class="row"><span class="dot" style="background:#2563a8"></span>cluster, none overdue 聚合 无超期</div>
      <div class="row"><span class="dot" style="background:#f59e0b"></span>5% overdue 超期</div>
      <div class="row"><span class="dot" style="background:#c2410c"></span>&ge; 20% overdue 超期</div>`}</div>`);
  }
  if (state.show.units && map.getLayer("units")) {
    parts.push(`<div class="block"><div class="title">Units 责任单位</div>
      <div class="row"><span class="dot" style="background:#0b7a5a"></span>available 可用</div>
      <div class="row"><span class="dot" style="background:#8d99a6"></span>busy 不可用</div></div>`);
  }
  if (state.show.places && map.getLayer("places")) {
    parts.push(`<div class="block"><div class="title">Places 场所</div>
      <div class="row"><span class="dot" style="background:#0e7490"></span>shops, hydrants, cameras…</div></div>`);
  }
  $("#legend").innerHTML = parts.join("") || '<p class="muted">No layer shown.</p>';
}

// ------------------------------------------------------------------ popups

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return esc(iso);
  return d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

function table(rows) {
  return `<table>${rows.filter(Boolean).map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join("")}</table>`;
}

function incidentHtml(p) {
  const overdue = p.overdue === true || p.overdue === "true" || p.overdue === 1;
  const cls = overdue ? "overdue" : p.status === "closed" ? "closed" : "open";
  return `<div class="pop" data-kind="incident" data-incident-id="${esc(p.id)}">
    <h3>${esc(p.category_name)} <span class="muted">${esc(p.category_name_en)}</span></h3>
    ${table([
      ["Code 编号", `<code>${esc(p.code)}</code>`],
      ["Category 类别", `<code>${esc(p.category)}</code>`],
      ["Status 状态", `<span class="badge ${cls}">${esc(STATUS_NAMES[p.status] || p.status)}</span>${overdue ? ' <span class="badge overdue">超期 overdue</span>' : ""}`],
      ["Priority 优先级", esc(p.priority)],
      ["Reported 上报", fmtTime(p.reported_at)],
      ["Due 期限", fmtTime(p.due_at)],
      ["Grid 网格", `<code>${esc(p.grid_code)}</code>`],
    ])}</div>`;
}

function clusterHtml(p) {
  return `<div class="pop" data-kind="cluster"><h3>${esc(p.point_count)} incidents 事件</h3>
    ${table([["Open 未结", esc(p.open ?? "—")], ["Overdue 超期", esc(p.overdue ?? "—")]])}
    <p class="muted">${state.session ? "Zoom in to 14+ for single incidents. 放大查看单个事件" : "Sign in and zoom in for single incidents. 登录并放大查看单个事件"}</p></div>`;
}

function unitHtml(p) {
  const available = p.available === true || p.available === "true" || p.available === 1;
  return `<div class="pop" data-kind="unit"><h3>${esc(p.name)}</h3>${table([
    ["Kind 类型", esc(UNIT_KINDS[p.kind] || p.kind)],
    ["Code 编号", `<code>${esc(p.code)}</code>`],
    ["Handles 负责", esc(p.categories)],
    ["Available 可用", available ? "yes 是" : "no 否"],
  ])}</div>`;
}

function placeHtml(p) {
  return `<div class="pop" data-kind="place"><h3>${esc(p.name || p.kind)}</h3>${table([
    ["Kind 类型", esc(p.kind)], ["Code 编号", `<code>${esc(p.code)}</code>`],
    ["Address 地址", esc(p.address)],
  ])}</div>`;
}

function areaRow(label, a) {
  return a ? [label, `${esc(a.name)} <code>${esc(a.code)}</code>`] : null;
}

function categoryOptions(selected) {
  const opts = [];
  for (const g of state.config.categories) {
    opts.push(`<option value="${esc(g.code)}"${g.code === selected ? " selected" : ""}>${esc(g.code)} ${esc(g.name_zh)} ${esc(g.name_en)}</option>`);
    for (const i of g.items) {
      if (i.code === selected) {
        opts.push(`<option value="${esc(i.code)}" selected>　${esc(i.code)} ${esc(i.name_zh)} ${esc(i.name_en)}</option>`);
      }
    }
  }
  return opts.join("");
}

async function nearestHtml(lngLat, category) {
  const q = new URLSearchParams({ lon: lngLat.lng, lat: lngLat.lat, category, k: "3" });
  const r = await api(`/units/nearest?${q}`);
  if (!r.ok) return `<p class="muted">Nearest units unavailable (${r.status}).</p>`;
  const body = await r.json();
  if (!body.units.length) return '<p class="muted">No unit handles this category. 无责任单位</p>';
  const items = body.units.map((u) => `<li>${esc(u.name)} <span class="muted">${esc(UNIT_KINDS[u.kind] || u.kind)},
    ${(u.distance_m / 1000).toFixed(2)} km${u.available ? "" : ", busy 不可用"}</span></li>`);
  return `<ol data-nearest>${items.join("")}</ol>`;
}

async function locationPopup(map, lngLat) {
  const popup = openPopup(map, lngLat, '<div class="pop"><p class="muted">Locating… 定位中</p></div>');
  const q = new URLSearchParams({ lon: lngLat.lng.toFixed(6), lat: lngLat.lat.toFixed(6) });
  const r = await api(`/locate?${q}`);
  let html;
  if (r.status === 404) {
    html = '<div class="pop" data-kind="locate"><p>Outside every grid. 不在任何网格内</p></div>';
  } else if (!r.ok) {
    html = `<div class="pop" data-kind="locate"><p class="error">Locate failed (${r.status}).</p></div>`;
  } else {
    const loc = await r.json();
    const workers = loc.workers
      ? loc.workers.map((w) => esc(w.display_name || w.username)).join(", ") || "—"
      : null;
    const category = state.filters.category || state.config.categories[0]?.code || "";
    html = `<div class="pop" data-kind="locate" data-grid-code="${esc(loc.grid.code)}">
      <h3>Grid 网格 <code>${esc(loc.grid.code)}</code></h3>
      ${table([
        areaRow("District 区", loc.district),
        areaRow("Street 街道", loc.street),
        areaRow("Community 社区", loc.community),
        areaRow("Grid 网格", loc.grid),
        workers !== null ? ["Workers 网格员", workers] : null,
        loc.distance_m > 0 ? ["Distance 距离", `${Math.round(loc.distance_m)} m`] : null,
      ])}
      <h3 style="margin-top:6px">Nearest units 最近责任单位</h3>
      ${category ? `<select data-nearest-category aria-label="Category for nearest units">${categoryOptions(category)}</select>
      <div data-nearest-list>${await nearestHtml(lngLat, category)}</div>` : ""}
    </div>`;
  }
  if (state.popup !== popup) return; // another click came first
  popup.setHTML(html);
  const select = popup.getElement()?.querySelector("[data-nearest-category]");
  if (select) {
    select.addEventListener("change", async () => {
      const list = popup.getElement().querySelector("[data-nearest-list]");
      list.innerHTML = await nearestHtml(lngLat, select.value);
    });
  }
}

function openPopup(map, lngLat, html) {
  if (state.popup) state.popup.remove();
  state.popup = new maplibregl.Popup({ maxWidth: "340px" }).setLngLat(lngLat).setHTML(html).addTo(map);
  return state.popup;
}

function onClick(map, e) {
  if (plannerClick(map, e)) return;
  const { x, y } = e.point;
  const box = [[x - POINT_HIT_PX, y - POINT_HIT_PX], [x + POINT_HIT_PX, y + POINT_HIT_PX]];
  const pointLayers = ["incident-points", "incident-clusters", "units", "places"].filter(
    (id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none",
  );
  const hit = pointLayers.length ? map.queryRenderedFeatures(box, { layers: pointLayers })[0] : null;
  if (!hit) {
    if (!hotspotClick(map, e)) locationPopup(map, e.lngLat);
    return;
  }
  // the tiles carry the row id as the MVT feature id, not as a property
  const p = { ...hit.properties, id: hit.properties.id ?? hit.id };
  const at = hit.geometry.type === "Point" ? hit.geometry.coordinates : e.lngLat;
  const html = {
    "incident-points": incidentHtml, "incident-clusters": clusterHtml, units: unitHtml, places: placeHtml,
  }[hit.layer.id](p);
  openPopup(map, at, html);
}

// ------------------------------------------------------------------ sidebar

function fillCategoryGroups() {
  const group = $("#group");
  for (const g of state.config.categories) {
    group.add(new Option(`${g.code} ${g.name_zh} ${g.name_en}`, g.code));
  }
}

function fillCategoryItems() {
  const item = $("#category");
  item.length = 1;
  const g = state.config.categories.find((c) => c.code === $("#group").value);
  item.disabled = !g;
  if (g) for (const i of g.items) item.add(new Option(`${i.code} ${i.name_zh} ${i.name_en}`, i.code));
}

function readFilters() {
  const from = $("#from").value;
  let to = $("#to").value;
  if (from && to && to < from) {
    to = from;
    $("#to").value = to;
  }
  return { category: $("#category").value || $("#group").value || "", from, to };
}

function showSession() {
  const s = state.session;
  $("#signin").hidden = Boolean(s);
  $("#whoami").hidden = !s;
  if (s) {
    $("#who-name").textContent = s.me.display_name || s.me.username;
    const scope = s.me.scope.level ? `${s.me.scope.level} #${s.me.scope.area_id}` : "whole city 全市";
    $("#who-role").textContent = `${s.me.username} · ${s.me.role} · scope 范围: ${scope}`;
  }
  if (window.__gisgridMap && state.catalog.size) plannerSession(s);
}

function signedOut(message) {
  state.session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  showSession();
  if (message) {
    $("#signin-error").textContent = message;
    $("#signin-error").hidden = false;
  }
  const map = window.__gisgridMap;
  if (map && state.catalog.size) {
    removePlacesLayer(map);
    state.show.places = false;
    document.querySelector('[data-layer="places"]').checked = false;
    refreshSources(map, false);
    applyVisibility(map);
    renderLegend(map);
  }
}

async function signIn(map, username, password) {
  const err = $("#signin-error");
  err.hidden = true;
  const r = await fetch("/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  if (!r.ok) {
    err.textContent = r.status === 401 ? "Wrong username or password. 用户名或密码错误" : `Sign-in failed (${r.status}).`;
    err.hidden = false;
    return;
  }
  const t = await r.json();
  const me = await fetch("/me", { headers: { Authorization: `Bearer ${t.access_token}` } });
  if (!me.ok) {
    err.textContent = `Sign-in failed (${me.status}).`;
    err.hidden = false;
    return;
  }
  state.session = { token: t.access_token, expiresAt: Date.now() + t.expires_in * 1000, me: await me.json() };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(state.session));
  $("#password").value = "";
  showSession();
  scheduleExpiry();
  // the caller's own scope: places appear, incidents become points when zoomed in
  addPlacesLayer(map);
  refreshSources(map, false);
  applyVisibility(map);
  renderLegend(map);
}

function scheduleExpiry() {
  if (!state.session) return;
  const left = state.session.expiresAt - Date.now();
  const token = state.session.token;
  setTimeout(() => {
    if (state.session && state.session.token === token) signedOut("Session expired 会话已过期");
  }, Math.max(0, Math.min(left, 2 ** 31 - 1)));
}

function wireSidebar(map) {
  $("#signin").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn(map, $("#username").value.trim(), $("#password").value);
  });
  $("#signout").addEventListener("click", () => signedOut(null));

  for (const box of document.querySelectorAll("[data-layer]")) {
    box.checked = Boolean(state.show[box.dataset.layer]);
    box.addEventListener("change", () => {
      state.show[box.dataset.layer] = box.checked;
      applyVisibility(map);
      renderLegend(map);
    });
  }
  $("#metric").addEventListener("change", () => {
    state.metric = $("#metric").value;
    state.breaks = {};
    updateClasses(map);
    renderLegend(map);
  });

  const onFilter = () => {
    const next = readFilters();
    const f = state.filters;
    if (next.category === f.category && next.from === f.from && next.to === f.to) return;
    state.filters = next;
    refreshSources(map, true);
  };
  $("#group").addEventListener("change", () => {
    fillCategoryItems();
    onFilter();
  });
  for (const sel of ["#category", "#from", "#to"]) $(sel).addEventListener("change", onFilter);
  $("#filters").addEventListener("reset", () => {
    // after the browser has cleared the fields
    setTimeout(() => {
      fillCategoryItems();
      onFilter();
    });
  });
}

function updateStatus(map) {
  const errs = [...state.errors.entries()].map(([id, msg]) => `${id}: ${msg}`);
  const who = state.session ? state.session.me.username : "anonymous 匿名";
  setStatus(`zoom ${map.getZoom().toFixed(1)} · ${who}${errs.length ? ` · tile errors: ${errs.join("; ")}` : ""}`);
}

// ------------------------------------------------------------------ start

async function loadCatalog() {
  const r = await api("/tiles");
  if (!r.ok) throw new Error(`GET /tiles answered ${r.status}`);
  const body = await r.json();
  for (const layer of body.layers) state.catalog.set(layer.id, layer);
}

async function main() {
  const r = await fetch("/map/config.json");
  if (!r.ok) {
    setStatus(`Cannot load /map/config.json (${r.status}).`);
    return;
  }
  state.config = await r.json();
  const city = state.config.city;
  $("#city-name").textContent = city.name ? `${city.name} ${city.code || ""}` : "No areas loaded 尚无区划";
  if (state.config.basemap) $("#basemap-item").hidden = false;
  fillCategoryGroups();
  if (state.session) {
    // a token kept from before may have died with a server restart (a new signing key)
    const me = await api("/me");
    if (me.ok) state.session.me = await me.json();
  }
  showSession();
  if (state.session) scheduleExpiry();

  const map = new maplibregl.Map({
    container: "map",
    style: emptyStyle(),
    ...startView(city),
    maxZoom: 20,
    transformRequest,
    attributionControl: { compact: true, customAttribution: "gisgrid" },
  });
  window.__gisgridMap = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  wireSidebar(map);

  map.on("error", (e) => {
    if (e.sourceId) {
      const status = e.error?.status ? `HTTP ${e.error.status}` : e.error?.message || "error";
      state.errors.set(e.sourceId, status);
    }
    updateStatus(map);
  });
  map.on("click", (e) => onClick(map, e));
  for (const layer of ["incident-points", "incident-clusters", "units", "places"]) {
    map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
  }
  map.on("idle", () => {
    updateClasses(map);
    updateStatus(map);
  });
  map.on("zoomend", () => renderLegend(map));

  await new Promise((resolve) => (map.loaded() ? resolve() : map.once("load", resolve)));
  try {
    await loadCatalog();
  } catch (e) {
    setStatus(`Tile layers unavailable: ${e.message}. Click the map to locate a grid.`);
    window.__gisgridReady = true;
    return;
  }
  addLayers(map);
  initHotspots(map, {
    api, esc, openPopup, filters: () => state.filters, onLegend: () => renderLegend(map),
  });
  initPlanner(map, {
    api, esc, onLegend: () => renderLegend(map), popup: () => state.popup,
    refreshTiles: () => refreshSources(map, false),
    tilejson: (id) => (canRead(id) ? state.catalog.get(id).tilejson : null),
    shown: (group) => Boolean(state.show[group]),
    setShown: (group, on) => setShown(map, group, on),
  });
  plannerSession(state.session);
  renderLegend(map);
  loadHeatLegend(map);
  window.__gisgridReady = true;
}

main();
