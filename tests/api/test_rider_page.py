"""The rider page in headless Chromium against a real `geomap serve` process on the sample data, at phone
size (390 × 844) with mocked geolocation: one test per kind of worker (e-bike rider, walker, ride-hailing
driver, truck driver), then the shell (cache headers, service worker offline, language level) and the docs.

Expected answers come from the library (`Workspace.nearest` on the same workspace), the navigation links'
coordinates from the independent `coord_convert` package (not geomap.coords), the opening states from a
minute-by-minute walk over the OSM hours written in this file (not geomap.stations.hours). The test place
sends nobody farther than 10 minutes (`label_limit_minutes = 10`): on the sample's sparse footways a walker
west of 五角场 then reaches no station on foot, which is the nothing-reachable case.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from urllib.request import Request, urlopen

import numpy as np
import pytest
from coord_convert.transform import gcj2bd, wgs2bd, wgs2gcj

from geomap import coords
from geomap.api._process import start_server
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
WEB = Path(__file__).resolve().parents[2] / "geomap" / "web"
PHONE = {"width": 390, "height": 844}
WUJIAOCHANG_GCJ = (121.5145, 31.3005)  # 五角场, as AMap / WeChat report it
TIANANMEN_WGS = (116.3913, 39.9075)
LIMIT_MIN = 10.0
MODE_ZH = {"ebike": "骑行", "walk": "步行", "drive": "驾车", "truck": "货车"}
APP_HOST = {"amap": "uri.amap.com", "baidu": "api.map.baidu.com", "tencent": "apis.map.qq.com"}


def wait_app(page, app: str) -> None:  # type: ignore[no-untyped-def]
    """Until every station's 导航 link opens ``app``."""
    page.wait_for_function("host => Array.from(document.querySelectorAll('#results li[data-id] a.nav'))"
                           ".every(a => a.href.indexOf('https://' + host + '/') === 0)", arg=APP_HOST[app])
