// Rider page: the nearest stations for every worker (e-bike riders, walkers, ride-hailing and truck drivers).
// Talks only to this service (no third-party host). Positions: the phone's geolocation is WGS84 (W3C);
// what is shown is GCJ-02; the navigation links come from the service (AMap / Tencent GCJ-02, Baidu BD-09).
// Language level: ES2017 in a classic script (no modules, no ?. or ??, no replaceChildren): WeChat's
// browser is Chromium (XWeb) on Android but the phone's own WebKit on iOS, which may be a few years old.
"use strict";

var K = 5;
var WORKERS = {
  rider: { label: "骑手 / 快递", short: "骑手", mode: "ebike", verb: "电动车骑行", within: "骑行",
    chips: ["a:ebike_charging", "a:food_heating", "k:outdoor_station", "k:canteen", "a:phone_charging", "a:water",
      "a:toilet", "a:rest", "a:meals", "k:rest_point", "k:driver_home"] },
  walker: { label: "步行", short: "步行", mode: "walk", verb: "步行", within: "步行",
    chips: ["k:outdoor_station", "a:water", "a:toilet", "a:rest", "a:phone_charging", "a:food_heating", "a:meals",
      "k:canteen", "k:rest_point", "k:driver_home"] },
  driver: { label: "网约车 / 出租", short: "网约车", mode: "drive", verb: "驾车", within: "驾车",
    chips: ["k:driver_home", "a:toilet", "a:food_heating", "a:meals", "k:canteen", "a:water", "a:rest",
      "a:phone_charging", "k:outdoor_station", "k:rest_point"] },
  trucker: { label: "货车司机", short: "货车司机", mode: "truck", verb: "货车行驶", within: "货车",
    chips: ["k:driver_home", "a:truck_parking", "a:shower", "a:lodging", "a:toilet", "a:food_heating", "a:meals",
      "a:water", "a:rest", "k:outdoor_station", "k:canteen", "k:rest_point"] }
};
var MODE_FALLBACK = { truck: ["drive", "ebike", "walk"], drive: ["truck", "ebike", "walk"],
  ebike: ["walk", "drive"], walk: ["ebike", "drive"] };
var MODE_WORDS = { walk: "步行", ebike: "骑行", drive: "驾车", truck: "货车" };
var APPS = { amap: "高德地图", baidu: "百度地图", tencent: "腾讯地图" };
var WEEKDAYS = ["周日", "周一", "周二", "周三", "周四", "周五", "周六"];

var $ = function (id) { return document.getElementById(id); };
var state = {
  worker: null, mode: "ebike", modes: null, speeds: {}, vocab: null,
  lon: null, lat: null, crs: null, kinds: [], amenities: [], openOnly: false,
  streets: {}, last: null, pendingNav: null
};
var AT = new URLSearchParams(window.location.search).get("at");  // e.g. ?at=2026-12-05T20:00 (preview a time)

// --- remembered on the phone ---------------------------------------------------------------------------
function remember(key, value) {
  try { window.localStorage.setItem("geomap." + key, value); } catch (e) { /* private mode: not remembered */ }
}
function recall(key) {
  try { return window.localStorage.getItem("geomap." + key); } catch (e) { return null; }
}

// --- small helpers -------------------------------------------------------------------------------------
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function setStatus(text, isError) {
  var s = $("status");
  s.textContent = text;
  s.classList.toggle("error", !!isError);
}
function fmtDistance(m) {
  return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里";
}
function fmtMinutes(min) { return Math.max(1, Math.round(min)) + " 分钟"; }

