"""Navigation links into the map apps riders use: 高德 (AMap), 百度 (Baidu) and 腾讯 (Tencent) maps.

Each app's public URI API opens its route planning (in the app when installed, else its mobile web page):

* AMap ``https://uri.amap.com/navigation`` — ``from`` / ``to`` as ``lon,lat,name`` in **GCJ-02**
  (``coordinate=gaode``), ``mode=walk|ride|car``, ``callnative=1`` to open the app;
* Baidu ``https://api.map.baidu.com/direction`` — ``origin`` / ``destination`` as
  ``latlng:lat,lon|name:…`` (latitude first) in **BD-09** (``coord_type=bd09ll``, Baidu's own system,
  converted here rather than asking Baidu to convert GCJ-02), ``mode=walking|riding|driving``,
  ``output=html``, ``src`` (the caller, ``webapp.<company>.<app>``);
* Tencent ``https://apis.map.qq.com/uri/v1/routeplan`` — ``fromcoord`` / ``tocoord`` as ``lat,lon``
  (latitude first) in **GCJ-02**, ``type=walk|bike|drive``, ``referer`` (the caller's name).

The travel mode of each link is the worker's: e-bike riders get the riding mode, drivers and truck drivers
the car mode (none of the three web URIs has a truck mode). Names lose the characters that separate fields
(``,`` in AMap, ``|`` in Baidu) and are percent-encoded; coordinates are written to 6 decimals (~0.1 m).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote

from geomap import coords, coords_compiled

APPS: dict[str, str] = {"amap": "高德地图", "baidu": "百度地图", "tencent": "腾讯地图"}
"""The map apps a link can open, with their Chinese names."""

APP_CRS: dict[str, str] = {"amap": "gcj02", "baidu": "bd09", "tencent": "gcj02"}
"""The coordinate system of each app's link."""

TRAVEL_MODE: dict[str, dict[str, str]] = {
    "amap": {"walk": "walk", "ebike": "ride", "drive": "car", "truck": "car"},
    "baidu": {"walk": "walking", "ebike": "riding", "drive": "driving", "truck": "driving"},
    "tencent": {"walk": "walk", "ebike": "bike", "drive": "drive", "truck": "drive"},
}
"""geomap's travel mode -> each app's travel-mode parameter value."""

SOURCE = "geomap"
"""Who calls (AMap ``src``, Tencent ``referer``; Baidu's ``src`` is ``webapp.geomap.rider``)."""


@dataclass(frozen=True)
class NavPoint:
    """A place as the apps take it: GCJ-02 and BD-09 longitude / latitude (degrees) and its name (``,`` and
    ``|`` replaced by spaces: they separate fields in AMap's and Baidu's links), with its part of each app's
    link written once (as start: :attr:`from_part`, as destination: :attr:`to_part`): a rider's answer
    joins pieces instead of formatting numbers for every station."""

    gcj02: tuple[float, float]
    bd09: tuple[float, float]
    name: str
    from_part: dict[str, str]
    to_part: dict[str, str]
    ends: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)
    """By (app, travel mode): the link's end as destination (:func:`nav_url`), written when first asked for
    (a station's, in every answer that names it)."""


def _convert(lon: float, lat: float, src: str, dst: str) -> tuple[float, float]:
    """One point from ``src`` to ``dst`` (compiled scalar transforms: a rider's request converts its own
    point here, where numpy's per-call overhead would cost more than the formula)."""
    if src == dst:
        return lon, lat
    which, inverse = coords.STEPS[(src, dst)]
    fn = coords_compiled.inverse if inverse else coords_compiled.forward
    x, y = fn(float(lon), float(lat), which)
    return float(x), float(y)


@lru_cache(maxsize=4096)
def _name(name: str) -> tuple[str, str]:
    """A name without the fields' separators, and percent-encoded (a rider's start is always named alike)."""
    clean = " ".join(name.replace(",", " ").replace("，", " ").replace("|", " ").split()) or "终点"
    return clean, quote(clean, safe="")


def nav_point(lon: float, lat: float, name: str, *, crs: str = "wgs84",
              apps: Collection[str] = APPS) -> NavPoint:
    """The :class:`NavPoint` of ``lon``, ``lat`` (degrees in ``crs``: wgs84, gcj02 or bd09) named ``name``,
    with the link parts of ``apps`` (default all; a rider's own point, new at every request, needs only
    the apps asked for: BD-09 is worked out only for Baidu, NaN otherwise)."""
    src = coords.normalize_crs(crs)
    clean, q = _name(name)
    gx, gy = _convert(lon, lat, src, "gcj02")
    bx, by = _convert(lon, lat, src, "bd09") if "baidu" in apps else (math.nan, math.nan)
    from_part, to_part = {}, {}
    if "amap" in apps:  # AMap: lon,lat; Baidu and Tencent: lat,lon
        g = f"{gx:.6f},{gy:.6f}"
        from_part["amap"], to_part["amap"] = f"from={g},{q}&", f"to={g},{q}"
    if "baidu" in apps:
        b = f"{by:.6f},{bx:.6f}"
        from_part["baidu"], to_part["baidu"] = f"origin=latlng:{b}|name:{q}&", f"destination=latlng:{b}|name:{q}"
    if "tencent" in apps:
        t = f"{gy:.6f},{gx:.6f}"
        from_part["tencent"], to_part["tencent"] = f"from={q}&fromcoord={t}&", f"to={q}&tocoord={t}"
    return NavPoint(gcj02=(gx, gy), bd09=(bx, by), name=clean, from_part=from_part, to_part=to_part)


ORIGIN_NAME = "我的位置"
"""The name of a link's start (the point the answer is for)."""

_BASE = {"amap": "https://uri.amap.com/navigation?", "baidu": "https://api.map.baidu.com/direction?",
         "tencent": "https://apis.map.qq.com/uri/v1/routeplan?"}
_NO_ORIGIN = {"amap": "", "baidu": "", "tencent": "fromcoord=CurrentLocation&"}
_MODE_KEY = {"amap": "&mode=", "baidu": "&mode=", "tencent": "&type="}
_TAIL = {"amap": f"&coordinate=gaode&callnative=1&src={SOURCE}",
         "baidu": f"&coord_type=bd09ll&output=html&src=webapp.{SOURCE}.rider", "tencent": f"&referer={SOURCE}"}


def nav_url(app: str, dest: NavPoint, *, mode: str, origin: NavPoint | None = None) -> str:
    """The link that opens ``app`` (amap, baidu, tencent) with a ``mode`` route (walk, ebike, drive, truck)
    to ``dest``, from ``origin`` (None: AMap and Tencent start where the phone is, Baidu's page asks for a
    start)."""
    if app not in APPS:
        raise ValueError(f"unknown map app {app!r}; use one of: {', '.join(APPS)}")
    start = _NO_ORIGIN[app] if origin is None else origin.from_part[app]
    end = dest.ends.get((app, mode))
    if end is None:
        end = dest.ends[(app, mode)] = dest.to_part[app] + _MODE_KEY[app] + TRAVEL_MODE[app][mode] + _TAIL[app]
    return _BASE[app] + start + end


def nav_urls(dest: NavPoint, *, mode: str, origin: NavPoint | None = None,
             apps: list[str] | None = None) -> dict[str, str]:
    """:func:`nav_url` for every app of ``apps`` (default every app in :data:`APPS`)."""
    return {app: nav_url(app, dest, mode=mode, origin=origin) for app in (APPS if apps is None else apps)}
