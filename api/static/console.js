// The command-centre console. The page is server-rendered HTML fragments fetched by htmx; this
// module only signs in (POST /token, then /me, the token kept in sessionStorage under the same
// key as the web map, sent as a bearer header by every htmx request), keeps the queue's ETag so
// a poll that changes nothing is a 304 left unswapped, counts the time left down, loads photos
// with the token, and draws the case's small map (vendored MapLibre, no basemap).
// Which buttons a case shows comes from the server (the library's allowed actions).

const TOKEN_KEY = "gisgrid.session";
const CENTRE_ROLES = ["street_centre", "district_centre", "city_centre", "admin"];
const $ = (s) => document.querySelector(s);
const etags = new Map(); // queue URL -> ETag of the rows shown
let session = loadSession();
let maplibre = null; // imported on the first case view

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
    if (s && s.token && s.expiresAt > Date.now()) return s;
  } catch (_) { /* a broken entry is no session */ }
  sessionStorage.removeItem(TOKEN_KEY);
  return null;
}

window.gg = { signedIn: () => !!session };

function showSession() {
  const signed = !!session;
  $("#signin").hidden = signed;
  $("#whoami").hidden = !signed;
  $("#console").hidden = !signed;
  if (!signed) return;
  const me = session.me || {};
  $("#who-name").textContent = me.display_name || me.username || "";
  $("#who-role").textContent = me.role || "";
  const centre = CENTRE_ROLES.includes(me.role);
  for (const el of document.querySelectorAll("[data-centre-only]")) el.hidden = !centre;
}

function signedOut(message) {
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  etags.clear();
  $("#queue-body").innerHTML = "";
  $("#case").innerHTML = "";
  showSession();
  if (message) {
    $("#signin-error").textContent = message;
    $("#signin-error").hidden = false;
  }
}

async function signIn(username, password) {
  const err = $("#signin-error");
  err.hidden = true;
  const r = await fetch("/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  if (!r.ok) {
    err.textContent = r.status === 401 ? "Wrong username or password. 用户名或密码错误" : `Sign-in failed (${r.status}). 登录失败`;
    err.hidden = false;
    return;
  }
  const t = await r.json();
  const me = await fetch("/me", { headers: { Authorization: `Bearer ${t.access_token}` } });
  if (!me.ok) {
    err.textContent = `Sign-in failed (${me.status}). 登录失败`;
    err.hidden = false;
    return;
  }
  session = { token: t.access_token, expiresAt: Date.now() + t.expires_in * 1000, me: await me.json() };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  $("#password").value = "";
  start();
}

function start() {
  showSession();
  htmx.trigger(document.body, "gg-refresh");
}

// -- htmx: the token on every request, the queue's ETag, which answers to swap -------------------

// 4xx answers of the case pane carry the case as it is now and the reason: swap them too.
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "304", swap: false },
  { code: "401", swap: false, error: true },
  { code: "[23]..", swap: true },
  { code: "4..", swap: true, error: false },
  { code: "...", swap: false, error: true },
];

document.body.addEventListener("htmx:configRequest", (e) => {
  if (!session) return;
  e.detail.headers.Authorization = `Bearer ${session.token}`;
  if (e.detail.path.startsWith("/console/queue")) {
    const tag = etags.get(queueKey(e.detail.parameters));
    if (tag) e.detail.headers["If-None-Match"] = tag;
  }
});

function queueKey(params) {
  const p = params instanceof FormData ? [...params.entries()] : Object.entries(params || {});
  return JSON.stringify(p.sort());
}

document.body.addEventListener("htmx:beforeRequest", (e) => {
  const cfg = e.detail.requestConfig;
  if (cfg && cfg.path && cfg.path.startsWith("/console/queue")) {
    e.detail.xhr.__ggKey = queueKey(cfg.parameters);
  }
});

document.body.addEventListener("htmx:afterRequest", (e) => {
  const xhr = e.detail.xhr;
  if (xhr.status === 401) signedOut("Session expired, sign in again. 会话已过期，请重新登录");
  if (xhr.__ggKey && xhr.status === 200) etags.set(xhr.__ggKey, xhr.getResponseHeader("ETag"));
});

document.body.addEventListener("htmx:afterSwap", (e) => {
  const target = e.detail.target;
  countDown();
  if (target.id === "evaluation") drawRatesMap(target.querySelector(".eval-map"));
  if (target.id === "case") {
    target.focus({ preventScroll: true });
    loadPhotos(target);
    drawCaseMap(target.querySelector(".case-map"));
    // an action changed the case: the queue and the figures follow at once
    if (e.detail.requestConfig && e.detail.requestConfig.verb === "post") {
      etags.clear();
      htmx.trigger(document.body, "gg-refresh");
    }
  }
});

// paging: the cursor is part of the filter form, so the poll keeps the page being read
document.body.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-cursor]");
  if (!b) return;
  $("#cursor").value = b.dataset.cursor;
  htmx.trigger($("#filters"), "submit");
});
document.body.addEventListener("change", (e) => {
  if (e.target.closest("#filters") && e.target.id !== "cursor") $("#cursor").value = "";
}, true);

// -- time left, photos, the case map -------------------------------------------------------------

