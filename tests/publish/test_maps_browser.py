"""The service map in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): loads without
console errors, shows every registry station, makes no request beyond file:// with --tiles none, escapes
hostile names in popups and search results, switches layers, and its JavaScript opening-hours evaluator and
GCJ-02 transform agree with the Python ones. A screenshot of each checked state goes to test-artifacts/."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import pandas as pd
import pytest
from test_maps import gap_frame, stations_frame

from geomap import coords
from geomap.publish.maps import GAP_RAMP, write_map
from geomap.stations.hours import HoursTable, parse_hours, parse_osm
from geomap.stations.registry import Registry
from geomap.workspace import open_workspace
from tests._workspaces import need_sample

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "data" / "yangpu" / "registry.gpkg"
PBF = ROOT / "data" / "yangpu" / "osm" / "yangpu_wujiaochang.osm.pbf"
HOSTILE = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def hostile_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A copy of the sample registry plus one station with a hostile name and address."""
    if not REGISTRY.exists() or not PBF.exists():
        pytest.skip("sample registry / OSM extract missing: run `make data`")
    path = tmp_path_factory.mktemp("reg") / "registry.gpkg"
    shutil.copy(REGISTRY, path)
    reg = Registry(path)
    row = reg.frame().iloc[[0]].copy()
    row["id"] = "XSS1"
    row["name"] = HOSTILE
    row["address"] = "<script>alert(2)</script>路1号"
    row["lon"] = row["lon"] + 0.002
    row["opening_hours"] = "24/7"
    row["opening_hours_raw"] = "24小时"
    row["phone"] = "021-6555 0199"
    row["meal_price_yuan"] = 15.0
    reg.upsert(row)
    return reg


@pytest.fixture(scope="module")
def sample_page(hostile_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("map") / "service_map.html"
    gaps = gap_frame(hostile_registry.frame(), res=8)
    ws = open_workspace(need_sample())
    write_map(out, hostile_registry, tiles="none", layers="stations,circles,gaps", gaps=gaps, mode="ebike",
              graph=ws.graph("ebike"), osm_path=ws.osm_path, place=ws.name, publisher=ws.publisher)
    return out


class Loaded:
    def __init__(self, page, console: list[str], requests: list[str]) -> None:
        self.page = page
        self.console = console
        self.requests = requests


def _open(chromium, path: Path, *, width: int = 1000, height: int = 800, block_http: bool = True) -> Loaded:
    ctx = chromium.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    if block_http:
        page.route("http*://**/*", lambda route: route.abort())
    page.add_init_script("window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); };")
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-geomap-drawn]", timeout=30_000)
    return Loaded(page, console, requests)


def _shot(loaded: Loaded, artifacts_dir: Path, name: str) -> Path:
    p = artifacts_dir / f"map_{name}.png"
    loaded.page.wait_for_timeout(400)  # let zoom and popup fade animations finish
    loaded.page.screenshot(path=str(p))
    return p


def test_sample_map_loads_counts_and_makes_no_request(chromium, sample_page: Path, hostile_registry: Registry,
                                                     artifacts_dir: Path) -> None:
    lo = _open(chromium, sample_page)
    lo.page.wait_for_timeout(300)
    _shot(lo, artifacts_dir, "loaded")
    assert lo.console == []
    stats = lo.page.evaluate("window.geomapStats")
    assert stats["stations"] == len(hostile_registry)
    assert lo.page.evaluate("geomap.state.visibleCount") == len(hostile_registry)
    # every station is in exactly one cluster or drawn alone
    total = lo.page.evaluate("geomap.state.index.getClusters([-180, -85, 180, 85], 3)"
                             ".reduce((s, f) => s + (f.properties.point_count || 1), 0)")
    assert total == len(hostile_registry)
    assert lo.page.locator(".gm-pin").count() + lo.page.locator(".gm-cluster").count() == stats["itemsShown"] > 0
    # --tiles none: nothing leaves file:// (the page itself is the only file)
    assert [u for u in lo.requests if not u.startswith(("file://", "data:"))] == []
    assert "底图数据 © OpenStreetMap 贡献者（ODbL）" in lo.page.locator(".leaflet-control-attribution").inner_text()
    assert lo.page.locator(".leaflet-control-scale").count() == 1
    assert "户外劳动者服务站点" in lo.page.locator(".gm-legend").inner_text()


