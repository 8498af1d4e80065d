"""Nearest stations to one point or to arrays of points, with kind / amenity / "open at" filters.

Two modes:

* straight line (``mode=None``): great-circle distance in metres on the WGS84 sphere (mean radius);
* network (``mode="walk" | "ebike" | "drive" | "truck"``): travel time in seconds along the street graph
  from the query point to the station, network distance in metres and the route (WGS84 LineString),
  via :func:`geomap.network.nearest.network_nearest`. After a one-time precompute per (graph, station
  set after filtering, k) a query is a label look-up (see ``docs/network.md``).

Query points may be given in ``wgs84``, ``gcj02`` or ``bd09`` (``crs=``); results are WGS84. Opening hours
are evaluated in Asia/Shanghai (settings.timezone); a naive ``open_at`` datetime is taken as local time
there. Stations whose hours are unknown never count as open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from geomap import coords
from geomap.network.graph import MODES, StreetGraph
from geomap.network.nearest import network_nearest, station_index
from geomap.network.routing_one import RouteFormat, one_call
from geomap.settings import get_settings
from geomap.stations.index import Selection, StationFilter, StationIndex


@dataclass(frozen=True)
class NearestResult:
    """Answers for ``n`` query points and ranks ``0..k-1``; arrays of shape ``(n, k)``.

    Where fewer than ``k`` stations match, ``station_id`` is ``None``, ``slot`` is -1 and the distances
    are ``inf``. ``query_lon`` / ``query_lat`` are the query points in WGS84.
    """

    station_id: npt.NDArray[np.object_]
    slot: npt.NDArray[np.int64]
    distance_m: npt.NDArray[np.float64]
    query_lon: npt.NDArray[np.float64]
    query_lat: npt.NDArray[np.float64]
    mode: str = "straight"
    travel_s: npt.NDArray[np.float64] | None = None
    route: npt.NDArray[np.object_] | None = None
    query_snap_m: npt.NDArray[np.float64] | None = None

    @property
    def k(self) -> int:
        return self.station_id.shape[1]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (query, rank) that found a station."""
        n, k = self.station_id.shape
        q = np.repeat(np.arange(n), k)
        rank = np.tile(np.arange(k), n)
        df = pd.DataFrame({
            "query": q, "rank": rank, "station_id": self.station_id.ravel(),
            "distance_m": self.distance_m.ravel(),
        })
        if self.travel_s is not None:
            df["travel_s"] = self.travel_s.ravel()
        return df[df["station_id"].notna()].reset_index(drop=True)


def nearest(stations: StationIndex, lon, lat, *, k: int = 1, kind: str | list[str] | None = None,
            amenity: str | list[str] | None = None, open_at: datetime | None = None,
            crs: str = "wgs84", mode: str | None = None, graph: StreetGraph | None = None,
            return_routes: bool = True, index_k: int | None = None, route_crs: str = "wgs84") -> NearestResult:
    """The ``k`` nearest stations to each query point, by straight line or along the street network.

    ``lon`` / ``lat``: one point or arrays, in ``crs``. ``kind``: a kind key or Chinese alias, or several
    (any of them matches). ``amenity``: one or several amenity keys/aliases (all must be present).
    ``open_at``: only stations open at that moment (Asia/Shanghai). Filters combine.
    ``mode``: ``None`` for straight line, else a travel mode; ``graph`` is that mode's street graph
    (required; a workspace gives it: :meth:`geomap.workspace.Workspace.graph`). In network mode ``distance_m`` is
    metres along the network and ``travel_s`` / ``route`` are filled; unreachable stations are left out.
    ``index_k``: labels kept per node by the cached network index (≥ ``k``; a service passes one value so
    that a single index answers every ``k`` up to it). ``route_crs``: coordinate system of the routes
    (wgs84, gcj02 or bd09; everything else in the result is WGS84). Raises ``ValueError`` with a
    readable message for bad input, :class:`~geomap.network.routing.SnapError` for a point too far from any
    street.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    lon_a, lat_a = _query_points(lon, lat, crs=crs)
    flt = StationFilter.make(kind=kind, amenity=amenity, open_at=open_at)
    tz = get_settings().timezone
    if mode is None:
        dist, slot = stations.query(lon_a, lat_a, k=k, flt=flt, tz=tz)
        return NearestResult(station_id=_ids_of(stations, slot), slot=slot, distance_m=dist,
                             query_lon=lon_a, query_lat=lat_a)
    graph = _graph_for(mode, graph)
    sel = stations.selection(flt, tz=tz)
    slots = sel.slots
    ans = network_nearest(graph, station_lon=sel.lon, station_lat=sel.lat, station_ids=sel.ids, query_lon=lon_a,
                          query_lat=lat_a, k=k, return_routes=return_routes, index_k=index_k,
                          station_key=sel.key, route_crs=route_crs)
    slot = np.where(ans.station_pos >= 0, slots[np.clip(ans.station_pos, 0, None)] if len(slots) else -1, -1)
    return NearestResult(station_id=ans.station_id, slot=slot, distance_m=ans.distance_m, query_lon=lon_a,
                         query_lat=lat_a, mode=mode, travel_s=ans.travel_s, route=ans.route,
                         query_snap_m=ans.query_snap_m)


@dataclass(slots=True)
class PointAnswer:
    """:func:`nearest_point`'s answer for one query point, over the stations found (at most ``k``), nearest
    first: ``station_id``, ``slot`` (in the index), ``distance_m`` (great-circle, or network metres),
    ``travel_s`` (network mode), ``route_xy`` (network mode with routes: per station an ``(m, 2)`` lon/lat
    array in the ``route_crs`` asked), ``snap_m`` (network mode: metres from the point to its street);
    from a :class:`PointSearch` with ``route_format="geojson"``, ``route_geojson`` instead of ``route_xy``:
    per station the UTF-8 text of the route's GeoJSON LineString (the same numbers)."""

    station_id: list[str]
    slot: list[int]
    distance_m: list[float]
    mode: str = "straight"
    travel_s: list[float] | None = None
    route_xy: list[np.ndarray] | None = None
    snap_m: float | None = None
    route_geojson: list[bytes] | None = None