APP_MODE = {"amap": {"ebike": "ride", "walk": "walk", "drive": "car", "truck": "car"},
            "baidu": {"ebike": "riding", "walk": "walking", "drive": "driving", "truck": "driving"},
            "tencent": {"ebike": "bike", "walk": "walk", "drive": "drive", "truck": "drive"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from geomap.workspace import open_workspace

    tmp = tmp_path_factory.mktemp("rider")
    root = sample_workspace(tmp / "ws").root
    with open(root / "geomap.toml", "a", encoding="utf-8") as f:
        f.write(f"label_limit_minutes = {LIMIT_MIN}  # tests: nobody sent farther than this\n")
    srv = start_server(workspace=root, log_path=tmp / "server.log")
    yield srv, open_workspace(root)
    srv.stop()


# --- expectations, computed apart from the page -------------------------------------------------------------

def expected(ws, lon, lat, *, crs, mode, k=5, **filters):
    """(station id, travel minutes, metres) as the library answers."""
    res = ws.nearest(lon, lat, crs=crs, k=k, mode=mode, return_routes=False, **filters)
    return [(s, float(t) / 60, float(d)) for s, t, d in zip(res.station_id[0], res.travel_s[0], res.distance_m[0],
                                                             strict=True) if s is not None]


def minutes_text(minutes: float) -> str:
    return f"{max(1, math.floor(round(minutes, 1) + 0.5))} 分钟"


def distance_text(m: float) -> str:
    m = round(m, 1)  # the API's answer is rounded to 0.1 m first, then the page rounds what it got
    return f"{math.floor(m + 0.5)} 米" if m < 1000 else f"{m / 1000:.1f} 公里"


_DAY = {"Mo": 0, "Tu": 1, "We": 2, "Th": 3, "Fr": 4, "Sa": 5, "Su": 6}
_WEEKDAY_ZH = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]


def _spans(osm: str) -> list[tuple[int, int]]:
    """Open spells of a week as (start, end) minutes from Monday 0:00, from OSM hours as the registry writes
    them (``24/7``, ``Mo-Fr 08:30-17:00``, ``10:30-13:30,16:30-19:30``, ``22:00-06:00``)."""
    if osm == "24/7":
        return [(0, 7 * 1440)]
    out = []
    for part in osm.split(";"):
        days_txt, times = part.strip().split(" ", 1) if " " in part.strip() else ("Mo-Su", part.strip())
        days: set[int] = set()
        for tok in days_txt.split(","):
            a, _, b = tok.partition("-")
            days.update(range(_DAY[a], _DAY[b or a] + 1))
        for span in times.split(","):
            s, e = (int(x[:2]) * 60 + int(x[3:]) for x in span.split("-"))
            out += [(d * 1440 + s, d * 1440 + (e if e > s else e + 1440)) for d in days]
    return out


def badge_text(osm: str | None, at: datetime) -> str:
    """What the page must say about a station's hours at local time ``at``: 营业中, or 已打烊 with when it
    opens next (found by stepping a minute at a time), or 营业时间未知."""
    if not osm:
        return "营业时间未知"
    spans = _spans(osm)

    def is_open(t: datetime) -> bool:
        m = t.weekday() * 1440 + t.hour * 60 + t.minute
        return any(s <= mm < e for s, e in spans for mm in (m, m + 7 * 1440))

    if is_open(at):
        return "营业中"
    t = at + timedelta(minutes=1)
    while not is_open(t):
        t += timedelta(minutes=1)
    days = (t.date() - at.date()).days
    word = {0: "今天", 1: "明天"}.get(days, ("下" if days == 7 else "") + _WEEKDAY_ZH[t.weekday()])
    return f"已打烊 · {word} {t.hour}:{t.minute:02d} 开门"


def _app_points(lon, lat, crs):
    """(GCJ-02, BD-09) of a point, by coord_convert."""
    if crs == "wgs84":
        return wgs2gcj(lon, lat), wgs2bd(lon, lat)
    assert crs == "gcj02"
    return (lon, lat), gcj2bd(lon, lat)


def check_nav(href: str, app: str, *, station, origin, mode: str) -> None:
    """The link opens ``app`` with ``mode``'s travel mode, from ``origin`` to ``station`` ((lon, lat, crs)
    each) in the app's coordinate system (AMap, Tencent GCJ-02; Baidu BD-09, latitude first)."""
    u = urlparse(href)
    q = parse_qs(u.query)
    assert u.netloc == APP_HOST[app], href
    (sg, sb), (og, ob) = _app_points(*station), _app_points(*origin)

    def close(got, want):
        assert abs(float(got[0]) - want[0]) < 2e-6 and abs(float(got[1]) - want[1]) < 2e-6, (got, want, href)

    if app == "amap":
        close(q["to"][0].split(",")[:2], sg)
        close(q["from"][0].split(",")[:2], og)
        assert q["mode"] == [APP_MODE[app][mode]] and q["coordinate"] == ["gaode"]
    elif app == "baidu":
        lat, lon = q["destination"][0].split("|")[0].removeprefix("latlng:").split(",")
        close((lon, lat), sb)
        lat, lon = q["origin"][0].split("|")[0].removeprefix("latlng:").split(",")
        close((lon, lat), ob)
        assert q["mode"] == [APP_MODE[app][mode]] and q["coord_type"] == ["bd09ll"]
        assert abs(float(lon) - og[0]) > 1e-3  # BD-09, really not the GCJ-02 numbers
    else:
        lat, lon = q["tocoord"][0].split(",")
        close((lon, lat), sg)
        lat, lon = q["fromcoord"][0].split(",")
        close((lon, lat), og)
        assert q["type"] == [APP_MODE[app][mode]]


# --- page helpers -----------------------------------------------------------------------------------------

def new_page(chromium, *, geo=None, worker=None, nav_app=None, **kw):
    """A phone-sized page; ``geo`` (WGS84 lon, lat) allowed as its position, ``worker`` / ``nav_app`` already
    remembered in localStorage (None: a first visit); ``kw`` more context options."""
    if geo:
        kw.update(geolocation={"longitude": geo[0], "latitude": geo[1]}, permissions=["geolocation"])
    ctx = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True,
                               device_scale_factor=2, **kw)
    init = "".join(f"localStorage.setItem('geomap.{k}', '{v}');" for k, v in
                   (("worker", worker), ("navApp", nav_app)) if v)
    if init:
        ctx.add_init_script(f"if (!sessionStorage.getItem('seeded')) {{ {init} sessionStorage.setItem('seeded', 1); }}")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return ctx, page