def test_popup_shows_hostile_name_as_text(chromium, sample_page: Path, hostile_registry: Registry,
                                          artifacts_dir: Path) -> None:
    lo = _open(chromium, sample_page)
    st = hostile_registry.get("XSS1")
    lo.page.evaluate(f"geomap.state.map.setView([{st.lat}, {st.lon}], 19, {{animate: false}})")
    marker = lo.page.get_by_title(HOSTILE, exact=True)
    marker.wait_for(timeout=5000)
    marker.click()
    popup = lo.page.locator(".leaflet-popup .gm-pop")
    popup.wait_for(timeout=5000)
    _shot(lo, artifacts_dir, "popup_hostile")
    assert popup.locator(".gm-pop-name").inner_text() == HOSTILE
    assert "<script>alert(2)</script>路1号" in popup.inner_text()
    assert lo.page.locator(".leaflet-popup img").count() == 0
    assert lo.page.evaluate("document.querySelectorAll('img[src=\"x\"], .leaflet-popup script').length") == 0
    assert lo.page.evaluate("window.__alerts") == []
    # 24/7: open whenever it is viewed; phone tap-to-call; meal price; AMap navigation in GCJ-02
    assert popup.locator(".gm-status").inner_text() == "营业中"
    assert popup.locator("a.gm-tel").get_attribute("href") == "tel:02165550199"
    assert "¥15 元" in popup.inner_text()
    nav = urlparse(popup.locator("a.gm-nav").get_attribute("href"))
    assert nav.netloc == "uri.amap.com" and nav.path == "/navigation"
    q = parse_qs(nav.query)
    lon_s, lat_s, name = q["to"][0].split(",", 2)
    glon, glat = coords.from_wgs84(st.lon, st.lat, dst="gcj02")
    assert abs(float(lon_s) - glon) < 1e-5 and abs(float(lat_s) - glat) < 1e-5
    assert unquote(name) == HOSTILE and q["mode"] == ["ride"] and q["coordinate"] == ["gaode"]
    assert lo.console == []


def test_popup_status_matches_python_now(chromium, sample_page: Path, hostile_registry: Registry) -> None:
    """Each station's 营业中 / 已打烊 in the browser equals HoursTable.open_mask at the moment of viewing."""
    lo = _open(chromium, sample_page)
    df = hostile_registry.frame()
    js = """() => { const S = geomap.state, out = {};
        for (let i = 0; i < S.n; i++) {
          geomap.openStation(i);  // the newest popup is the last one (closed ones fade out for 200 ms)
          const all = document.querySelectorAll('.leaflet-popup .gm-status');
          out[S.cfg.stations.id[i]] = all[all.length - 1].getAttribute('data-open'); }
        return out; }"""
    before = datetime.now(UTC)
    got = lo.page.evaluate(js)
    after = datetime.now(UTC)
    table = HoursTable.from_hours([parse_osm(h) if isinstance(h, str) and h else None for h in df.opening_hours])
    for when in (before, after):
        m = table.open_mask(when)
        want = {sid: ("unknown" if not table.known[i] else str(bool(m[i])).lower()) for i, sid in enumerate(df.id)}
        if got == want:
            break
    assert got == want


def test_search_finds_station_and_escapes(chromium, sample_page: Path, artifacts_dir: Path) -> None:
    lo = _open(chromium, sample_page)
    lo.page.fill(".gm-search input", "onerror")
    hit = lo.page.locator(".gm-results li.gm-hit")
    hit.first.wait_for(timeout=5000)
    assert hit.count() == 1
    assert HOSTILE in hit.first.inner_text()
    assert lo.page.locator(".gm-results img").count() == 0
    hit.first.click()
    lo.page.locator(".leaflet-popup .gm-pop-name").wait_for(timeout=5000)
    _shot(lo, artifacts_dir, "search")
    assert lo.page.locator(".leaflet-popup .gm-pop-name").inner_text() == HOSTILE
    lo.page.fill(".gm-search input", "没有这个站")
    lo.page.locator(".gm-results li.gm-none").wait_for(timeout=5000)
    assert lo.page.evaluate("window.__alerts") == []


def _layer_checkbox(lo: Loaded, label_part: str):
    lo.page.hover(".leaflet-control-layers")
    label = lo.page.locator(".leaflet-control-layers-overlays label", has_text=label_part)
    label.wait_for(timeout=5000)
    return label.locator("input")