// "2026-12-07T08:30:00+08:00" relative to the answer's own moment (same zone): 今天 / 明天 / 周一 / 下周一 8:30
function whenText(iso, atIso) {
  var a = atIso.match(/^(\d{4})-(\d\d)-(\d\d)/), b = iso.match(/^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/);
  if (!a || !b) return "";
  var day0 = Date.UTC(+a[1], +a[2] - 1, +a[3]), day1 = Date.UTC(+b[1], +b[2] - 1, +b[3]);
  var diff = Math.round((day1 - day0) / 86400000);
  var wd = WEEKDAYS[new Date(day1).getUTCDay()];
  var word = diff === 0 ? "今天" : diff === 1 ? "明天" : diff < 7 ? wd : "下" + wd;
  return word + " " + (+b[4]) + ":" + b[5];
}
function openingText(p, atIso) {
  if (p.open_now === true) return ["open", "营业中"];
  if (p.open_now === false) {
    return ["closed", p.opens_next ? "已打烊 · " + whenText(p.opens_next, atIso) + " 开门" : "已打烊"];
  }
  return ["unknown", "营业时间未知"];
}
// Phone numbers as written ("021-6555 0112 / 138…", "转 8"): one tel: link per number, digits and + only.
function phoneNumbers(text) {
  var out = [];
  String(text).split(/[\/、,，;；]|\s{2,}/).forEach(function (part) {
    var main = part.split(/转|ext|分机/i)[0];
    var digits = main.replace(/[^\d+]/g, "");
    if (digits.replace(/\D/g, "").length >= 5) out.push({ text: part.trim(), tel: digits });
  });
  return out;
}

// --- who am I ------------------------------------------------------------------------------------------
function modeFor(workerKey) {
  var want = WORKERS[workerKey].mode;
  if (!state.modes || state.modes.indexOf(want) >= 0) return want;
  var alt = MODE_FALLBACK[want].filter(function (m) { return state.modes.indexOf(m) >= 0; });
  return alt.length ? alt[0] : want;
}
function applyWorker(key) {
  state.worker = key;
  state.mode = modeFor(key);
  state.kinds = []; state.amenities = [];
  var w = WORKERS[key];
  $("who-btn").textContent = "我是：" + w.short;
  $("sub").textContent = "按" + MODE_WORDS[state.mode] + "时间排序 · 户外劳动者服务站点 · 司机之家 · 爱心食堂";
  speedNote();
  buildChips();
}
function speedNote() {
  var m = state.mode, v = state.speeds[m];
  var how = m === "ebike" ? "电动车" : m === "walk" ? "步行" : m === "truck" ? "货车" : "小汽车";
  var speed = v ? "（约 " + v + " 公里/小时）" : "（按各条道路的通行速度，不含堵车和找车位）";
  var note = "时间按" + how + "沿道路估算" + speed + "。";
  if (state.worker && WORKERS[state.worker].mode !== m) {
    note = "本服务没有" + MODE_WORDS[WORKERS[state.worker].mode] + "路网，按" + MODE_WORDS[m] + "计算。" + note;
  }
  $("speed-note").textContent = note;
}
function openSheet(id) {
  $("backdrop").hidden = false;
  $(id).hidden = false;
}
function closeSheets() {
  ["who-sheet", "nav-sheet", "coords-form"].forEach(function (id) { $(id).hidden = true; });
  $("backdrop").hidden = true;
}
function askWho(first) {
  $("who-more").hidden = !!first;  // at the first visit: only the question
  Array.prototype.forEach.call(document.querySelectorAll("#who-choices button"), function (b) {
    b.setAttribute("aria-pressed", String(b.dataset.worker === state.worker));
  });
  markApp();
  openSheet("who-sheet");
}
function markApp() {
  var app = recall("navApp");
  Array.prototype.forEach.call(document.querySelectorAll("#app-settings button"), function (b) {
    b.setAttribute("aria-pressed", String(b.dataset.app === app));
  });
}

// --- filters: station kinds and amenities as chips, the worker's own first -----------------------------
function buildChips() {
  var box = $("chips");
  clear(box);
  if (!state.vocab || !state.worker) return;
  var labels = { k: {}, a: {} };
  state.vocab.kinds.forEach(function (t) { labels.k[t.key] = t.short_label || t.label; });
  state.vocab.amenities.forEach(function (t) { labels.a[t.key] = t.label; });
  WORKERS[state.worker].chips.forEach(function (spec) {
    var type = spec.charAt(0), key = spec.slice(2), text = labels[type][key];
    if (!text) return;
    var b = el("button", "chip " + (type === "k" ? "kind" : "amenity"), text);
    b.type = "button";
    b.dataset[type === "k" ? "kind" : "amenity"] = key;
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", function () {
      var list = type === "k" ? state.kinds : state.amenities;
      var i = list.indexOf(key);
      if (i >= 0) list.splice(i, 1); else list.push(key);
      b.setAttribute("aria-pressed", String(i < 0));
      query();
    });
    box.appendChild(b);
  });
  var open = el("button", "chip open-only", "只看营业中");
  open.type = "button";
  open.id = "open-only";
  open.setAttribute("aria-pressed", String(state.openOnly));
  open.addEventListener("click", function () {
    state.openOnly = !state.openOnly;
    open.setAttribute("aria-pressed", String(state.openOnly));
    query();
  });
  box.appendChild(open);
}