def ids(page) -> list[str]:
    return page.locator("#results li[data-id]").evaluate_all("els => els.map(e => e.dataset.id)")


def wait_ids(page, want: list[str]) -> None:
    page.wait_for_function("w => [...document.querySelectorAll('#results li[data-id]')].map(e => e.dataset.id)"
                           ".join() === w", arg=",".join(want))


def chips(page) -> list[str]:
    return page.locator("#chips button").evaluate_all(
        "els => els.map(e => e.dataset.kind ? 'k:' + e.dataset.kind : e.dataset.amenity ? 'a:' + e.dataset.amenity"
        " : e.id)")


def choose_worker(page, worker: str, *, mode: str) -> dict[str, list[str]]:
    """First visit: the who-am-I sheet is there; tapping ``worker`` asks /nearest with ``mode``."""
    page.wait_for_selector("#who-sheet:not([hidden])")
    assert page.locator("#who-more").is_hidden()  # only the question at the first visit
    with page.expect_request(lambda r: "/nearest?" in r.url) as req:
        page.locator(f"#who-choices button[data-worker={worker}]").click()
    q = parse_qs(urlparse(req.value.url).query)
    assert q["mode"] == [mode]
    return q


def check_cards(page, ws, want, *, at: datetime, mode: str) -> None:
    """Every card: minutes and distance of the worker's mode, tel: links, opening state at ``at``."""
    cards = page.locator("#results li[data-id]")
    assert ids(page) == [s for s, _, _ in want]
    for i, (sid, minutes, metres) in enumerate(want):
        card = cards.nth(i)
        st = ws.registry.get(sid)
        assert card.locator(".time").inner_text() == minutes_text(minutes)
        meta = card.locator(".meta").inner_text()
        assert distance_text(metres) in meta
        assert card.locator(".badge").inner_text() == badge_text(st.opening_hours, at), (sid, st.opening_hours)
        tel = card.locator("a.tel")
        if st.phone:
            assert tel.count() == 1 and tel.get_attribute("href") == "tel:" + re.sub(r"[^\d+]", "", st.phone)
            assert st.phone in tel.inner_text()
        else:  # no number listed: no button
            assert tel.count() == 0
    assert page.locator("#status").inner_text().endswith(f"（{MODE_ZH[mode]}时间）")


def check_thumb_reach(page) -> None:
    """The chips and buttons sit in the dock at the bottom fifth of the phone's screen."""
    dock = page.locator("#dock").bounding_box()
    assert abs(dock["y"] + dock["height"] - PHONE["height"]) < 1 and dock["y"] > PHONE["height"] * 0.8
    for b in page.locator("#dock button").all():
        box = b.bounding_box()
        if box["x"] < PHONE["width"]:  # the chips row scrolls sideways
            assert box["y"] >= dock["y"]


def station_wgs(ws, sid):
    st = ws.registry.get(sid)
    return st.lon, st.lat, "wgs84"


# --- one test per kind of worker ----------------------------------------------------------------------------

