// The planner mode of the web map (issue 11): redraw the grids under one parent as a plan.
//
// A signed-in planner or admin turns the mode on, picks a parent (a click on the map asks
// /locate for the street and community there; the list offers those in view from the OGC
// area collections), opens or creates a plan (GET / POST /plans), and edits its draft grids:
// click one grid then another to merge them, draw a line across a grid to split it, draw a
// lasso round buildings and click the grid they should move into. Drawing is terra-draw
// (vendored, loaded through the page's import map only when the mode is first used).
//
// Every edit sends If-Match with the plan's ETag; a 412 reloads the plan and says someone
// else changed it. The answer of an edit carries the new checks and stats, which fill the
// checks panel (a failure zooms to its bbox) and the stats panel (spread beside the current
// boundaries'). The draft grids are coloured by households against the plan limits, or, in
// the before / after views, by the diff (kept, changed, new, retired). Everything comes from
// this server; the rules (limits, checks, who may publish) are the library's, not the page's.

import { failureBbox, gridFigures, limitsOf, panelChecks, panelDiff, panelStats } from "/static/planner-panel.js";

const SRC = "plan";
const BASE = "plan-base"; // the current grids around the plan (before / after views)
const PARENT = "plan-parent";
const BUILDINGS = "plan-buildings"; // the caller's building footprints (vector tiles), to lasso
const LAYERS = [
  "plan-base-fill", "plan-fill", "plan-buildings-fill", "plan-base-line", "plan-line", "plan-selected",
  "plan-parent-line",
];
// the map's own layer groups that would hide the draft's colours or take its clicks
const HIDE_WHEN_PLANNING = ["heat", "hex", "choropleth", "incidents", "units", "places"];

export const BANDS = {
  under: ["#4c8bd6", "Under the limit 低于下限"],
  within: ["#55a660", "Within the limits 符合标准"],
  over: ["#d64545", "Over the limit 超出上限"],
  unknown: ["#b3bac2", "No figures 无数据"],
};
export const DIFF = {
  kept: ["#aeb7c0", "Kept 保留"],
  changed: ["#f2a516", "Changed 调整"],
  new: ["#2f9e44", "New 新增"],
  retired: ["#c92a2a", "Retired 撤销"],
};
const TOOL_HINTS = {
  merge: ["Click a grid, then a neighbour to merge them.", "点击一个网格，再点击相邻网格进行合并。"],
  merge2: ["Now click the neighbour to merge with {code} (Esc cancels).", "请点击要与 {code} 合并的相邻网格（Esc 取消）。"],
  split: ["Click the grid to split.", "点击要分割的网格。"],
  split2: [
    "Draw a line across {code}: click points, click the last point again or press Enter to finish (Esc cancels).",
    "在 {code} 上画分割线：逐点单击，再次单击末点或按 Enter 完成（Esc 取消）。",
  ],
  move: [
    "Draw a lasso round the buildings: click points, click the first point or press Enter to close (Esc cancels).",
    "圈选楼栋：逐点单击，单击起点或按 Enter 闭合（Esc 取消）。",
  ],
  move2: ["Now click the grid the buildings move into.", "请点击楼栋要移入的网格。"],
  pick: ["Click the map inside the street or community to redraw.", "在地图上点击要调整的街道或社区。"],
};

const pl = {
  map: null,
  ctx: null,
  allowed: false, // the caller is a planner or admin
  on: false,
  draw: null, // the terra-draw instance, made when first needed
  parent: null, // {id, code, name, level}
  plan: null, // the plan's summary
  etag: null,
  features: [],
  checks: null,
  stats: null,
  diff: null,
  view: "workload", // workload | before | after
  tool: null, // merge | split | move | pick
  first: null, // the grid clicked first (merge, split) or selected
  lasso: null, // the drawn lasso polygon, waiting for its target grid
  drawnAt: -Infinity, // when terra-draw last finished a line or polygon
  drawnEnd: null, // [lon, lat] of the point whose click finished it
  busy: false,
  hidden: [], // map layer groups the mode switched off, to switch back on
  routes: null, // the POST paths this server offers (from /openapi.json), to grey out the rest
};

// Actions that are their own routes: a server without one (an older release) greys it out.
const ROUTED = {
  "#pl-balance": "/plans/{plan_id}/balance",
  "#pl-publish": "/plans/{plan_id}/publish",
  "#pl-autosplit": "/plans/{plan_id}/autosplit",
};