def nearest_point(stations: StationIndex, lon: float, lat: float, *, k: int = 1,
                  kind: str | list[str] | None = None, amenity: str | list[str] | None = None,
                  open_at: datetime | None = None, crs: str = "wgs84", mode: str | None = None,
                  graph: StreetGraph | None = None, return_routes: bool = True, index_k: int | None = None,
                  route_crs: str = "wgs84", route_decimals: int | None = None) -> PointAnswer:
    """:func:`nearest` for one point, as plain lists (what a service answering a phone needs): the same
    stations, distances, times and routes, without the ``(n, k)`` arrays. Arguments as :func:`nearest`;
    route coordinates are rounded to ``route_decimals`` when given."""
    if k < 1:
        raise ValueError("k must be at least 1")
    x, y = _query_point(lon, lat, crs=crs)
    flt = StationFilter.make(kind=kind, amenity=amenity, open_at=open_at)
    tz = get_settings().timezone
    if mode is None:
        dist, slot = stations.query(np.array([x]), np.array([y]), k=k, flt=flt, tz=tz)
        found = [i for i in range(dist.shape[1]) if slot[0, i] >= 0]
        return PointAnswer(station_id=[stations.ids[int(slot[0, i])] for i in found],
                           slot=[int(slot[0, i]) for i in found], distance_m=[float(dist[0, i]) for i in found])
    graph = _graph_for(mode, graph)
    search = point_search(stations, mode=mode, graph=graph, flt=flt, route_crs=route_crs,  # (x, y): WGS84
                          route_decimals=route_decimals, index_k=k if index_k is None else max(index_k, k))
    return search.answer(x, y, k=k, return_routes=return_routes)


_MAX_SEARCHES = 8
"""Searches kept per station selection (graphs × label widths × coordinate systems asked)."""


class PointSearch:
    """:func:`nearest_point` on the street network, prepared for one station selection (a filter without
    ``open_at``, or with it at one moment), graph and pair of coordinate systems: the label index, the
    stations' ids and slots and the compiled call (:func:`geomap.network.routing_one.one_call`) are found once,
    and a call answers a point with nothing else looked up. Valid until the station index is edited:
    :func:`point_search` keeps them on the index's selection, which an edit drops; the service keeps one
    per snapshot (which it never edits). Build with :func:`point_search`. ``route_format="geojson"``:
    routes as GeoJSON text (:attr:`PointAnswer.route_geojson`; see :func:`geomap.network.routing_one.one_call`)."""

    __slots__ = ("ask", "geojson", "ids", "index", "index_k", "max_snap_m", "mode", "slots")

    def __init__(self, sel: Selection, *, mode: str, graph: StreetGraph, index_k: int, crs: str, route_crs: str,
                 route_decimals: int | None, route_format: RouteFormat = "xy") -> None:
        self.index, _ = station_index(graph, station_lon=sel.lon, station_lat=sel.lat, station_ids=sel.ids,
                                      k=index_k, station_key=sel.key)
        self.mode, self.index_k = mode, index_k
        self.ids: list[str] = sel.ids.tolist()
        self.slots: list[int] = sel.slots.tolist()
        self.max_snap_m = float(get_settings().max_snap_m)
        self.ask = one_call(self.index, crs=route_crs, decimals=route_decimals, src=crs, route_format=route_format)
        self.geojson = route_format == "geojson"

    def __call__(self, lon: float, lat: float, *, k: int = 1, return_routes: bool = True) -> PointAnswer:
        """The stations quickest to reach from (lon, lat), in the search's input system; ``k`` ≤ its
        ``index_k``."""
        if not 1 <= k <= self.index_k:
            raise ValueError(f"k must be between 1 and {self.index_k} for this search")
        return self.answer(*_checked_point(lon, lat), k=k, return_routes=return_routes)

    def answer(self, x: float, y: float, *, k: int, return_routes: bool) -> PointAnswer:
        """:meth:`__call__` for a point already checked (floats, in the search's input system)."""
        ans = self.ask(x, y, k, self.max_snap_m, return_routes)
        tj, ids, slots = ans.targets, self.ids, self.slots
        xy, geo = (None, ans.routes) if self.geojson else (ans.routes, None)
        return PointAnswer(station_id=[ids[j] for j in tj], slot=[slots[j] for j in tj], distance_m=ans.distance_m,
                           mode=self.mode, travel_s=ans.travel_s, route_xy=xy, snap_m=ans.snap.distance_m,
                           route_geojson=geo)


