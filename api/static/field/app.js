// gisgrid field app: a grid worker's phone page. Plain ES module, no build step; MapLibre GL JS
// and idb-keyval are vendored, every request goes to this server.
//
// Report: a point (geolocation or a tap on the map) and its grid from /locate, a category found
// by search over /map/config.json's taxonomy, a photo (stored with POST /photos, named by hash),
// a description, optionally resolved on the spot. Before sending, /incidents/duplicates: a case
// nearby may take this report (POST /incidents/{id}/support) instead of a twin.
// Every report goes through a queue kept in IndexedDB, each with its own idempotency key: it is
// sent when the network is there and resent until the server answers, and the server returns
// the first case for a key it has seen, so a resend never opens a second case.
// Visits: the worker's households (/households), their and their residents' tags (PATCH with
// If-Match), and a visit log (POST /visit-logs).
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { del, get, keys, set } from "/static/vendor/idb-keyval/index.js";

const SESSION_KEY = "gisgrid.field.session"; // localStorage: a queued report outlives a reload
const QUEUE_PREFIX = "report:";
const RETRY_MS = 5000;

const MOOD_NAMES = { calm: "平静 calm", worried: "担忧 worried", upset: "不满 upset", urgent: "紧急 urgent" };
const TAG_NAMES = {
  rental: "出租户 rental", vacant: "空置 vacant", elderly_only: "纯老户 elderly only",
  low_income: "低收入 low income", special_care: "特殊关爱 special care",
  military_family: "军属 military family", elderly_alone: "独居老人 elderly alone",
  disabled: "残疾 disabled", veteran: "退役军人 veteran", left_behind_child: "留守儿童 left-behind child",
  rental_tenant: "租户 tenant", community_correction: "社区矫正 community correction",
};
const STATUS_NAMES = {
  reported: "上报 reported", accepted: "受理 accepted", dispatched: "派遣 dispatched",
  in_progress: "处置中 in progress", feedback: "反馈 feedback", closed: "结案 closed",
  rejected: "退回 rejected", returned: "返回 returned", escalated: "上报上级 escalated",
};

const state = {
  session: loadSession(),
  config: null, // /field/config.json
  mapConfig: null, // /map/config.json
  items: [], // every small category: {code, zh, en, group}
  point: null, // {lon, lat}
  category: null,
  marker: null,
  map: null,
  households: [],
  residents: [],
  flushing: false,
  retry: null,
};

const $ = (sel) => document.querySelector(sel);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function show(sel, text) {
  const el = $(sel);
  el.textContent = text || "";
  el.hidden = !text;
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ session and requests

function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (s && s.token && s.expiresAt > Date.now()) return s;
  } catch {
    // a damaged entry is no session
  }
  return null;
}

function bearer() {
  return state.session ? { Authorization: `Bearer ${state.session.token}` } : {};
}

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { ...bearer(), ...(options.headers || {}) } });
  if (r.status === 401 && state.session) signedOut("会话已过期 Session expired, sign in again");
  return r;
}

// The API's errors are {error, field, reason}: the field and the reason, in words.
async function problem(r) {
  try {
    const b = await r.json();
    if (b.field || b.reason) return `${b.field ? b.field + ": " : ""}${b.reason || b.error}`;
    if (b.detail) return typeof b.detail === "string" ? b.detail : JSON.stringify(b.detail);
  } catch {
    // not JSON
  }
  return `HTTP ${r.status}`;
}

async function signIn(username, password) {
  show("#signin-error", "");
  let r;
  try {
    r = await fetch("/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username, password }),
    });
  } catch {
    show("#signin-error", "无网络,无法登录 No network: cannot sign in");
    return;
  }
  if (!r.ok) {
    show("#signin-error", r.status === 401 ? "用户名或密码错误 Wrong username or password" : await problem(r));
    return;
  }
  const t = await r.json();
  const me = await fetch("/me", { headers: { Authorization: `Bearer ${t.access_token}` } });
  state.session = { token: t.access_token, expiresAt: Date.now() + t.expires_in * 1000, me: await me.json() };
  localStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
  $("#password").value = "";
  enter();
}

