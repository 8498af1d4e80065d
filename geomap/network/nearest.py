"""Nearest stations along the street network: travel time, distance and the route to ride.

Coordinates are WGS84 longitude/latitude in degrees; ``travel_s`` seconds; ``distance_m`` metres along
the network. The travel direction is *from the query point to the station* (one-way streets honoured).

The first call for a (graph, station set, k) pair builds a :class:`~geomap.network.routing.TargetIndex` (per-node
labels of the k quickest stations, see ``docs/network.md``) and keeps it in memory on the graph, keyed by
a hash of the station ids and coordinates; later calls for the same stations are index look-ups plus
the snapping of the query points. Callers filter stations (kind, amenity, open at) by passing only the
matching ones.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely

from geomap import coords
from geomap.network.graph import StreetGraph
from geomap.network.routing import Answer, Snapped, TargetIndex, snap_points
from geomap.network.routing_one import answer_one
from geomap.settings import get_settings

__all__ = ["NetworkNearest", "network_nearest", "station_index"]

_MAX_CACHED_INDEXES = 16


@dataclass
class NetworkNearest:
    """Answer of :func:`network_nearest`; arrays of shape ``(n_queries, k)``, rank 0 the quickest.

    ``station_id`` (object array; None where no station is reachable), ``station_pos`` (position in the
    station arrays passed in, -1 for none), ``travel_s`` (inf for none), ``distance_m`` (network metres),
    ``route`` (WGS84 LineStrings from the query's snapped position to the station's, or None),
    ``query_snap_m`` (straight-line metres from each query point to the network; inf if not snapped),
    ``query_ok`` (the query point was within ``max_snap_m`` of a street).
    """

    station_id: npt.NDArray[np.object_]
    station_pos: npt.NDArray[np.int64]
    travel_s: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]
    route: npt.NDArray[np.object_] | None
    query_snap_m: npt.NDArray[np.float64]
    query_ok: npt.NDArray[np.bool_]

    def to_frame(self) -> Any:
        """Long table, one row per (query, rank): a GeoDataFrame (EPSG:4326) with the route geometry."""
        import geopandas as gpd

        q, k = self.travel_s.shape
        data = {
            "query": np.repeat(np.arange(q), k),
            "rank": np.tile(np.arange(k), q),
            "station_id": self.station_id.ravel(),
            "travel_s": self.travel_s.ravel(),
            "distance_m": self.distance_m.ravel(),
            "query_snap_m": np.repeat(self.query_snap_m, k),
        }
        geom = self.route.ravel() if self.route is not None else np.full(q * k, None, dtype=object)
        return gpd.GeoDataFrame(data, geometry=list(geom), crs="EPSG:4326")


def _stations_hash(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], ids: npt.NDArray[Any], extra: str
) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(lon, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(lat, dtype=np.float64).tobytes())
    h.update("\x1f".join(map(str, ids.tolist())).encode())
    h.update(extra.encode())
    return h.hexdigest()


def station_index(
    graph: StreetGraph,
    *,
    station_lon: npt.ArrayLike,
    station_lat: npt.ArrayLike,
    station_ids: npt.ArrayLike | None = None,
    k: int = 1,
    limit_s: float | None = None,
    max_snap_m: float | None = None,
    station_key: str | None = None,
) -> tuple[TargetIndex, Snapped]:
    """The (cached) :class:`TargetIndex` of a station set on ``graph``.

    Stations farther than ``max_snap_m`` from every street are left out of the index (they are never
    returned); ``Snapped.ok`` / ``distance_m`` of the second return value say which and how far.
    ``station_key``: a name the caller guarantees for exactly these stations (ids, coordinates, order),
    e.g. :meth:`geomap.stations.index.StationIndex.selection`'s key; without it the arrays are hashed.
    A key not seen before is also looked up by content, so an edit that moved no station (a new name,
    opening hours, phone) reuses the labels instead of rebuilding them (one Dijkstra per station).
    """
    extra = f"k={k};limit={limit_s};snap={max_snap_m}"
    cache: OrderedDict[str, tuple[TargetIndex, Snapped]] = graph.__dict__.setdefault(
        "_station_indexes", OrderedDict()
    )
    key = None if station_key is None else f"{station_key};{extra}"
    hit = None if key is None else cache.get(key)
    if hit is not None:  # a named set asked before: the look-up is all a query pays
        cache.move_to_end(key)
        return hit
    lon = np.atleast_1d(np.asarray(station_lon, dtype=np.float64))
    lat = np.atleast_1d(np.asarray(station_lat, dtype=np.float64))
    ids = np.arange(len(lon)) if station_ids is None else np.atleast_1d(np.asarray(station_ids, dtype=object))
    if not (len(lon) == len(lat) == len(ids)):
        raise ValueError("station_lon, station_lat and station_ids must have the same length")
    content = _stations_hash(lon, lat, ids, extra)
    key = key or content
    hit = cache.get(content)
    if hit is None:
        hit = _extend_cached(graph, cache, lon, lat, ids, extra=extra, max_snap_m=max_snap_m)
    if hit is None:
        snapped = snap_points(graph, lon, lat, max_snap_m=max_snap_m, errors="ignore")
        hit = (TargetIndex(graph, snapped, k=k, limit_s=limit_s), snapped)
    hit[0].__dict__["_station_set"] = (lon, lat, ids, extra)
    cache[content] = cache[key] = hit
    cache.move_to_end(content)
    cache.move_to_end(key)
    while len(cache) > _MAX_CACHED_INDEXES:
        cache.popitem(last=False)
    return hit


def _extend_cached(graph: StreetGraph, cache: OrderedDict[str, tuple[TargetIndex, Snapped]], lon: Any, lat: Any,
                   ids: Any, *, extra: str, max_snap_m: float | None) -> tuple[TargetIndex, Snapped] | None:
    """A cached index whose stations are the first of these (stations were added at the end, as new
    registry rows are), extended by the others (:meth:`TargetIndex.extended`: a Dijkstra per new
    station instead of one per station); None when there is none."""
    best: tuple[TargetIndex, Snapped] | None = None
    for index, snapped in cache.values():
        old = index.__dict__.get("_station_set")
        if old is None or old[3] != extra or not len(old[0]) < len(lon):
            continue
        m = len(old[0])
        if (np.array_equal(old[0], lon[:m]) and np.array_equal(old[1], lat[:m])
                and bool((old[2] == ids[:m]).all()) and (best is None or m > best[0].n_targets)):
            best = (index, snapped)
    if best is None:
        return None
    m = best[0].n_targets
    more = snap_points(graph, lon[m:], lat[m:], max_snap_m=max_snap_m, errors="ignore")
    index = best[0].extended(more)
    return index, index.targets


def network_nearest(
    graph: StreetGraph,
    *,
    station_lon: npt.ArrayLike,
    station_lat: npt.ArrayLike,
    station_ids: npt.ArrayLike | None = None,
    query_lon: npt.ArrayLike,
    query_lat: npt.ArrayLike,
    k: int = 1,
    return_routes: bool = True,
    limit_s: float | None = None,
    max_snap_m: float | None = None,
    on_far: Literal["raise", "skip"] = "raise",
    index_k: int | None = None,
    station_key: str | None = None,
    route_crs: str = "wgs84",
) -> NetworkNearest:
    """The ``k`` stations quickest to reach from each query point along ``graph`` (WGS84 degrees).

    Exact: equal to a Dijkstra from each snapped query point to every snapped station (partial streets at
    both ends; a station on the query's own street is reached directly along it where the direction
    allows). ``limit_s`` optionally bounds the precompute: stations farther than that are reported as
    unreachable. Query points farther than ``max_snap_m`` (default ``settings.max_snap_m``) from every
    street raise :class:`~geomap.network.routing.SnapError` (message in Chinese and English, with the distance),
    or, with ``on_far="skip"``, get no station (``query_ok`` False). Unreachable stations (another
    component, one-way dead ends) give ``travel_s = inf`` and ``station_id = None``. ``index_k`` (≥ ``k``,
    default ``k``): labels kept per node in the cached index, so that one index serves every ``k`` up to it.
    ``station_key``: see :func:`station_index`. ``route_crs``: coordinate system of the routes (wgs84,
    gcj02 or bd09; the other outputs stay WGS84). One query point takes the compiled one-point path
    (:func:`network_nearest_point`; same answer).
    """
    q_lon = np.atleast_1d(np.asarray(query_lon, dtype=np.float64)).ravel()
    q_lat = np.atleast_1d(np.asarray(query_lat, dtype=np.float64)).ravel()
    if len(q_lon) == 1 and len(q_lat) == 1 and on_far == "raise":  # one point: plain lists, then (1, k)
        one = network_nearest_point(graph, station_lon=station_lon, station_lat=station_lat,
                                    station_ids=station_ids, lon=float(q_lon[0]), lat=float(q_lat[0]), k=k,
                                    return_routes=return_routes, limit_s=limit_s, max_snap_m=max_snap_m,
                                    index_k=index_k, station_key=station_key, route_crs=route_crs)
        pad = k - len(one.station_pos)
        sid = np.empty((1, k), dtype=object)
        sid[0, :] = [*one.station_id, *([None] * pad)]
        route = None
        if one.route_xy is not None:
            route = np.empty((1, k), dtype=object)
            route[0, :] = [*(shapely.linestrings(xy) for xy in one.route_xy), *([None] * pad)]
        return NetworkNearest(station_id=sid, station_pos=np.array([one.station_pos + [-1] * pad], dtype=np.int64),
                              travel_s=np.array([one.travel_s + [np.inf] * pad]),
                              distance_m=np.array([one.distance_m + [np.inf] * pad]), route=route,
                              query_snap_m=np.array([one.snap_m]), query_ok=np.array([True]))
    index_k = k if index_k is None else max(int(index_k), k)
    index, st_snap = station_index(
        graph, station_lon=station_lon, station_lat=station_lat, station_ids=station_ids, k=index_k,
        limit_s=limit_s, max_snap_m=max_snap_m, station_key=station_key,
    )
    ids = (
        np.arange(len(st_snap)) if station_ids is None
        else np.atleast_1d(np.asarray(station_ids, dtype=object))
    )
    qs = snap_points(
        graph, q_lon, q_lat, max_snap_m=max_snap_m, errors="raise" if on_far == "raise" else "ignore"
    )
    ans: Answer = index.query(qs, k=k, return_routes=return_routes)
    sid = np.full(ans.target.shape, None, dtype=object)
    has = ans.target >= 0
    sid[has] = ids[ans.target[has]]
    if ans.geometry is not None and coords.normalize_crs(route_crs) != "wgs84":
        dst = coords.normalize_crs(route_crs)
        ans.geometry = shapely.transform(
            ans.geometry, lambda xy: np.column_stack(coords.from_wgs84(xy[:, 0], xy[:, 1], dst=dst)))
    return NetworkNearest(
        station_id=sid,
        station_pos=ans.target,
        travel_s=ans.travel_s,
        distance_m=ans.distance_m,
        route=ans.geometry,
        query_snap_m=qs.distance_m,
        query_ok=qs.ok,
    )


@dataclass(slots=True)
class PointNearest:
    """Answer of :func:`network_nearest_point` for one query point, over the reachable stations among the
    ``k`` quickest, quickest first: ``station_id``, ``station_pos`` (position in the station arrays passed
    in), ``travel_s`` seconds, ``distance_m`` network metres, ``route_xy`` (per station an ``(m, 2)``
    lon/lat array in ``route_crs``, or None when routes were not asked), and ``snap_m``: straight-line
    metres from the point to the street it was placed on."""

    station_id: list[Any]
    station_pos: list[int]
    travel_s: list[float]
    distance_m: list[float]
    route_xy: list[npt.NDArray[np.float64]] | None
    snap_m: float


def network_nearest_point(
    graph: StreetGraph,
    *,
    station_lon: npt.ArrayLike,
    station_lat: npt.ArrayLike,
    station_ids: npt.ArrayLike | None = None,
    lon: float,
    lat: float,
    k: int = 1,
    return_routes: bool = True,
    limit_s: float | None = None,
    max_snap_m: float | None = None,
    index_k: int | None = None,
    station_key: str | None = None,
    route_crs: str = "wgs84",
    route_decimals: int | None = None,
) -> PointNearest:
    """:func:`network_nearest` for one WGS84 point, as plain lists (a phone's request): the same answer
    through the compiled kernels of :mod:`geomap.network.routing_one`, without building ``(1, k)`` arrays or
    shapely lines; route coordinates in ``route_crs``, rounded to ``route_decimals`` when given. Raises
    :class:`~geomap.network.routing.SnapError` for a point too far from every street."""
    index_k = k if index_k is None else max(int(index_k), k)
    index, _ = station_index(graph, station_lon=station_lon, station_lat=station_lat, station_ids=station_ids,
                             k=index_k, limit_s=limit_s, max_snap_m=max_snap_m, station_key=station_key)
    limit = float(get_settings().max_snap_m if max_snap_m is None else max_snap_m)
    ans = answer_one(index, lon, lat, k=k, max_snap_m=limit, routes=return_routes, crs=route_crs,
                     decimals=route_decimals)
    tj = ans.targets
    ids = range(index.n_targets) if station_ids is None else np.atleast_1d(np.asarray(station_ids, dtype=object))
    return PointNearest(station_id=[ids[j] for j in tj], station_pos=tj, travel_s=ans.travel_s,
                        distance_m=ans.distance_m, route_xy=ans.routes, snap_m=ans.snap.distance_m)
