// The Hotspots panel of the web map: runs GET /analysis/hotspots (Gi*, local Moran's I or
// emerging hot spots) for the chosen method, level and period, draws the answer from the
// `hotspots` vector tiles (drawn by the server from the same held answer), explains it in
// the legend, and shows a unit's z, p, class and count series (an inline SVG sparkline) on a
// click. GET /analysis/compare fills the period-comparison table (同比 / 环比).
//
// The category filter of the Filters section applies here too; the signed-in caller's scope
// decides what is counted, as for every aggregate. Everything comes from this server.

const HS_SOURCE = "hotspots";
const HS_FILL = "hotspots-fill";
const HS_LINE = "hotspots-line";
const NOT_SIGNIFICANT = "#e3e3e3";

// ArcGIS's Hot Spot Analysis colours: three shades each for 99, 95 and 90 % confidence.
const GI_CLASSES = [
  ["hot_99", "#d62f27", "Hot spot 99% 热点"],
  ["hot_95", "#ed7551", "Hot spot 95% 热点"],
  ["hot_90", "#fab984", "Hot spot 90% 热点"],
  ["cold_99", "#4575b5", "Cold spot 99% 冷点"],
  ["cold_95", "#849eba", "Cold spot 95% 冷点"],
  ["cold_90", "#c0ccbe", "Cold spot 90% 冷点"],
  ["not_significant", NOT_SIGNIFICANT, "Not significant 不显著"],
];
// Local Moran's I quadrants, significant ones only: high-high red, low-low blue, and the
// outliers high-low pink and low-high light blue.
const LISA_CLASSES = [
  ["HH", "#d7191c", "High-high cluster 高-高聚集"],
  ["LL", "#2c7bb6", "Low-low cluster 低-低聚集"],
  ["HL", "#f08cb4", "High-low outlier 高-低异常"],
  ["LH", "#9fd0ec", "Low-high outlier 低-高异常"],
  ["not_significant", NOT_SIGNIFICANT, "Not significant 不显著"],
];
// ArcGIS's Emerging Hot Spot Analysis categories (gisgrid.analysis.emerging.CATEGORIES).
const PATTERNS = [
  ["new", "New 新增", "#fee08b", "#c6dbef"],
  ["consecutive", "Consecutive 连续", "#fdae61", "#9ecae1"],
  ["intensifying", "Intensifying 加强", "#d73027", "#2166ac"],
  ["persistent", "Persistent 持续", "#a50026", "#053061"],
  ["diminishing", "Diminishing 减弱", "#f46d43", "#4393c3"],
  ["sporadic", "Sporadic 零星", "#fdd49e", "#d1e5f0"],
  ["oscillating", "Oscillating 振荡", "#e7298a", "#807dba"],
  ["historical", "Historical 历史", "#c9a0a0", "#a3b3cc"],
];
const EMERGING_CLASSES = [
  ...PATTERNS.map(([k, label, hot]) => [`${k}_hot`, hot, `${label} hot spot 热点`]),
  ...PATTERNS.map(([k, label, , cold]) => [`${k}_cold`, cold, `${label} cold spot 冷点`]),
  ["no_pattern", NOT_SIGNIFICANT, "No pattern 无模式"],
];
const CLASSES = { gistar: GI_CLASSES, lisa: LISA_CLASSES, emerging: EMERGING_CLASSES };
const METHOD_NAMES = {
  gistar: "Gi* hot & cold spots 冷热点分析",
  lisa: "Local Moran's I 聚类与异常值",
  emerging: "Emerging hot spots 时空热点",
};
const STEP_NAMES = { week: "weekly 每周", month: "monthly 每月" };
const CHANGE = {
  up: ["↑", "#b42318", "up 上升"],
  down: ["↓", "#1d4ed8", "down 下降"],
  not_significant: ["", "inherit", "no significant change 无显著变化"],
};

const hs = {
  map: null,
  ctx: null,
  query: null, // the query string of the answer shown
  answer: null, // its parameters, summary and, by unit id, its properties
  running: 0,
  hover: false, // the cursor handlers are on
};

const $ = (sel) => document.querySelector(sel);

function classesOf(method) {
  return CLASSES[method] || GI_CLASSES;
}