def test_rider(server, chromium, artifacts_dir):
    """骑手 / 快递 at 五角场 on a Saturday 20:00: asked once who they are, e-bike minutes, the rider's chips
    first, closed stations say when they open (周一 …), tel: links; 导航 asks for the map app once (Baidu, BD-09,
    riding), remembered after a reload; AMap and Tencent links after changing it; the sketch map does not move
    when the answer for a tapped point comes."""
    srv, ws = server
    at = datetime(2026, 12, 5, 20, 0)  # a Saturday
    geo = tuple(float(v) for v in coords.to_wgs84(*WUJIAOCHANG_GCJ, src="gcj02"))
    ctx, page = new_page(chromium, geo=geo)
    went: list[str] = []
    ctx.route("https://api.map.baidu.com/**", lambda r: (went.append(r.request.url), r.fulfill(
        status=200, content_type="text/html", body="<html><body>百度地图</body></html>")))
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlparse(r.url).netloc))
    try:
        page.goto(srv.url + "/?at=2026-12-05T20:00")
        q = choose_worker(page, "rider", mode="ebike")
        assert q["at"] == ["2026-12-05T20:00"] and "kind" not in q and "amenity" not in q
        want = expected(ws, *geo, crs="wgs84", mode="ebike")
        assert len(want) == 5
        wait_ids(page, [s for s, _, _ in want])
        check_cards(page, ws, want, at=at, mode="ebike")
        badges = page.locator("#results .badge").all_inner_texts()
        assert any("周一" in b for b in badges)  # Mo-Fr stations on a Saturday evening
        assert chips(page)[:4] == ["a:ebike_charging", "a:food_heating", "k:outdoor_station", "k:canteen"]
        assert page.locator("#who-btn").inner_text() == "我是：骑手"
        check_thumb_reach(page)
        page.screenshot(path=str(artifacts_dir / "rider_page_rider.png"))

        # 导航 the first time: which app? Baidu -> its page opens with BD-09 points and the riding mode
        page.locator("#results li[data-id] a.nav").first.click()
        page.wait_for_selector("#nav-sheet:not([hidden])")
        page.screenshot(path=str(artifacts_dir / "rider_page_choose_app.png"))
        with page.expect_navigation(url=re.compile(r"^https://api\.map\.baidu\.com/")):
            page.locator("#app-choices button[data-app=baidu]").click()
        check_nav(went[-1], "baidu", station=station_wgs(ws, want[0][0]), origin=(*geo, "wgs84"), mode="ebike")

        # a new visit: who and which app are remembered (no question), links go to Baidu directly
        page.goto(srv.url + "/?at=2026-12-05T20:00")
        wait_ids(page, [s for s, _, _ in want])
        assert page.locator("#who-sheet").is_hidden() and page.locator("#who-btn").inner_text() == "我是：骑手"
        navs = page.locator("#results li[data-id] a.nav")
        for i, (sid, _, _) in enumerate(want):
            check_nav(navs.nth(i).get_attribute("href"), "baidu", station=station_wgs(ws, sid), origin=(*geo, "wgs84"),
                      mode="ebike")
        for app in ("amap", "tencent"):  # changed in the who-am-I sheet
            page.locator("#who-btn").click()
            page.locator(f"#app-settings button[data-app={app}]").click()
            wait_app(page, app)  # the answer carries the chosen app's links only: asked again
            for i, (sid, _, _) in enumerate(want):
                check_nav(navs.nth(i).get_attribute("href"), app, station=station_wgs(ws, sid),
                          origin=(*geo, "wgs84"), mode="ebike")

        # the sketch map: tapping it lists the tapped point's stations below it, the map stays where it was
        page.locator("#show-map").click()
        page.wait_for_selector("#map[data-drawn=ebike]")
        top = "() => document.getElementById('map').getBoundingClientRect().top + window.scrollY"
        before = page.evaluate(top)
        box = page.locator("#map").bounding_box()
        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
        tq = parse_qs(urlparse(req.value.url).query)
        assert tq["crs"] == ["gcj02"] and tq["mode"] == ["ebike"]
        want_tap = expected(ws, float(tq["lon"][0]), float(tq["lat"][0]), crs="gcj02", mode="ebike")
        wait_ids(page, [s for s, _, _ in want_tap])
        assert page.evaluate(top) == before
        map_bottom = page.evaluate("() => document.getElementById('map').getBoundingClientRect().bottom")
        assert page.locator("#results li[data-id]").first.bounding_box()["y"] > map_bottom
        page.screenshot(path=str(artifacts_dir / "rider_page_rider_map_tap.png"))
        assert page.errors == []
    finally:
        ctx.close()
    assert hosts <= {urlparse(srv.url).netloc, "api.map.baidu.com"}, f"requests to other hosts: {hosts}"


