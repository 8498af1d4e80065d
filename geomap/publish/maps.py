"""The published service map (综合服务地图): one self-contained HTML file (folium / Leaflet).

:func:`build_map` returns a :class:`folium.Map`; :func:`write_map` writes the page. The page holds
everything it needs: Leaflet, Supercluster, a Font Awesome subset and geomap's own runtime
(``publish/assets/geomap_map.js``) are inlined from the files shipped in ``geomap/publish/assets`` (licences in
``publish/assets/LICENSES``, repeated in the page). Nothing is fetched from a CDN or a font host; with
``tiles="none"`` the page makes no network request at all and its base map is the streets of the OSM
extract.

Layers (each one can be switched off in the layer switcher):

- **stations**: one switcher entry per station kind (labels, icons and colours from ``vocab/kinds.toml``).
  Stations travel as compact columns (delta-encoded integer coordinates at 1e-5 degree ≈ 1 m, bit masks
  for kinds and amenities, string tables for hours and places) and are clustered in the browser with
  Supercluster; only the clusters and stations in view are drawn, so 186,000 stations stay usable.
  Popups are built with DOM text nodes (a name like ``<img src=x onerror=…>`` shows as text); the
  "营业中 / 已打烊" status is computed in the browser when the popup opens, from the stored OSM
  ``opening_hours`` (Asia/Shanghai time). "导航" opens AMap navigation with GCJ-02 coordinates.
- **circles**: service-circle bands (服务圈, default 5 / 10 / 15 minutes for one mode), the union over all
  stations of :func:`geomap.network.isochrones.isochrones` per band.
- **gaps**: the coverage gap grid (GeoJSON contract in ``docs/maps.md``) coloured by travel minutes.

Coordinates: WGS84 inside. Tiles decide what the page shows: ``none`` / ``osm`` / ``tianditu`` draw in
WGS84 (天地图 uses CGCS2000, within centimetres of WGS84), ``amap`` tiles are GCJ-02, so with ``amap`` every
overlay (stations, streets, circles, gaps) is shifted to GCJ-02 before it is written.
"""

from __future__ import annotations

import base64
import gzip
import html
import io
import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geomap import coords, vocab
from geomap.settings import get_settings

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

    from geomap.network._osm import RawWays
    from geomap.network.graph import StreetGraph
    from geomap.publish.sites import SiteFigures
    from geomap.stations.registry import Registry

__all__ = [
    "GAP_COLUMNS", "LAYERS", "TILES", "MapError", "MapSummary", "build_map", "gap_payload", "load_gaps",
    "render_map", "service_bands", "station_payload", "street_payload", "write_map",
]

ASSETS = Path(__file__).resolve().parent / "assets"
TILES: tuple[str, ...] = ("none", "osm", "amap", "tianditu")
LAYERS: tuple[str, ...] = ("stations", "circles", "gaps", "sites")
GAP_COLUMNS: tuple[str, ...] = (
    "h3", "subdistrict", "travel_min", "covered", "residents", "restaurants", "demand", "gap_rank",
)
"""Properties of a gap-grid feature (the ``geomap gaps --out`` GeoJSON contract)."""

COORD_SCALE = 100_000
STATION_CORE: tuple[str, ...] = ("n", "scale", "x", "y", "kind", "main")
"""Station columns the first drawing needs; the others are decoded after it."""
COMPRESS_ABOVE_BYTES = 1_000_000
"""Embedded data larger than this is written gzip-compressed and base64-encoded (decoded in the page by fflate)."""
"""Station and street coordinates are written as integers of 1e-5 degree (about 1.1 m)."""

OSM_ATTRIBUTION = '底图数据 © <a href="https://www.openstreetmap.org/copyright">OpenStreetMap 贡献者</a>（ODbL）'
"""The OpenStreetMap credit in Chinese (the wording of openstreetmap.org/copyright in Chinese), on every page."""
SITE_COLOR = "#b35806"
NEW_AREA_COLOR = "#fdb863"
"""Proposed sites and the area they newly bring within reach: orange, apart from the purple bands."""
DEFAULT_TITLE = "新就业形态劳动者服务站点地图"
NAV_MODES = {"walk": "walk", "ebike": "ride", "drive": "car", "truck": "car"}
"""AMap URI API ``mode`` per geomap travel mode."""

BAND_COLORS = ("#948fc2", "#bebbdc", "#e3e2f0", "#efeef6", "#f6f5fa", "#fbfafd")
"""Service-circle bands, nearest first: one hue (ColorBrewer Purples) with CIE L* about 61 / 77 / 90 / 94 …, so the
bands stay apart in grey print and for colour-blind readers, and apart from the kinds' red, blue, orange and green."""
GAP_RAMP: dict[str, Any] = {
    "breaks": [5, 10, 15, 20, 30],
    "colors": ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"],
    "labels": ["< 5", "5–10", "10–15", "15–20", "20–30", "≥ 30"],
    "none": "#2d004b",
}

