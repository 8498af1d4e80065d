"""Which coordinate system a station list is in, found from the data: under WGS84, GCJ-02 and BD-09, how far
the points lie from the place's streets. Lists from AMap, WeChat and Tencent are GCJ-02, from Baidu BD-09,
from a GPS or OpenStreetMap WGS84; read in the wrong one, every station moves ~300–700 m, which on a city's
streets shows as a median distance to the nearest street several times larger than under the right one.

The decision is stated with its evidence ("按 GCJ-02 解读：站点离道路中位 14 m；按 WGS84 中位 468 m"); with
too little evidence (few points, no streets, no clear winner) there is no decision and the importer asks
for ``--crs`` (or uses the workspace's usual system, saying so)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from geomap import coords

CANDIDATES = ("wgs84", "gcj02", "bd09")
CRS_ZH = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
MIN_POINTS = 20
"""Fewer points than this are too little evidence. Measured on the Yangpu sample (random subsets given in
each system, 90 trials per size): with 10–15 points the rule below chose a wrong system 1–3 times in 90,
with 20 or more never (and decided 25–100 % of the time, the whole list always)."""
MAX_MEDIAN_M = 150.0
"""The winner's median distance to a street must be at most this (else the points are not on these streets
under any system: another place's list, or no streets here)."""
MARGIN = 0.9
"""The winner's median must be below this share of the best the background gives."""
BACKGROUND_RINGS_M = (150.0, 250.0, 350.0, 450.0)
BACKGROUND_DIRECTIONS = 12
"""The background: the same points moved by each ring's distance in each direction (48 positions that fit
the streets only by chance). In a dense city a list read in the wrong system still lies ~25 m from some
street (against ~14 m in the right one), so the winner is judged against what chance gives on these
streets, not against a fixed ratio: it must fit better than every moved copy (by :data:`MARGIN`), and
the runner-up must not."""
SAMPLE_POINTS = 2000
"""Larger lists are judged on this many of their points (evenly spaced in the list)."""

DistanceFn = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.float64]]
"""WGS84 lon/lat (degrees) -> distance to the nearest street (metres; inf where none)."""


@dataclass
class CrsChoice:
    """The system chosen (None: not enough evidence), why (Chinese), and each candidate's median distance
    to the nearest street (metres)."""

    crs: str | None
    reason: str
    median_m: dict[str, float] = field(default_factory=dict)


def _median_text(median_m: dict[str, float], first: str) -> str:
    order = [first, *[c for c in sorted(median_m, key=median_m.get) if c != first]]
    parts = [f"按 {CRS_ZH[c]} 中位 {median_m[c]:,.0f} m" for c in order if np.isfinite(median_m[c])]
    return "；".join(parts)


def _median(distance_m: DistanceFn, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> float:
    d = np.asarray(distance_m(lon, lat), dtype=float)
    return float(np.median(d)) if len(d) else float("inf")


def street_medians(lon: npt.ArrayLike, lat: npt.ArrayLike, *, distance_m: DistanceFn) -> dict[str, float]:
    """The median distance to the nearest street of the points read in each candidate system (metres)."""
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    out = {}
    for crs in CANDIDATES:
        wlon, wlat = coords.to_wgs84(lon_a, lat_a, src=crs)
        out[crs] = _median(distance_m, np.asarray(wlon, dtype=float), np.asarray(wlat, dtype=float))
    return out


def background_medians(lon: npt.ArrayLike, lat: npt.ArrayLike, *, distance_m: DistanceFn) -> list[float]:
    """Median distances to the streets of WGS84 points moved by :data:`BACKGROUND_RINGS_M` in
    :data:`BACKGROUND_DIRECTIONS` directions: what chance alone gives on these streets."""
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    m_per_deg_lat = 110_540.0
    m_per_deg_lon = 111_320.0 * np.cos(np.radians(lat_a))
    out = []
    for i, r in enumerate(BACKGROUND_RINGS_M):
        for k in range(BACKGROUND_DIRECTIONS):
            a = 2 * np.pi * (k + 0.5 * (i % 2)) / BACKGROUND_DIRECTIONS
            out.append(_median(distance_m, lon_a + r * np.cos(a) / m_per_deg_lon,
                               lat_a + r * np.sin(a) / m_per_deg_lat))
    return out


def choose_crs(lon: npt.ArrayLike, lat: npt.ArrayLike, *, distance_m: DistanceFn | None) -> CrsChoice:
    """Decide the coordinate system of points (their numbers as written) from how close they lie to the
    streets (``distance_m``; None: the place has no street network): the best system's median distance
    must stand out from what the same points moved a few hundred metres give (:func:`background_medians`)
    and from the other systems'."""
    lon_a, lat_a = np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float))
    n = len(lon_a)
    if distance_m is None:
        return CrsChoice(None, "本工作区没有路网，无法从数据判断坐标系")
    if n < MIN_POINTS:
        return CrsChoice(None, f"只有 {n} 个站点，不足以判断坐标系（至少 {MIN_POINTS} 个）")
    if n > SAMPLE_POINTS:
        pick = np.linspace(0, n - 1, SAMPLE_POINTS).astype(int)
        lon_a, lat_a = lon_a[pick], lat_a[pick]
    med = street_medians(lon_a, lat_a, distance_m=distance_m)
    ranked = sorted(med, key=med.get)
    best, second = ranked[0], ranked[1]
    if med[best] > MAX_MEDIAN_M:
        return CrsChoice(None, f"按哪种坐标系读，站点离本地道路都很远（{_median_text(med, best)}）："
                               "名单可能不属于本工作区", med)
    wlon, wlat = coords.to_wgs84(lon_a, lat_a, src=best)
    bg = np.asarray(background_medians(wlon, wlat, distance_m=distance_m))
    chance = f"随意平移几百米后中位 {bg.min():,.0f}–{bg.max():,.0f} m"
    if not (med[best] < MARGIN * bg.min() and med[second] >= bg.min()):
        return CrsChoice(None, f"站点与道路的吻合不够明显，无法判断（{_median_text(med, best)}；{chance}）", med)
    return CrsChoice(best, f"按 {CRS_ZH[best]} 解读：站点离道路中位 {med[best]:,.0f} m；"
                           + _median_text({c: v for c, v in med.items() if c != best}, second) + f"（{chance}）", med)


def check_declared(crs: str, lon: npt.ArrayLike, lat: npt.ArrayLike, *,
                   distance_m: DistanceFn | None) -> str | None:
    """A warning (Chinese) when the data clearly fit another system than the one declared, else None."""
    if distance_m is None or len(np.atleast_1d(lon)) < MIN_POINTS:
        return None
    found = choose_crs(lon, lat, distance_m=distance_m)
    if found.crs is None or found.crs == crs:
        return None
    med = found.median_m
    return (f"指定的坐标系是 {CRS_ZH[crs]}，但按 {CRS_ZH[crs]} 站点离道路中位 {med[crs]:,.0f} m，按 "
            f"{CRS_ZH[found.crs]} 只有 {med[found.crs]:,.0f} m：请核对 --crs（站点可能整体偏移了几百米）")