function countDown() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".left[data-due]")) {
    if (!el.dataset.due) { el.textContent = "—"; continue; }
    const ms = Date.parse(el.dataset.due) - now;
    const m = Math.floor(Math.abs(ms) / 60000);
    const text = m >= 1440 ? `${Math.floor(m / 1440)}d ${Math.floor((m % 1440) / 60)}h` : `${Math.floor(m / 60)}h ${m % 60}m`;
    el.textContent = ms < 0 ? `−${text} overdue 超期` : text;
    el.classList.toggle("bad", ms < 0);
  }
}
setInterval(countDown, 15000);

async function loadPhotos(root) {
  for (const img of root.querySelectorAll("img[data-photo]")) {
    const r = await fetch(`/photos/${img.dataset.photo}`, { headers: { Authorization: `Bearer ${session.token}` } });
    if (r.ok) img.src = URL.createObjectURL(await r.blob());
  }
}

async function drawCaseMap(el) {
  if (!el) return;
  maplibre = maplibre || (await import("/static/vendor/maplibre-gl/maplibre-gl.mjs"));
  const lon = Number(el.dataset.lon);
  const lat = Number(el.dataset.lat);
  const outline = JSON.parse(el.dataset.outline || "null");
  const units = JSON.parse(el.dataset.units || "[]");
  const fc = (features) => ({ type: "FeatureCollection", features });
  const map = new maplibre.Map({
    container: el,
    style: {
      version: 8,
      sources: {
        grid: { type: "geojson", data: fc(outline ? [{ type: "Feature", geometry: outline, properties: {} }] : []) },
        units: {
          type: "geojson",
          data: fc(units.map((u) => ({ type: "Feature", geometry: { type: "Point", coordinates: [u.lon, u.lat] }, properties: u }))),
        },
        point: { type: "geojson", data: fc([{ type: "Feature", geometry: { type: "Point", coordinates: [lon, lat] }, properties: {} }]) },
      },
      layers: [
        { id: "bg", type: "background", paint: { "background-color": "#eef1f4" } },
        { id: "grid-fill", type: "fill", source: "grid", paint: { "fill-color": "#4c6ef5", "fill-opacity": 0.12 } },
        { id: "grid-line", type: "line", source: "grid", paint: { "line-color": "#364fc7", "line-width": 2 } },
        {
          id: "units", type: "circle", source: "units",
          paint: {
            "circle-radius": 6, "circle-stroke-width": 1.5, "circle-stroke-color": "#fff",
            "circle-color": ["case", ["get", "recommended"], "#2b8a3e", ["get", "available"], "#74b816", "#adb5bd"],
          },
        },
        { id: "point", type: "circle", source: "point", paint: { "circle-radius": 8, "circle-color": "#e03131", "circle-stroke-width": 2, "circle-stroke-color": "#fff" } },
      ],
    },
    center: [lon, lat],
    zoom: 15,
    attributionControl: false,
  });
  const pts = [[lon, lat], ...units.map((u) => [u.lon, u.lat])];
  if (outline) {
    const ring = outline.type === "MultiPolygon" ? outline.coordinates.flat(2) : outline.coordinates.flat(1);
    pts.push(...ring);
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 24, duration: 0, maxZoom: 17 });
  el.__map = map;
}

// the choropleth of on-time rate per grid (the evaluation's classes, grey: nothing closed)
async function drawRatesMap(el) {
  if (!el) return;
  const r = await fetch(el.dataset.geojson, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!r.ok) return;
  const data = await r.json();
  maplibre = maplibre || (await import("/static/vendor/maplibre-gl/maplibre-gl.mjs"));
  const map = new maplibre.Map({
    container: el,
    style: {
      version: 8,
      sources: { rates: { type: "geojson", data } },
      layers: [
        { id: "bg", type: "background", paint: { "background-color": "#eef1f4" } },
        {
          id: "rate", type: "fill", source: "rates",
          paint: {
            "fill-opacity": 0.8, "fill-outline-color": "#ffffff",
            "fill-color": ["case", ["==", ["get", "on_time_rate"], null], "#ced4da",
              ["step", ["get", "on_time_rate"], "#c92a2a", 0.5, "#f59f00", 0.8, "#74b816", 0.95, "#2b8a3e"]],
          },
        },
      ],
    },
    center: [0, 0], zoom: 1, attributionControl: false,
  });
  const b = [Infinity, Infinity, -Infinity, -Infinity]; // a loop: a spread of every vertex would overflow the stack
  for (const f of data.features) {
    for (const p of f.geometry.coordinates.flat(f.geometry.type === "MultiPolygon" ? 2 : 1)) {
      b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]); b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
    }
  }
  if (data.features.length) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 12, duration: 0 });
  map.on("click", "rate", (e) => {
    const p = e.features[0].properties;
    new maplibre.Popup().setLngLat(e.lngLat)
      .setText(`${p.code} ${p.name}: ${p.on_time_rate == null || p.on_time_rate === "null" ? "—" : Math.round(p.on_time_rate * 100) + "%"} (${p.closed}/${p.reported})`)
      .addTo(map);
  });
  el.__map = map;
}

// -- start ---------------------------------------------------------------------------------------

$("#signin").addEventListener("submit", (e) => {
  e.preventDefault();
  signIn($("#username").value, $("#password").value);
});
$("#signout").addEventListener("click", () => signedOut());

if (session) {
  // a token kept from before may have died with a server restart (a new signing key)
  fetch("/me", { headers: { Authorization: `Bearer ${session.token}` } }).then(async (r) => {
    if (!r.ok) return signedOut();
    session.me = await r.json();
    start();
  });
} else {
  showSession();
}