def _nothing_on_foot(ws):
    """A point of the walking streets (WGS84) inside the area from which no station is reached on foot
    within the limit, but some are by another mode: the first such node, by the library."""
    g = ws.graph("walk")
    res = ws.nearest(g.node_lon, g.node_lat, k=1, mode="walk", return_routes=False)
    for j in np.flatnonzero(res.status == "none"):
        lon, lat = float(g.node_lon[j]), float(g.node_lat[j])
        if expected(ws, lon, lat, crs="wgs84", mode="ebike", k=3):
            return lon, lat
    pytest.fail("no point of the sample is out of walking reach but in e-bike reach")


def test_walker(server, chromium, artifacts_dir):
    """步行 from a spot no station is within walking reach of: the page says so without 'fewer filters'
    (none is set) and names what the other modes reach, as the library finds them; typed coordinates at
    五角场 then give walking minutes, the walker's chips, and Tencent / AMap / Baidu links with the walking mode
    from the typed GCJ-02 point."""
    srv, ws = server
    geo = _nothing_on_foot(ws)
    ctx, page = new_page(chromium, geo=geo, nav_app="tencent")
    try:
        page.goto(srv.url + "/")
        choose_worker(page, "walker", mode="walk")
        page.wait_for_selector("#results li.empty")
        empty = page.locator("#results li.empty").inner_text()
        assert f"步行 {LIMIT_MIN:g} 分钟内沿道路到不了任何站点" in empty and "筛选" not in empty
        others = page.locator("#results li.other-mode")
        shown = others.evaluate_all("els => els.map(e => e.dataset.mode)")
        want_modes = [m for m in ("ebike", "drive", "truck") if expected(ws, *geo, crs="wgs84", mode=m, k=3)]
        assert shown == want_modes and "ebike" in shown
        for i, m in enumerate(shown):
            top = expected(ws, *geo, crs="wgs84", mode=m, k=3)
            text = others.nth(i).inner_text()
            name, far = ws.registry.get(top[0][0]).name, distance_text(top[0][2])
            assert text.startswith(f"改为{MODE_ZH[m]}：{minutes_text(top[0][1])}可达 {name}（{far}）")
        assert "直线距离" in page.locator("#results").inner_text()  # nearest by straight line, said so
        assert chips(page)[:4] == ["k:outdoor_station", "a:water", "a:toilet", "a:rest"]
        page.screenshot(path=str(artifacts_dir / "rider_page_walker_nothing_on_foot.png"))

        # typed GCJ-02 coordinates at 五角场
        page.locator("#show-coords").click()
        page.fill("#in-lon", str(WUJIAOCHANG_GCJ[0]))
        page.fill("#in-lat", str(WUJIAOCHANG_GCJ[1]))
        page.select_option("#in-crs", "gcj02")
        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.locator("#coords-form button[type=submit]").click()
        assert parse_qs(urlparse(req.value.url).query)["mode"] == ["walk"]
        want = expected(ws, *WUJIAOCHANG_GCJ, crs="gcj02", mode="walk")
        assert want
        wait_ids(page, [s for s, _, _ in want])
        at = datetime.fromisoformat(page.evaluate("() => state.last.at")).replace(tzinfo=None)
        check_cards(page, ws, want, at=at, mode="walk")
        origin = (*WUJIAOCHANG_GCJ, "gcj02")
        href = page.locator("#results li[data-id] a.nav").first.get_attribute("href")  # remembered: Tencent
        check_nav(href, "tencent", station=station_wgs(ws, want[0][0]), origin=origin, mode="walk")
        for app in ("amap", "baidu"):
            page.locator("#who-btn").click()
            page.locator(f"#app-settings button[data-app={app}]").click()
            wait_app(page, app)
            check_nav(page.locator("#results li[data-id] a.nav").first.get_attribute("href"), app,
                      station=station_wgs(ws, want[0][0]), origin=origin, mode="walk")
        page.screenshot(path=str(artifacts_dir / "rider_page_walker.png"))
        assert page.errors == []
    finally:
        ctx.close()


