// The planner mode's panels as HTML: the checks (each failure a button that zooms to its
// bbox) and the stats (per-grid figures, and the spread beside the current boundaries').
// The figures and the messages are the library's (gisgrid.planning checks and workload); the
// page only lays them out.

const CHECK_NAMES = {
  gap: "Gap 缝隙",
  overlap: "Overlap 重叠",
  outside_parent: "Outside the parent 超出上级边界",
  invalid: "Invalid polygon 无效多边形",
  multipart: "Several parts 多个部分",
  cut_building: "Cut building 切割楼栋",
  households_over: "Too many households 户数过多",
  households_under: "Too few households 户数过少",
  residents_over: "Too many residents 人口过多",
  residents_under: "Too few residents 人口过少",
  duplicate_code: "Duplicate code 编码重复",
  compactness: "Not compact 形状不规整",
  size_outlier: "Size outlier 面积异常",
  no_worker: "No grid worker 无网格员",
  crosses_community: "Crosses a community line 跨社区",
};
// the checks whose area is the failure itself (for the others it is the grid's own size)
const AREA_CHECKS = new Set(["gap", "overlap", "outside_parent", "invalid", "multipart"]);
const SPREAD = [
  ["households", "Households 户数"],
  ["residents", "Residents 人口"],
  ["workload", "Workload 工作量"],
];

function num(v, digits = 0) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return "—";
  return Number(v).toFixed(digits);
}

// The [min, max] of one figure from the stats' limits, whichever way they are spelt:
// {"households": {"min", "max"}}, {"households_min", ...} or the settings' plan_households_min.
export function limitsOf(stats, what) {
  const l = stats?.limits || {};
  const pick = (...vals) => {
    const v = vals.find((x) => x !== undefined && x !== null);
    return v === undefined ? null : Number(v);
  };
  return {
    min: pick(l[what]?.min, l[`${what}_min`], l[`plan_${what}_min`]),
    max: pick(l[what]?.max, l[`${what}_max`], l[`plan_${what}_max`]),
  };
}

// "w,s,e,n" from a data attribute as fitBounds' [[w, s], [e, n]], or null.
export function failureBbox(text) {
  const b = String(text || "").split(",").map(Number);
  if (b.length !== 4 || !b.every(Number.isFinite)) return null;
  const pad = 1e-5; // a point-sized failure still gets a box to zoom to
  return [[b[0] - pad, b[1] - pad], [b[2] + pad, b[3] + pad]];
}

function failureHtml(f, kind, esc) {
  const codes = (f.codes || []).map((c) => `<code>${esc(c)}</code>`).join(" ");
  const area = f.area_m2 && AREA_CHECKS.has(f.check) ? ` · ${num(f.area_m2)} m²` : "";
  const buildings = f.building_ids?.length ? ` · ${f.building_ids.length} buildings 栋` : "";
  const text = `<span class="what">${esc(CHECK_NAMES[f.check] || f.check)}</span> ${codes}${area}${buildings}
    <span class="msg">${esc(f.message_zh || "")}${f.message_zh ? "<br>" : ""}<span class="muted">${esc(f.message || "")}</span></span>`;
  const attrs = `class="failure ${kind}" data-check="${esc(f.check)}"`;
  return Array.isArray(f.bbox) && f.bbox.length === 4
    ? `<li><button type="button" ${attrs} data-bbox="${f.bbox.map(Number).join(",")}"
        title="Zoom to it 缩放至此">${text}</button></li>`
    : `<li><div ${attrs}>${text}</div></li>`;
}

export function panelChecks(checks, esc) {
  if (!checks) return "";
  const hard = checks.hard || [];
  const soft = checks.soft || [];
  const head = checks.ok
    ? '<p class="ok" data-checks-ok="true">✓ Every hard check passes 硬性检查全部通过</p>'
    : `<p class="error" data-checks-ok="false">✗ ${hard.length} hard check(s) fail, publishing is blocked 项硬性检查未通过，无法发布</p>`;
  const list = [...hard.map((f) => failureHtml(f, "hard", esc)), ...soft.map((f) => failureHtml(f, "soft", esc))];
  return `<h3 tabindex="-1">Checks 检查</h3>${head}
    ${soft.length ? `<p class="muted">${soft.length} warning(s) 项提示</p>` : ""}
    ${list.length ? `<ul class="failures">${list.join("")}</ul>` : ""}`;
}

function spreadCell(s) {
  if (!s) return '<td class="muted">—</td>';
  return `<td>${num(s.min)}–${num(s.max)}<br><span class="muted" title="max/min, coefficient of variation 最大/最小，变异系数">×${num(s.max_min_ratio, 1)} cv ${num(s.cv, 2)}</span></td>`;
}