async function loadRoutes() {
  if (pl.routes) return;
  try {
    const r = await fetch("/openapi.json");
    const paths = r.ok ? (await r.json()).paths || {} : {};
    pl.routes = new Set(Object.keys(paths).filter((k) => paths[k].post));
  } catch {
    pl.routes = new Set();
  }
}

function offered(sel) {
  return !pl.routes || pl.routes.has(ROUTED[sel]);
}

function enable(sel, on) {
  const b = $(sel);
  b.disabled = !on || !offered(sel);
  b.title = offered(sel) ? "" : "Not offered by this server 此服务器未提供";
}

const $ = (sel) => document.querySelector(sel);
const esc = (v) => pl.ctx.esc(v);

function fill(template, code) {
  return template.replace("{code}", code ?? "");
}

function hint(key, code) {
  const [en, zh] = TOOL_HINTS[key] || ["", ""];
  $("#pl-hint").textContent = key ? `${fill(en, code)} ${fill(zh, code)}` : "";
}

function say(text, kind = "info") {
  const el = $("#pl-msg");
  el.textContent = text;
  el.className = kind;
  el.dataset.kind = kind;
}

async function reason(r) {
  try {
    const body = await r.clone().json();
    const field = body.field ? `${body.field}: ` : "";
    return `${field}${body.reason || body.detail || r.statusText} (HTTP ${r.status})`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

async function send(method, path, body, ifMatch = false) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch && pl.etag) headers["If-Match"] = pl.etag;
  return pl.ctx.api(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// ------------------------------------------------------------------ the map layers

function emptyFc() {
  return { type: "FeatureCollection", features: [] };
}

function addLayers() {
  const map = pl.map;
  if (map.getSource(SRC)) return;
  map.addSource(SRC, { type: "geojson", data: emptyFc() });
  map.addSource(BASE, { type: "geojson", data: emptyFc() });
  map.addSource(PARENT, { type: "geojson", data: emptyFc() });
  const dim = ["case", ["==", ["get", "diff"], "kept"], 0.35, 0.7];
  map.addLayer({
    id: "plan-base-fill", type: "fill", source: BASE,
    layout: { visibility: "none" },
    paint: { "fill-color": diffColour(), "fill-opacity": dim },
  });
  map.addLayer({
    id: "plan-fill", type: "fill", source: SRC,
    paint: { "fill-color": bandColour(), "fill-opacity": 0.6 },
  });
  const buildings = pl.ctx.tilejson("buildings");
  if (buildings) {
    // footprints from z14, where the buildings tiles start: what a lasso picks
    map.addSource(BUILDINGS, { type: "vector", url: buildings });
    map.addLayer({
      id: "plan-buildings-fill", type: "fill", source: BUILDINGS, "source-layer": "buildings",
      paint: { "fill-color": "#52606d", "fill-opacity": 0.55, "fill-outline-color": "#1f2933" },
    });
  }
  map.addLayer({
    id: "plan-base-line", type: "line", source: BASE,
    layout: { visibility: "none", "line-join": "round" },
    paint: { "line-color": "#1f2933", "line-width": 1.6, "line-dasharray": [3, 2] },
  });
  map.addLayer({
    id: "plan-line", type: "line", source: SRC, layout: { "line-join": "round" },
    paint: { "line-color": "#ffffff", "line-width": 1.6 },
  });
  map.addLayer({
    id: "plan-selected", type: "line", source: SRC, filter: ["==", ["get", "code"], ""],
    layout: { "line-join": "round" },
    paint: { "line-color": "#7b2cbf", "line-width": 4 },
  });
  map.addLayer({
    id: "plan-parent-line", type: "line", source: PARENT, layout: { "line-join": "round" },
    paint: { "line-color": "#7b2cbf", "line-width": 2.5, "line-dasharray": [2, 1] },
  });
  map.on("mouseenter", "plan-fill", () => { if (pl.on) map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "plan-fill", () => { map.getCanvas().style.cursor = ""; });
}

function bandColour() {
  const expr = ["match", ["get", "band"]];
  for (const [k, [c]] of Object.entries(BANDS)) expr.push(k, c);
  expr.push(BANDS.unknown[0]);
  return expr;
}

function diffColour() {
  const expr = ["match", ["get", "diff"]];
  for (const [k, [c]] of Object.entries(DIFF)) expr.push(k, c);
  expr.push("rgba(0,0,0,0)");
  return expr;
}

function showLayers(visible) {
  for (const id of LAYERS) {
    if (pl.map.getLayer(id)) pl.map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
  }
  if (visible) applyView();
}

// The households band of each draft grid (from the stats) and its diff class, as properties
// the layers' expressions read.
function decorate() {
  const byCode = new Map((pl.stats?.grids || []).map((g) => [g.code, g]));
  const { min, max } = limitsOf(pl.stats, "households");
  const classes = diffClasses(pl.diff);
  return pl.features.map((f) => {
    const code = f.properties?.code;
    const g = byCode.get(code);
    let band = "unknown";
    if (g && Number.isFinite(g.households)) {
      band = min !== null && g.households < min ? "under" : max !== null && g.households > max ? "over" : "within";
    }
    return {
      ...f,
      properties: { ...f.properties, band, households: g?.households ?? null, diff: classes.get(code) || "kept" },
    };
  });
}

function redraw() {
  const src = pl.map.getSource(SRC);
  if (src) src.setData({ type: "FeatureCollection", features: decorate() });
  select(pl.first);
  pl.ctx.onLegend();
}

function select(code) {
  pl.first = code || null;
  if (pl.map.getLayer("plan-selected")) {
    pl.map.setFilter("plan-selected", ["==", ["get", "code"], pl.first || ""]);
  }
  for (const b of document.querySelectorAll("#pl-stats [data-code]")) {
    b.setAttribute("aria-pressed", String(b.dataset.code === pl.first));
  }
  const rename = $("#pl-rename");
  rename.hidden = !pl.first || !pl.plan;
  if (pl.first) {
    const g = pl.features.find((f) => f.properties.code === pl.first);
    $("#pl-rename-name").value = g?.properties?.name || "";
    $("#pl-selected").textContent = pl.first;
    const g2 = (pl.stats?.grids || []).find((x) => x.code === pl.first);
    $("#pl-figures").textContent = gridFigures(g2);
  }
  enable("#pl-autosplit", Boolean(pl.first) && editable());
}

// ------------------------------------------------------------------ before / after

// The diff as a map from grid code to kept / changed / new / retired, whichever of the
// shapes the API gives: lists of codes (or of {code}) per class, or "grids": [{code, status}].
export function diffClasses(diff) {
  const out = new Map();
  if (!diff) return out;
  for (const g of diff.grids || []) out.set(g.code, g.status || g.kind || g.change);
  for (const k of Object.keys(DIFF)) {
    for (const x of Array.isArray(diff[k]) ? diff[k] : []) {
      out.set(typeof x === "string" ? x : x.code, k);
    }
  }
  return out;
}

async function loadDiff() {
  const r = await pl.ctx.api(`/plans/${pl.plan.id}/diff`);
  if (!r.ok) {
    say(`Diff unavailable 无法获取对比: ${await reason(r)}`, "error");
    pl.diff = null;
    return;
  }
  pl.diff = await r.json();
}

async function loadBase() {
  // the current grids over the plan's extent: the boundaries the plan started from
  const b = bboxOf(pl.features);
  if (!b) return;
  const q = new URLSearchParams({ bbox: b.map((v) => v.toFixed(6)).join(","), limit: "1000" });
  const r = await pl.ctx.api(`/collections/areas_grid/items?${q}`);
  if (!r.ok) return;
  const doc = await r.json();
  const classes = diffClasses(pl.diff);
  const features = (doc.features || [])
    .filter((f) => classes.has(f.properties.code))
    .map((f) => ({ ...f, properties: { ...f.properties, diff: classes.get(f.properties.code) } }));
  pl.map.getSource(BASE).setData({ type: "FeatureCollection", features });
}

async function setView(view) {
  pl.view = view;
  if (view !== "workload" && pl.plan) {
    await loadDiff();
    await loadBase();
    redraw();
  }
  applyView();
  renderDiff();
  pl.ctx.onLegend();
}

function renderDiff() {
  const box = $("#pl-diff");
  box.hidden = pl.view === "workload" || !pl.diff;
  box.innerHTML = box.hidden ? "" : panelDiff(pl.diff, esc, DIFF);
}

function applyView() {
  const map = pl.map;
  if (!map.getLayer("plan-fill")) return;
  const v = pl.view;
  const vis = (id, on) => map.setLayoutProperty(id, "visibility", on && pl.on ? "visible" : "none");
  // before: the current grids filled by what the plan does to them, the draft as outlines;
  // after: the draft filled by kept / changed / new, the current grids as dashed outlines
  vis("plan-base-fill", v === "before");
  vis("plan-base-line", v !== "workload");
  vis("plan-fill", v !== "before");
  map.setPaintProperty("plan-fill", "fill-color", v === "after" ? diffColour() : bandColour());
  map.setPaintProperty("plan-line", "line-color", v === "before" ? "#7b2cbf" : "#ffffff");
}

// ------------------------------------------------------------------ drawing (terra-draw)

async function drawing() {
  if (pl.draw) return pl.draw;
  const { TerraDraw, TerraDrawLineStringMode, TerraDrawPolygonMode } = await import("terra-draw");
  const { TerraDrawMapLibreGLAdapter } = await import("terra-draw-maplibre-gl-adapter");
  const draw = new TerraDraw({
    adapter: new TerraDrawMapLibreGLAdapter({ map: pl.map }),
    modes: [
      new TerraDrawLineStringMode({
        styles: { lineStringColor: "#7b2cbf", lineStringWidth: 3, closingPointColor: "#7b2cbf" },
      }),
      new TerraDrawPolygonMode({
        styles: { fillColor: "#7b2cbf", fillOpacity: 0.2, outlineColor: "#7b2cbf", outlineWidth: 2 },
      }),
    ],
  });
  draw.start();
  draw.on("finish", (id) => onDrawn(draw.getSnapshotFeature(id)));
  pl.draw = draw;
  window.__gisgridPlanner.drawReady = true;
  return draw;
}

async function startDrawing(mode) {
  const draw = await drawing();
  draw.clear();
  draw.setMode(mode);
}

function stopDrawing() {
  if (!pl.draw) return;
  pl.draw.clear();
  pl.draw.setMode("static");
}

function isDrawing() {
  return Boolean(pl.draw) && pl.draw.getMode() !== "static";
}

// The click that finishes a drawing reaches the map too, before or just after terra-draw's
// finish event: before, isDrawing() holds; after, the map ignores a click at the finishing
// point within this window. A quick click elsewhere (the grid the lasso moves into) counts.
const AFTER_DRAWING_MS = 350;
const FINISH_CLICK_PX = 8;

function finishingClick(map, e) {
  if (performance.now() - pl.drawnAt >= AFTER_DRAWING_MS || !pl.drawnEnd) return false;
  const p = map.project(pl.drawnEnd);
  return Math.hypot(p.x - e.point.x, p.y - e.point.y) <= FINISH_CLICK_PX;
}

function onDrawn(feature) {
  if (!feature) return;
  pl.drawnAt = performance.now();
  const g = feature.geometry; // a polygon closes on its first point, a line ends on its last
  pl.drawnEnd = g.type === "Polygon" ? g.coordinates[0][0] : g.coordinates[g.coordinates.length - 1];
  // leave terra-draw's own event handler before changing its mode
  setTimeout(() => {
    pl.draw.setMode("static");
    if (pl.tool === "split" && pl.first && feature.geometry.type === "LineString") {
      const code = pl.first;
      pl.draw.clear();
      edit("split", { code, cut: feature.geometry });
    } else if (pl.tool === "move" && feature.geometry.type === "Polygon") {
      pl.lasso = feature.geometry; // stays drawn until the target grid is clicked
      hint("move2");
    }
  });
}

// ------------------------------------------------------------------ tools

function setTool(tool) {
  if (!editable() && tool && tool !== "pick") return;
  pl.tool = tool;
  pl.lasso = null;
  stopDrawing();
  for (const b of document.querySelectorAll("#pl-tools [data-tool]")) {
    b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  }
  select(null);
  hint(tool);
  if (tool === "move") startDrawing("polygon");
}

// A grid was chosen, by a click on the map or a row of the stats table.
function gridChosen(code) {
  if (pl.busy || !code) return;
  if (pl.tool === "merge") {
    if (!pl.first) {
      select(code);
      hint("merge2", code);
    } else if (pl.first === code) {
      select(null);
      hint("merge");
    } else {
      edit("merge", { codes: [pl.first, code] });
    }
  } else if (pl.tool === "split") {
    if (isDrawing()) return; // the clicks belong to the line
    select(code);
    hint("split2", code);
    startDrawing("linestring");
  } else if (pl.tool === "move") {
    if (!pl.lasso) return; // still drawing the lasso
    edit("move", { lasso: pl.lasso, to: code });
  } else {
    select(pl.first === code ? null : code);
  }
}

function cancelTool() {
  if (pl.tool) setTool(null);
  else select(null);
}

// The map's click handler asks here first; true when the planner took the click.
export function plannerClick(map, e) {
  if (!pl.on) return false;
  if (pl.tool === "pick") {
    pickAt(e.lngLat);
    return true;
  }
  if (isDrawing() || finishingClick(map, e)) return true;
  if (!pl.plan) {
    pickAt(e.lngLat);
    return true;
  }
  const hit = map.queryRenderedFeatures(e.point, { layers: ["plan-fill"] })[0];
  if (hit) gridChosen(hit.properties.code);
  return true;
}

// ------------------------------------------------------------------ parent and plans

async function pickAt(lngLat) {
  const q = new URLSearchParams({ lon: lngLat.lng.toFixed(6), lat: lngLat.lat.toFixed(6) });
  const r = await pl.ctx.api(`/locate?${q}`);
  if (!r.ok) {
    say(r.status === 404 ? "Outside every grid 不在任何网格内" : `Locate failed 定位失败: ${await reason(r)}`, "error");
    return;
  }
  const loc = await r.json();
  const choices = [["street", loc.street], ["community", loc.community]].filter(([, a]) => a);
  $("#pl-choices").innerHTML = choices.map(([level, a]) => `<button type="button" class="secondary"
    data-parent-id="${esc(a.id)}" data-level="${level}" data-code="${esc(a.code)}" data-name="${esc(a.name)}">
    ${level === "street" ? "Street 街道" : "Community 社区"}: ${esc(a.name)} <code>${esc(a.code)}</code></button>`).join("");
  $("#pl-choices").hidden = false;
  $("#pl-choices button")?.focus();
}

async function listParents() {
  const b = pl.map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
  const sel = $("#pl-parent-list");
  sel.length = 1;
  for (const [level, label] of [["street", "Streets 街道"], ["community", "Communities 社区"]]) {
    const r = await pl.ctx.api(`/collections/areas_${level}/items?${new URLSearchParams({ bbox, limit: "200" })}`);
    if (!r.ok) continue;
    const doc = await r.json();
    if (!doc.features?.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const f of doc.features) {
      const o = new Option(`${f.properties.name} ${f.properties.code}`, String(f.id));
      Object.assign(o.dataset, { level, code: f.properties.code, name: f.properties.name });
      group.append(o);
    }
    sel.append(group);
  }
}

async function setParent(parent) {
  pl.parent = parent;
  $("#pl-choices").hidden = true;
  $("#pl-parent").innerHTML = `${parent.level === "street" ? "Street 街道" : "Community 社区"}
    <strong>${esc(parent.name)}</strong> <code>${esc(parent.code)}</code>`;
  $("#pl-parent").dataset.parentId = parent.id;
  if (pl.tool === "pick") setTool(null);
  // its outline, and the view on it
  const r = await pl.ctx.api(`/collections/areas_${parent.level}/items?${new URLSearchParams({ code: parent.code })}`);
  if (r.ok) {
    const doc = await r.json();
    pl.map.getSource(PARENT).setData(doc);
    const b = bboxOf(doc.features || []);
    if (b && !pl.plan) pl.map.fitBounds(b, { padding: fitPadding(), duration: 0 });
  }
  await listPlans();
}

async function listPlans() {
  $("#pl-plans-box").hidden = false;
  const r = await pl.ctx.api(`/plans?${new URLSearchParams({ parent: pl.parent.id })}`);
  const ul = $("#pl-plans");
  if (!r.ok) {
    ul.innerHTML = `<li class="error">${esc(await reason(r))}</li>`;
    return;
  }
  const body = await r.json();
  const plans = Array.isArray(body) ? body : body.plans || [];
  ul.innerHTML = plans.length
    ? plans.map((p) => `<li><button type="button" class="link" data-plan-id="${esc(p.id)}">${esc(p.name)}</button>
        <span class="muted">#${esc(p.id)} · ${esc(statusName(p.status))} · v${esc(p.version)}${p.stale ? " · stale 已过期" : ""}</span></li>`).join("")
    : '<li class="muted">No plans yet 暂无方案</li>';
}

function statusName(s) {
  return { draft: "draft 草稿", validated: "validated 已校验", published: "published 已发布", discarded: "discarded 已放弃" }[s] || s;
}

async function createPlan(name) {
  const r = await send("POST", "/plans", { parent: pl.parent.id, name });
  if (!r.ok) {
    say(`Cannot create the plan 无法新建方案: ${await reason(r)}`, "error");
    return;
  }
  const summary = await r.json();
  $("#pl-name").value = "";
  say(`Plan created 已新建方案: ${summary.name}`);
  await openPlan(summary.id);
  await listPlans();
}

// GET /plans/{id}: the draft grids and the summary; the ETag is what the next edit sends.
async function loadPlan(id) {
  const r = await pl.ctx.api(`/plans/${id}`);
  if (!r.ok) {
    say(`Cannot open the plan 无法打开方案: ${await reason(r)}`, "error");
    return false;
  }
  const doc = await r.json();
  pl.plan = doc.plan;
  pl.etag = r.headers.get("ETag") || `"${doc.plan.version}"`;
  pl.features = doc.features || [];
  return true;
}

async function loadFigures() {
  const [c, s] = await Promise.all([
    pl.ctx.api(`/plans/${pl.plan.id}/checks`), pl.ctx.api(`/plans/${pl.plan.id}/stats`),
  ]);
  pl.checks = c.ok ? await c.json() : null;
  pl.stats = s.ok ? await s.json() : null;
  if (!c.ok || !s.ok) say(`Checks or stats unavailable 检查或统计不可用 (HTTP ${c.status} / ${s.status})`, "error");
}

async function openPlan(id) {
  setTool(null);
  if (!(await loadPlan(id))) return;
  await loadFigures();
  pl.diff = null;
  if (pl.view !== "workload") await setView(pl.view);
  $("#pl-plan-box").hidden = false;
  $("#pl-choose").hidden = true; // the parent and its plans come back with Close
  renderPlan();
  $("#pl-title").focus();
  const b = bboxOf(pl.features);
  if (b) pl.map.fitBounds(b, { padding: fitPadding(), duration: 0 });
}

function closePlan() {
  setTool(null);
  pl.plan = null;
  pl.etag = null;
  pl.features = [];
  pl.checks = pl.stats = pl.diff = null;
  $("#pl-plan-box").hidden = true;
  $("#pl-choose").hidden = false;
  pl.map.getSource(BASE)?.setData(emptyFc());
  redraw();
  if (pl.parent) listPlans(); // their versions and statuses moved on
}

function editable() {
  return Boolean(pl.plan) && ["draft", "validated"].includes(pl.plan.status) && !pl.plan.stale;
}

function renderPlan() {
  const p = pl.plan;
  $("#pl-title").textContent = p.name;
  const box = $("#pl-plan-box");
  Object.assign(box.dataset, { planId: p.id, version: p.version, status: p.status });
  $("#pl-meta").innerHTML = `#${esc(p.id)} · ${esc(statusName(p.status))} · version 版本 ${esc(p.version)} ·
    ${pl.features.length} grids 个网格${p.stale ? '<br><strong class="error">Stale: the parent was redrawn since this plan started. 方案已过期：上级区划已被重新划分。</strong>' : ""}`;
  for (const b of document.querySelectorAll("#pl-plan-box button[data-edit]")) b.disabled = !editable();
  enable("#pl-balance", editable());
  enable("#pl-publish", editable());
  enable("#pl-autosplit", Boolean(pl.first) && editable());
  $("#pl-checks").innerHTML = panelChecks(pl.checks, esc);
  $("#pl-stats").innerHTML = panelStats(pl.stats, esc, BANDS);
  renderDiff();
  redraw();
}

// ------------------------------------------------------------------ edits

// One edit: POST /plans/{id}/{kind} with If-Match; its answer brings the new summary, checks
// and stats; the draft grids are read again (GET /plans/{id}), which also gives the ETag.
async function edit(kind, body) {
  if (pl.busy || !pl.plan) return false;
  pl.busy = true;
  document.body.classList.add("pl-busy");
  say(`${kind}… 处理中`);
  try {
    const r = await send("POST", `/plans/${pl.plan.id}/${kind}`, body, true);
    if (r.status === 412) {
      await loadPlan(pl.plan.id);
      await loadFigures();
      setTool(null);
      renderPlan();
      say("Someone else changed this plan; it has been reloaded. Please redo your edit. 方案已被他人修改，已重新加载，请重新操作。", "warn");
      return false;
    }
    if (r.status === 409) {
      // stale (the parent was redrawn) or no longer a draft: the summary says which
      const why = await reason(r);
      await loadPlan(pl.plan.id);
      setTool(null);
      renderPlan();
      say(`${kind} refused 操作被拒绝: ${why}`, "error");
      return false;
    }
    if (!r.ok) {
      say(`${kind} refused 操作被拒绝: ${await reason(r)}`, "error");
      if (pl.tool === "merge") { select(null); hint("merge"); }
      if (pl.tool === "split") { stopDrawing(); select(null); hint("split"); }
      if (pl.tool === "move") setTool("move");
      return false;
    }
    const out = await r.json();
    if (out.checks) pl.checks = out.checks;
    if (out.stats) pl.stats = out.stats;
    await loadPlan(out.plan?.id ?? pl.plan.id);
    if (!out.checks || !out.stats) await loadFigures();
    if (pl.view !== "workload") await setView(pl.view);
    const changed = (out.changed || []).join(", ");
    say(`${kind} done 已完成${changed ? `: ${changed}` : ""}`, "ok");
    const tool = pl.tool;
    setTool(tool === "pick" ? null : tool); // the same tool, ready for the next edit
    renderPlan();
    return true;
  } finally {
    pl.busy = false;
    document.body.classList.remove("pl-busy");
  }
}

async function balance() {
  if (!editable()) return;
  $("#pl-balance").disabled = true;
  try {
    await edit("balance", {});
  } finally {
    enable("#pl-balance", editable());
  }
}

async function publish() {
  if (!pl.plan) return;
  say("Publishing… 发布中");
  const r = await send("POST", `/plans/${pl.plan.id}/publish`, {}, true);
  if (r.status === 422) {
    let body = {};
    try {
      body = await r.clone().json();
    } catch {
      // the checks are fetched below
    }
    // ChecksFailed lists the hard failures; the soft ones stay as they were
    if (Array.isArray(body.failures)) pl.checks = { ok: false, hard: body.failures, soft: pl.checks?.soft || [] };
    else if (body.checks) pl.checks = body.checks;
    else await loadFigures();
    renderPlan();
    say("Not published: hard checks fail (listed below). 未发布：存在硬性检查问题（见下）。", "error");
    $("#pl-checks").focus();
    return;
  }
  if (r.status === 409) {
    say(`Not published: the plan is stale or another plan was published first. 未发布：方案已过期。 ${await reason(r)}`, "error");
    await loadPlan(pl.plan.id);
    renderPlan();
    return;
  }
  if (r.status === 412) {
    await loadPlan(pl.plan.id);
    await loadFigures();
    renderPlan();
    say("Someone else changed this plan; it has been reloaded. 方案已被他人修改，已重新加载。", "warn");
    return;
  }
  if (!r.ok) {
    say(`Not published 未发布: ${await reason(r)}`, "error");
    return;
  }
  await loadPlan(pl.plan.id);
  await loadFigures();
  renderPlan();
  say("Published: the new grids are in force. 已发布：新网格已生效。", "ok");
  pl.ctx.refreshTiles();
  await listPlans();
}

async function discard() {
  if (!pl.plan) return;
  const r = await send("DELETE", `/plans/${pl.plan.id}`, undefined, true);
  if (!r.ok) {
    say(`Not discarded 未放弃: ${await reason(r)}`, "error");
    return;
  }
  say("Plan discarded 方案已放弃");
  closePlan();
}

// ------------------------------------------------------------------ the mode

// Room round a fitted view: the legend box covers the map's bottom-left corner.
function fitPadding() {
  const h = pl.map.getContainer().clientHeight;
  const legend = document.getElementById("legend-box")?.offsetHeight || 0;
  return { top: 30, right: 50, left: 30, bottom: Math.min(legend + 20, h / 2) };
}

function bboxOf(features) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === "number") {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else c.forEach(walk);
  };
  for (const f of features) if (f.geometry) walk(f.geometry.coordinates);
  return Number.isFinite(w) ? [w, s, e, n] : null;
}

async function setMode(on) {
  pl.on = on;
  $("#pl-toggle").setAttribute("aria-pressed", String(on));
  $("#pl-body").hidden = !on;
  document.body.classList.toggle("planning", on);
  if (on) {
    await loadRoutes();
    addLayers();
    // they come back when the mode ends
    pl.hidden = HIDE_WHEN_PLANNING.filter((g) => pl.ctx.shown(g));
    for (const g of pl.hidden) pl.ctx.setShown(g, false);
    showLayers(true);
    if (pl.ctx.popup()) pl.ctx.popup().remove();
    await drawing();
    if (!pl.parent) {
      hint("pick");
      listParents();
    }
  } else {
    setTool(null);
    showLayers(false);
    for (const g of pl.hidden) pl.ctx.setShown(g, true);
    pl.hidden = [];
  }
  pl.ctx.onLegend();
}

// The legend block of the mode: households bands, or the diff classes.
export function plannerLegend() {
  if (!pl.on || !pl.plan) return "";
  const rows = (table) => Object.values(table).map(([c, label]) =>
    `<div class="row"><span class="swatch" style="background:${c}"></span>${esc(label)}</div>`).join("");
  if (pl.view === "workload") {
    const { min, max } = limitsOf(pl.stats, "households");
    const range = min !== null || max !== null ? ` ${min ?? "…"}–${max ?? "…"}` : "";
    // rows for what is on the map only: the legend box is small on a phone
    const footprints = pl.map.getLayer("plan-buildings-fill") && pl.map.getZoom() >= 14
      ? '<div class="row"><span class="swatch" style="background:#52606d"></span>Buildings 楼栋</div>' : "";
    const shown = new Set(decorate().map((f) => f.properties.band));
    const bands = Object.fromEntries(Object.entries(BANDS).filter(([k]) => k !== "unknown" || shown.has(k)));
    return `<div class="block" data-legend="planner"><div class="title">Plan households 方案户数${esc(range)}</div>${rows(bands)}${footprints}</div>`;
  }
  return `<div class="block" data-legend="planner"><div class="title">${pl.view === "before" ? "Before 调整前" : "After 调整后"}</div>
    ${rows(pl.view === "before" ? { kept: DIFF.kept, changed: DIFF.changed, retired: DIFF.retired } : { kept: DIFF.kept, changed: DIFF.changed, new: DIFF.new })}
    ${pl.view === "before"
      ? '<div class="row"><span class="swatch" style="background:none;border:2px solid #7b2cbf"></span>Plan 方案</div>'
      : '<div class="row"><span class="swatch dashed"></span>Current 现状</div>'}</div>`;
}

// Signed in or out: the mode is for planners and admins only.
export function plannerSession(session) {
  const role = session?.me?.role;
  pl.allowed = role === "planner" || role === "admin";
  $("#planner-panel").hidden = !pl.allowed;
  if (!pl.allowed && pl.on) setMode(false);
  if (!pl.allowed) {
    pl.parent = null;
    closePlan();
    // the footprints were the signed-in caller's: drop them with the session
    for (const id of LAYERS) if (pl.map.getLayer(id)) pl.map.removeLayer(id);
    for (const id of [SRC, BASE, PARENT, BUILDINGS]) if (pl.map.getSource(id)) pl.map.removeSource(id);
  }
}

export function initPlanner(map, ctx) {
  pl.map = map;
  pl.ctx = ctx;
  // for the browser tests: what the mode holds, and whether terra-draw is taking clicks
  window.__gisgridPlanner = {
    drawReady: false,
    drawing: () => isDrawing(),
    state: () => ({
      on: pl.on, tool: pl.tool, first: pl.first, parent: pl.parent, plan: pl.plan, etag: pl.etag,
      codes: pl.features.map((f) => f.properties.code), checks: pl.checks, stats: pl.stats, busy: pl.busy,
    }),
  };
  $("#pl-toggle").addEventListener("click", () => setMode(!pl.on));
  $("#pl-pick").addEventListener("click", () => setTool(pl.tool === "pick" ? null : "pick"));
  $("#pl-list").addEventListener("click", listParents);
  $("#pl-parent-list").addEventListener("change", (e) => {
    const o = e.target.selectedOptions[0];
    if (o?.value) setParent({ id: Number(o.value), level: o.dataset.level, code: o.dataset.code, name: o.dataset.name });
  });
  $("#pl-choices").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-parent-id]");
    if (b) setParent({ id: Number(b.dataset.parentId), level: b.dataset.level, code: b.dataset.code, name: b.dataset.name });
  });
  $("#pl-plans").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-plan-id]");
    if (b) openPlan(b.dataset.planId);
  });
  $("#pl-new").addEventListener("submit", (e) => {
    e.preventDefault();
    createPlan($("#pl-name").value.trim());
  });
  for (const b of document.querySelectorAll("#pl-tools [data-tool]")) {
    b.addEventListener("click", () => setTool(pl.tool === b.dataset.tool ? null : b.dataset.tool));
  }
  $("#pl-stats").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-code]");
    if (b) gridChosen(b.dataset.code);
  });
  $("#pl-checks").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-bbox]");
    const box = b && failureBbox(b.dataset.bbox);
    if (box) pl.map.fitBounds(box, { padding: 60, maxZoom: 18, duration: 0 });
  });
  $("#pl-autosplit").addEventListener("click", () => pl.first && edit("autosplit", { code: pl.first }));
  $("#pl-rename").addEventListener("submit", (e) => {
    e.preventDefault();
    if (pl.first) edit("rename", { code: pl.first, name: $("#pl-rename-name").value.trim() });
  });
  $("#pl-balance").addEventListener("click", balance);
  $("#pl-publish").addEventListener("click", publish);
  $("#pl-discard").addEventListener("click", discard);
  $("#pl-close").addEventListener("click", closePlan);
  for (const r of document.querySelectorAll('input[name="pl-view"]')) {
    r.addEventListener("change", () => r.checked && setView(r.value));
  }
  document.addEventListener("keydown", (e) => {
    // terra-draw cancels its own line on Escape; the tool's other states end here
    if (e.key === "Escape" && pl.on && !e.defaultPrevented) cancelTool();
  });
}