function signedOut(message) {
  state.session = null;
  localStorage.removeItem(SESSION_KEY);
  $("#app").hidden = true;
  $("#signout").hidden = true;
  $("#signin-view").hidden = false;
  show("#signin-error", message || "");
}

function enter() {
  $("#signin-view").hidden = true;
  $("#app").hidden = false;
  $("#signout").hidden = false;
  const me = state.session.me || {};
  $("#who").textContent = `${me.display_name || me.username || ""} · ${me.role || ""}`;
  if (!state.map) initMap();
  else state.map.resize();
  flush();
}

// ------------------------------------------------------------------ tabs

function selectTab(id) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === id;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !on;
  }
  if (id === "tab-visit") loadHouseholds();
  if (id === "tab-queue") renderQueue();
  if (id === "tab-report" && state.map) state.map.resize();
}

function wireTabs() {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab.id));
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      const j = e.key === "ArrowRight" ? (i + 1) % tabs.length : e.key === "ArrowLeft" ? (i + tabs.length - 1) % tabs.length : -1;
      if (j >= 0) {
        tabs[j].focus();
        selectTab(tabs[j].id);
      }
    });
  }
}

// ------------------------------------------------------------------ map and position

function initMap() {
  const c = state.mapConfig?.city?.center || [126.63, 45.75];
  const map = new maplibregl.Map({
    container: "map",
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "bg", type: "background", paint: { "background-color": "#f4f1ea" } }],
    },
    center: c,
    zoom: 14,
    attributionControl: false,
    transformRequest: (url) => (new URL(url, location.href).origin === location.origin ? { url, headers: bearer() } : { url }),
  });
  map.on("load", () => {
    map.addSource("grids", { type: "vector", url: "/tiles/grids.json" });
    map.addLayer({
      id: "grid-here", type: "fill", source: "grids", "source-layer": "grids",
      filter: ["==", ["id"], -1], paint: { "fill-color": "#1f5f8b", "fill-opacity": 0.15 },
    });
    map.addLayer({
      id: "grids-line", type: "line", source: "grids", "source-layer": "grids",
      paint: { "line-color": "#1f5f8b", "line-width": 1.2 },
    });
    window.__fieldMapReady = true;
  });
  map.on("error", () => {}); // offline tiles: the tap still gives a position
  map.on("click", (e) => setPoint(e.lngLat.lng, e.lngLat.lat, "map"));
  // keyboard: the arrow keys pan the map (MapLibre's own), Enter sets the point at its centre
  map.getCanvas().addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    const c = map.getCenter();
    setPoint(c.lng, c.lat, "map");
  });
  state.map = map;
  window.__fieldMap = map;
}

async function setPoint(lon, lat, how) {
  state.point = { lon, lat };
  if (!state.marker) state.marker = new maplibregl.Marker({ color: "#d64545" });
  state.marker.setLngLat([lon, lat]).addTo(state.map);
  $("#point").textContent = `${how === "gps" ? "定位 GPS" : "地图 Map"} ${lon.toFixed(6)}, ${lat.toFixed(6)}`;
  const grid = $("#grid");
  grid.classList.remove("warn");
  grid.textContent = "查找网格… locating…";
  let r;
  try {
    r = await api(`/locate?lon=${lon}&lat=${lat}`);
  } catch {
    grid.textContent = "离线:发送时确定网格 Offline: the grid is found when sent";
    return;
  }
  if (!r.ok) {
    grid.classList.add("warn");
    grid.textContent = r.status === 404 ? "不在任何网格内 Outside every grid" : await problem(r);
    return;
  }
  const loc = await r.json();
  grid.dataset.gridId = loc.grid.id;
  if (state.map.getLayer("grid-here")) state.map.setFilter("grid-here", ["==", ["id"], loc.grid.id]);
  const scope = state.session?.me?.scope || {};
  const mine = !(scope.level === "grid" && scope.area_id !== loc.grid.id);
  grid.textContent = `网格 Grid: ${loc.grid.name} (${loc.grid.code})` + (mine ? "" : " — 不在您的网格 outside your grid");
  if (!mine) grid.classList.add("warn");
}