// --- the answer ----------------------------------------------------------------------------------------
function navHref(p) {
  var app = recall("navApp");
  return app && p.nav_urls && p.nav_urls[app] ? p.nav_urls[app] : null;
}
function render(fc) {
  var list = $("results");
  clear(list);
  (fc.unrouted || []).forEach(function (u) { list.appendChild(el("li", "unrouted", u.note)); });
  if (!fc.features.length) {
    list.appendChild(el("li", "empty", (fc.message || "附近没有站点") + "。"));
    (fc.other_modes || []).forEach(function (o) {
      var s = o.stations[0];
      var li = el("li", "other-mode");
      li.dataset.mode = o.mode;
      li.textContent = "改为" + MODE_WORDS[o.mode] + "：" + fmtMinutes(s.travel_minutes) + "可达 " + s.name +
        "（" + fmtDistance(s.distance_m) + "）" +
        (o.stations.length > 1 ? "，另有 " + (o.stations.length - 1) + " 处" : "");
      list.appendChild(li);
    });
    if ((fc.straight_line || []).length) list.appendChild(el("li", "note", "按直线距离（不是路程），附近的站点："));
    (fc.straight_line || []).forEach(function (s) {
      list.appendChild(el("li", "unrouted", s.name + " · 直线距离 " + fmtDistance(s.straight_m)));
    });
    return;
  }
  fc.features.forEach(function (f) {
    var p = f.properties;
    var li = el("li", "station");
    li.dataset.id = f.id;
    li.appendChild(el("span", "name", p.name));
    li.appendChild(el("span", "time", fmtMinutes(p.travel_minutes)));
    var meta = el("div", "meta");
    var o = openingText(p, fc.at);
    meta.appendChild(el("span", "badge " + o[0], o[1]));
    meta.appendChild(document.createTextNode(" " + fmtDistance(p.distance_m) + " · " + p.kind_labels.join("、")));
    li.appendChild(meta);
    if (p.opening_hours_raw) li.appendChild(el("div", "hours", "开放时间：" + p.opening_hours_raw));
    if (p.amenity_labels.length) li.appendChild(el("div", "amen", p.amenity_labels.join(" · ")));
    if (p.address) li.appendChild(el("div", "addr", p.address));
    var row = el("div", "buttons");
    phoneNumbers(p.phone || "").forEach(function (n) {
      var a = el("a", "tel", "电话 " + n.text);
      a.href = "tel:" + n.tel;
      row.appendChild(a);
    });
    var nav = el("a", "nav", "导航");
    var href = navHref(p);
    nav.href = href || "#";
    nav.rel = "noopener";
    nav.addEventListener("click", function (ev) {
      if (navHref(p)) return;  // a map app chosen: the link opens it
      ev.preventDefault();
      state.pendingNav = p;
      openSheet("nav-sheet");
    });
    row.appendChild(nav);
    li.appendChild(row);
    list.appendChild(li);
  });
}
function refreshNavLinks() {
  if (!state.last) return;
  var byId = {};
  state.last.features.forEach(function (f) { byId[f.id] = f.properties; });
  Array.prototype.forEach.call(document.querySelectorAll("#results li[data-id] a.nav"), function (a) {
    var href = navHref(byId[a.parentNode.parentNode.dataset.id]);
    a.href = href || "#";
  });
}
function chooseApp(app) {
  remember("navApp", app);
  markApp();
  var missing = state.last && state.last.features.some(function (f) { return !f.properties.nav_urls[app]; });
  if (missing) query();  // another app than the answer's links were asked for: ask again
  refreshNavLinks();
  var p = state.pendingNav;
  state.pendingNav = null;
  closeSheets();
  if (p && p.nav_urls && p.nav_urls[app]) window.location.href = p.nav_urls[app];
}