def test_ride_hailing_driver(server, chromium, artifacts_dir):
    """网约车 / 出租 on a Sunday 23:00: a fix in Beijing is told the area served by name (nothing by straight
    line from another city); a point just east of the area gets the nearest stations by straight line,
    labelled so; at 五角场 driving minutes, 司机之家 offered first and its filter sent, closed stations open
    明天 …, AMap links with the car mode."""
    srv, ws = server
    at = datetime(2026, 12, 6, 23, 0)  # a Sunday
    ctx, page = new_page(chromium, geo=TIANANMEN_WGS, nav_app="amap")
    try:
        page.goto(srv.url + "/?at=2026-12-06T23:00")
        choose_worker(page, "driver", mode="drive")
        page.wait_for_selector("#status.error")
        status = page.locator("#status").inner_text()
        assert "不在本服务范围（杨浦区五角场一带）内" in status and page.locator("#results li").count() == 0
        page.screenshot(path=str(artifacts_dir / "rider_page_driver_beijing.png"))

        def typed(lon, lat):
            page.locator("#show-coords").click()
            page.fill("#in-lon", str(lon))
            page.fill("#in-lat", str(lat))
            page.select_option("#in-crs", "gcj02")
            with page.expect_request(lambda r: "/nearest?" in r.url) as req:
                page.locator("#coords-form button[type=submit]").click()
            return parse_qs(urlparse(req.value.url).query)

        assert typed(121.60, 31.30)["mode"] == ["drive"]  # ~8 km east of 五角场
        page.wait_for_function("() => document.getElementById('status').innerText.includes('不在本服务范围')")
        assert "直线距离" in page.locator("#results").inner_text()
        page.screenshot(path=str(artifacts_dir / "rider_page_driver_outside.png"))

        typed(*WUJIAOCHANG_GCJ)
        want = expected(ws, *WUJIAOCHANG_GCJ, crs="gcj02", mode="drive")
        wait_ids(page, [s for s, _, _ in want])
        check_cards(page, ws, want, at=at, mode="drive")
        assert any("明天" in b for b in page.locator("#results .badge").all_inner_texts())
        assert chips(page)[0] == "k:driver_home" and page.locator("#who-btn").inner_text() == "我是：网约车"
        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.locator("#chips button[data-kind=driver_home]").click()
        assert parse_qs(urlparse(req.value.url).query)["kind"] == ["driver_home"]
        want = expected(ws, *WUJIAOCHANG_GCJ, crs="gcj02", mode="drive", kind="driver_home")
        wait_ids(page, [s for s, _, _ in want])
        check_cards(page, ws, want, at=at, mode="drive")
        navs = page.locator("#results li[data-id] a.nav")
        for i, (sid, _, _) in enumerate(want):
            check_nav(navs.nth(i).get_attribute("href"), "amap", station=station_wgs(ws, sid),
                      origin=(*WUJIAOCHANG_GCJ, "gcj02"), mode="drive")
        check_thumb_reach(page)
        page.screenshot(path=str(artifacts_dir / "rider_page_driver.png"))
        assert page.errors == []
    finally:
        ctx.close()


