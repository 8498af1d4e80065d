"""The rider page in headless Chromium against a real `geomap serve` process on the sample data.

Expected answers are computed here with the library (`geomap.nearest.nearest` on the registry and the
e-bike graph), and compared with what the page shows.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from geomap import coords
from geomap.api._process import start_server
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
DATA = Path(__file__).resolve().parents[2] / "data"

WUJIAOCHANG_GCJ = (121.5145, 31.3005)  # 五角场, as AMap / WeChat report it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rider")
    ws = sample_workspace(tmp)
    srv = start_server(workspace=ws.root, log_path=tmp / "server.log")
    yield srv, ws.registry_path
    srv.stop()


def expected(reg, lon, lat, *, crs, amenity=None, k=5):
    from geomap.workspace import open_workspace

    res = open_workspace(reg.parent).nearest(lon, lat, crs=crs, k=k, mode="ebike", amenity=amenity,
                                             return_routes=False)
    return [s for s in res.station_id[0] if s is not None]


def _page(chromium, lon_wgs, lat_wgs):
    ctx = chromium.new_context(geolocation={"longitude": lon_wgs, "latitude": lat_wgs},
                               permissions=["geolocation"], viewport={"width": 390, "height": 844},
                               locale="zh-CN")
    return ctx, ctx.new_page()


def _ids(page) -> list[str]:
    return page.locator("#results li[data-id]").evaluate_all("els => els.map(e => e.dataset.id)")


def test_geolocation_list_chip_and_navigation(server, chromium, artifacts_dir):
    srv, reg = server
    lon_w, lat_w = (float(v) for v in coords.to_wgs84(*WUJIAOCHANG_GCJ, src="gcj02"))
    want = expected(reg, lon_w, lat_w, crs="wgs84")
    ctx, page = _page(chromium, lon_w, lat_w)
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlparse(r.url).netloc))
    try:
        page.goto(srv.url + "/")
        page.wait_for_selector("#results li[data-id]")
        assert _ids(page) == want
        assert len(want) == 5
        first = page.locator("#results li[data-id]").first
        assert first.locator(".badge").inner_text() in ("营业中", "已打烊", "时间未知")
        assert "分钟" in first.locator(".time").inner_text()
        page.screenshot(path=str(artifacts_dir / "rider_page_geolocation.png"), full_page=True)

        # the navigation link opens AMap with the station's GCJ-02 coordinates
        from geomap.stations.registry import Registry
        st = Registry(reg).get(want[0])
        g_lon, g_lat = coords.from_wgs84(st.lon, st.lat, dst="gcj02")
        href = first.locator("a.nav").get_attribute("href")
        u = urlparse(href)
        assert u.netloc == "uri.amap.com" and u.path == "/navigation"
        q = parse_qs(u.query)
        to_lon, to_lat, name = q["to"][0].split(",", 2)
        assert abs(float(to_lon) - float(g_lon)) < 2e-6 and abs(float(to_lat) - float(g_lat)) < 2e-6
        assert abs(float(to_lon) - st.lon) > 1e-4  # really shifted: GCJ-02, not the WGS84 position
        assert name == st.name and q["mode"] == ["ride"] and q["coordinate"] == ["gaode"]

        # the 热饭 chip keeps only stations with food heating, in travel order
        want_hot = expected(reg, lon_w, lat_w, crs="wgs84", amenity="food_heating")
        assert want_hot != want
        page.locator("#chips button[data-amenity=food_heating]").click()
        page.wait_for_function("want => [...document.querySelectorAll('#results li[data-id]')]"
                               ".map(e => e.dataset.id).join() === want", arg=",".join(want_hot))
        assert _ids(page) == want_hot
        assert all("热饭" in t for t in page.locator("#results li[data-id] .amen").all_inner_texts())
        page.screenshot(path=str(artifacts_dir / "rider_page_chip_hot_food.png"), full_page=True)
    finally:
        ctx.close()
    assert hosts == {urlparse(srv.url).netloc}, f"requests to other hosts: {hosts}"


def test_typed_coordinates_and_map_tap(server, chromium, artifacts_dir):
    srv, reg = server
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")  # no geolocation permission
    page = ctx.new_page()
    try:
        page.goto(srv.url + "/")
        page.wait_for_selector("#status.error")  # location refused -> says so, offers the map
        assert "无法获取位置" in page.locator("#status").inner_text()
        page.locator("#show-coords").click()
        page.fill("#in-lon", "121.5145")
        page.fill("#in-lat", "31.3005")
        page.select_option("#in-crs", "gcj02")
        page.locator("#coords-form button[type=submit]").click()
        want = expected(reg, *WUJIAOCHANG_GCJ, crs="gcj02")
        page.wait_for_function("n => document.querySelectorAll('#results li[data-id]').length === n", arg=len(want))
        assert _ids(page) == want

        # tap on the street sketch: the page asks for the tapped GCJ-02 point, and lists its answer
        page.wait_for_selector("#map-box:not([hidden])")
        page.wait_for_function("() => document.getElementById('map').width > 0")
        box = page.locator("#map").bounding_box()
        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.locator("#map").click(position={"x": box["width"] * 0.45, "y": box["height"] * 0.5})
        q = parse_qs(urlparse(req.value.url).query)
        assert q["crs"] == ["gcj02"]
        tap_lon, tap_lat = float(q["lon"][0]), float(q["lat"][0])
        want_tap = expected(reg, tap_lon, tap_lat, crs="gcj02")
        page.wait_for_function("want => [...document.querySelectorAll('#results li[data-id]')]"
                               ".map(e => e.dataset.id).join() === want", arg=",".join(want_tap))
        assert np.isfinite(tap_lon) and 121.4 < tap_lon < 121.6 and 31.2 < tap_lat < 31.4
        page.screenshot(path=str(artifacts_dir / "rider_page_map_tap.png"), full_page=True)
    finally:
        ctx.close()


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")])
def test_api_docs_open_with_the_network_cut(server, chromium, artifacts_dir, path, ready):
    """/docs and /redoc render the API's operations in Chromium with every request beyond the service
    refused (no CDN, no web fonts)."""
    srv, _ = server
    outside: list[str] = []
    ctx = chromium.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")

    def guard(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    page.goto(srv.url + path)
    page.wait_for_selector(ready, timeout=20_000)
    assert page.locator(ready).count() >= 5  # the operations are listed
    assert "/nearest" in page.content()
    page.screenshot(path=str(artifacts_dir / f"api_docs{path.replace('/', '_')}.png"))
    assert outside == []
    ctx.close()


def test_a_point_outside_the_area_is_told_so(server, chromium, artifacts_dir):
    """A rider typing a point a few kilometres east of the area served is told the area by name, and sees
    the nearest stations by straight line, labelled as such."""
    srv, _ = server
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = ctx.new_page()
    try:
        page.goto(srv.url + "/")
        page.wait_for_selector("#status.error")
        page.locator("#show-coords").click()
        page.fill("#in-lon", "121.60")  # ~8 km east of 五角场, in the Huangpu river's east bank
        page.fill("#in-lat", "31.30")
        page.select_option("#in-crs", "gcj02")
        page.locator("#coords-form button[type=submit]").click()
        page.wait_for_function("() => document.getElementById('status').innerText.includes('不在本服务范围')")
        status = page.locator("#status").inner_text()
        assert "杨浦区" in status and "直线距离" in page.locator("#results").inner_text()
        page.screenshot(path=str(artifacts_dir / "rider_page_outside_area.png"), full_page=True)
    finally:
        ctx.close()