function locateMe() {
  if (!navigator.geolocation) {
    show("#report-error", "此设备无定位 No geolocation on this device");
    return;
  }
  navigator.geolocation.getCurrentPosition(
    (p) => {
      const { longitude: lon, latitude: lat } = p.coords;
      state.map.jumpTo({ center: [lon, lat], zoom: Math.max(state.map.getZoom(), 16) });
      setPoint(lon, lat, "gps");
    },
    (e) => show("#report-error", `定位失败 Position unavailable: ${e.message}`),
    { enableHighAccuracy: true, timeout: 10000 },
  );
}

// ------------------------------------------------------------------ category search

function flattenCategories() {
  state.items = [];
  for (const g of state.mapConfig?.categories || []) {
    for (const it of g.items) state.items.push({ code: it.code, zh: it.name_zh, en: it.name_en, group: g.name_zh });
  }
}

function searchCategories(q) {
  const box = $("#cat-results");
  const s = q.trim().toLowerCase();
  if (!s) {
    box.innerHTML = "";
    return;
  }
  const hits = state.items
    .filter((it) => it.zh.includes(s) || it.en.toLowerCase().includes(s) || it.code.startsWith(s) || it.group.includes(s))
    .slice(0, 8);
  box.innerHTML = hits.length
    ? hits.map((it) => `<button type="button" role="option" data-code="${esc(it.code)}">${esc(it.zh)} · ${esc(it.en)} <small>${esc(it.code)}</small></button>`).join("")
    : '<p class="hint">无匹配 No match</p>';
}

function categoryName(code) {
  const it = state.items.find((x) => x.code === code);
  return it ? `${it.zh} ${it.en}` : code;
}

function chooseCategory(code) {
  const it = state.items.find((x) => x.code === code);
  if (!it) return;
  state.category = code;
  $("#cat-chosen").textContent = `已选 Chosen: ${it.zh} · ${it.en} (${it.code})`;
  $("#cat-results").innerHTML = "";
  $("#cat-search").value = it.zh;
}

// ------------------------------------------------------------------ report, duplicates, queue

function readForm() {
  if (!state.point) return { error: "请先定位 Set the position first (tap the map or use your position)" };
  if (!state.category) return { error: "请选择类别 Choose a category" };
  const file = $("#photo").files[0] || null;
  const onSpot = $("#on-spot").checked;
  if (onSpot && !file) return { error: "就地解决需要照片 Resolving on the spot needs a photo" };
  const description = $("#description").value.trim();
  return {
    body: {
      lon: state.point.lon, lat: state.point.lat, category: state.category,
      description: description || null, resolved_on_spot: onSpot,
    },
    file,
  };
}

async function onSubmit(e, skipDuplicates = false) {
  e?.preventDefault();
  show("#report-error", "");
  show("#report-ok", "");
  const form = readForm();
  if (form.error) {
    show("#report-error", form.error);
    return;
  }
  if (!skipDuplicates && navigator.onLine && !form.body.resolved_on_spot) {
    const found = await duplicatesOf(form.body);
    if (found.length) {
      renderDuplicates(found);
      return;
    }
  }
  $("#dups").hidden = true;
  await enqueue(form.body, form.file);
}

async function duplicatesOf(body) {
  const q = new URLSearchParams({ lon: body.lon, lat: body.lat, category: body.category });
  try {
    const r = await api(`/incidents/duplicates?${q}`);
    return r.ok ? (await r.json()).duplicates : [];
  } catch {
    return []; // offline: the report is queued; the centre merges twins
  }
}

