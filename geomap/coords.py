"""Chinese coordinate systems: ``wgs84`` <-> ``gcj02`` <-> ``bd09``, vectorised over numpy arrays.

* ``wgs84``: GPS / OpenStreetMap, the project's canonical system (EPSG:4326 longitude, latitude in degrees).
* ``gcj02``: the obfuscated "Mars" system mandated in China (AMap / Gaode, Tencent, WeChat location).
* ``bd09``: Baidu's system, a further offset on top of GCJ-02.

The forward transforms are the published closed formulas. The inverses are iterative (fixed-point on the
forward transform) and converge to well under 1e-9 degree (about 0.1 mm). Points outside China's rough
bounding box are returned untouched, as every other implementation does, because the offset is only
applied inside China.

Great-circle distances use a sphere of radius :data:`EARTH_RADIUS_M` (IUGG mean radius).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pyproj import CRS

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
"""West, south, east, north (degrees) of the rough box inside which the GCJ-02 offset is applied."""

INVERSE_TOL_DEG = 1e-12
"""The inverses stop when a step is smaller than this, in degrees."""
INVERSE_MAX_ITER = 30
"""The inverses stop after this many steps at most."""


def _gcj_offsets(lon: Any, lat: Any) -> tuple[Any, Any]:
    """The published GCJ-02 offset formula (degrees to add to WGS84)."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    pi = math.pi
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
        + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
        + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def _bd09_formula(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 -> BD-09 (Baidu's published formula)."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


CoordSystem = Literal["wgs84", "gcj02", "bd09"]
COORD_SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius in metres (IUGG), used for great-circle distances."""

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


def normalize_crs(crs: str) -> CoordSystem:
    """Return the canonical name of a coordinate system, accepting common aliases.

    Raises ``ValueError`` with the accepted names for anything else.
    """
    if crs in COORD_SYSTEMS:
        return crs  # type: ignore[return-value]
    key = str(crs).strip().lower().replace("-", "").replace("_", "").replace(":", "")
    if key not in _CRS_ALIASES:
        raise ValueError(f"unknown coordinate system {crs!r}; use one of: wgs84, gcj02, bd09")
    return _CRS_ALIASES[key]  # type: ignore[return-value]


_CRS_ALIASES = {
    "wgs84": "wgs84", "epsg4326": "wgs84", "4326": "wgs84", "gps": "wgs84", "osm": "wgs84",
    "gcj02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02", "gaode": "gcj02",
    "tencent": "gcj02", "wechat": "gcj02", "火星坐标": "gcj02", "高德": "gcj02",
    "bd09": "bd09", "bd09ll": "bd09", "baidu": "bd09", "百度": "bd09",
}


def in_china(lon: ArrayLike, lat: ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a WGS84/GCJ-02 point lies inside the rough China box where the GCJ-02 offset applies."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    w, s, e, n = CHINA_BOX
    return (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_a = np.array(lon, dtype=float, copy=True)
    lat_a = np.array(lat, dtype=float, copy=True)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in shape: {lon_a.shape} vs {lat_a.shape}")
    return lon_a, lat_a


def _wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = in_china(lon, lat)
    dlon, dlat = _gcj_offsets(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = in_china(lon, lat)
    bd_lon, bd_lat = _bd09_formula(lon, lat)
    return np.where(inside, bd_lon, lon), np.where(inside, bd_lat, lat)




def _invert(forward, lon: FloatArray, lat: FloatArray, *, tol_deg: float = INVERSE_TOL_DEG,
            max_iter: int = INVERSE_MAX_ITER) -> tuple[FloatArray, FloatArray]:
    """Invert a forward transform by fixed-point iteration: x <- x - (f(x) - target).

    The offsets vary slowly (their Jacobian is within ~1e-4 of the identity), so each step gains about
    four digits; 30 iterations is a generous cap. Points outside China are untouched (f is the identity).
    """
    x_lon, x_lat = lon.copy(), lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = forward(x_lon, x_lat)
        e_lon = f_lon - lon
        e_lat = f_lat - lat
        x_lon -= e_lon
        x_lat -= e_lat
        if np.all(np.abs(e_lon) < tol_deg) and np.all(np.abs(e_lat) < tol_deg):
            break
    # A point that is inside China as given but whose inverse falls just outside the box stays where
    # the iteration put it; a point given outside China is left untouched, as promised.
    given_inside = in_china(lon, lat)
    return np.where(given_inside, x_lon, lon), np.where(given_inside, x_lat, lat)


def _bd09_forward_from_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat))


FORWARDS = {1: _wgs84_to_gcj02, 2: _gcj02_to_bd09, 3: _bd09_forward_from_wgs}
"""The forward transforms by number (1: WGS84 -> GCJ-02, 2: GCJ-02 -> BD-09, 3: WGS84 -> BD-09)."""

STEPS: dict[tuple[str, str], tuple[int, bool]] = {
    ("wgs84", "gcj02"): (1, False), ("gcj02", "bd09"): (2, False), ("wgs84", "bd09"): (3, False),
    ("gcj02", "wgs84"): (1, True), ("bd09", "gcj02"): (2, True), ("bd09", "wgs84"): (3, True),
}
"""(source, destination) -> (forward transform number, whether it is run inverted)."""


def transform(lon: ArrayLike, lat: ArrayLike, *, src: str, dst: str) -> tuple[FloatArray, FloatArray]:
    """Convert longitude/latitude arrays (degrees) from coordinate system ``src`` to ``dst``.

    ``src`` and ``dst`` are ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (aliases accepted, see
    :func:`normalize_crs`). Works on scalars or arrays of any shape; returns float arrays of that shape.
    NaN coordinates stay NaN. Points outside China are returned unchanged.
    """
    s, d = normalize_crs(src), normalize_crs(dst)
    lon_a, lat_a = _as_arrays(lon, lat)
    if s == d:
        return lon_a, lat_a
    which, inverse = STEPS[(s, d)]
    if inverse:
        return _invert(FORWARDS[which], lon_a, lat_a)
    return FORWARDS[which](lon_a, lat_a)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, *, src: str) -> tuple[FloatArray, FloatArray]:
    """Convert from ``src`` to WGS84 (the project's canonical system)."""
    return transform(lon, lat, src=src, dst="wgs84")


def from_wgs84(lon: ArrayLike, lat: ArrayLike, *, dst: str) -> tuple[FloatArray, FloatArray]:
    """Convert from WGS84 to ``dst``."""
    return transform(lon, lat, src="wgs84", dst=dst)


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatArray:
    """Great-circle distance in metres between WGS84 points (broadcasting like numpy)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2.0) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def unit_vectors(lon: ArrayLike, lat: ArrayLike) -> FloatArray:
    """WGS84 lon/lat (degrees) -> unit vectors on the sphere, shape ``(n, 3)``.

    Euclidean (chord) distance between unit vectors is monotonic in great-circle distance, so a k-d tree
    over these vectors answers exact great-circle nearest-neighbour queries.
    """
    lo = np.radians(np.asarray(lon, dtype=float)).ravel()
    la = np.radians(np.asarray(lat, dtype=float)).ravel()
    cos_la = np.cos(la)
    return np.column_stack([cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)])


def chord_to_m(chord: ArrayLike) -> FloatArray:
    """Chord length on the unit sphere -> great-circle distance in metres (``inf`` stays ``inf``)."""
    c = np.asarray(chord, dtype=float)
    d = 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(c / 2.0, 0.0, 1.0))
    return np.where(np.isinf(c), np.inf, d)


def m_to_chord(distance_m: ArrayLike) -> FloatArray:
    """Great-circle distance in metres -> chord length on the unit sphere."""
    d = np.asarray(distance_m, dtype=float)
    return 2.0 * np.sin(np.clip(d / (2.0 * EARTH_RADIUS_M), 0.0, np.pi / 2.0))


def local_metric_crs(lon: float, lat: float) -> CRS:
    """A metric CRS centred on a WGS84 point (azimuthal equidistant), for buffers and areas near it."""
    return CRS.from_proj4(f"+proj=aeqd +lat_0={lat:.8f} +lon_0={lon:.8f} +datum=WGS84 +units=m +no_defs")