def test_truck_driver(server, chromium, artifacts_dir):
    """货车司机 at 五角场 on a Saturday 20:00: truck minutes, 司机之家 and 货车停车 offered first, the Driver
    Homes with truck parking by truck, a night-only one opening 今天 22:00, Baidu / Tencent links with the car
    mode; after a reload still a truck driver. A place without a truck network answers by car, and says so."""
    srv, ws = server
    at = datetime(2026, 12, 5, 20, 0)
    geo = tuple(float(v) for v in coords.to_wgs84(*WUJIAOCHANG_GCJ, src="gcj02"))
    ctx, page = new_page(chromium, geo=geo, nav_app="baidu")
    try:
        page.goto(srv.url + "/?at=2026-12-05T20:00")
        choose_worker(page, "trucker", mode="truck")
        want = expected(ws, *geo, crs="wgs84", mode="truck")
        wait_ids(page, [s for s, _, _ in want])
        check_cards(page, ws, want, at=at, mode="truck")
        assert chips(page)[:2] == ["k:driver_home", "a:truck_parking"]
        page.locator("#chips button[data-kind=driver_home]").click()
        with page.expect_request(lambda r: "/nearest?" in r.url and "amenity=" in r.url) as req:
            page.locator("#chips button[data-amenity=truck_parking]").click()
        q = parse_qs(urlparse(req.value.url).query)
        assert q["kind"] == ["driver_home"] and q["amenity"] == ["truck_parking"] and q["mode"] == ["truck"]
        want = expected(ws, *geo, crs="wgs84", mode="truck", kind="driver_home", amenity="truck_parking")
        assert 0 < len(want) < 5
        wait_ids(page, [s for s, _, _ in want])
        check_cards(page, ws, want, at=at, mode="truck")
        assert "已打烊 · 今天 22:00 开门" in page.locator("#results .badge").all_inner_texts()
        navs = page.locator("#results li[data-id] a.nav")
        for i, (sid, _, _) in enumerate(want):
            check_nav(navs.nth(i).get_attribute("href"), "baidu", station=station_wgs(ws, sid), origin=(*geo, "wgs84"),
                      mode="truck")
        page.locator("#who-btn").click()
        page.locator("#app-settings button[data-app=tencent]").click()
        wait_app(page, "tencent")
        check_nav(navs.first.get_attribute("href"), "tencent", station=station_wgs(ws, want[0][0]),
                  origin=(*geo, "wgs84"), mode="truck")
        check_thumb_reach(page)
        page.screenshot(path=str(artifacts_dir / "rider_page_truck_driver.png"))
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")  # the last card clears the dock
        last = page.locator("#results li[data-id]").last.bounding_box()
        assert last["y"] + last["height"] <= page.locator("#dock").bounding_box()["y"]
        page.screenshot(path=str(artifacts_dir / "rider_page_truck_driver_scrolled.png"))

        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.reload()
        assert parse_qs(urlparse(req.value.url).query)["mode"] == ["truck"]
        assert page.locator("#who-sheet").is_hidden() and page.locator("#who-btn").inner_text() == "我是：货车司机"
        assert page.errors == []
    finally:
        ctx.close()

    # a place without a truck network: the truck driver is answered by car, and told so
    ctx, page = new_page(chromium, geo=geo, worker="trucker", service_workers="block")
    try:
        def no_trucks(route):
            place = route.fetch().json()
            route.fulfill(json={**place, "modes": [m for m in place["modes"] if m != "truck"]})

        page.route("**/place", no_trucks)
        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.goto(srv.url + "/")
        assert parse_qs(urlparse(req.value.url).query)["mode"] == ["drive"]
        wait_ids(page, [s for s, _, _ in expected(ws, *geo, crs="wgs84", mode="drive")])
        assert page.locator("#speed-note").inner_text().startswith("本服务没有货车路网，按驾车计算。")
        assert chips(page)[:2] == ["k:driver_home", "a:truck_parking"]  # still a truck driver's filters
    finally:
        ctx.close()


# --- the page shell ---------------------------------------------------------------------------------------

