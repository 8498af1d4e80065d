"""Nearest stations to one point or to arrays of points, with kind / amenity / "open at" filters.

Two modes:

* straight line (``mode=None``): great-circle distance in metres on the WGS84 sphere (mean radius);
* network (``mode="walk" | "ebike" | "drive" | "truck"``): travel time in seconds along the street graph
  from the query point to the station, network distance in metres and the route (WGS84 LineString),
  via :func:`geomap.network.nearest.network_nearest`. After one bounded search per (graph, station set
  after filtering, k) a query is a label look-up (see ``docs/network.md``); one point is a batch of one.

Query points may be given in ``wgs84``, ``gcj02`` or ``bd09`` (``crs=``); results are WGS84. Opening hours
are evaluated in Asia/Shanghai (settings.timezone); a naive ``open_at`` datetime is taken as local time
there. Stations whose hours are unknown never count as open.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geomap import coords
from geomap.network.graph import MODES, StreetGraph
from geomap.network.nearest import NetworkNearest, network_nearest
from geomap.settings import get_settings
from geomap.stations.index import StationFilter, StationIndex


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
    query_snap_m: npt.NDArray[np.float64] | None = None
    network: NetworkNearest | None = None
    """Network mode: the network answer (its routes' vertices, :meth:`route_coords`)."""
    unrouted_id: npt.NDArray[np.object_] | None = None
    """Network mode: per query point, the matching stations too far from every street to be routed to
    (``settings.max_snap_m``), nearest first by straight line, at most ``k``: they are never in the answer,
    and a caller can say so (shape ``(n, j)``, j ≤ k; None when every matching station is on the network)."""
    unrouted_m: npt.NDArray[np.float64] | None = None
    """Their straight-line distance from the query point (metres, WGS84 sphere; inf where none)."""
    unrouted_street_m: npt.NDArray[np.float64] | None = None
    """Their distance to the nearest street (metres; inf where none)."""
    outside: npt.NDArray[np.bool_] | None = None
    """Per query point: outside the area served (when :func:`nearest` was given one)."""

    @functools.cached_property
    def status(self) -> npt.NDArray[np.object_]:
        """Per query point: ``ok`` (a station found), ``none`` (no matching station reachable: none within
        the label limit along the streets, or none matches the filters), ``far_from_streets`` (the point is
        farther than ``settings.max_snap_m`` from every street: no answer along the streets;
        ``query_snap_m`` says how far), ``outside_area`` (outside the area served, when :func:`nearest` is
        given one). One bad point never fails a batch. (Made when first asked for: a rider's one-point
        answer never needs it.)"""
        out = np.where((self.slot >= 0).any(axis=1), "ok", "none").astype(object)
        if self.network is not None:
            out[~self.network.query_ok] = "far_from_streets"
        if self.outside is not None:
            out[self.outside] = "outside_area"
        return out

    @property
    def route(self) -> npt.NDArray[np.object_] | None:
        """Network mode with routes: LineStrings in the ``route_crs`` asked (None where no station)."""
        return None if self.network is None else self.network.route

    def route_coords(self, point: int, rank: int) -> npt.NDArray[np.float64]:
        """The ``(m, 2)`` vertices of one route in the ``route_crs`` asked, without making LineStrings."""
        if self.network is None:
            raise ValueError("straight-line answers have no routes")
        return self.network.answer.route_coords(point, rank)

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
            return_routes: bool = True, index_k: int | None = None, route_crs: str = "wgs84",
            on_far: Literal["mark", "raise"] = "mark", area: shapely.Geometry | None = None) -> NearestResult:
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
    readable message for bad input. A point too far from every street gets ``status`` ``far_from_streets``
    and no answer (``on_far="mark"``, default: the rest of a batch is answered) or raises
    :class:`~geomap.network.routing.SnapError` (``on_far="raise"``). ``area``: the area served (WGS84,
    :func:`geomap.network.extent.network_extent`; a workspace gives it): points outside it get ``status``
    ``outside_area`` and no answer, whatever the mode.
    """
    res = _nearest(stations, lon, lat, k=k, kind=kind, amenity=amenity, open_at=open_at, crs=crs, mode=mode,
                   graph=graph, return_routes=return_routes, index_k=index_k, route_crs=route_crs, on_far=on_far)
    if area is not None:
        from geomap.network.extent import contains

        out = ~contains(area, res.query_lon, res.query_lat)
        if out.any():
            object.__setattr__(res, "outside", out)
            res.station_id[out] = None
            res.slot[out] = -1
            res.distance_m[out] = np.inf
            if res.travel_s is not None:
                res.travel_s[out] = np.inf
    return res


def _nearest(stations: StationIndex, lon, lat, *, k: int, kind: str | list[str] | None,
             amenity: str | list[str] | None, open_at: datetime | None, crs: str, mode: str | None,
             graph: StreetGraph | None, return_routes: bool, index_k: int | None, route_crs: str,
             on_far: Literal["mark", "raise"]) -> NearestResult:
    """:func:`nearest` without the area."""
    if k < 1:
        raise ValueError("k must be at least 1")
    flt = StationFilter.make(kind=kind, amenity=amenity, open_at=open_at)
    tz = get_settings().timezone
    if mode is None:
        lon_a, lat_a = _query_points(lon, lat, crs=crs)
        dist, slot = stations.query(lon_a, lat_a, k=k, flt=flt, tz=tz)
        return NearestResult(station_id=_ids_of(stations, slot), slot=slot, distance_m=dist,
                             query_lon=lon_a, query_lat=lat_a)
    graph = _graph_for(mode, graph)
    src = coords.normalize_crs(crs)
    raw_lon, raw_lat = _checked_points(lon, lat)  # converted to WGS84 by the compiled call
    sel = stations.selection(flt, tz=tz)
    slots = sel.slots
    ans = network_nearest(graph, station_lon=sel.lon, station_lat=sel.lat, station_ids=sel.ids, query_lon=raw_lon,
                          query_lat=raw_lat, k=k, return_routes=return_routes, index_k=index_k,
                          station_key=sel.key, route_crs=route_crs, persist=flt.open_at is None, crs=src,
                          on_far="raise" if on_far == "raise" else "skip")
    pos = ans.station_pos
    slot = slots[pos] if len(slots) else np.full(pos.shape, -1, dtype=np.int64)  # -1 reads the last: set below
    slot[pos < 0] = -1
    qlon, qlat = ans.answer.lon, ans.answer.lat
    j = min(k, len(ans.off_network_pos))
    u_id = u_m = u_street = None  # every station of the set is on the network (the usual case)
    if j:
        off = ans.off_network_pos
        d = coords.haversine_m(qlon[:, None], qlat[:, None], sel.lon[off][None, :], sel.lat[off][None, :])
        order = np.argsort(d, axis=1, kind="stable")[:, :j]
        u_m = np.take_along_axis(d, order, axis=1)
        u_id = np.asarray(sel.ids, dtype=object)[off][order]
        u_street = ans.off_network_m[order]
    return NearestResult(station_id=ans.station_id, slot=slot, distance_m=ans.distance_m,
                         query_lon=qlon, query_lat=qlat, mode=mode, travel_s=ans.travel_s,
                         query_snap_m=ans.query_snap_m, network=ans, unrouted_id=u_id, unrouted_m=u_m,
                         unrouted_street_m=u_street)


_UNROUTED_REACH_M = 10_000.0
"""With fewer stations found than asked, stations off the streets within this straight-line distance are
named (metres)."""


@dataclass(slots=True)
class PointAnswer:
    """:func:`nearest_point`'s answer for one query point, over the stations found (at most ``k``), nearest
    first: ``station_id``, ``slot`` (in the index), ``distance_m`` (great-circle, or network metres),
    ``travel_s`` (network mode), ``route_xy`` (network mode with routes: per station an ``(m, 2)`` lon/lat
    array in the ``route_crs`` asked), ``snap_m`` (network mode: metres from the point to its street)."""

    station_id: list[str]
    slot: list[int]
    distance_m: list[float]
    mode: str = "straight"
    travel_s: list[float] | None = None
    route_xy: list[np.ndarray] | None = None
    snap_m: float | None = None
    unrouted: list[tuple[str, float, float]] | None = None
    """Network mode: matching stations that cannot be routed to (too far from every street) and are nearer
    by straight line than the last station answered (or, when fewer than ``k`` were found, within the
    label limit's reach): (id, straight-line metres, metres to the nearest street), nearest first."""


def nearest_point(stations: StationIndex, lon: float, lat: float, *, k: int = 1,
                  kind: str | list[str] | None = None, amenity: str | list[str] | None = None,
                  open_at: datetime | None = None, crs: str = "wgs84", mode: str | None = None,
                  graph: StreetGraph | None = None, return_routes: bool = True, index_k: int | None = None,
                  route_crs: str = "wgs84", route_decimals: int | None = None) -> PointAnswer:
    """:func:`nearest` for one point, as plain lists (what a service answering a phone needs): the same
    stations, distances, times and routes (the very same path: one point is a batch of one). Arguments
    as :func:`nearest`; route coordinates are rounded to ``route_decimals`` when given."""
    res = nearest(stations, float(lon), float(lat), k=k, kind=kind, amenity=amenity, open_at=open_at, crs=crs,
                  mode=mode, graph=graph, return_routes=return_routes, index_k=index_k, route_crs=route_crs,
                  on_far="raise")
    slot = res.slot[0].tolist()
    found = [r for r in range(res.k) if slot[r] >= 0]
    sid, dist_m = res.station_id[0].tolist(), res.distance_m[0].tolist()
    ans = PointAnswer(station_id=[sid[r] for r in found], slot=[slot[r] for r in found],
                      distance_m=[dist_m[r] for r in found], mode=res.mode)
    if res.travel_s is not None:
        travel_s = res.travel_s[0].tolist()
        ans.travel_s = [travel_s[r] for r in found]
        ans.snap_m = float(res.query_snap_m[0]) if res.query_snap_m is not None else None
    if res.network is not None and return_routes:
        ans.route_xy = res.network.answer.point_routes(0, ranks=found, decimals=route_decimals)
    if res.unrouted_id is not None and res.unrouted_id.shape[1]:
        reach = ans.distance_m[-1] if len(found) == k else _UNROUTED_REACH_M
        ans.unrouted = [(str(i), float(m), float(sm)) for i, m, sm in
                        zip(res.unrouted_id[0], res.unrouted_m[0], res.unrouted_street_m[0], strict=True)
                        if i is not None and m <= reach]
    return ans


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
    return coords.to_wgs84(*_checked_points(lon, lat), src=crs)


def _checked_points(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Query points as 1-D float arrays; ValueError naming the first that is not a valid longitude /
    latitude (in any system)."""
    if isinstance(lon, _SCALARS) and isinstance(lat, _SCALARS):
        x, y = _checked_point(lon, lat)
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
    return lon_a, lat_a


def _checked_point(lon: float, lat: float) -> tuple[float, float]:
    """One query point as floats; ValueError unless a valid longitude / latitude (in any system)."""
    x, y = float(lon), float(lat)
    if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90):
        raise _invalid_point(0, x, y)
    return x, y


def _invalid_point(i: int, lon: float, lat: float) -> ValueError:
    return ValueError(f"query point {i} ({lon}, {lat}) is not a valid longitude/latitude "
                      "(longitude -180..180, latitude -90..90)")
