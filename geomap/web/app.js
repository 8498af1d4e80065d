// Rider page: nearest stations by e-bike minutes. Talks only to this service (no third-party host).
// Positions: the phone's geolocation is WGS84 (W3C); everything shown and the AMap link are GCJ-02.
"use strict";

const K = 5;
const CHIPS = ["food_heating", "ebike_charging", "phone_charging", "water", "toilet", "rest", "meals"];
const $ = (id) => document.getElementById(id);
const state = { lon: null, lat: null, crs: null, amenities: new Set(), streets: null, last: null };

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function loadChips() {
  let labels = {};
  try {
    const v = await (await fetch("/vocab")).json();
    for (const a of v.amenities) labels[a.key] = a.label;
  } catch (e) { labels = {}; }
  const box = $("chips");
  for (const key of CHIPS) {
    if (!labels[key]) continue;
    const b = el("button", "chip", labels[key]);
    b.type = "button";
    b.dataset.amenity = key;
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => {
      const on = !state.amenities.has(key);
      if (on) state.amenities.add(key); else state.amenities.delete(key);
      b.setAttribute("aria-pressed", String(on));
      query();
    });
    box.appendChild(b);
  }
}

// The place this service covers (its workspace): "服务范围：杨浦区五角场一带 · 发布：…", also in the title.
async function loadPlace() {
  try {
    const p = await (await fetch("/place")).json();
    const line = $("place");
    line.textContent = `服务范围：${p.area_label}` + (p.publisher ? ` · 发布：${p.publisher}` : "");
    line.hidden = false;
    document.title = `${p.name} · 附近的服务站点`;
  } catch (e) { /* the page works without it */ }
}

function fmtDistance(m) {
  return m < 1000 ? `${Math.round(m)} 米` : `${(m / 1000).toFixed(1)} 公里`;
}

function render(fc) {
  const list = $("results");
  list.replaceChildren();
  for (const u of fc.unrouted || []) list.appendChild(el("li", "unrouted", u.note));
  if (!fc.features.length) {
    list.appendChild(el("li", "empty", (fc.message || "附近没有符合条件的站点") + "。"));
    for (const s of fc.straight_line || []) {
      list.appendChild(el("li", "unrouted", `${s.name} · 直线距离 ${fmtDistance(s.straight_m)}`));
    }
    return;
  }
  for (const f of fc.features) {
    const p = f.properties;
    const li = el("li");
    li.dataset.id = f.id;
    li.appendChild(el("span", "name", p.name));
    li.appendChild(el("span", "time", `${Math.max(1, Math.round(p.travel_minutes))} 分钟`));
    const meta = el("div", "meta");
    const badge = p.open_now === true ? ["open", "营业中"] : p.open_now === false ? ["closed", "已打烊"]
      : ["unknown", "时间未知"];
    meta.appendChild(el("span", `badge ${badge[0]}`, badge[1]));
    meta.appendChild(document.createTextNode(
      `${p.kind_labels.join("、")} · ${fmtDistance(p.distance_m)}${p.opening_hours_raw ? " · " + p.opening_hours_raw : ""}`));
    li.appendChild(meta);
    if (p.amenity_labels.length) li.appendChild(el("div", "amen", p.amenity_labels.join(" · ")));
    if (p.address) li.appendChild(el("div", "addr", p.address + (p.phone ? ` · 电话 ${p.phone}` : "")));
    const nav = el("a", "nav", "导航");
    nav.href = p.amap_nav_url;
    nav.target = "_blank";
    nav.rel = "noopener";
    li.appendChild(nav);
    list.appendChild(li);
  }
}

async function query() {
  if (state.lon === null) return;
  const params = new URLSearchParams({ lon: state.lon, lat: state.lat, crs: state.crs, out_crs: "gcj02",
    mode: "ebike", k: K });
  if (state.amenities.size) params.set("amenity", [...state.amenities].join(","));
  if ($("open-only").checked) params.set("open_at", "now");
  setStatus("正在查找附近站点…");
  try {
    const r = await fetch(`/nearest?${params}`);
    const body = await r.json();
    if (!r.ok) {
      const d = body.detail;
      const msg = (d && d.message) || body.message || "查询失败";
      const zh = msg.split(" / ")[0];  // the Chinese part of the server's message
      setStatus(d && d.straight_line && d.straight_line.length ? zh.split("；")[0] + "。按直线距离，附近的站点：" : zh,
        true);
      $("results").replaceChildren();
      for (const s of (d && d.straight_line) || []) {  // outside the area: nearest by straight line, said so
        $("results").appendChild(el("li", "unrouted", `${s.name} · 直线距离 ${fmtDistance(s.straight_m)}`));
      }
      return;
    }
    state.last = body;
    const where = state.crs === "wgs84" ? "当前位置" : "所选位置";
    setStatus(`${where}附近 ${body.count} 个站点（电动车骑行时间）`);
    render(body);
    drawMap();
  } catch (e) {
    setStatus("网络错误，请稍后重试。", true);
  }
}