def _get(url, headers=None):
    from urllib.error import HTTPError

    try:
        with urlopen(Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers, r.read()
    except HTTPError as e:
        return e.code, e.headers, e.read()


def test_shell_cache_headers_and_language_level(server):
    """index.html names app.js / style.css by their content hash; those are cached a year, the page itself
    revalidated (304); /sw.js lists the same URLs. The scripts parse as ES2017 (esprima 4: no ?., ??, optional
    catch binding …) and use no DOM call missing from older iOS WebKit (WeChat on iPhones)."""
    import esprima

    srv, _ = server
    status, head, body = _get(srv.url + "/")
    assert status == 200 and head["Cache-Control"] == "no-cache" and head["ETag"]
    assert _get(srv.url + "/", {"If-None-Match": head["ETag"]})[0] == 304
    html = body.decode()
    sw_status, sw_head, sw = _get(srv.url + "/sw.js")
    assert sw_status == 200 and sw_head["Cache-Control"] == "no-cache"
    for name in ("app.js", "style.css"):
        v = hashlib.sha256((WEB / name).read_bytes()).hexdigest()[:12]
        assert f'"/static/{name}?v={v}"' in html and f'"/static/{name}?v={v}"' in sw.decode()
        st, h, content = _get(srv.url + f"/static/{name}?v={v}")
        assert st == 200 and content == (WEB / name).read_bytes() and "immutable" in h["Cache-Control"]
        assert "max-age=31536000" in h["Cache-Control"]
        assert _get(srv.url + f"/static/{name}?v=stale")[1]["Cache-Control"] == "no-cache"
    assert _get(srv.url + "/static/sw.js")[0] == 404  # only the filled-in one, at /sw.js
    for text in ((WEB / "app.js").read_text(encoding="utf-8"), sw.decode()):
        esprima.parseScript(text)
        for newer in (".replaceChildren(", ".replaceAll(", ".at(", "structuredClone", "Object.hasOwn",
                      ".toggleAttribute(", ".flat(", ".flatMap(", "Promise.allSettled", "Promise.any"):
            assert newer not in text, newer


def test_the_shell_opens_offline(server, chromium, artifacts_dir):
    """Once visited, the page opens with the network cut: the service worker gives the shell and the last
    place and vocabulary; the station search (never cached) says the network failed."""
    srv, _ = server
    geo = tuple(float(v) for v in coords.to_wgs84(*WUJIAOCHANG_GCJ, src="gcj02"))
    ctx, page = new_page(chromium, geo=geo, worker="rider")
    try:
        page.goto(srv.url + "/")
        page.wait_for_selector("#results li[data-id]")
        page.evaluate("() => navigator.serviceWorker.ready")
        page.reload()  # now controlled by the service worker, which caches /place and /vocab as they pass
        page.wait_for_selector("#results li[data-id]")
        assert page.evaluate("() => !!navigator.serviceWorker.controller")
        cached = page.evaluate(
            "() => caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys())"
            ".then(rs => rs.map(r => new URL(r.url).pathname + new URL(r.url).search))))).then(l => [].concat(...l))")
        assert {"/", "/place", "/vocab"} <= set(cached) and any(u.startswith("/static/app.js?v=") for u in cached)
        assert not any(u.startswith("/nearest") for u in cached)
        ctx.set_offline(True)
        response = page.reload()
        assert response.from_service_worker
        page.wait_for_function("() => document.getElementById('status').innerText.includes('网络错误')")
        assert "服务范围：杨浦区五角场一带" in page.locator("#place").inner_text()
        assert chips(page)[:2] == ["a:ebike_charging", "a:food_heating"]
        page.screenshot(path=str(artifacts_dir / "rider_page_offline.png"))
    finally:
        ctx.close()


def test_typed_coordinates_and_map_tap_without_location(server, chromium, artifacts_dir):
    """No location permission: the page says so and offers the sketch map; typed coordinates and a tap on
    the sketch each list the library's answer for that point."""
    srv, ws = server
    ctx, page = new_page(chromium, worker="rider")
    try:
        page.goto(srv.url + "/")
        page.wait_for_selector("#status.error")
        assert "无法获取位置" in page.locator("#status").inner_text()
        page.wait_for_selector("#map-box:not([hidden])")
        page.locator("#show-coords").click()
        page.fill("#in-lon", "121.5145")
        page.fill("#in-lat", "31.3005")
        page.locator("#coords-form button[type=submit]").click()
        wait_ids(page, [s for s, _, _ in expected(ws, *WUJIAOCHANG_GCJ, crs="gcj02", mode="ebike")])
        page.wait_for_selector("#map[data-drawn=ebike]")
        box = page.locator("#map").bounding_box()
        with page.expect_request(lambda r: "/nearest?" in r.url) as req:
            page.locator("#map").click(position={"x": box["width"] * 0.45, "y": box["height"] * 0.5})
        q = parse_qs(urlparse(req.value.url).query)
        assert q["crs"] == ["gcj02"]
        tap_lon, tap_lat = float(q["lon"][0]), float(q["lat"][0])
        assert 121.4 < tap_lon < 121.6 and 31.2 < tap_lat < 31.4
        wait_ids(page, [s for s, _, _ in expected(ws, tap_lon, tap_lat, crs="gcj02", mode="ebike")])
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