function colourOf(method, cls) {
  const hit = classesOf(method).find(([k]) => k === cls);
  return hit ? hit[1] : NOT_SIGNIFICANT;
}

function labelOf(method, cls) {
  const hit = classesOf(method).find(([k]) => k === cls);
  return hit ? hit[2] : cls;
}

function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return "—";
  const n = Number(v);
  if (Math.abs(n) > 0 && Math.abs(n) < 0.001) return n.toExponential(1);
  return n.toFixed(digits);
}

// ------------------------------------------------------------------ the request

function panelQuery() {
  const q = new URLSearchParams();
  const method = $("#hs-method").value;
  const level = $("#hs-level").value;
  q.set("method", method);
  q.set("level", level);
  if (level === "hex") q.set("cell_m", $("#hs-cell").value || "200");
  if (method === "emerging") q.set("step", $("#hs-step").value);
  if (!$("#hs-fdr").checked) q.set("fdr", "false");
  const f = hs.ctx.filters();
  if (f.category) q.set("category", f.category);
  if ($("#hs-from").value) q.set("from", $("#hs-from").value);
  if ($("#hs-to").value) q.set("to", $("#hs-to").value);
  return q;
}

function syncForm() {
  $("#hs-cell-row").hidden = $("#hs-level").value !== "hex";
  $("#hs-step-row").hidden = $("#hs-method").value !== "emerging";
}

function setInfo(html) {
  $("#hs-info").innerHTML = html;
}