# Street classes of the offline base map, drawn in this order (bottom first).
STREET_CLASSES: tuple[dict[str, Any], ...] = (
    {"key": "path", "color": "#9e9e9e", "casing": None, "weight": 1, "dash": "3,3",
     "highway": {"footway", "cycleway", "path", "pedestrian", "steps", "track", "bridleway", "corridor"}},
    {"key": "minor", "color": "#ffffff", "casing": "#a3a3a3", "weight": 2.5,
     "highway": {"residential", "living_street", "unclassified", "service", "road", "busway"}},
    {"key": "secondary", "color": "#fff3b0", "casing": "#b09a50", "weight": 3.5,
     "highway": {"secondary", "secondary_link", "tertiary", "tertiary_link"}},
    {"key": "major", "color": "#fcd68a", "casing": "#b07830", "weight": 4.5,
     "highway": {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"}},
)


class MapError(ValueError):
    """A problem with the map request that the user can fix (message in Chinese, with what to do)."""


@dataclass(frozen=True)
class MapSummary:
    """What :func:`write_map` wrote."""

    path: Path
    size_bytes: int
    stations: int
    layers: tuple[str, ...]
    tiles: str
    coord_system: str


# --- assets ----------------------------------------------------------------------------------------------

def _asset(name: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    return re.sub(r"//# sourceMappingURL=\S+", "", text)


def _inline_script(js: str) -> str:
    return "<script>" + js.replace("</script", "<\\/script") + "</script>"


def _inline_style(css: str) -> str:
    return "<style>" + css.replace("</style", "<\\/style") + "</style>"


@cache
def _leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined as data URIs (no request for layers.png etc.)."""
    css = _asset("leaflet.css")

    def repl(m: re.Match[str]) -> str:
        data = base64.b64encode((ASSETS / "images" / m.group(1)).read_bytes()).decode()
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", repl, css)


@cache
def _fa_codepoints() -> dict[str, int]:
    """Font Awesome 4 icon name → code point, read from the shipped font-awesome.css."""
    css = (ASSETS / "font-awesome.css").read_text(encoding="utf-8")
    out: dict[str, int] = {}
    for sel, cp in re.findall(r"((?:\.fa-[\w-]+:before,?\s*)+)\{\s*content:\s*\"\\(f[0-9a-f]+)\"", css):
        for name in re.findall(r"\.fa-([\w-]+):before", sel):
            out[name] = int(cp, 16)
    return out


@cache
def _icon_css(icons: tuple[str, ...]) -> str:
    """@font-face with a Font Awesome subset (only ``icons``, as WOFF data URI) and ``.gmi-NAME`` classes.

    Unknown icon names fall back to a plain circle, so a new vocabulary entry never breaks a map."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    cps = _fa_codepoints()
    chosen = {name: cps.get(name, cps["circle"]) for name in icons}
    font = TTFont(ASSETS / "fontawesome-webfont.ttf")
    opts = subset.Options()
    opts.flavor = "woff"
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    opts.drop_tables += ["FFTM"]
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=sorted(set(chosen.values())))
    sub.subset(font)
    buf = io.BytesIO()
    font.flavor = "woff"
    font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode()
    rules = [
        "@font-face{font-family:'geomap-icons';font-weight:normal;font-style:normal;"
        f"src:url(data:font/woff;base64,{data}) format('woff')}}",
        ".gmi{display:inline-block;font:normal normal normal 14px/1 'geomap-icons';font-size:inherit;"
        "text-rendering:auto;-webkit-font-smoothing:antialiased}",
    ]
    rules += [f'.gmi-{name}:before{{content:"\\{cp:x}"}}' for name, cp in sorted(chosen.items())]
    return "\n".join(rules)


def _licence_comment() -> str:
    text = (ASSETS / "LICENSES").read_text(encoding="utf-8").replace("--", "- -")
    return f"<!--\n{text}\n-->"


# --- compact payloads -------------------------------------------------------------------------------------

def _is_missing(v: Any) -> bool:
    """None, NaN, pandas NA or blank text."""
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    if isinstance(v, list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _texts(values: Any) -> list[str]:
    return ["" if _is_missing(v) else str(v).strip() for v in values]


def _delta_encode(values: np.ndarray) -> list[int]:
    """Integers of 1e-5 degree, each written as the difference to the previous one (decoded by undelta)."""
    q = np.round(np.asarray(values, dtype=np.float64) * COORD_SCALE).astype(np.int64)
    return np.diff(q, prepend=0).tolist()


def _spatial_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Z-order (Morton) of the points: neighbours in the page are neighbours on the map, so deltas are small."""
    if len(lon) == 0:
        return np.zeros(0, dtype=np.int64)
    x = np.clip(((lon + 180.0) / 360.0 * 65535).astype(np.int64), 0, 65535)
    y = np.clip(((lat + 90.0) / 180.0 * 65535).astype(np.int64), 0, 65535)
    code = np.zeros(len(lon), dtype=np.int64)
    for b in range(16):
        code |= ((x >> b) & 1) << (2 * b) | ((y >> b) & 1) << (2 * b + 1)
    return np.argsort(code, kind="stable")


def _station_frame(stations: pd.DataFrame | Registry) -> pd.DataFrame:
    if hasattr(stations, "frame"):
        return stations.frame()
    if not isinstance(stations, pd.DataFrame):
        raise MapError("站点数据应为表格（pandas.DataFrame）或站点库（Registry）")
    missing = [c for c in ("name", "lon", "lat") if c not in stations.columns]
    if missing:
        raise MapError(f"站点表缺少字段：{', '.join(missing)}（需要 name、lon、lat，WGS84 经纬度）")
    return stations


def _list_column(df: pd.DataFrame, col: str) -> list[list[str]]:
    if col not in df.columns:
        return [[] for _ in range(len(df))]
    out = []
    for v in df[col]:
        if isinstance(v, list | tuple | np.ndarray):
            out.append([str(x) for x in v])
        elif _is_missing(v):
            out.append([])
        else:
            out.append([s for s in re.split(r"[,;\s]+", str(v)) if s])
    return out


def main_kinds(kind_lists: Sequence[Sequence[str]], names: Sequence[str] | None = None) -> list[str]:
    """Each station's main kind (one per station, so that counts add up to the number of stations): of the
    kinds it has, the one its name says (a kind's ``name_markers`` in ``vocab/kinds.toml``, e.g. 司机之家),
    else the first in vocabulary order; a station without a known kind gets the vocabulary's first."""
    kv = vocab.kinds()
    order = kv.keys()
    out = []
    for i, kl in enumerate(kind_lists):
        have = [k for k in order if k in set(kl)]
        name = str(names[i]) if names is not None and not _is_missing(names[i]) else ""
        said = [k for k in have if any(m in name for m in kv.terms[k].name_markers)] if name else []
        out.append((said or have or order)[0])
    return out


def data_date(stations: pd.DataFrame | Registry, *, settings: Any = None) -> date | None:
    """The date the station data is true on: ``settings.data_date`` when set, else the day (Asia/Shanghai, or
    ``settings.timezone``) of the registry's last recorded change (or import); None for a plain table (not
    known)."""
    from zoneinfo import ZoneInfo

    settings = settings or get_settings()
    if getattr(settings, "data_date", None) is not None:
        return settings.data_date
    if not hasattr(stations, "history"):
        return None
    last = stations.history(limit=1)
    if last:
        stamp = last[0].time
    else:  # a registry filled by imports recorded before change sets were kept: its last import
        imports = stations.imports()
        if not len(imports) or "finished_at" not in imports:
            return None
        stamp = str(imports["finished_at"].dropna().max())
    when = datetime.fromisoformat(stamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(ZoneInfo(getattr(settings, "timezone", "Asia/Shanghai"))).date()


_data_date_of = data_date  # build_map's own argument is called data_date


def date_zh(d: date | None) -> str:
    """A date as people write it (2026年12月2日); ``未知`` when not known."""
    return f"{d.year}年{d.month}月{d.day}日" if d is not None else "未知"


def station_payload(stations: pd.DataFrame, *, crs: str = "wgs84") -> dict[str, Any]:
    """The stations as compact columns for the page (coordinates in ``crs``: ``wgs84`` or ``gcj02``).

    ``x`` / ``y``: delta-encoded integer lon / lat (1e-5 degree); ``kind`` / ``am``: bit masks over the
    kind / amenity vocabularies; ``hours``: index into ``hoursTable`` (pairs of OSM opening_hours and the
    text as written; -1 = unknown); ``dist`` / ``sub`` / ``op``: indexes into ``places``.
    Stations are in Z-order, not in input order; ``id`` keeps their ids.
    """
    df = stations.reset_index(drop=True)
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(bad)[:10])
        raise MapError(f"{int(bad.sum())} 个站点没有有效坐标（第 {rows} 行），请先修正站点库")
    if crs == "gcj02":
        lon, lat = coords.from_wgs84(lon, lat, dst="gcj02")
    order = _spatial_order(lon, lat)
    df = df.iloc[order].reset_index(drop=True)
    lon, lat = lon[order], lat[order]
    kv, av = vocab.kinds(), vocab.amenities()
    kind_lists = [[k for k in ks if k in kv.terms] or [kv.keys()[0]] for ks in _list_column(df, "kinds")]
    am_lists = [[a for a in am if a in av.terms] for am in _list_column(df, "amenities")]
    n = len(df)
    osm = _texts(df["opening_hours"]) if "opening_hours" in df.columns else [""] * n
    raw = _texts(df["opening_hours_raw"]) if "opening_hours_raw" in df.columns else [""] * n
    hours_table: list[list[str]] = []
    hours_index: dict[tuple[str, str], int] = {}
    hours = []
    for o, r in zip(osm, raw, strict=True):
        if not o and not r:
            hours.append(-1)
            continue
        key = (o, r)
        if key not in hours_index:
            hours_index[key] = len(hours_table)
            hours_table.append([o, r])
        hours.append(hours_index[key])
    places: list[str] = [""]
    place_index: dict[str, int] = {"": 0}

    def coded(col: str) -> list[int]:
        if col not in df.columns:
            return [0] * n
        out = []
        for v in _texts(df[col]):
            if v not in place_index:
                place_index[v] = len(places)
                places.append(v)
            out.append(place_index[v])
        return out

    price = pd.to_numeric(df["meal_price_yuan"], errors="coerce") if "meal_price_yuan" in df.columns else None
    return {
        "n": n,
        "scale": COORD_SCALE,
        "x": _delta_encode(lon),
        "y": _delta_encode(lat),
        "id": _texts(df["id"]) if "id" in df.columns else [str(i) for i in range(n)],
        "name": _texts(df["name"]),
        "kind": kv.masks(kind_lists).tolist(),
        "main": [kv.terms[k].bit for k in main_kinds(kind_lists, _texts(df["name"]))],
        "am": av.masks(am_lists).tolist(),
        "addr": _texts(df["address"]) if "address" in df.columns else [""] * n,
        "hours": hours,
        "hoursTable": hours_table,
        "phone": _texts(df["phone"]) if "phone" in df.columns else [""] * n,
        "price": _price_column(price),
        "dist": coded("district"),
        "sub": coded("subdistrict"),
        "op": coded("operator"),
        "places": places,
    }


def _price_column(price: pd.Series | None) -> dict[str, list] | None:
    """Meal prices (yuan) as ``{"i": station positions, "v": prices}``: most stations have none."""
    if price is None:
        return None
    arr = price.to_numpy(dtype=np.float64)
    have = np.flatnonzero(np.isfinite(arr))
    return {"i": have.tolist(), "v": [round(float(v), 2) for v in arr[have]]}


def _read_ways(osm_path: str | Path) -> RawWays:
    from geomap.network._osm import read_osm_file

    path = Path(osm_path)
    if not path.exists():
        raise MapError(f"找不到 OSM 数据文件 {path}：请用 --osm 指定 .osm.pbf / .osm 文件，或先运行 `make data`")
    return read_osm_file(path)


_STREETS: dict[tuple[str, int, int, str], dict[str, Any]] = {}
"""The base streets of the last extracts drawn, by (file, size, modification time, crs): they do not change
when stations do, so a map redrawn after an edit (the service's map process) reads and simplifies them once
(a million-node city: ~6 s of a ~20 s build)."""


def _streets_of(osm_path: str | Path, *, crs: str) -> dict[str, Any]:
    path = Path(osm_path)
    if not path.exists():
        return street_payload(_read_ways(path), crs=crs)  # _read_ways says what is missing
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, crs)
    hit = _STREETS.get(key)
    if hit is None:
        hit = street_payload(_read_ways(path), crs=crs)
        _STREETS.clear()  # one extract at a time: a city's streets are tens of MB
        _STREETS[key] = hit
    return hit


def street_payload(ways: RawWays, *, crs: str = "wgs84", tolerance_m: float = 2.0) -> dict[str, Any]:
    """The streets of an OSM extract for the offline base map, by class (``STREET_CLASSES``).

    Each line is simplified (Douglas-Peucker, ``tolerance_m`` metres) and written as interleaved
    delta-encoded integer lon, lat (1e-5 degree) in ``crs``."""
    highway = np.array([t.get("highway", "") for t in ways.tags], dtype=object)
    counts = np.diff(ways.offsets)
    lon, lat = ways.lon, ways.lat
    if crs == "gcj02":
        lon, lat = coords.from_wgs84(lon, lat, dst="gcj02")
    tol_deg = tolerance_m / 111_320.0
    classes = []
    for spec in STREET_CLASSES:
        sel = np.flatnonzero(np.isin(highway, list(spec["highway"])) & (counts >= 2))
        if not len(sel):
            continue
        lines = shapely.linestrings(
            np.column_stack([lon, lat]),
            indices=np.repeat(np.arange(ways.n_ways), counts),
        )[sel]
        lines = shapely.simplify(lines, tol_deg, preserve_topology=False)
        enc = []
        for ln in lines:
            xy = shapely.get_coordinates(ln)
            if len(xy) < 2:
                continue
            q = np.round(xy * COORD_SCALE).astype(np.int64)
            d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
            enc.append(d.ravel().tolist())
        classes.append({k: spec.get(k) for k in ("key", "color", "casing", "weight", "dash")} | {"lines": enc})
    return {"scale": COORD_SCALE, "classes": classes}


def service_bands(
    graph: StreetGraph,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    *,
    minutes: Sequence[float] = (5, 10, 15),
) -> gpd.GeoDataFrame:
    """Service-circle bands of all stations together (WGS84 lon/lat degrees in, WGS84 polygons out).

    One search over all stations gives every node's time to its nearest (the k=1 labels: a rider riding
    *to* a station, one-way streets in that direction); the streets are sampled, rasterised, widened by
    the street half-width and traced into polygons (:func:`geomap.network.areas.band_polygons`); band *i*
    is the area reached within ``minutes[i]`` but not within ``minutes[i-1]``. Columns:
    ``minutes_lo``, ``minutes`` (band edges, minutes), ``area_km2`` (area reached within ``minutes``, km²,
    all bands below included), ``stations`` (how many stations were on the network) and ``geometry``.
    Stations farther than ``settings.max_snap_m`` from every street are left out.
    """
    import geopandas as gpd

    from geomap.network.areas import band_polygons
    from geomap.network.nearest import station_labels

    mins = sorted({float(m) for m in minutes})
    if not mins or mins[0] <= 0:
        raise MapError("服务圈分钟数须为正数，例如 5,10,15")
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    bands: list[Any] = [shapely.MultiPolygon()] * len(mins)
    areas = np.zeros(len(mins))
    n_on = 0
    if len(lon_a):
        settings = get_settings()
        sl = station_labels(graph, station_lon=lon_a, station_lat=lat_a, k=1)
        n_on = int(sl.snapped.ok.sum())
        if n_on:
            bands, areas = band_polygons(sl.labels, mins, buffer_m=settings.isochrone_buffer_m,
                                         hole_fill_m2=settings.isochrone_hole_fill_m2, keep=True)
    return gpd.GeoDataFrame(
        {"minutes_lo": [0.0, *mins[:-1]], "minutes": mins, "area_km2": areas, "stations": [n_on] * len(mins)},
        geometry=gpd.GeoSeries(bands, crs=4326),
    )


def _geom_to_geojson(geom: shapely.Geometry, *, crs: str, simplify_deg: float) -> dict[str, Any]:
    if crs == "gcj02":
        geom = shapely.transform(geom, lambda xy: np.column_stack(coords.from_wgs84(xy[:, 0], xy[:, 1], dst="gcj02")))
    if simplify_deg > 0:
        geom = shapely.simplify(geom, simplify_deg, preserve_topology=True)
    geom = shapely.transform(geom, lambda xy: np.round(xy, 6))
    return json.loads(shapely.to_geojson(geom))


def _bands_payload(bands: gpd.GeoDataFrame, *, crs: str) -> dict[str, Any]:
    feats = []
    for i, row in enumerate(bands.itertuples(index=False)):
        if row.geometry is None or row.geometry.is_empty:
            continue
        lo, hi = float(row.minutes_lo), float(row.minutes)
        feats.append({
            "type": "Feature",
            "geometry": _geom_to_geojson(row.geometry, crs=crs, simplify_deg=2e-5),
            "properties": {"minutes_lo": lo, "minutes": hi, "area_km2": round(float(row.area_km2), 3),
                           "label": f"{lo:g}–{hi:g} 分钟" if lo > 0 else f"{hi:g} 分钟内",
                           "color": BAND_COLORS[min(i, len(BAND_COLORS) - 1)]},
        })
    # widest band first so that the nearer bands are drawn on top
    return {"type": "FeatureCollection", "features": feats[::-1]}


def load_gaps(gaps: gpd.GeoDataFrame | str | Path) -> gpd.GeoDataFrame:
    """The gap grid as a WGS84 GeoDataFrame with the ``GAP_COLUMNS`` (a file is read with pyogrio).

    Raises :class:`MapError` naming the missing properties when the input does not follow the contract."""
    import geopandas as gpd

    if isinstance(gaps, str | Path):
        path = Path(gaps)
        if not path.exists():
            raise MapError(f"找不到空白网格文件 {path}（应为 `geomap gaps --out` 写出的 GeoJSON）")
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:
            raise MapError(f"无法读取空白网格文件 {path}：{exc}") from exc
    elif isinstance(gaps, gpd.GeoDataFrame):
        gdf = gaps
    else:
        raise MapError("空白网格应为 GeoDataFrame 或 GeoJSON 文件路径")
    missing = [c for c in GAP_COLUMNS if c not in gdf.columns]
    if missing:
        raise MapError(f"空白网格缺少属性：{', '.join(missing)}（需要 {', '.join(GAP_COLUMNS)}）")
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs(4326)
    return gdf


def gap_payload(gaps: gpd.GeoDataFrame, *, crs: str = "wgs84") -> dict[str, Any]:
    """The gap grid as a compact GeoJSON FeatureCollection (coordinates rounded to 1e-6 degree, in ``crs``)."""

    def num(v: Any, cast: type = float) -> Any:
        return None if _is_missing(v) else cast(v)

    feats = []
    for row in gaps.itertuples(index=False):
        g = row.geometry
        if g is None or g.is_empty:
            continue
        tm = num(row.travel_min)
        feats.append({
            "type": "Feature",
            "geometry": _geom_to_geojson(g, crs=crs, simplify_deg=0.0),
            "properties": {
                "h3": str(row.h3),
                "subdistrict": None if _is_missing(row.subdistrict) else str(row.subdistrict),
                "travel_min": None if tm is None else round(tm, 2),
                "covered": bool(row.covered) if not _is_missing(row.covered) else False,
                "residents": num(row.residents) or 0.0,
                "restaurants": num(row.restaurants) or 0.0,
                "demand": num(row.demand) or 0.0,
                "gap_rank": num(row.gap_rank, int),
            },
        })
    return {"type": "FeatureCollection", "features": feats}


def _pct_text(part: float, total: float) -> str:
    """A covered share as people write it: 95.6%, 100% only when all of it is covered; 无数据 for an empty layer."""
    if not (total > 0) or not math.isfinite(part):
        return "无数据"
    if part >= total:
        return "100%"
    return f"{min(100 * part / total, 99.9):.1f}%"


def _amount_text(v: float, unit: str) -> str:
    return f"{round(v):,} {unit}".rstrip()


def _sites_payload(fig: SiteFigures, graph: StreetGraph, stations: pd.DataFrame, *, crs: str) -> dict[str, Any]:
    """The proposed-sites layer: each site (WGS84 or GCJ-02 ``lon`` / ``lat``, rank, texts, what it newly covers),
    the before / after lines, and the area newly within ``fig.minutes`` of a site (the service area of stations
    and sites together less that of the stations)."""
    lon = pd.to_numeric(stations["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(stations["lat"], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(lon) & np.isfinite(lat)
    s_lon = fig.sites["lon"].to_numpy(dtype=np.float64)
    s_lat = fig.sites["lat"].to_numpy(dtype=np.float64)
    before = service_bands(graph, lon[keep], lat[keep], minutes=[fig.minutes]).geometry.iloc[0]
    after = service_bands(graph, np.concatenate([lon[keep], s_lon]), np.concatenate([lat[keep], s_lat]),
                          minutes=[fig.minutes]).geometry.iloc[0]
    new_area = shapely.difference(after, before)
    import geopandas as gpd

    area_new = 0.0
    if not new_area.is_empty:
        c = new_area.centroid
        metric = coords.local_metric_crs(float(c.x), float(c.y))
        area_new = float(gpd.GeoSeries([new_area], crs=4326).to_crs(metric).area.iloc[0]) / 1e6
    out_lon, out_lat = (coords.from_wgs84(s_lon, s_lat, dst="gcj02") if crs == "gcj02" else (s_lon, s_lat))
    feats = []
    for i, row in enumerate(fig.sites.itertuples(index=False)):
        new = [f"{lay['label']} {_amount_text(lay['new'][i], lay['unit'])}" for lay in fig.layers]
        feats.append({"lon": round(float(out_lon[i]), 6), "lat": round(float(out_lat[i]), 6), "rank": int(row.rank),
                      "name": row.name, "source": row.source, "subdistrict": row.subdistrict, "serves": row.serves,
                      "onNetwork": bool(row.on_network), "newText": "、".join(new) if new else ""})
    lines = []
    for lay in fig.layers:
        gain = lay["after"] - lay["before"]
        lines.append(f"{lay['label']}：{_pct_text(lay['before'], lay['total'])} → "
                     f"{_pct_text(lay['after'], lay['total'])}（新增 {_amount_text(gain, lay['unit'])}）")
    lines += [f"{label}：未计算（{why}）" for label, why in fig.absent.items()]
    return {"features": feats, "minutes": fig.minutes, "lines": lines, "notes": list(fig.notes),
            "newAreaKm2": round(area_new, 2), "color": SITE_COLOR, "areaColor": NEW_AREA_COLOR,
            "newArea": (None if new_area.is_empty else
                        _geom_to_geojson(new_area, crs=crs, simplify_deg=2e-5))}


# --- the folium page ------------------------------------------------------------------------------------

def _json_for_script(obj: Any) -> str:
    """JSON safe inside a <script> element (no '<', '>' or '&' left to end it early)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _data_element(obj: Any, *, element_id: str, compress: bool | None) -> str:
    """One data block of the page: plain JSON, or gzip + base64 when ``compress`` (default: when large)."""
    text = _json_for_script(obj)
    if compress is None:
        compress = len(text.encode("utf-8")) > COMPRESS_ABOVE_BYTES
    if not compress:
        return f'<script type="application/json" id="{element_id}">{text}</script>'
    packed = base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")
    return (f'<script type="application/octet-stream" id="{element_id}" data-encoding="gzip+base64">'
            f"{packed}</script>")


def _folium_classes():
    import folium
    from branca.element import MacroElement
    from folium.map import Layer
    from jinja2 import Template

    class JsLayer(Layer):
        """A Leaflet layer created by a JavaScript expression (so folium's LayerControl can list it)."""

        _template = Template("{% macro script(this, kwargs) %}var {{ this.get_name() }} = {{ this.js }};"
                             "{% endmacro %}")

        def __init__(self, js: str, *, name: str, overlay: bool, show: bool = True) -> None:
            super().__init__(name=name, overlay=overlay, control=True, show=show)
            self._name = "GeomapLayer"
            self.js = js

    class Init(MacroElement):
        _template = Template(
            "{% macro script(this, kwargs) %}geomap.init({{ this._parent.get_name() }}, "
            "geomap.readData('geomap-data'));{% endmacro %}")

        def __init__(self) -> None:
            super().__init__()
            self._name = "GeomapInit"

    return folium, JsLayer, Init


def _tile_layers(tiles: str, *, tianditu_key: str | None) -> list[Any]:
    import folium

    if tiles == "none":
        return []
    if tiles == "osm":
        return [folium.TileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", attr=OSM_ATTRIBUTION,
                                 name="OpenStreetMap 地图", max_zoom=19, overlay=False)]
    if tiles == "amap":
        return [folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="© 高德地图 AutoNavi", name="高德地图", subdomains="1234", max_zoom=18, overlay=False)]
    if tiles == "tianditu":
        if not tianditu_key:
            raise MapError("使用天地图底图需要密钥：请设置环境变量 GEOMAP_TIANDITU_KEY（在 "
                           "https://console.tianditu.gov.cn 申请“浏览器端”密钥），或改用 --tiles none / osm / amap")
        wmts = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                "&TILECOL={{x}}&tk={key}")
        key = re.sub(r"[^0-9A-Za-z]", "", tianditu_key)
        return [
            folium.TileLayer(wmts.format(s="{s}", layer="vec", key=key), attr="© 天地图 / 国家地理信息公共服务平台",
                             name="天地图", subdomains="01234567", max_zoom=18, overlay=False),
            folium.TileLayer(wmts.format(s="{s}", layer="cva", key=key), attr="© 天地图", name="天地图注记",
                             subdomains="01234567", max_zoom=18, overlay=True, control=False),
        ]
    raise MapError(f"未知的底图 {tiles!r}：可选 {', '.join(TILES)}")


def _mode_label(mode: str) -> str:
    from geomap.network.graph import load_profiles

    profiles = load_profiles()
    if mode not in profiles:
        raise MapError(f"未知的出行方式 {mode!r}：可选 {', '.join(profiles)}")
    return profiles[mode].label or mode


def _parse_layers(layers: Sequence[str] | str | None, *, gaps_given: bool, sites_given: bool = False
                  ) -> tuple[str, ...]:
    if layers is None:
        chosen = ["stations", "circles"] + (["gaps"] if gaps_given else []) + (["sites"] if sites_given else [])
    else:
        items = layers.split(",") if isinstance(layers, str) else list(layers)
        chosen = [str(x).strip().lower() for x in items if str(x).strip()]
    unknown = [x for x in chosen if x not in LAYERS]
    if unknown:
        raise MapError(f"未知的图层 {', '.join(unknown)}：可选 {', '.join(LAYERS)}")
    if not chosen:
        raise MapError(f"至少选择一个图层：{', '.join(LAYERS)}")
    if "gaps" in chosen and not gaps_given:
        raise MapError("“gaps”图层需要空白网格数据：请用 --gaps FILE.geojson 指定（`geomap gaps --out` 的结果）")
    if "sites" in chosen and not sites_given:
        raise MapError("“sites”图层需要选址结果：请用 --sites FILE.geojson 指定（`geomap plan --out` 的结果）")
    return tuple(x for x in LAYERS if x in chosen)


def build_map(
    stations: pd.DataFrame | Registry,
    *,
    tiles: str | None = None,
    layers: Sequence[str] | str | None = None,
    mode: str | None = None,
    minutes: Sequence[float] = (5, 10, 15),
    gaps: gpd.GeoDataFrame | str | Path | None = None,
    osm_path: str | Path | None = None,
    streets: bool = True,
    graph: StreetGraph | None = None,
    title: str | None = None,
    tianditu_key: str | None = None,
    compress: bool | None = None,
    place: str = "",
    publisher: str = "",
    sites: SiteFigures | None = None,
    data_date: date | None = None,
    bands: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """The service map as a folium Map whose rendered HTML is self-contained.

    ``stations``: a :class:`~geomap.stations.registry.Registry` or a station table (WGS84 ``lon`` / ``lat``, the
    registry's columns). ``tiles``: ``none`` (default ``settings.map_tiles``; streets drawn from the OSM
    extract, no network request), ``osm``, ``amap`` (GCJ-02: every overlay is shifted) or ``tianditu``
    (key: ``tianditu_key`` or ``settings.tianditu_key``). ``layers``: any of ``stations``, ``circles``,
    ``gaps`` (default stations and circles, plus gaps when ``gaps`` is given). ``mode`` (default
    ``settings.default_mode``) and ``minutes`` set the service-circle bands drawn on the street graph
    ``graph`` (no circles without it); the offline base map's streets come from the OSM extract
    ``osm_path``. ``place`` and ``publisher`` (a workspace's name and publisher) head the page: the title
    (default ``{place}{DEFAULT_TITLE}``) and a 发布 line. ``gaps``: the
    gap grid (GeoDataFrame or GeoJSON path, see :data:`GAP_COLUMNS`). ``sites``: proposed sites with their
    before / after (:func:`geomap.publish.sites.before_after`), drawn as the ``sites`` layer with the area they
    newly bring within ``sites.minutes`` (needs ``graph``). ``data_date``: the date the list is true on, in the
    page's heading (default :func:`data_date`: ``settings.data_date``, else the registry's last change; a plain
    table without it reads 数据日期未记录). ``bands``: service-circle bands computed already (the columns of
    :func:`service_bands`, WGS84; e.g. a regions workspace's, :func:`geomap.regions.circles.merge_circles`),
    drawn as the ``circles`` layer instead of computing them on ``graph``. ``streets=False`` leaves the
    offline base map empty (plain background). ``compress``: write the embedded data gzip-compressed
    and base64-encoded (default: when it exceeds ``COMPRESS_ABOVE_BYTES``; the page inflates it with
    fflate before drawing).
    """
    settings = get_settings()
    title = title or f"{place}{DEFAULT_TITLE}"
    tiles = (tiles or getattr(settings, "map_tiles", "none")).strip().lower()
    if tiles not in TILES:
        raise MapError(f"未知的底图 {tiles!r}：可选 {', '.join(TILES)}")
    chosen = _parse_layers(layers, gaps_given=gaps is not None, sites_given=sites is not None)
    mode = (mode or settings.default_mode).strip().lower()
    mode_label = _mode_label(mode)
    crs = "gcj02" if tiles == "amap" else "wgs84"
    tile_layers = _tile_layers(tiles, tianditu_key=tianditu_key or getattr(settings, "tianditu_key", None))

    df = _station_frame(stations)
    if "stations" in chosen and len(df) == 0:
        raise MapError("站点库是空的：请先用 `geomap import` 导入站点，或用 --layers 只画其他图层")
    st_payload = station_payload(df, crs=crs) if "stations" in chosen else None

    street_data = None
    need_streets = tiles == "none" and streets
    if need_streets:
        if osm_path is None:
            raise MapError("离线底图（--tiles none）需要 OSM 数据来画街道：请在工作区设置 osm_path，"
                           "或改用 --tiles osm / amap")
        street_data = _streets_of(osm_path, crs=crs)

    bands_data = None
    if "circles" in chosen and graph is None and bands is None:
        if layers is not None:  # asked for by name: say what is missing
            raise MapError("画服务圈需要路网（工作区的 osm_path）；或用 --layers stations 不画服务圈")
        warnings.warn("没有路网，地图不含服务圈 / no street network, map written without circles", stacklevel=2)
        chosen = tuple(x for x in chosen if x != "circles")
    if "circles" in chosen and bands is not None:
        bands_data = _bands_payload(bands, crs=crs)
    elif "circles" in chosen:
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=np.float64)
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=np.float64)
        keep = np.isfinite(lon) & np.isfinite(lat)
        bands_data = _bands_payload(service_bands(graph, lon[keep], lat[keep], minutes=minutes), crs=crs)

    gaps_data = gap_payload(load_gaps(gaps), crs=crs) if "gaps" in chosen and gaps is not None else None
    sites_data = None
    if "sites" in chosen and sites is not None:
        if graph is None:
            raise MapError("画拟建站点的新增覆盖范围需要路网（工作区的 osm_path）")
        sites_data = _sites_payload(sites, graph, df, crs=crs)
    when = data_date if data_date is not None else _data_date_of(stations, settings=settings)

    kv, av = vocab.kinds(), vocab.amenities()
    kind_counts = dict.fromkeys(kv.terms, 0)
    main_counts = dict.fromkeys(kv.terms, 0)
    if st_payload is not None:
        masks = np.asarray(st_payload["kind"], dtype=np.int64)
        mains = np.asarray(st_payload["main"], dtype=np.int64)
        for k, t in kv.terms.items():
            kind_counts[k] = int(((masks >> t.bit) & 1).sum())
            main_counts[k] = int((mains == t.bit).sum())
    cfg = {
        "crs": crs,
        "mode": mode,
        "modeLabel": mode_label,
        "navMode": NAV_MODES.get(mode, "car"),
        "title": title,
        "publisher": publisher,
        "dataDate": date_zh(when) if when is not None else None,
        "total": st_payload["n"] if st_payload is not None else len(df),
        # the OSM tile layer names OpenStreetMap itself (shown twice on OSM tiles before)
        "attribution": "　".join(part for part in (OSM_ATTRIBUTION if tiles != "osm" else "",
                                                   f"站点数据：{html.escape(publisher)}" if publisher else "") if part),
        "background": "#f2efe9" if tiles == "none" else None,
        "kinds": [{"key": t.key, "label": t.label, "short": t.short_label, "color": _css_color(t.color),
                   "icon": _icon_name(t.icon), "bit": t.bit, "count": kind_counts[t.key], "main": main_counts[t.key]}
                  for t in kv.terms.values()],
        "amenities": [{"key": t.key, "label": t.label, "color": _css_color(t.color), "icon": _icon_name(t.icon),
                       "bit": t.bit} for t in av.terms.values()],
        "stations": st_payload,
        "streets": street_data,
        "bands": bands_data,
        "gaps": gaps_data,
        "gapRamp": GAP_RAMP,
        "sites": sites_data,
        "bounds": _bounds(st_payload, street_data, gaps_data, bands_data, sites_data),
    }
    return _assemble(cfg, tiles=tiles, tile_layers=tile_layers, chosen=chosen, title=title, compress=compress)


def _css_color(c: str) -> str:
    return c if re.fullmatch(r"#[0-9a-fA-F]{3,8}", c) else "#555555"


def _icon_name(name: str) -> str:
    return name if re.fullmatch(r"[a-z0-9-]+", name) else "circle"


def _bounds(st: dict | None, streets: dict | None, gaps: dict | None, bands: dict | None,
            sites: dict | None = None) -> list[list[float]] | None:
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    if sites is not None and sites["features"]:
        xs.append(np.array([f["lon"] for f in sites["features"]]))
        ys.append(np.array([f["lat"] for f in sites["features"]]))
    if st is not None and st["n"]:
        xs.append(np.cumsum(st["x"]) / COORD_SCALE)
        ys.append(np.cumsum(st["y"]) / COORD_SCALE)
    for fc in (gaps, bands):
        if fc is not None and fc["features"]:
            g = shapely.from_geojson(json.dumps(fc))
            b = shapely.bounds(g)
            xs.append(np.array([b[0], b[2]]))
            ys.append(np.array([b[1], b[3]]))
    if not xs and streets is not None:
        for c in streets["classes"]:
            for line in c["lines"]:
                d = np.asarray(line).reshape(-1, 2)
                q = np.cumsum(d, axis=0) / COORD_SCALE
                xs.append(q[:, 0])
                ys.append(q[:, 1])
    if not xs:
        return None
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    return [[float(y.min()), float(x.min())], [float(y.max()), float(x.max())]]


def _assemble(cfg: dict[str, Any], *, tiles: str, tile_layers: list[Any], chosen: tuple[str, ...],
              title: str, compress: bool | None) -> folium.Map:
    folium, JsLayer, Init = _folium_classes()
    from branca.element import Element, Figure

    b = cfg["bounds"] or [[31.2, 121.4], [31.3, 121.6]]
    center = [(b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2]
    fig = Figure(title=html.escape(title))
    m = folium.Map(location=center, zoom_start=13, tiles=None, prefer_canvas=True, control_scale=False,
                   max_zoom=19, min_zoom=3)
    m.options["maxZoom"] = 19  # folium sets it only through a tile layer; the offline map has none
    m.options["minZoom"] = 3
    m.default_js = []
    m.default_css = []
    m.add_to(fig)
    icons = tuple(sorted({k["icon"] for k in cfg["kinds"]} | {a["icon"] for a in cfg["amenities"]}
                         | {"location-arrow", "circle", "print"}))
    head = [
        '<meta charset="utf-8">',
        _licence_comment(),
        _inline_style(_leaflet_css()),
        _inline_style(_icon_css(icons)),
        _inline_style(_asset("geomap_map.css")),
        _inline_script(_asset("leaflet.js")),
        _inline_script(_asset("supercluster.min.js")),
        _inline_script(_asset("fflate.min.js")),
        _inline_script(_asset("geomap_map.js")),
    ]
    for i, part in enumerate(head):
        fig.header.add_child(Element(part), name=f"geomap_head_{i}")
    # what the first drawing needs (coordinates, kinds) apart from the station texts, which the page
    # decodes only after the first drawing (or when a popup / the search needs them)
    core = dict(cfg)
    details = None
    if cfg["stations"] is not None:
        core["stations"] = {k: cfg["stations"][k] for k in STATION_CORE}
        details = {k: v for k, v in cfg["stations"].items() if k not in STATION_CORE}
    fig.html.add_child(Element(_data_element(core, element_id="geomap-data", compress=compress)), name="geomap_data")
    if details is not None:
        fig.html.add_child(Element(_data_element(details, element_id="geomap-details", compress=compress)),
                           name="geomap_details")
    for t in tile_layers:
        t.add_to(m)
    m.add_child(Init(), name="geomap_init")
    if tiles == "none":
        JsLayer("geomap.streetLayer() || L.layerGroup()", name="街道底图（OSM 数据，离线）", overlay=False).add_to(m)
    if cfg["gaps"] is not None:
        JsLayer("geomap.gapLayer()", name="服务空白网格（到最近站点分钟数）", overlay=True).add_to(m)
    if cfg["sites"] is not None:
        JsLayer("geomap.sitesLayer()", name=f"拟建站点及新增覆盖范围（{len(cfg['sites']['features'])} 个）",
                overlay=True).add_to(m)
    if cfg["bands"] is not None:
        mins = "/".join(f"{f['properties']['minutes']:g}" for f in cfg["bands"]["features"][::-1])
        JsLayer("geomap.bandLayer()", name=f"服务圈（{cfg['modeLabel']} {mins} 分钟）", overlay=True).add_to(m)
    if cfg["stations"] is not None:
        for k in cfg["kinds"]:
            label = f"{k['label']}（含兼有此类型的 {k['count']} 个）" if k["count"] != k["main"] else \
                f"{k['label']}（{k['count']}）"
            JsLayer(f"geomap.kindLayer({json.dumps(k['key'])})", name=label, overlay=True).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m


def render_map(stations: pd.DataFrame | Registry, **kwargs: Any) -> str:
    """The HTML text of :func:`build_map` (same arguments)."""
    m = build_map(stations, **kwargs)
    return m.get_root().render()


def write_map(path: str | Path, stations: pd.DataFrame | Registry, **kwargs: Any) -> MapSummary:
    """Write the self-contained service map to ``path`` (arguments as :func:`build_map`)."""
    m = build_map(stations, **kwargs)
    text = m.get_root().render()
    out = Path(path)
    if out.suffix.lower() not in (".html", ".htm"):
        raise MapError(f"地图文件应以 .html 结尾：{out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    data = _extract_data(text)
    layers = tuple(k for k, key in (("stations", "stations"), ("circles", "bands"), ("gaps", "gaps"),
                                    ("sites", "sites")) if data.get(key) is not None)
    n = data["stations"]["n"] if data.get("stations") else 0
    return MapSummary(path=out, size_bytes=out.stat().st_size, stations=n, layers=layers,
                      tiles=kwargs.get("tiles") or getattr(get_settings(), "map_tiles", "none"),
                      coord_system=data["crs"])


def _extract_data(page: str) -> dict[str, Any]:
    """The embedded data document of a written map, decoded and joined (for tests and summaries)."""
    blocks = {}
    for kind, eid, body in re.findall(
            r'<script type="application/(json|octet-stream)" id="(geomap-data|geomap-details)"[^>]*>(.*?)</script>',
            page, re.S):
        text = body if kind == "json" else gzip.decompress(base64.b64decode(body)).decode("utf-8")
        blocks[eid] = json.loads(text)
    if "geomap-data" not in blocks:
        raise MapError("not a geomap map page")
    data = blocks["geomap-data"]
    if data.get("stations") is not None and "geomap-details" in blocks:
        data["stations"].update(blocks["geomap-details"])
    return data