function locate() {
  if (!("geolocation" in navigator)) {
    setStatus("此浏览器无法定位，请在地图上选点或输入坐标。", true);
    showMap();
    return;
  }
  setStatus("正在获取您的位置…");
  navigator.geolocation.getCurrentPosition(
    (pos) => { state.lon = pos.coords.longitude; state.lat = pos.coords.latitude; state.crs = "wgs84"; query(); },
    () => { setStatus("无法获取位置（未授权或信号弱），请在地图上选点或输入坐标。", true); showMap(); },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
}

// --- the small street sketch (GCJ-02, equirectangular) -------------------------------------------------------
let view = null;

async function showMap() {
  $("map-box").hidden = false;
  if (!state.streets) {
    try { state.streets = await (await fetch("/streets?mode=ebike&crs=gcj02")).json(); }
    catch (e) { setStatus("示意图加载失败，请输入坐标。", true); return; }
  }
  drawMap();
}

function drawMap() {
  if (!state.streets || $("map-box").hidden) return;
  const cv = $("map");
  const ratio = window.devicePixelRatio || 1;
  const w = cv.clientWidth || 360;
  const h = Math.round(w * 0.85);
  cv.width = w * ratio; cv.height = h * ratio; cv.style.height = `${h}px`;
  const ctx = cv.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const [w0, s0, e0, n0] = state.streets.properties.bbox;
  const kx = Math.cos(((s0 + n0) / 2) * Math.PI / 180);
  const scale = Math.min(w / ((e0 - w0) * kx), h / (n0 - s0));
  const ox = (w - (e0 - w0) * kx * scale) / 2, oy = (h - (n0 - s0) * scale) / 2;
  view = { w0, n0, kx, scale, ox, oy };
  const px = (lon, lat) => [ox + (lon - w0) * kx * scale, oy + (n0 - lat) * scale];
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#c8ccd2"; ctx.lineWidth = 1;
  ctx.beginPath();
  for (const line of state.streets.geometry.coordinates) {
    line.forEach(([lon, lat], i) => { const [x, y] = px(lon, lat); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  }
  ctx.stroke();
  const fc = state.last;
  if (!fc) return;
  const top = fc.features[0];
  if (top && top.properties.route) {
    ctx.strokeStyle = "#1677ff"; ctx.lineWidth = 3; ctx.beginPath();
    top.properties.route.coordinates.forEach(([lon, lat], i) => {
      const [x, y] = px(lon, lat); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
  }
  fc.features.forEach((f, i) => {
    const [x, y] = px(...f.geometry.coordinates);
    ctx.fillStyle = "#d7301f"; ctx.beginPath(); ctx.arc(x, y, 6, 0, 7); ctx.fill();
    ctx.fillStyle = "#fff"; ctx.font = "bold 9px sans-serif"; ctx.textAlign = "center"; ctx.fillText(i + 1, x, y + 3);
  });
  const q = fc.query;
  if (q && fc.features[0] && fc.features[0].properties.route) {
    const [lon, lat] = fc.features[0].properties.route.coordinates[0];
    const [x, y] = px(lon, lat);
    ctx.fillStyle = "#1677ff"; ctx.beginPath(); ctx.arc(x, y, 5, 0, 7); ctx.fill();
  }
}

function onMapTap(ev) {
  if (!view) return;
  const r = $("map").getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  state.lon = +(view.w0 + (x - view.ox) / (view.kx * view.scale)).toFixed(6);
  state.lat = +(view.n0 - (y - view.oy) / view.scale).toFixed(6);
  state.crs = "gcj02";
  query();
}

function init() {
  loadPlace();
  loadChips();
  $("locate").addEventListener("click", locate);
  $("show-map").addEventListener("click", showMap);
  $("show-coords").addEventListener("click", () => { $("coords-form").hidden = !$("coords-form").hidden; });
  $("coords-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const lon = parseFloat($("in-lon").value), lat = parseFloat($("in-lat").value);
    if (!(Math.abs(lon) <= 180 && Math.abs(lat) <= 90)) {
      setStatus("请输入有效的经纬度，例如 经度 121.5145、纬度 31.3005。", true);
      return;
    }
    state.lon = lon; state.lat = lat; state.crs = $("in-crs").value;
    query();
  });
  $("open-only").addEventListener("change", query);
  $("map").addEventListener("click", onMapTap);
  window.addEventListener("resize", drawMap);
  locate();
}

init();