function renderDuplicates(list) {
  $("#dup-list").innerHTML = list.map((d) => `<li>
    <strong>#${d.id}</strong> ${esc(STATUS_NAMES[d.status] || d.status)} · ${Math.round(d.distance_m)} m ·
    ${new Date(d.reported_at).toLocaleDateString("zh-CN")}<br>
    ${esc(d.description || "")} <small>${d.supporters} 人附议 supporters</small><br>
    <button type="button" data-support="${d.id}">加入此事件 Add to this case</button></li>`).join("");
  $("#dups").hidden = false;
  $("#dup-list button")?.focus();
}

async function uploadPhoto(blob, name) {
  const fd = new FormData();
  fd.append("photo", blob, name || "photo.jpg");
  const r = await api("/photos", { method: "POST", body: fd });
  if (!r.ok) throw new Refused(await problem(r), r.status);
  return (await r.json()).sha256;
}

class Refused extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function support(id) {
  const form = readForm();
  if (form.error && !form.body) {
    show("#report-error", form.error);
    return;
  }
  try {
    const photos = form.file ? [await uploadPhoto(form.file, form.file.name)] : [];
    const note = form.body.description || "同一问题 Same problem";
    const r = await api(`/incidents/${id}/support`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ note, photos }),
    });
    if (!r.ok) throw new Refused(await problem(r), r.status);
    const got = await r.json();
    $("#dups").hidden = true;
    resetReport();
    show("#report-ok", `已加入事件 #${id},共 ${got.supporters} 人附议 Added to case #${id} (${got.supporters} supporters)`);
  } catch (err) {
    show("#report-error", err instanceof Refused ? err.message : "无网络 No network: try again");
  }
}

async function enqueue(body, file) {
  const key = newKey();
  const item = { key, body, photo: file, photoName: file?.name || null, queuedAt: Date.now(), error: null };
  await set(QUEUE_PREFIX + key, item);
  resetReport();
  await renderQueue();
  const sent = await flush();
  const done = sent.get(key);
  if (done) {
    const what = done.status === "closed" ? "已就地办结 resolved on the spot" : "已上报 reported";
    show("#report-ok", `${what}: #${done.id}`);
  } else {
    const inQueue = await get(QUEUE_PREFIX + key);
    if (inQueue?.error) show("#report-error", inQueue.error);
    else show("#report-ok", "已保存,联网后发送 Saved: sent when the network is back");
  }
}

function resetReport() {
  $("#photo").value = "";
  $("#description").value = "";
  $("#on-spot").checked = false;
}

async function queued() {
  const all = (await keys()).filter((k) => String(k).startsWith(QUEUE_PREFIX));
  const items = [];
  for (const k of all) {
    const it = await get(k);
    if (it) items.push(it);
  }
  return items.sort((a, b) => a.queuedAt - b.queuedAt);
}

// Send what waits, oldest first. A network failure stops the round (tried again later); a
// refusal (4xx) is kept with its reason for the worker to see; 401 waits for a sign-in.
async function flush() {
  const sent = new Map();
  if (state.flushing || !state.session) return sent;
  state.flushing = true;
  try {
    for (const item of await queued()) {
      if (item.error) continue;
      try {
        const inc = await sendOne(item);
        sent.set(item.key, inc);
        await del(QUEUE_PREFIX + item.key);
      } catch (err) {
        if (err instanceof Refused && err.status !== 401 && err.status < 500 && err.status !== 429) {
          item.error = err.message;
          await set(QUEUE_PREFIX + item.key, item);
          continue;
        }
        break; // offline or the server busy: the next round
      }
    }
  } finally {
    state.flushing = false;
  }
  await renderQueue();
  return sent;
}