def point_search(stations: StationIndex, *, mode: str, graph: StreetGraph | None = None,
                 flt: StationFilter | None = None, crs: str = "wgs84", route_crs: str = "wgs84",
                 route_decimals: int | None = None, index_k: int = 1, route_format: RouteFormat = "xy"
                 ) -> PointSearch:
    """The :class:`PointSearch` of the stations matching ``flt`` (default: all) for ``mode``; kept on the
    index's selection (so until the next edit) when the filter has no ``open_at``."""
    graph = _graph_for(mode, graph)
    sel = stations.selection(flt or StationFilter(), tz=get_settings().timezone)
    held = sel.__dict__.setdefault("_searches", {})
    key = (id(graph), index_k, crs, route_crs, route_decimals, route_format)
    hit = held.get(key)
    if hit is None or hit[0] is not graph:  # (the graph is held, so its id is not reused meanwhile)
        if len(held) >= _MAX_SEARCHES:  # each holds a label index: leave station_index's cache the bound
            held.clear()
        hit = held[key] = (graph, PointSearch(sel, mode=mode, graph=graph, index_k=index_k, crs=crs,
                                              route_crs=route_crs, route_decimals=route_decimals,
                                              route_format=route_format))
    return hit[1]


def _graph_for(mode: str, graph: StreetGraph | None) -> StreetGraph:
    """``graph``, checked to be given (ValueError listing the modes for an unknown one)."""
    if mode not in MODES:
        raise ValueError(f"unknown travel mode {mode!r}; use one of: {', '.join(MODES)}")
    if graph is None:
        raise ValueError(f"mode={mode!r} needs the street graph of that mode: graph=workspace.graph({mode!r}) "
                         "(or Workspace.nearest, which passes it)")
    return graph


def _ids_of(stations: StationIndex, slot: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    return np.array([*stations.ids, None], dtype=object)[np.where(slot >= 0, slot, len(stations.ids))]


_SCALARS = (float, int, np.floating, np.integer)


def _query_points(lon, lat, *, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate query points and convert them to WGS84 (1-D arrays)."""
    if isinstance(lon, _SCALARS) and isinstance(lat, _SCALARS):
        x, y = _query_point(lon, lat, crs=crs)
        return np.array([x]), np.array([y])
    try:
        lon_a = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
        lat_a = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"query coordinates must be numbers: {exc}") from None
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in length: {lon_a.size} vs {lat_a.size}")
    bad = ~(np.isfinite(lon_a) & np.isfinite(lat_a) & (np.abs(lon_a) <= 180) & (np.abs(lat_a) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _invalid_point(i, lon_a[i], lat_a[i])
    return coords.to_wgs84(lon_a, lat_a, src=crs)


def _query_point(lon: float, lat: float, *, crs: str) -> tuple[float, float]:
    """Validate one query point (a phone's: plain numbers) and convert it to WGS84 degrees."""
    return coords.to_wgs84_point(*_checked_point(lon, lat), src=crs)


def _checked_point(lon: float, lat: float) -> tuple[float, float]:
    """One query point as floats; ValueError unless a valid longitude / latitude (in any system)."""
    x, y = float(lon), float(lat)
    if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90):
        raise _invalid_point(0, x, y)
    return x, y


def _invalid_point(i: int, lon: float, lat: float) -> ValueError:
    return ValueError(f"query point {i} ({lon}, {lat}) is not a valid longitude/latitude "
                      "(longitude -180..180, latitude -90..90)")