def _map_pixels(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)[:, 300:700]


def test_layer_switcher_hides_and_shows_circles(chromium, sample_page: Path, artifacts_dir: Path) -> None:
    lo = _open(chromium, sample_page)
    on = "geomap.state.map.hasLayer(geomap.state.bandLayer)"
    assert lo.page.evaluate(on) is True
    lo.page.evaluate("geomap.state.map.removeLayer(geomap.state.gapLayer)")  # circles alone under the stations
    box = _layer_checkbox(lo, "服务圈")
    lo.page.mouse.move(5, 795)
    lo.page.wait_for_timeout(300)
    shown = _shot(lo, artifacts_dir, "circles_on")
    box = _layer_checkbox(lo, "服务圈")
    box.click()
    assert lo.page.evaluate(on) is False
    lo.page.mouse.move(5, 795)
    lo.page.wait_for_timeout(300)
    hidden = _shot(lo, artifacts_dir, "circles_off")
    # the purple bands (maps.BAND_COLORS) are gone from the picture: fewer blue-violet pixels
    def violet(p: Path) -> int:
        a = _map_pixels(p)
        return int(((a[..., 2] - a[..., 1] > 20) & (a[..., 2] - a[..., 0] > 10)).sum())
    assert violet(hidden) < 0.5 * violet(shown)
    box = _layer_checkbox(lo, "服务圈")
    box.click()
    assert lo.page.evaluate(on) is True
    lo.page.mouse.move(5, 795)
    lo.page.wait_for_timeout(300)
    again = _shot(lo, artifacts_dir, "circles_on_again")
    assert violet(again) > 0.8 * violet(shown)
    assert lo.console == []


def test_kind_layer_switch(chromium, sample_page: Path, hostile_registry: Registry, artifacts_dir: Path) -> None:
    lo = _open(chromium, sample_page)
    df = hostile_registry.frame()
    box = _layer_checkbox(lo, "司机之家")
    box.click()
    lo.page.wait_for_function(f"geomap.state.visibleCount < {len(df)}", timeout=5000)
    want = sum(any(k != "driver_home" for k in ks) for ks in df.kinds)
    assert lo.page.evaluate("geomap.state.visibleCount") == want
    _shot(lo, artifacts_dir, "driver_home_off")


def test_gap_layer_colours_and_popup(chromium, sample_page: Path, artifacts_dir: Path) -> None:
    lo = _open(chromium, sample_page)
    got = lo.page.evaluate("""() => { const out = [];
        geomap.state.gapLayer.eachLayer(l => out.push([l.feature.properties.travel_min, l.options.fillColor]));
        return out; }""")
    assert got
    for tmin, color in got:
        if tmin is None:
            assert color == GAP_RAMP["none"]
        else:
            k = int(np.searchsorted(GAP_RAMP["breaks"], tmin, side="right"))
            assert color == GAP_RAMP["colors"][k]
    assert any(t is None for t, _ in got) and any(t is not None for t, _ in got)
    lo.page.evaluate("""() => { let done = false; geomap.state.gapLayer.eachLayer(l => {
        if (!done && l.feature.properties.travel_min === null) { l.openPopup(); done = true; } }); }""")
    pop = lo.page.locator(".leaflet-popup .gm-pop")
    pop.wait_for(timeout=5000)
    assert "无可达站点" in pop.inner_text() and "服务空白网格" in pop.inner_text()
    _shot(lo, artifacts_dir, "gaps_popup")