// A draft grid's other figures in one line (the table has room for three columns only).
export function gridFigures(g) {
  if (!g) return "";
  const parts = [
    ["buildings 楼栋", g.buildings], ["places 场所", g.places], ["incidents 12m 近12月事件", g.incidents_12m],
    ["open 未结", g.open_incidents], ["visits 走访", g.visit_logs], ["workers 网格员", g.workers],
  ].filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => `${k} ${num(v)}`);
  if (Number.isFinite(Number(g.area_m2))) parts.push(`${num(Number(g.area_m2) / 1e6, 2)} km²`);
  if (Number.isFinite(Number(g.polsby_popper))) parts.push(`PP ${num(g.polsby_popper, 2)}`);
  return parts.join(" · ");
}

export function panelStats(stats, esc, bands) {
  if (!stats) return "";
  const spread = stats.spread || {};
  const current = stats.current?.spread || stats.current || {};
  const rows = SPREAD.filter(([k]) => spread[k] || current[k]).map(([k, label]) =>
    `<tr data-figure="${k}"><th>${label}</th>${spreadCell(spread[k])}${spreadCell(current[k])}</tr>`);
  const { min, max } = limitsOf(stats, "households");
  const band = (h) => {
    if (!Number.isFinite(h)) return bands.unknown[0];
    if (min !== null && h < min) return bands.under[0];
    if (max !== null && h > max) return bands.over[0];
    return bands.within[0];
  };
  const grids = [...(stats.grids || [])].sort((a, b) => String(a.code).localeCompare(String(b.code)));
  const gridRows = grids.map((g) => `<tr title="${esc(gridFigures(g))}"><td><button type="button" class="link" data-code="${esc(g.code)}"
      aria-pressed="false"><span class="dot" style="background:${band(g.households)}"></span>${esc(g.code)}</button></td>
      <td>${num(g.households)}</td><td>${num(g.residents)}</td><td>${num(g.workload, 1)}</td></tr>`);
  return `<h3>Spread 均衡度</h3>
    <table class="cmp spread"><thead><tr><th></th><th>Plan 方案</th><th>Current 现状</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table>
    <h3>Grids 网格 (${grids.length})</h3>
    <table class="cmp grids"><thead><tr><th>Grid 网格</th><th title="Households">户 hh</th><th title="Residents">人 res</th>
      <th title="Workload">Load 负荷</th></tr></thead>
    <tbody>${gridRows.join("")}</tbody></table>`;
}

// The diff beside the before / after views: how many grids are kept, changed, new and
// retired, the movement table (what changes grid, from old code to new) and the workers
// whose grid is retired or split.
export function panelDiff(diff, esc, classes) {
  if (!diff) return "";
  const count = (k) => (Array.isArray(diff[k]) ? diff[k].length : 0);
  const chips = Object.entries(classes).map(([k, [colour, label]]) =>
    `<span class="chip" data-diff="${k}"><span class="swatch" style="background:${colour}"></span>${esc(label)} <b>${count(k)}</b></span>`);
  // a street's grid codes share their first digits: the table shows the last six (the
  // community's and the grid's numbers), the whole code on hover
  const short = (c) => `<code title="${esc(c)}">${String(c).length > 6 ? "…" : ""}${esc(String(c).slice(-6))}</code>`;
  const moves = (diff.moves || []).map((m) => `<tr><td>${short(m.from)}</td>
    <td>${m.to ? short(m.to) : '<span class="error">gap 缝隙</span>'}</td>
    <td>${num(m.households)}</td><td>${num(m.residents)}</td><td>${num(m.places)}</td><td>${num(m.open_incidents)}</td></tr>`);
  const workers = (diff.workers || []).map((w) => `<li>${esc(w.username)}: <code>${esc(w.from)}</code> →
    ${w.to ? `<code>${esc(w.to)}</code>` : "—"} <span class="muted">(${w.why === "retired" ? "retired 撤销" : "split 分割"})</span></li>`);
  return `<h3>Changes 变更</h3><div class="chips">${chips.join("")}</div>
    ${moves.length ? `<table class="cmp moves"><thead><tr><th>From 原</th><th>To 新</th><th title="Households">户</th>
      <th title="Residents">人</th><th title="Places">场所</th><th title="Open incidents">未结</th></tr></thead>
      <tbody>${moves.join("")}</tbody></table>` : '<p class="muted">Nothing changes grid. 无迁移</p>'}
    ${workers.length ? `<h3>Workers to re-scope 需调整的网格员</h3><ul class="workers">${workers.join("")}</ul>` : ""}`;
}
