/* geomap map runtime (geomap project, MIT licence).
 *
 * Draws the service map written by geomap/maps.py from one JSON document embedded in the page:
 * stations as compact columns (delta-encoded integer coordinates, strings, bit masks), clustered with
 * Supercluster and drawn only for the visible part of the map (no DOM marker per station); the street
 * base map from the OSM extract; service-circle bands and the gap grid as canvas GeoJSON layers; the
 * search box, "locate me", the legend and the popups. Every text from a station file goes into the page
 * through textContent / DOM attributes, never through innerHTML.
 *
 * Opening hours: the OSM `opening_hours` subset that geomap.stations.hours.OpeningHours.to_osm writes
 * ("24/7", "Mo-Fr 08:30-17:00; Sa,Su 09:00-12:00", "22:00-06:00"), evaluated in Asia/Shanghai time
 * (UTC+8 all year: China has no daylight saving time) at the moment a popup opens.
 */
(function (global) {
  'use strict';
  var G = global.geomap = global.geomap || {};
  var DAYS = ['Mo', 'Tu', 'We', 'Th', 'Fr', 'Sa', 'Su'];
  var ALL_DAYS = 127;

  // ---------------------------------------------------------------- opening hours
  /** Rules [[daysMask, startMin, endMin], ...] of an OSM opening_hours text, or null if unreadable. */
  function parseHours(text) {
    if (typeof text !== 'string' || !text.trim()) return null;
    text = text.trim();
    if (text === '24/7') return [[ALL_DAYS, 0, 1440]];
    var rules = [];
    var parts = text.split(';');
    for (var p = 0; p < parts.length; p++) {
      var part = parts[p].trim();
      if (!part) continue;
      var mask = ALL_DAYS;
      var times = part;
      var sp = part.indexOf(' ');
      if (sp >= 0) {
        mask = 0;
        var toks = part.slice(0, sp).split(',');
        times = part.slice(sp + 1).trim();
        for (var t = 0; t < toks.length; t++) {
          var tok = toks[t];
          if (tok.indexOf('-') >= 0) {
            var ab = tok.split('-');
            var a = DAYS.indexOf(ab[0]), b = DAYS.indexOf(ab[1]);
            if (ab.length !== 2 || a < 0 || b < 0) return null;
            for (var i = a; i <= b; i++) mask |= 1 << i;
          } else {
            var d = DAYS.indexOf(tok);
            if (d < 0) return null;
            mask |= 1 << d;
          }
        }
      }
      var spans = times.split(',');
      for (var s = 0; s < spans.length; s++) {
        var m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(spans[s].trim());
        if (!m) return null;
        var start = +m[1] * 60 + +m[2];
        var end = +m[3] * 60 + +m[4];
        if (end <= start) end += 1440;
        rules.push([mask, start, end]);
      }
    }
    return rules.length ? rules : null;
  }

  /** Open on weekday (0 = Monday) at minute of day, given parsed rules (ranges may run past midnight). */
  function isOpenAt(rules, weekday, minute) {
    var prev = (weekday + 6) % 7;
    for (var i = 0; i < rules.length; i++) {
      var r = rules[i];
      if (((r[0] >> weekday) & 1) && r[1] <= minute && minute < r[2]) return true;
      if (r[2] > 1440 && ((r[0] >> prev) & 1) && minute < r[2] - 1440) return true;
    }
    return false;
  }

  /** [weekday (0 = Monday), minute of day] in Asia/Shanghai (UTC+8, no DST) at epoch milliseconds. */
  function shanghaiWeekdayMinute(epochMs) {
    var d = new Date(epochMs + 8 * 3600 * 1000);
    return [(d.getUTCDay() + 6) % 7, d.getUTCHours() * 60 + d.getUTCMinutes()];
  }

  G.hours = {
    parse: parseHours,
    isOpenAt: isOpenAt,
    weekdayMinute: shanghaiWeekdayMinute,
    /** true / false, or null when the hours are unknown or unreadable. */
    isOpen: function (text, epochMs) {
      var rules = parseHours(text);
      if (!rules) return null;
      var wm = shanghaiWeekdayMinute(epochMs === undefined ? Date.now() : epochMs);
      return isOpenAt(rules, wm[0], wm[1]);
    }
  };

  // ---------------------------------------------------------------- WGS84 -> GCJ-02 (as geomap.coords)
  var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI;
  function gcjFromWgs(lon, lat) {
    if (!(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271)) return [lon, lat];
    var x = lon - 105.0, y = lat - 35.0, sx = Math.sqrt(Math.abs(x));
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx +
      (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0 +
      (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0 +
      (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx +
      (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0 +
      (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0 +
      (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radlat = lat / 180.0 * PI;
    var magic = 1.0 - EE * Math.pow(Math.sin(radlat), 2);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtmagic) * PI);
    dlon = (dlon * 180.0) / (A / sqrtmagic * Math.cos(radlat) * PI);
    return [lon + dlon, lat + dlat];
  }
  G.gcj = { fromWgs: gcjFromWgs };

  // ---------------------------------------------------------------- the embedded data
  /** The page's data document: plain JSON, or gzip + base64 (large maps), inflated with fflate. */
  G.readData = function (id) {
    var node = document.getElementById(id);
    if (!node) return null;
    var t0 = performance.now();
    var text = node.textContent;
    if (node.getAttribute('data-encoding') === 'gzip+base64') {
      var bin = atob(text.trim());
      var bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      text = new TextDecoder('utf-8').decode(fflate.gunzipSync(bytes));
    }
    var data = JSON.parse(text);
    G.decodeMs = performance.now() - t0;
    return data;
  };

  // ---------------------------------------------------------------- helpers
  /** Running sum of integer deltas, divided by scale: the inverse of maps.py's _delta_encode. */
  function undelta(deltas, scale) {
    var out = new Float64Array(deltas.length), acc = 0;
    for (var i = 0; i < deltas.length; i++) { acc += deltas[i]; out[i] = acc / scale; }
    return out;
  }
  G.undelta = undelta;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function bitsOf(mask, terms) {
    var out = [];
    for (var i = 0; i < terms.length; i++) if (Math.floor(mask / Math.pow(2, terms[i].bit)) % 2 === 1) out.push(terms[i]);
    return out;
  }

  function toast(map, text) {
    var box = el('div', 'gm-toast', text);
    map.getContainer().appendChild(box);
    setTimeout(function () { if (box.parentNode) box.parentNode.removeChild(box); }, 6000);
  }

  // ---------------------------------------------------------------- the map
  /** Set up everything from the embedded JSON; returns the state object the page's layers refer to. */
  G.init = function (map, cfg) {
    var t0 = performance.now();
    var S = { map: map, cfg: cfg, kindLayers: {}, enabledKinds: 0, index: null, drawn: false };
    G.state = S;
    global.geomapStats = { stations: 0, drawnMs: null, initMs: null, clustersShown: 0 };
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    map.attributionControl.addAttribution(cfg.attribution);
    if (cfg.background) map.getContainer().style.background = cfg.background;
    L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);

    S.canvas = L.canvas({ padding: 0.3 });
    // areas (bands, gap grid, new coverage) in panes under the street canvas: the streets stay readable on top
    map.createPane('gm-areas').style.zIndex = 350;
    map.createPane('gm-new').style.zIndex = 360;
    S.areaCanvas = L.canvas({ padding: 0.3, pane: 'gm-areas' });
    S.newCanvas = L.canvas({ padding: 0.3, pane: 'gm-new' });
    if (cfg.streets) S.streetLayer = streetLayer(cfg.streets, S.canvas);
    if (cfg.stations) setupStations(S);
    if (cfg.bands) S.bandLayer = bandLayer(S);
    if (cfg.gaps) S.gapLayer = gapLayer(S);
    if (cfg.sites) S.sitesLayer = sitesLayer(S);
    new TitleControl(S).addTo(map);
    if (cfg.stations) new SearchControl(S).addTo(map);
    new LocateControl(S).addTo(map);
    new PrintControl(S).addTo(map);
    new LegendControl(S).addTo(map);

    if (cfg.bounds) map.fitBounds(cfg.bounds, { padding: [20, 20], maxZoom: 16 });
    global.geomapStats.initMs = performance.now() - t0;
    global.geomapStats.decodeMs = G.decodeMs;
    return S;
  };

  // ---------------------------------------------------------------- streets (offline base map)
  function streetLayer(streets, renderer) {
    var group = L.layerGroup();
    var scale = streets.scale;
    streets.classes.forEach(function (c) {
      var lines = c.lines.map(function (enc) {
        var xs = [], ys = [];
        for (var i = 0; i < enc.length; i += 2) { xs.push(enc[i]); ys.push(enc[i + 1]); }
        var lon = undelta(xs, scale), lat = undelta(ys, scale), ll = new Array(lon.length);
        for (var j = 0; j < lon.length; j++) ll[j] = [lat[j], lon[j]];
        return ll;
      });
      if (c.casing) {
        group.addLayer(L.polyline(lines, { renderer: renderer, color: c.casing, weight: c.weight + 2,
          interactive: false, lineCap: 'round', lineJoin: 'round' }));
      }
      group.addLayer(L.polyline(lines, { renderer: renderer, color: c.color, weight: c.weight,
        dashArray: c.dash || null, interactive: false, lineCap: 'round', lineJoin: 'round' }));
    });
    return group;
  }
  G.streetLayer = function () { return G.state.streetLayer; };

  // ---------------------------------------------------------------- stations
  function setupStations(S) {
    var st = S.cfg.stations;
    var n = st.n;
    S.lon = undelta(st.x, st.scale);
    S.lat = undelta(st.y, st.scale);
    S.kindOf = st.kind;
    S.n = n;
    global.geomapStats.stations = n;
    S.details = null;
    S.kinds = S.cfg.kinds;
    S.amenities = S.cfg.amenities;
    S.icons = {};
    S.kinds.forEach(function (k) {
      S.icons[k.key] = L.divIcon({
        className: 'gm-pin', iconSize: [28, 28], iconAnchor: [14, 14], popupAnchor: [0, -12],
        html: '<span class="gm-pin-b" style="background:' + k.color + '"><i class="gmi gmi-' + k.icon + '"></i></span>'
      });
    });
    S.primary = new Array(n);
    var byBit = {};
    S.kinds.forEach(function (k) { byBit[k.bit] = k; });
    for (var i = 0; i < n; i++) S.primary[i] = (st.main && byBit[st.main[i]]) || primaryKind(S, st.kind[i]);
    S.markers = L.layerGroup().addTo(S.map);
    S.map.on('moveend', function () { draw(S); });
    S.map.on('popupclose', function () { S.openStation = null; });
  }

  /** The station texts (names, addresses, hours …): decoded on first need, or just after the first drawing. */
  function details(S) {
    if (S.details) return S.details;
    var d = G.readData('geomap-details') || {};
    var st = S.cfg.stations;
    for (var k in d) if (Object.prototype.hasOwnProperty.call(d, k)) st[k] = d[k];
    S.price = {};
    if (st.price) for (var p = 0; p < st.price.i.length; p++) S.price[st.price.i[p]] = st.price.v[p];
    S.details = st;
    global.geomapStats.detailsMs = G.decodeMs;
    return st;
  }
  G.details = function () { return details(G.state); };

  function primaryKind(S, mask) {
    for (var i = 0; i < S.kinds.length; i++) if (Math.floor(mask / Math.pow(2, S.kinds[i].bit)) % 2 === 1) return S.kinds[i];
    return S.kinds[0];
  }

  var KindLayer = L.Layer.extend({
    initialize: function (S, kind) { this._S = S; this._kind = kind; },
    onAdd: function () { setKind(this._S, this._kind, true); },
    onRemove: function () { setKind(this._S, this._kind, false); }
  });

  /** The layer-switcher entry of one station kind (a proxy: drawing is shared by all kinds). */
  G.kindLayer = function (key) {
    var S = G.state;
    var k = S.kinds.filter(function (t) { return t.key === key; })[0];
    var layer = new KindLayer(S, k);
    S.kindLayers[key] = layer;
    return layer;
  };

  function setKind(S, kind, on) {
    var bit = Math.pow(2, kind.bit);
    var has = Math.floor(S.enabledKinds / bit) % 2 === 1;
    if (on && !has) S.enabledKinds += bit;
    if (!on && has) S.enabledKinds -= bit;
    if (!S._pending) {
      S._pending = true;
      setTimeout(function () { S._pending = false; rebuild(S); }, 0);
    }
  }

  function rebuild(S) {
    var feats = [];
    var en = S.enabledKinds;
    for (var i = 0; i < S.n; i++) {
      var m = S.kindOf[i];
      // any enabled kind (masks stay below 2^31, so bitwise AND is exact)
      if (m & en) feats.push({ type: 'Feature', properties: { i: i }, geometry: { type: 'Point', coordinates: [S.lon[i], S.lat[i]] } });
    }
    S.visibleCount = feats.length;
    // Leaflet tiles are 256 px; above maxZoom every station is drawn alone. Fewer levels for big sets: each
    // level near the top costs a pass over (almost) all points (measured: 16 -> 14 halves the build at 186k).
    S.index = new Supercluster({ radius: 60, extent: 256, maxZoom: S.n > 50000 ? 14 : 16, minPoints: 3 });
    S.index.load(feats);
    draw(S);
  }

  function draw(S) {
    if (!S.index) return;
    var map = S.map;
    var b = map.getBounds().pad(0.2);
    var z = Math.round(map.getZoom());
    var west = Math.max(-180, b.getWest()), east = Math.min(180, b.getEast());
    var items = S.index.getClusters([west, Math.max(-85, b.getSouth()), east, Math.min(85, b.getNorth())], z);
    S.markers.clearLayers();
    var clusters = 0;
    for (var j = 0; j < items.length; j++) {
      var f = items[j];
      var c = f.geometry.coordinates;
      if (f.properties.cluster) {
        clusters++;
        S.markers.addLayer(clusterMarker(S, f, c));
      } else {
        S.markers.addLayer(stationMarker(S, f.properties.i));
      }
    }
    global.geomapStats.clustersShown = clusters;
    global.geomapStats.itemsShown = items.length;
    if (!S.drawn) {
      S.drawn = true;
      // drawn = markers are in the DOM; wait for the frame that paints them
      requestAnimationFrame(function () {
        global.geomapStats.drawnMs = performance.now();
        document.documentElement.setAttribute('data-geomap-drawn', '1');
        setTimeout(function () { details(S); document.documentElement.setAttribute('data-geomap-ready', '1'); }, 30);
      });
    }
  }

  function clusterMarker(S, f, c) {
    var count = f.properties.point_count;
    var size = count < 10 ? 30 : count < 100 ? 36 : count < 1000 ? 42 : 50;
    var cls = count < 10 ? 's' : count < 100 ? 'm' : count < 1000 ? 'l' : 'xl';
    var label = count >= 10000 ? Math.round(count / 1000) + 'k' : String(count);
    var m = L.marker([c[1], c[0]], {
      icon: L.divIcon({ className: 'gm-cluster gm-cluster-' + cls, iconSize: [size, size],
        html: '<span>' + label + '</span>' }),
      title: count + ' 个站点，点击放大', keyboard: false
    });
    m.on('click', function () {
      var zoom = Math.min(S.index.getClusterExpansionZoom(f.properties.cluster_id), 18);
      S.map.setView([c[1], c[0]], zoom);
    });
    return m;
  }

  function stationMarker(S, i) {
    var k = S.primary[i];
    var m = L.marker([S.lat[i], S.lon[i]], { icon: S.icons[k.key], title: details(S).name[i], alt: k.label,
      riseOnHover: true });
    m.on('click', function () { openStation(S, i); });
    return m;
  }

  function openStation(S, i) {
    S.openStation = i;
    L.popup({ maxWidth: 300, autoPanPadding: [20, 20], className: 'gm-popup' })
      .setLatLng([S.lat[i], S.lon[i]])
      .setContent(stationPopup(S, i))
      .openOn(S.map);
  }
  G.openStation = function (i) { openStation(G.state, i); };

  function str(arr, i) { return arr && arr[i] !== undefined && arr[i] !== null ? String(arr[i]) : ''; }

  /** Popup DOM of station i (all text through textContent). */
  function stationPopup(S, i) {
    var st = details(S);
    var root = el('div', 'gm-pop');
    root.setAttribute('data-station', str(st.id, i));
    root.appendChild(el('div', 'gm-pop-name', st.name[i]));
    var kinds = el('div', 'gm-pop-kinds');
    bitsOf(st.kind[i], S.kinds).forEach(function (k) {
      var chip = el('span', 'gm-kind', k.label);
      chip.style.background = k.color;
      kinds.appendChild(chip);
    });
    root.appendChild(kinds);
    var addr = str(st.addr, i);
    var place = [str(st.places, st.dist ? st.dist[i] : -1), str(st.places, st.sub ? st.sub[i] : -1)].join('');
    if (addr || place) root.appendChild(row('地址', place + addr));
    // opening hours: status computed now, in the browser
    var hrow = row('开放时间', '');
    var h = st.hours[i];
    var status;
    if (h >= 0) {
      var pair = st.hoursTable[h];
      hrow.lastChild.textContent = pair[1] || pair[0];
      var open = G.hours.isOpen(pair[0], Date.now());
      status = open === null ? el('span', 'gm-status gm-unknown', '时间未知')
        : open ? el('span', 'gm-status gm-open', '营业中') : el('span', 'gm-status gm-closed', '已打烊');
      status.setAttribute('data-open', open === null ? 'unknown' : String(open));
    } else {
      hrow.lastChild.textContent = '未提供';
      status = el('span', 'gm-status gm-unknown', '时间未知');
      status.setAttribute('data-open', 'unknown');
    }
    hrow.lastChild.appendChild(document.createTextNode(' '));
    hrow.lastChild.appendChild(status);
    root.appendChild(hrow);
    var ams = bitsOf(st.am[i], S.amenities);
    if (ams.length) {
      var chips = el('div', 'gm-chips');
      ams.forEach(function (a) {
        var c = el('span', 'gm-chip');
        c.style.borderColor = a.color;
        var ic = el('i', 'gmi gmi-' + a.icon);
        ic.style.color = a.color;
        c.appendChild(ic);
        c.appendChild(document.createTextNode(' ' + a.label));
        chips.appendChild(c);
      });
      root.appendChild(chips);
    }
    var phone = str(st.phone, i);
    if (phone) {
      var prow = row('电话', '');
      var tel = phone.replace(/[^0-9+]/g, '');
      if (tel.length >= 3) {
        var a = el('a', 'gm-tel', phone);
        a.href = 'tel:' + tel;
        prow.lastChild.appendChild(a);
      } else {
        prow.lastChild.textContent = phone;
      }
      root.appendChild(prow);
    }
    var price = S.price[i];
    if (price !== null && price !== undefined) root.appendChild(row('餐价', '¥' + price + ' 元'));
    var op = str(st.places, st.op ? st.op[i] : -1);
    if (op) root.appendChild(row('运营', op));
    // navigation: AMap's URI API takes GCJ-02
    var g = S.cfg.crs === 'gcj02' ? [S.lon[i], S.lat[i]] : gcjFromWgs(S.lon[i], S.lat[i]);
    var nav = el('a', 'gm-nav', '导航');
    nav.href = 'https://uri.amap.com/navigation?to=' + g[0].toFixed(6) + ',' + g[1].toFixed(6) + ',' +
      encodeURIComponent(st.name[i]) + '&mode=' + S.cfg.navMode + '&coordinate=gaode&callnative=1&src=geomap';
    nav.target = '_blank';
    nav.rel = 'noopener noreferrer';
    root.appendChild(nav);
    return root;
  }

  function row(label, value) {
    var r = el('div', 'gm-row');
    r.appendChild(el('span', 'gm-label', label + '：'));
    r.appendChild(el('span', 'gm-value', value));
    return r;
  }

  // ---------------------------------------------------------------- service circles and gap grid
  function bandLayer(S) {
    var cfg = S.cfg;
    return L.geoJSON(cfg.bands, {
      renderer: S.areaCanvas,
      style: function (f) {
        // offline: the streets are drawn over the bands, so the bands can be strong; over tiles they stay light
        return { color: f.properties.color, weight: 1, opacity: 0.9, fillColor: f.properties.color,
          fillOpacity: cfg.background ? 0.85 : 0.4 };
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        var box = el('div', 'gm-pop');
        box.appendChild(el('div', 'gm-pop-name', '服务圈：' + p.label));
        box.appendChild(row('方式', cfg.modeLabel));
        box.appendChild(row('可达面积', p.area_km2.toFixed(2) + ' 平方公里（' + p.minutes + ' 分钟内，全部站点合计）'));
        layer.bindPopup(box);
      }
    });
  }
  G.bandLayer = function () { return G.state.bandLayer; };

  function gapColor(S, minutes) {
    var ramp = S.cfg.gapRamp;
    if (minutes === null || minutes === undefined) return ramp.none;
    for (var i = 0; i < ramp.breaks.length; i++) if (minutes < ramp.breaks[i]) return ramp.colors[i];
    return ramp.colors[ramp.colors.length - 1];
  }

  function gapLayer(S) {
    return L.geoJSON(S.cfg.gaps, {
      renderer: S.areaCanvas,
      style: function (f) {
        var c = gapColor(S, f.properties.travel_min);
        return { color: '#555', weight: 0.5, opacity: 0.5, fillColor: c, fillOpacity: 0.55 };
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        var box = el('div', 'gm-pop');
        box.appendChild(el('div', 'gm-pop-name', p.covered ? '已覆盖网格' : '服务空白网格'));
        if (p.subdistrict) box.appendChild(row('街道', p.subdistrict));
        box.appendChild(row('最近站点', p.travel_min === null ? '无可达站点' :
          p.travel_min.toFixed(1) + ' 分钟（' + S.cfg.modeLabel + '）'));
        box.appendChild(row('常住人口', Math.round(p.residents)));
        box.appendChild(row('餐饮商户', Math.round(p.restaurants)));
        box.appendChild(row('需求（折合人数）', Math.round(p.demand).toLocaleString('zh-CN')));
        if (p.gap_rank !== null && p.gap_rank !== undefined) box.appendChild(row('空白排名', '第 ' + p.gap_rank + ' 位'));
        box.appendChild(row('网格编号', p.h3));
        layer.bindPopup(box);
      }
    });
  }
  G.gapLayer = function () { return G.state.gapLayer; };

  // ---------------------------------------------------------------- proposed sites
  /** Proposed sites (numbered by rank, hollow: not built yet) and the area they newly bring within reach. */
  function sitesLayer(S) {
    var sd = S.cfg.sites;
    var group = L.layerGroup();
    if (sd.newArea) {
      group.addLayer(L.geoJSON(sd.newArea, { renderer: S.newCanvas, interactive: false,
        style: function () { return { color: sd.color, weight: 2, dashArray: '6,4', opacity: 0.9, fillColor: sd.areaColor,
          fillOpacity: 0.55 }; } }));
    }
    sd.features.forEach(function (f) {
      var icon = L.divIcon({ className: 'gm-site', iconSize: [30, 30], iconAnchor: [15, 15], popupAnchor: [0, -13],
        html: '<span class="gm-site-b" style="border-color:' + sd.color + ';color:' + sd.color + '">' + f.rank + '</span>' });
      var m = L.marker([f.lat, f.lon], { icon: icon, title: '拟建站点 ' + f.rank + '：' + f.name, zIndexOffset: 500 });
      var box = el('div', 'gm-pop gm-site-pop');
      box.appendChild(el('div', 'gm-pop-name', f.name));
      box.appendChild(row('拟建', '第 ' + f.rank + ' 位（按新增覆盖多少排序）'));
      if (f.source) box.appendChild(row('来源', f.source));
      if (f.subdistrict) box.appendChild(row('所在街道', f.subdistrict));
      if (f.serves) box.appendChild(row('服务街道', f.serves));
      box.appendChild(row('新增覆盖', f.onNetwork ? (f.newText || '无') : '离道路太远，不计'));
      box.appendChild(el('div', 'gm-row gm-label', S.cfg.modeLabel + ' ' + sd.minutes + ' 分钟内；按排名依次加入后计算'));
      m.bindPopup(box);
      group.addLayer(m);
    });
    return group;
  }
  G.sitesLayer = function () { return G.state.sitesLayer; };

  // ---------------------------------------------------------------- controls
  var SearchControl = L.Control.extend({
    options: { position: 'topleft' },
    initialize: function (S) { this._S = S; },
    onAdd: function () {
      var S = this._S;
      var box = el('div', 'gm-search leaflet-bar');
      var input = el('input');
      input.type = 'search';
      input.placeholder = '搜索站点名称';
      input.setAttribute('aria-label', '搜索站点名称');
      var list = el('ul', 'gm-results');
      box.appendChild(input);
      box.appendChild(list);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      var timer = null;
      input.addEventListener('input', function () {
        clearTimeout(timer);
        timer = setTimeout(function () { search(S, input.value, list); }, 120);
      });
      return box;
    }
  });

  function search(S, q, list) {
    while (list.firstChild) list.removeChild(list.firstChild);
    q = q.trim().toLowerCase();
    if (!q) return;
    var names = details(S).name, hits = [];
    for (var i = 0; i < S.n && hits.length < 20; i++) if (String(names[i]).toLowerCase().indexOf(q) >= 0) hits.push(i);
    if (!hits.length) { list.appendChild(el('li', 'gm-none', '没有找到“' + q + '”')); return; }
    hits.forEach(function (i) {
      var li = el('li', 'gm-hit');
      li.appendChild(el('span', 'gm-hit-name', names[i]));
      li.appendChild(el('span', 'gm-hit-kind', ' · ' + S.primary[i].short));
      li.addEventListener('click', function () {
        S.map.setView([S.lat[i], S.lon[i]], Math.max(S.map.getZoom(), 17));
        openStation(S, i);
      });
      list.appendChild(li);
    });
  }

  var LocateControl = L.Control.extend({
    options: { position: 'topleft' },
    initialize: function (S) { this._S = S; },
    onAdd: function (map) {
      var S = this._S;
      var box = el('div', 'leaflet-bar gm-locate');
      var a = el('a');
      a.href = '#';
      a.title = '定位我的位置';
      a.setAttribute('role', 'button');
      a.appendChild(el('i', 'gmi gmi-location-arrow'));
      box.appendChild(a);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(a, 'click', function (e) {
        L.DomEvent.preventDefault(e);
        map.locate({ setView: false, enableHighAccuracy: true, timeout: 15000 });
      });
      map.on('locationfound', function (e) {
        var ll = e.latlng;
        if (S.cfg.crs === 'gcj02') { var g = gcjFromWgs(ll.lng, ll.lat); ll = L.latLng(g[1], g[0]); }
        if (S.me) map.removeLayer(S.me);
        S.me = L.layerGroup([
          L.circle(ll, { radius: e.accuracy, weight: 1, color: '#1e88e5', fillOpacity: 0.1, interactive: false }),
          L.circleMarker(ll, { radius: 7, color: '#fff', weight: 2, fillColor: '#1e88e5', fillOpacity: 1 })
            .bindTooltip('我的位置')
        ]).addTo(map);
        map.setView(ll, Math.max(map.getZoom(), 16));
      });
      map.on('locationerror', function (e) { toast(map, '无法获取您的位置：' + (e.message || '定位失败') + '。请允许浏览器使用位置信息后重试。'); });
      return box;
    }
  });

  /** The page's heading: title, publisher, data date and station count (kept when printed). */
  var TitleControl = L.Control.extend({
    options: { position: 'topleft' },
    initialize: function (S) { this._S = S; },
    onAdd: function () {
      var cfg = this._S.cfg;
      var box = el('div', 'gm-title');
      box.appendChild(el('h1', 'gm-title-main', cfg.title));
      var parts = [];
      if (cfg.publisher) parts.push(cfg.publisher + ' 发布');
      parts.push(cfg.dataDate ? '数据截至 ' + cfg.dataDate : '数据日期未记录');
      if (cfg.stations) parts.push('共 ' + cfg.total + ' 个站点');
      box.appendChild(el('div', 'gm-title-sub', parts.join(' · ')));
      L.DomEvent.disableClickPropagation(box);
      return box;
    },
    addTo: function (map) {
      L.Control.prototype.addTo.call(this, map);
      var c = this.getContainer(), corner = c.parentNode;
      corner.insertBefore(c, corner.firstChild);  // above the zoom buttons
      return this;
    }
  });

  /** "打印地图": the browser's print dialog; the print stylesheet hides the controls. */
  var PrintControl = L.Control.extend({
    options: { position: 'topleft' },
    onAdd: function () {
      var box = el('div', 'leaflet-bar gm-print');
      var a = el('a');
      a.href = '#';
      a.title = '打印地图';
      a.setAttribute('role', 'button');
      a.setAttribute('aria-label', '打印地图');
      a.appendChild(el('i', 'gmi gmi-print'));
      box.appendChild(a);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(a, 'click', function (e) { L.DomEvent.preventDefault(e); global.print(); });
      return box;
    }
  });

  var LegendControl = L.Control.extend({
    options: { position: 'bottomright' },
    initialize: function (S) { this._S = S; },
    onAdd: function () {
      var S = this._S, cfg = S.cfg;
      var box = el('div', 'gm-legend');
      var head = el('div', 'gm-legend-title');
      var arrow = el('span', 'gm-legend-arrow', '▾ ');
      head.appendChild(arrow);
      head.appendChild(document.createTextNode('图例'));
      head.title = '点按收起 / 展开图例';
      box.appendChild(head);
      head.addEventListener('click', function () {
        box.classList.toggle('gm-collapsed');
        arrow.textContent = box.classList.contains('gm-collapsed') ? '▸ ' : '▾ ';
      });
      if (cfg.stations) {
        cfg.kinds.forEach(function (k) {
          var r = el('div', 'gm-legend-row');
          var sw = el('span', 'gm-pin-b gm-legend-pin');
          sw.style.background = k.color;
          sw.appendChild(el('i', 'gmi gmi-' + k.icon));
          r.appendChild(sw);
          r.appendChild(el('span', null, ' ' + k.label + '（' + k.main + '）'));
          box.appendChild(r);
        });
        var multi = cfg.kinds.some(function (k) { return k.count !== k.main; });
        box.appendChild(el('div', 'gm-legend-row gm-legend-total', '合计 ' + cfg.total + ' 个站点' +
          (multi ? '（兼有两种类型的按主要类型计一次）' : '')));
      }
      if (cfg.bands) {
        box.appendChild(el('div', 'gm-legend-sub', '服务圈（' + cfg.modeLabel + '）'));
        cfg.bands.features.slice().reverse().forEach(function (f) {
          var r = el('div', 'gm-legend-row');
          var sw = el('span', 'gm-swatch');
          sw.style.background = f.properties.color;
          r.appendChild(sw);
          r.appendChild(el('span', null, ' ' + f.properties.label));
          box.appendChild(r);
        });
      }
      if (cfg.gaps) {
        var ramp = cfg.gapRamp;
        box.appendChild(el('div', 'gm-legend-sub', '网格到最近站点（分钟）'));
        ramp.colors.forEach(function (c, i) {
          var r = el('div', 'gm-legend-row');
          var sw = el('span', 'gm-swatch');
          sw.style.background = c;
          r.appendChild(sw);
          r.appendChild(el('span', null, ' ' + ramp.labels[i]));
          box.appendChild(r);
        });
        var r2 = el('div', 'gm-legend-row');
        var sw2 = el('span', 'gm-swatch');
        sw2.style.background = ramp.none;
        r2.appendChild(sw2);
        r2.appendChild(el('span', null, ' 无可达站点'));
        box.appendChild(r2);
      }
      if (cfg.sites) {
        var sd = cfg.sites;
        box.appendChild(el('div', 'gm-legend-sub', '拟建站点（' + cfg.modeLabel + ' ' + sd.minutes + ' 分钟）'));
        var rs = el('div', 'gm-legend-row');
        var sw3 = el('span', 'gm-site-b gm-legend-site', '1');
        sw3.style.borderColor = sd.color;
        sw3.style.color = sd.color;
        rs.appendChild(sw3);
        rs.appendChild(el('span', null, ' 拟建站点（' + sd.features.length + ' 个，数字为排名）'));
        box.appendChild(rs);
        var ra = el('div', 'gm-legend-row');
        var sw4 = el('span', 'gm-swatch');
        sw4.style.background = sd.areaColor;
        sw4.style.borderColor = sd.color;
        ra.appendChild(sw4);
        ra.appendChild(el('span', null, ' 新增覆盖范围（' + sd.newAreaKm2.toFixed(2) + ' 平方公里）'));
        box.appendChild(ra);
        box.appendChild(el('div', 'gm-legend-row', '建设前 → 建设后：'));
        sd.lines.forEach(function (t) { box.appendChild(el('div', 'gm-legend-row gm-site-line', t)); });
      }
      if (S.map.getSize().x < 600) {  // phones: tap the title to open
        box.classList.add('gm-collapsed');
        arrow.textContent = '▸ ';
      }
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    }
  });
})(window);