def test_hours_evaluator_matches_python(chromium, sample_page: Path) -> None:
    texts = ["24小时", "9:00-17:00", "8:30-11:00, 13:00-17:00", "周一至周五8:30-17:00", "周六、周日 9:00-12:00",
             "22:00-次日6:00", "工作日 7:00-9:00，17:00-24:00", "周五至周日 20:00-02:00", "周一 10:00-12:00",
             "每天 6:00-22:00", "周一至周六 9:00-18:00", "晚上8点-凌晨2点"]
    osm = [h.to_osm() for h in (parse_hours(t) for t in texts) if h is not None]
    osm += sorted(set(pd.read_csv(ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv")["开放时间"].map(
        lambda t: (parse_hours(t).to_osm() if parse_hours(t) else "")).tolist()) - {""})
    assert len(osm) >= 15 and any("-" in o and o.split("-")[-1] < o.split(" ")[-1][:5] for o in osm)
    rng = np.random.default_rng(7)
    start = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp() * 1000)
    ms = np.concatenate([start + rng.integers(0, 21 * 86_400_000, 400),
                         start + np.arange(0, 7 * 86_400_000, 30 * 60_000)])  # every half hour, a whole week
    ms = (ms // 60_000 * 60_000).tolist()
    lo = _open(chromium, sample_page)
    js = lo.page.evaluate("([texts, ms]) => texts.map(t => ms.map(m => geomap.hours.isOpen(t, m)))", [osm, ms])
    table = HoursTable.from_hours([parse_osm(o) for o in osm])
    py = np.array([table.open_mask(datetime.fromtimestamp(m / 1000, tz=UTC)) for m in ms]).T
    assert np.array(js, dtype=bool).shape == py.shape
    assert (np.array(js, dtype=bool) == py).all()
    assert py.any() and (~py).any()
    assert lo.page.evaluate("[geomap.hours.isOpen(''), geomap.hours.isOpen('Xx 25:00')]") == [None, None]


def test_gcj02_in_browser_matches_python(chromium, sample_page: Path) -> None:
    rng = np.random.default_rng(11)
    lon = np.concatenate([rng.uniform(73, 135, 500), [2.35, -74.0, 139.7]])
    lat = np.concatenate([rng.uniform(18, 53, 500), [48.85, 40.7, 35.7]])
    lo = _open(chromium, sample_page)
    got = np.array(lo.page.evaluate("([xs, ys]) => xs.map((x, i) => geomap.gcj.fromWgs(x, ys[i]))",
                                    [lon.tolist(), lat.tolist()]))
    glon, glat = coords.from_wgs84(lon, lat, dst="gcj02")
    assert np.abs(got[:, 0] - glon).max() < 1e-9 and np.abs(got[:, 1] - glat).max() < 1e-9
    assert (got[-3:, 0] == lon[-3:]).all()  # outside China: untouched


@pytest.mark.parametrize(("tiles", "host"), [("osm", "tile.openstreetmap.org"), ("amap", ".is.autonavi.com")])
def test_tile_maps_contact_only_the_tile_host(chromium, tmp_path: Path, tiles: str, host: str,
                                              artifacts_dir: Path) -> None:
    out = tmp_path / f"{tiles}.html"
    write_map(out, stations_frame(40), tiles=tiles, layers="stations")
    lo = _open(chromium, out)
    lo.page.wait_for_timeout(500)
    _shot(lo, artifacts_dir, f"tiles_{tiles}_offline")
    remote = [u for u in lo.requests if not u.startswith(("file://", "data:"))]
    assert remote and all(urlparse(u).netloc.endswith(host.lstrip(".")) for u in remote)
    assert lo.page.evaluate("window.geomapStats.stations") == 40


def test_compressed_page_draws_and_decodes_details_on_demand(chromium, tmp_path: Path, artifacts_dir: Path) -> None:
    """Large maps are written gzip + base64 and inflated in the page (fflate); texts come in a second block."""
    df = stations_frame(300)
    df.loc[7, "name"] = HOSTILE
    out = tmp_path / "packed.html"
    write_map(out, df, tiles="none", layers="stations", streets=False, compress=True)
    page = out.read_text(encoding="utf-8")
    assert page.count('data-encoding="gzip+base64"') == 2 and HOSTILE not in page
    lo = _open(chromium, out)
    lo.page.wait_for_selector("html[data-geomap-ready]", timeout=10_000)
    assert lo.page.evaluate("window.geomapStats.stations") == 300
    assert sorted(lo.page.evaluate("geomap.state.cfg.stations.id")) == sorted(df.id)
    lo.page.fill(".gm-search input", "onerror")
    lo.page.locator(".gm-results li.gm-hit").first.click()
    lo.page.locator(".leaflet-popup .gm-pop-name").wait_for(timeout=5000)
    assert lo.page.locator(".leaflet-popup .gm-pop-name").inner_text() == HOSTILE
    assert lo.console == [] and lo.page.evaluate("window.__alerts") == []
    _shot(lo, artifacts_dir, "compressed_popup")
