"""Navigation links into AMap, Baidu and Tencent maps: each app's coordinate system (checked against the
independent `coord_convert` package, not geomap.coords), latitude / longitude order, travel mode and names."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from coord_convert.transform import wgs2bd, wgs2gcj

from geomap.navigation import APPS, nav_point, nav_url, nav_urls

STATION_WGS = (121.511545, 31.305775)
RIDER_WGS = (121.5098, 31.3027)


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 2e-6  # 6 decimals written, the two implementations agree to ~1e-9


@pytest.mark.parametrize(("mode", "amap", "baidu", "tencent"), [
    ("ebike", "ride", "riding", "bike"), ("walk", "walk", "walking", "walk"),
    ("drive", "car", "driving", "drive"), ("truck", "car", "driving", "drive")])
def test_links_carry_each_apps_system_order_and_mode(mode, amap, baidu, tencent):
    dest = nav_point(*STATION_WGS, "创智天地,驿站|一号")
    origin = nav_point(*RIDER_WGS, "我的位置")
    urls = nav_urls(dest, mode=mode, origin=origin)
    assert set(urls) == set(APPS)
    g_lon, g_lat = wgs2gcj(*STATION_WGS)
    b_lon, b_lat = wgs2bd(*STATION_WGS)
    og_lon, og_lat = wgs2gcj(*RIDER_WGS)
    ob_lon, ob_lat = wgs2bd(*RIDER_WGS)

    u = urlparse(urls["amap"])
    q = parse_qs(u.query)
    assert (u.scheme, u.netloc, u.path) == ("https", "uri.amap.com", "/navigation")
    lon, lat, name = q["to"][0].split(",")
    assert _close(float(lon), g_lon) and _close(float(lat), g_lat) and name == "创智天地 驿站 一号"
    lon, lat, name = q["from"][0].split(",")
    assert _close(float(lon), og_lon) and _close(float(lat), og_lat) and name == "我的位置"
    assert q["mode"] == [amap] and q["coordinate"] == ["gaode"] and q["callnative"] == ["1"]

    u = urlparse(urls["baidu"])
    q = parse_qs(u.query)
    assert (u.netloc, u.path) == ("api.map.baidu.com", "/direction")
    where, name = q["destination"][0].split("|")
    lat, lon = where.removeprefix("latlng:").split(",")  # Baidu: latitude first, BD-09
    assert _close(float(lon), b_lon) and _close(float(lat), b_lat) and name == "name:创智天地 驿站 一号"
    where, name = q["origin"][0].split("|")
    lat, lon = where.removeprefix("latlng:").split(",")
    assert _close(float(lon), ob_lon) and _close(float(lat), ob_lat) and name == "name:我的位置"
    assert q["mode"] == [baidu] and q["coord_type"] == ["bd09ll"] and q["output"] == ["html"]
    assert abs(float(lon) - og_lon) > 1e-3  # BD-09 really differs from GCJ-02 here (~600 m)

    u = urlparse(urls["tencent"])
    q = parse_qs(u.query)
    assert (u.netloc, u.path) == ("apis.map.qq.com", "/uri/v1/routeplan")
    lat, lon = q["tocoord"][0].split(",")  # Tencent: latitude first, GCJ-02
    assert _close(float(lon), g_lon) and _close(float(lat), g_lat) and q["to"] == ["创智天地 驿站 一号"]
    lat, lon = q["fromcoord"][0].split(",")
    assert _close(float(lon), og_lon) and _close(float(lat), og_lat) and q["from"] == ["我的位置"]
    assert q["type"] == [tencent] and q["referer"] == ["geomap"]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_point_given_in_another_system_lands_on_the_same_place(crs):
    """A station or rider given in GCJ-02 / BD-09 gives the links a WGS84 point would."""
    lon, lat = {"gcj02": wgs2gcj, "bd09": wgs2bd}[crs](*STATION_WGS)
    here = nav_point(lon, lat, "站", crs=crs)
    there = nav_point(*STATION_WGS, "站")
    for a, b in ((here.gcj02, there.gcj02), (here.bd09, there.bd09)):
        assert _close(a[0], b[0]) and _close(a[1], b[1])


def test_without_origin_the_app_starts_where_the_phone_is():
    dest = nav_point(*STATION_WGS, "站")
    assert "from=" not in nav_url("amap", dest, mode="ebike")
    assert parse_qs(urlparse(nav_url("tencent", dest, mode="ebike")).query)["fromcoord"] == ["CurrentLocation"]
    assert "origin=" not in nav_url("baidu", dest, mode="ebike")
    with pytest.raises(ValueError, match="amap, baidu, tencent"):
        nav_url("google", dest, mode="ebike")