async function sendOne(item) {
  const body = { ...item.body };
  if (item.photo) body.photos = [await uploadPhoto(item.photo, item.photoName)];
  const r = await api("/incidents", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": item.key },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Refused(await problem(r), r.status);
  return r.json();
}

async function renderQueue() {
  const items = await queued();
  $("#queue-count").textContent = String(items.length);
  $("#queue-count").classList.toggle("zero", items.length === 0);
  $("#queue").innerHTML = items.length
    ? items.map((it) => `<li data-key="${esc(it.key)}">${esc(categoryName(it.body.category))}
      ${esc(it.body.description || "")}<br>
      ${new Date(it.queuedAt).toLocaleTimeString("zh-CN")}
      ${it.error ? `<br><span class="error">${esc(it.error)}</span>
      <button type="button" class="secondary" data-discard="${esc(it.key)}">删除 Discard</button>` : " · 等待网络 waiting"}</li>`).join("")
    : '<li class="hint">无待发 Nothing waiting</li>';
  clearTimeout(state.retry);
  if (items.some((it) => !it.error)) state.retry = setTimeout(flush, RETRY_MS);
}

function showNetwork() {
  const el = $("#net");
  el.textContent = navigator.onLine ? "在线 online" : "离线 offline";
  el.classList.toggle("off", !navigator.onLine);
}

// ------------------------------------------------------------------ visits and tags

function tagBoxes(name, allowed, chosen) {
  return allowed.map((t) => `<label><input type="checkbox" name="${esc(name)}" value="${esc(t)}"
    ${chosen.includes(t) ? "checked" : ""}> ${esc(TAG_NAMES[t] || t)}</label>`).join("");
}

function checked(container, name) {
  return Array.from(container.querySelectorAll(`input[name="${name}"]:checked`), (i) => i.value);
}

async function loadHouseholds() {
  show("#visit-error", "");
  let r;
  try {
    r = await api("/households");
  } catch {
    show("#visit-error", "无网络 No network");
    return;
  }
  if (!r.ok) {
    show("#visit-error", await problem(r));
    return;
  }
  const keep = $("#household").value;
  state.households = (await r.json()).households;
  $("#household").innerHTML = '<option value="">选择住户 Choose a household</option>' + state.households
    .map((h) => `<option value="${h.id}">${esc(h.address)} ${esc(h.unit_no || "")} (${h.residents} 人)</option>`).join("");
  if (keep && state.households.some((h) => String(h.id) === keep)) {
    $("#household").value = keep;
    await showHousehold();
  }
}

async function showHousehold() {
  const id = Number($("#household").value);
  const h = state.households.find((x) => x.id === id);
  $("#hh-detail").hidden = !h;
  if (!h) return;
  $("#hh-tags").innerHTML = tagBoxes("hh-tag", state.config.household_tags, h.tags);
  const r = await api(`/residents?limit=1000`);
  const all = r.ok ? (await r.json()).residents : [];
  state.residents = all.filter((p) => p.household_id === id);
  $("#residents").innerHTML = state.residents.length
    ? state.residents.map((p) => `<div class="resident" data-resident="${p.id}">
      <strong>${esc(p.name)}</strong> ${p.birth_year || ""}
      <div class="tags">${tagBoxes(`res-${p.id}`, state.config.resident_tags, p.tags)}</div>
      <button type="button" data-save-resident="${p.id}">保存 Save</button></div>`).join("")
    : '<p class="hint">无居民记录 No residents</p>';
}

async function saveTags(path, version, tags) {
  const r = await api(path, {
    method: "PATCH",
    headers: { "Content-Type": "application/json", "If-Match": `"${version}"` },
    body: JSON.stringify({ tags }),
  });
  if (r.status === 412) throw new Refused("已被他人修改,已刷新 Changed by someone else: reloaded, check and save again", 412);
  if (!r.ok) throw new Refused(await problem(r), r.status);
  return r.json();
}

async function saveHousehold() {
  show("#visit-error", "");
  show("#visit-ok", "");
  const h = state.households.find((x) => x.id === Number($("#household").value));
  try {
    const got = await saveTags(`/households/${h.id}`, h.version, checked($("#hh-tags"), "hh-tag"));
    Object.assign(h, { tags: got.tags, version: got.version });
    show("#visit-ok", "户标签已保存 Household tags saved");
  } catch (err) {
    show("#visit-error", err.message || "无网络 No network");
    if (err.status === 412) await loadHouseholds();
  }
}

async function saveResident(id) {
  show("#visit-error", "");
  show("#visit-ok", "");
  const p = state.residents.find((x) => x.id === id);
  const box = document.querySelector(`[data-resident="${id}"]`);
  try {
    const got = await saveTags(`/residents/${id}`, p.version, checked(box, `res-${id}`));
    Object.assign(p, { tags: got.tags, version: got.version });
    show("#visit-ok", `${p.name}: 标签已保存 tags saved`);
  } catch (err) {
    show("#visit-error", err.message || "无网络 No network");
    if (err.status === 412) await showHousehold();
  }
}

async function saveVisit(e) {
  e.preventDefault();
  show("#visit-error", "");
  show("#visit-ok", "");
  const body = {
    household_id: Number($("#household").value),
    need_category: $("#need").value || null,
    mood: $("#mood").value || null,
    note: $("#visit-note").value.trim() || null,
  };
  try {
    const r = await api("/visit-logs", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!r.ok) throw new Refused(await problem(r), r.status);
    $("#visit-note").value = "";
    show("#visit-ok", "走访已记录 Visit saved");
  } catch (err) {
    show("#visit-error", err.message || "无网络 No network");
  }
}

function fillVisitForm() {
  $("#mood").innerHTML += state.config.moods.map((m) => `<option value="${m}">${esc(MOOD_NAMES[m] || m)}</option>`).join("");
  const needs = state.items.filter((it) => it.code.startsWith("06"));
  $("#need").innerHTML += needs.map((it) => `<option value="${esc(it.code)}">${esc(it.zh)} · ${esc(it.en)}</option>`).join("");
}

// ------------------------------------------------------------------ start

function wire() {
  $("#signin").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("#username").value, $("#password").value);
  });
  $("#signout").addEventListener("click", () => signedOut(""));
  $("#locate-me").addEventListener("click", locateMe);
  $("#cat-search").addEventListener("input", (e) => searchCategories(e.target.value));
  $("#cat-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = $("#cat-results button");
      if (first) chooseCategory(first.dataset.code);
    }
  });
  $("#cat-results").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-code]");
    if (b) chooseCategory(b.dataset.code);
  });
  $("#report").addEventListener("submit", (e) => onSubmit(e));
  $("#send-new").addEventListener("click", () => onSubmit(null, true));
  $("#dup-list").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-support]");
    if (b) support(Number(b.dataset.support));
  });
  $("#queue").addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-discard]");
    if (b) {
      await del(QUEUE_PREFIX + b.dataset.discard);
      renderQueue();
    }
  });
  $("#flush").addEventListener("click", () => flush());
  $("#household").addEventListener("change", showHousehold);
  $("#hh-save").addEventListener("click", saveHousehold);
  $("#residents").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-save-resident]");
    if (b) saveResident(Number(b.dataset.saveResident));
  });
  $("#visit").addEventListener("submit", saveVisit);
  window.addEventListener("online", () => {
    showNetwork();
    flush();
  });
  window.addEventListener("offline", showNetwork);
  wireTabs();
}

async function start() {
  wire();
  showNetwork();
  const [mc, fc] = await Promise.all([fetch("/map/config.json"), fetch("/field/config.json")]);
  state.mapConfig = await mc.json();
  state.config = await fc.json();
  flattenCategories();
  fillVisitForm();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => {});
  }
  if (state.session) enter();
  await renderQueue();
  window.__fieldReady = true;
}

start();