function query() {
  if (state.lon === null || !state.worker) return;
  var params = new URLSearchParams({ lon: state.lon, lat: state.lat, crs: state.crs, out_crs: "gcj02",
    mode: state.mode, k: K });
  if (state.kinds.length) params.set("kind", state.kinds.join(","));
  if (state.amenities.length) params.set("amenity", state.amenities.join(","));
  if (state.openOnly) params.set("open_at", "now");
  if (AT) params.set("at", AT);
  params.set("nav", recall("navApp") || "all");  // the links of the app chosen once (all until then)
  setStatus("正在查找附近站点…");
  var mode = state.mode;
  return fetch("/nearest?" + params).then(function (r) {
    return r.json().then(function (body) { return { ok: r.ok, body: body }; });
  }).then(function (res) {
    var body = res.body;
    if (!res.ok) {
      var d = body.detail || {};
      var msg = d.message || body.message || "查询失败";
      var zh = msg.split(" / ")[0];  // the Chinese part of the server's message
      var near = d.straight_line || [];
      setStatus(near.length ? zh.split("；")[0] + "。" : zh, true);
      state.last = null;
      clear($("results"));
      if (near.length) $("results").appendChild(el("li", "note", "按直线距离（不是路程），附近的站点："));
      near.forEach(function (s) {  // outside the area: nearest by straight line, said so
        $("results").appendChild(el("li", "unrouted", s.name + " · 直线距离 " + fmtDistance(s.straight_m)));
      });
      drawMap();
      return;
    }
    state.last = body;
    var where = state.crs === "wgs84" ? "您附近" : "所选位置附近";
    setStatus(body.count ? where + " " + body.count + " 个站点（" + MODE_WORDS[mode] + "时间）"
      : where + "按" + MODE_WORDS[mode] + "找不到站点", !body.count);
    render(body);
    drawMap();
  }).catch(function () {
    setStatus("网络错误，请稍后重试。", true);
  });
}