async function problem(r) {
  try {
    const body = await r.json();
    return `${body.field ? `<code>${hs.ctx.esc(body.field)}</code>: ` : ""}${hs.ctx.esc(body.reason || r.statusText)}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

export async function runHotspots() {
  const q = panelQuery();
  const run = ++hs.running;
  setInfo('<p class="muted">Computing… 计算中</p>');
  $("#hs-run").disabled = true;
  let r;
  try {
    r = await hs.ctx.api(`/analysis/hotspots?${q}&geometry=false`);
  } finally {
    if (run === hs.running) $("#hs-run").disabled = false;
  }
  if (run !== hs.running) return; // a newer run started
  if (!r.ok) {
    setInfo(`<p class="error" role="alert" data-hs-error>${await problem(r)}</p>`);
    return;
  }
  const doc = await r.json();
  const byId = new Map(doc.features.map((f) => [String(f.id), f.properties]));
  hs.answer = { parameters: doc.parameters, summary: doc.summary, byId };
  hs.query = q.toString();
  drawLayer();
  setInfo(summaryHtml());
  hs.ctx.onLegend();
}

function summaryHtml() {
  const { parameters: p, summary: s } = hs.answer;
  const method = p.method;
  const rows = classesOf(method)
    .filter(([k]) => s.classes[k])
    .map(([k, colour, label]) => `<div class="row"><span class="swatch" style="background:${colour}"></span>${hs.ctx.esc(label)}<b>${s.classes[k]}</b></div>`);
  const thr = p.p_fdr_threshold !== undefined ? ` · p ≤ ${fmt(p.p_fdr_threshold, 4)}${p.fdr ? " (FDR)" : ""}` : "";
  return `<div data-hs-summary data-method="${method}">
    <p><b>${hs.ctx.esc(METHOD_NAMES[method])}</b><br><span class="muted">${s.units} units 单元 ·
    α = ${p.alpha}${thr}</span></p>${rows.join("")}</div>`;
}

function drawLayer() {
  const map = hs.map;
  const url = `/tiles/hotspots.json?${hs.query}`;
  const method = hs.answer.parameters.method;
  const colours = ["match", ["get", "class"]];
  for (const [k, c] of classesOf(method)) colours.push(k, c);
  colours.push(NOT_SIGNIFICANT);
  if (map.getSource(HS_SOURCE)) {
    map.getSource(HS_SOURCE).setUrl(url);
  } else {
    map.addSource(HS_SOURCE, { type: "vector", url });
  }
  // over the choropleth and the heatmap, under the outlines and the points
  const before = ["districts-line", "streets-line", "communities-line", "grids-line"]
    .map((id) => map.getLayer(id) ? id : null)
    .filter(Boolean);
  const beforeId = map.getStyle().layers.find((l) => before.includes(l.id))?.id;
  if (!map.getLayer(HS_FILL)) {
    map.addLayer({
      id: HS_FILL, type: "fill", source: HS_SOURCE, "source-layer": HS_SOURCE,
      paint: {
        "fill-color": colours,
        "fill-opacity": ["match", ["get", "class"], ["not_significant", "no_pattern"], 0.35, 0.8],
      },
    }, beforeId);
    map.addLayer({
      id: HS_LINE, type: "line", source: HS_SOURCE, "source-layer": HS_SOURCE,
      paint: { "line-color": "rgba(80,80,80,0.35)", "line-width": 0.4 },
    }, beforeId);
    if (!hs.hover) {
      hs.hover = true;
      map.on("mouseenter", HS_FILL, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", HS_FILL, () => { map.getCanvas().style.cursor = ""; });
    }
  } else {
    map.setPaintProperty(HS_FILL, "fill-color", colours);
  }
}

export function clearHotspots() {
  const map = hs.map;
  hs.running++;
  for (const id of [HS_FILL, HS_LINE]) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource(HS_SOURCE)) map.removeSource(HS_SOURCE);
  hs.answer = null;
  hs.query = null;
  setInfo("");
  hs.ctx.onLegend();
}

// A filter or the caller changed: the answer shown is no longer this caller's.
export function refreshHotspots() {
  if (hs.answer) runHotspots();
}

// ------------------------------------------------------------------ legend and popup

export function hotspotLegend() {
  if (!hs.answer || !hs.map?.getLayer(HS_FILL)) return "";
  const method = hs.answer.parameters.method;
  const present = hs.answer.summary.classes || {};
  const rows = classesOf(method)
    .filter(([k]) => method !== "emerging" || present[k] || k === "no_pattern")
    .map(([, colour, label]) => `<div class="row"><span class="swatch" style="background:${colour}"></span>${hs.ctx.esc(label)}</div>`);
  return `<div class="block" data-legend="hotspots"><div class="title">${hs.ctx.esc(METHOD_NAMES[method])}</div>${rows.join("")}</div>`;
}

function sparkline(counts, starts, step) {
  if (!Array.isArray(counts) || !counts.length) return "";
  const w = 220, h = 44, pad = 3;
  const top = Math.max(1, ...counts);
  const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(1, counts.length - 1);
  const y = (v) => h - pad - (v * (h - 2 * pad)) / top;
  const pts = counts.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const last = counts.length - 1;
  const first = starts?.[0]?.slice(0, 10) ?? "";
  const end = starts?.[last]?.slice(0, 10) ?? "";
  return `<figure class="spark" data-series="${counts.length}">
    <svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img"
      aria-label="Incidents per step 每期事件数"><polyline fill="none" stroke="#b42318"
      stroke-width="1.5" points="${pts}"/><circle cx="${x(last).toFixed(1)}" cy="${y(counts[last]).toFixed(1)}"
      r="2.5" fill="#b42318"/></svg>
    <figcaption class="muted">${STEP_NAMES[step] || step} · max ${top} · ${first} – ${end}</figcaption></figure>`;
}

function popupHtml(props) {
  const p = hs.answer.parameters;
  const method = p.method;
  const esc = hs.ctx.esc;
  const cls = props.class;
  const badge = `<span class="badge" style="background:${colourOf(method, cls)}">${esc(labelOf(method, cls))}</span>`;
  const rows = [["Class 类别", badge]];
  if (method === "gistar") {
    rows.push(["z (Gi*)", fmt(props.z)], ["p", fmt(props.p, 4)]);
  } else if (method === "lisa") {
    rows.push(["I (Moran)", fmt(props.I)], ["Quadrant 象限", esc(props.quadrant)], ["p", fmt(props.p, 4)]);
  } else {
    const z = Array.isArray(props.z) ? props.z[props.z.length - 1] : null;
    rows.push(
      ["z (last step 末期)", fmt(z)],
      ["Trend 趋势 τ", `${fmt(props.trend_tau)} (p ${fmt(props.trend_p, 4)})`],
      ["Hot / cold steps 热/冷期数", `${props.hot_steps} / ${props.cold_steps}`],
    );
  }
  rows.push(["Incidents 事件数", esc(props.count)]);
  return `<div class="pop" data-kind="hotspot" data-unit-id="${esc(props.id)}" data-class="${esc(cls)}">
    <h3>${esc(props.name)} <code>${esc(props.code)}</code></h3>
    <table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join("")}</table>
    ${sparkline(props.counts, p.series_starts, p.series_step)}</div>`;
}

// A click on a unit of the hot-spot layer opens its popup; true when it did.
export function hotspotClick(map, e) {
  if (!hs.answer || !map.getLayer(HS_FILL)) return false;
  const hit = map.queryRenderedFeatures(e.point, { layers: [HS_FILL] })[0];
  if (!hit) return false;
  const props = hs.answer.byId.get(String(hit.id));
  if (!props) return false;
  hs.ctx.openPopup(map, e.lngLat, popupHtml(props));
  return true;
}

// ------------------------------------------------------------------ the period comparison

function changeCell(count, cls) {
  if (count === null || count === undefined) return '<td class="muted">—</td>';
  const [arrow, colour] = CHANGE[cls] || CHANGE.not_significant;
  return `<td style="color:${colour}">${count}${arrow ? ` <b>${arrow}</b>` : ""}</td>`;
}

async function runCompare() {
  const q = new URLSearchParams({ level: $("#cmp-level").value, geometry: "false" });
  if ($("#cmp-month").value) q.set("month", $("#cmp-month").value);
  const f = hs.ctx.filters();
  if (f.category) q.set("category", f.category);
  const out = $("#cmp-out");
  out.innerHTML = '<p class="muted">Comparing… 对比中</p>';
  const r = await hs.ctx.api(`/analysis/compare?${q}`);
  if (!r.ok) {
    out.innerHTML = `<p class="error" role="alert" data-cmp-error>${await problem(r)}</p>`;
    return;
  }
  const doc = await r.json();
  const p = doc.parameters;
  const esc = hs.ctx.esc;
  const made = p.comparisons;
  const notes = Object.entries(made)
    .filter(([, c]) => !c.made)
    .map(([k]) => `<p class="muted">${k === "yoy" ? "同比 year on year" : "环比 month on month"}: no data for that period 无数据</p>`);
  const rank = (f) => Math.min(f.properties.mom_p ?? 1, f.properties.yoy_p ?? 1);
  const rows = [...doc.features].sort((a, b) => rank(a) - rank(b)).slice(0, 10);
  const sig = doc.features.filter((f) => ["up", "down"].includes(f.properties.mom_class) || ["up", "down"].includes(f.properties.yoy_class)).length;
  out.innerHTML = `<div data-compare data-month="${esc(p.month)}">
    <p><b>${esc(p.month)}</b> <span class="muted">(${p.now.days} days 天) · ${sig} of ${doc.features.length}
      significant 显著变化 (FDR, α ${p.alpha})</span></p>${notes.join("")}
    <table class="cmp"><thead><tr><th>Area 区域</th><th>Now 本期</th><th>Prev 环比</th><th>Year 同比</th></tr></thead>
    <tbody>${rows.map((f) => {
      const q2 = f.properties;
      return `<tr data-code="${esc(q2.code)}"><td title="${esc(q2.code)}">${esc(q2.name)}</td><td>${q2.count}</td>
        ${changeCell(q2.mom_count, q2.mom_class)}${changeCell(q2.yoy_count, q2.yoy_class)}</tr>`;
    }).join("")}</tbody></table>
    <p class="muted">↑ ↓ significant 显著; sorted by p 按p值排序</p></div>`;
}

// ------------------------------------------------------------------ start

export function initHotspots(map, ctx) {
  hs.map = map;
  hs.ctx = ctx;
  $("#hs-method").addEventListener("change", syncForm);
  $("#hs-level").addEventListener("change", syncForm);
  syncForm();
  $("#hotspots").addEventListener("submit", (e) => {
    e.preventDefault();
    runHotspots();
  });
  $("#hs-clear").addEventListener("click", clearHotspots);
  $("#compare").addEventListener("submit", (e) => {
    e.preventDefault();
    runCompare();
  });
}