function locate() {
  if (!("geolocation" in navigator)) {
    setStatus("此浏览器无法定位，请在地图上选点或输入坐标。", true);
    showMap();
    return;
  }
  setStatus("正在获取您的位置…");
  navigator.geolocation.getCurrentPosition(
    function (pos) { state.lon = pos.coords.longitude; state.lat = pos.coords.latitude; state.crs = "wgs84"; query(); },
    function () { setStatus("无法获取位置（未授权或信号弱），请在地图上选点或输入坐标。", true); showMap(); },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
}

// --- the small street sketch (GCJ-02, equirectangular), above the list: results never push it away -------
var view = null;

function showMap() {
  $("map-box").hidden = false;
  var mode = state.mode;
  if (state.streets[mode]) { drawMap(); return Promise.resolve(); }
  return fetch("/streets?mode=" + mode + "&crs=gcj02").then(function (r) { return r.json(); }).then(function (g) {
    state.streets[mode] = g;
    drawMap();
  }).catch(function () { setStatus("示意图加载失败，请输入坐标。", true); });
}

function drawMap() {
  var streets = state.streets[state.mode];
  if (!streets || $("map-box").hidden) return;
  var cv = $("map");
  var ratio = window.devicePixelRatio || 1;
  var w = cv.clientWidth || 360;
  var h = Math.round(w * 0.62);
  cv.width = w * ratio; cv.height = h * ratio; cv.style.height = h + "px";
  var ctx = cv.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  var bb = streets.properties.bbox, w0 = bb[0], s0 = bb[1], e0 = bb[2], n0 = bb[3];
  var kx = Math.cos(((s0 + n0) / 2) * Math.PI / 180);
  var scale = Math.min(w / ((e0 - w0) * kx), h / (n0 - s0));
  var ox = (w - (e0 - w0) * kx * scale) / 2, oy = (h - (n0 - s0) * scale) / 2;
  view = { w0: w0, n0: n0, kx: kx, scale: scale, ox: ox, oy: oy };
  var px = function (c) { return [ox + (c[0] - w0) * kx * scale, oy + (n0 - c[1]) * scale]; };
  var line = function (coords) {
    coords.forEach(function (c, i) { var p = px(c); if (i) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
  };
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#c8ccd2"; ctx.lineWidth = 1;
  ctx.beginPath();
  streets.geometry.coordinates.forEach(line);
  ctx.stroke();
  cv.setAttribute("data-drawn", state.mode);  // taps are read from now on
  var fc = state.last;
  if (!fc) return;
  var top = fc.features[0];
  if (top && top.properties.route) {
    ctx.strokeStyle = "#1677ff"; ctx.lineWidth = 3; ctx.beginPath();
    line(top.properties.route.coordinates);
    ctx.stroke();
    var start = px(top.properties.route.coordinates[0]);
    ctx.fillStyle = "#1677ff"; ctx.beginPath(); ctx.arc(start[0], start[1], 5, 0, 7); ctx.fill();
  }
  fc.features.forEach(function (f, i) {
    var p = px(f.geometry.coordinates);
    ctx.fillStyle = "#d7301f"; ctx.beginPath(); ctx.arc(p[0], p[1], 7, 0, 7); ctx.fill();
    ctx.fillStyle = "#fff"; ctx.font = "bold 10px sans-serif"; ctx.textAlign = "center";
    ctx.fillText(String(i + 1), p[0], p[1] + 3.5);
  });
}

function onMapTap(ev) {
  if (!view) return;
  var r = $("map").getBoundingClientRect();
  var x = ev.clientX - r.left, y = ev.clientY - r.top;
  state.lon = +(view.w0 + (x - view.ox) / (view.kx * view.scale)).toFixed(6);
  state.lat = +(view.n0 - (y - view.oy) / view.scale).toFixed(6);
  state.crs = "gcj02";
  query();
}

// --- start ---------------------------------------------------------------------------------------------
function loadPlace() {
  return fetch("/place").then(function (r) { return r.json(); }).then(function (p) {
    $("place").textContent = "服务范围：" + p.area_label + (p.publisher ? " · 发布：" + p.publisher : "");
    document.title = p.name + " · 附近的服务站点";
    state.modes = p.modes;
    state.speeds = p.speed_kmh || {};
  }).catch(function () { $("place").textContent = ""; });
}
function loadVocab() {
  return fetch("/vocab").then(function (r) { return r.json(); }).then(function (v) { state.vocab = v; })
    .catch(function () { state.vocab = null; });
}

function start() {
  applyWorker(state.worker);
  locate();
}

function init() {
  $("who-btn").addEventListener("click", function () { askWho(false); });
  Array.prototype.forEach.call(document.querySelectorAll("#who-choices button"), function (b) {
    b.addEventListener("click", function () {
      var first = !state.worker;
      remember("worker", b.dataset.worker);
      closeSheets();
      if (first) { state.worker = b.dataset.worker; start(); return; }
      applyWorker(b.dataset.worker);
      if (!$("map-box").hidden) showMap();
      query();
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("#app-choices button, #app-settings button"), function (b) {
    b.addEventListener("click", function () { chooseApp(b.dataset.app); });
  });
  $("who-close").addEventListener("click", closeSheets);
  $("nav-close").addEventListener("click", function () { state.pendingNav = null; closeSheets(); });
  $("coords-close").addEventListener("click", closeSheets);
  $("backdrop").addEventListener("click", function () { if (state.worker) closeSheets(); });
  $("locate").addEventListener("click", locate);
  $("show-map").addEventListener("click", function () { showMap(); window.scrollTo(0, 0); });
  $("show-coords").addEventListener("click", function () { openSheet("coords-form"); });
  $("coords-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var lon = parseFloat($("in-lon").value), lat = parseFloat($("in-lat").value);
    if (!(Math.abs(lon) <= 180 && Math.abs(lat) <= 90)) {
      setStatus("请输入有效的经纬度，例如 经度 121.5145、纬度 31.3005。", true);
      return;
    }
    closeSheets();
    state.lon = lon; state.lat = lat; state.crs = $("in-crs").value;
    query();
  });
  $("map").addEventListener("click", onMapTap);
  window.addEventListener("resize", drawMap);

  var saved = recall("worker");
  Promise.all([loadPlace(), loadVocab()]).then(function () {
    if (saved && WORKERS[saved]) { state.worker = saved; start(); }
    else { setStatus("请先选择您的身份。"); askWho(true); }
  });
  if ("serviceWorker" in navigator) {  // the page shell kept on the phone (see sw.js)
    navigator.serviceWorker.register("/sw.js").catch(function () { /* http or not allowed: the cache headers do */ });
  }
}

init();
