"""Read endpoints: stations, nearest, service circles, health. Thin: each calls one library function.

Handlers that answer from memory in a few milliseconds (``/stations``, ``/nearest``) are ``async`` and
run on the event loop (no thread hop; they read one :class:`~geomap.api.state.Snapshot`); service
circles run in a worker thread (see :mod:`geomap.api.state`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from geomap import coords, vocab
from geomap.api.deps import ApiError, QueryModelRoute, State, StationId
from geomap.api.models import (
    CrsQuery,
    Health,
    IsochroneCollection,
    IsochroneQuery,
    NearestCollection,
    NearestQuery,
    StationCollection,
    StationFeature,
    StationsQuery,
    parse_open_at,
)
from geomap.api.state import LABEL_K, ServiceState, Snapshot
from geomap.navigation import ORIGIN_NAME, NavPoint, nav_point, nav_url, nav_urls
from geomap.nearest import nearest_point
from geomap.network.routing import SnapError
from geomap.stations.hours import OpeningHours, parse_osm
from geomap.stations.index import StationFilter

router = APIRouter(route_class=QueryModelRoute)

_ERR = {422: {"description": "Invalid parameter (the message lists the valid values), or the point is too "
                             "far from the street network (detail.distance_m says how far)"}}


def _r(x: float, nd: int = 7) -> float:
    return round(float(x), nd)


def _round1(x: float) -> float:
    """``x`` ≥ 0 to one decimal, half up: a quarter of ``round(x, 1)``'s time (which goes through a decimal
    string); the two differ only at a tie (…x5, within a rounding error), by 0.1."""
    return math.floor(x * 10.0 + 0.5) / 10.0


class JsonResponse(Response):
    """JSON with orjson (UTF-8, NaN/inf as null; numpy values allowed): the read answers carry hundreds of
    route coordinates, which the standard json module spends most of a request on."""

    media_type = "application/json"
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=self.options)


@dataclass(frozen=True)
class StationView:
    """What every answer repeats about one station, worked out once per snapshot: its GeoJSON properties
    (all :class:`Station` fields except lon/lat, plus Chinese labels; not ``open_now``), its parsed
    opening hours, its Feature's JSON text around the answer's own fields (:attr:`feature_head`, with the
    position in each coordinate system: :attr:`geometry_tail`) and the station as a navigation target."""

    props: dict[str, Any]
    feature_head: bytes
    """The station's GeoJSON Feature as JSON text up to its properties' own fields: ``{"type":"Feature",
    "id":…,"properties":{`` with ``props``, and a comma; a ``/nearest`` answer writes its fields after it."""
    geometry_tail: dict[str, bytes]
    """By coordinate system, the text that closes the properties and the Feature with its Point geometry
    (position rounded to 1e-7 degree)."""
    hours: OpeningHours | None
    target: NavPoint
    """The station for the map apps' navigation links (GCJ-02 and BD-09, its name; :mod:`geomap.navigation`)."""
    _open: list[Any] = field(default_factory=lambda: [(None, None)], compare=False, repr=False)
    """The last (local time, open) answered: requests within the same minute ask the same."""
    _wait: list[Any] = field(default_factory=lambda: [(None, None)], compare=False, repr=False)
    """The last (local time, when it opens next as text) answered."""

    def open_now(self, local: tuple[int, int]) -> bool | None:
        """Whether open at ``local`` = (weekday, minute of the day), local time (None when the hours are
        unknown)."""
        if self.hours is None:
            return None
        seen, is_open = self._open[0]
        if seen != local:
            is_open = self.hours.is_open_local(*local)
            self._open[0] = (local, is_open)
        return is_open

    def opens_next(self, local: tuple[int, int], moment: datetime) -> str | None:
        """When the station next opens, closed at ``moment`` (aware local time, whole minute; ``local`` its
        weekday and minute): ISO 8601 local time with its offset, e.g. ``2026-12-07T08:30:00+08:00``. None
        when open then or the hours are unknown (:meth:`OpeningHours.minutes_to_open_local`)."""
        if self.hours is None:
            return None
        seen, text = self._wait[0]
        if seen != (local, moment):
            wait = self.hours.minutes_to_open_local(*local)
            text = None if not wait else (moment + timedelta(minutes=wait)).isoformat()
            self._wait[0] = ((local, moment), text)
        return text

    def properties(self, local: tuple[int, int]) -> dict[str, Any]:
        """The properties with ``open_now`` at ``local`` (see :meth:`open_now`)."""
        return {**self.props, "open_now": self.open_now(local)}


def station_view(snap: Snapshot, station_id: str) -> StationView:
    """The (cached) :class:`StationView` of station ``station_id`` in ``snap`` (its record made into a
    :class:`Station` only the first time)."""
    view = snap.cache.get(station_id)  # a snapshot's records never change, so its cache never goes stale
    if view is None:
        st = snap.stations[station_id]
        d = st.model_dump(exclude={"lon", "lat"})
        kinds, amen = vocab.kinds(), vocab.amenities()
        d["kind_labels"] = [kinds.terms[k].label for k in st.kinds if k in kinds.terms]
        d["amenity_labels"] = [amen.terms[k].label for k in st.amenities if k in amen.terms]
        pos = {crs: tuple(float(v) for v in coords.from_wgs84(st.lon, st.lat, dst=crs)) for crs in coords.COORD_SYSTEMS}
        view = StationView(props=d, feature_head=b'{"type":"Feature","id":%b,"properties":%b,' % (
                               orjson.dumps(st.id), orjson.dumps(d)[:-1]),
                           geometry_tail={k: b'},"geometry":{"type":"Point","coordinates":%b}}' % orjson.dumps(
                               [_r(x), _r(y)]) for k, (x, y) in pos.items()},
                           hours=parse_osm(st.opening_hours) if st.opening_hours else None,
                           target=nav_point(st.lon, st.lat, st.name))
        snap.cache[st.id] = view
    return view


def _filter(q: Any) -> StationFilter:
    return StationFilter.make(kind=q.kind, amenity=q.amenity, open_at=parse_open_at(q.open_at))


_NOW: list[Any] = [(None, None)]
"""The last ((UTC minute, zone), ((weekday, minute), local time)) answered: every request within a minute
asks the same (zones in use are whole minutes off UTC, so the local minute turns when the UTC minute does)."""


def _local_moment(state: ServiceState) -> tuple[tuple[int, int], datetime]:
    """Now in the service's time zone (Asia/Shanghai): (weekday, minute of the day) and the aware local time
    at the start of that minute."""
    key = (int(time.time() // 60), state.settings.timezone)
    seen, now = _NOW[0]
    if seen != key:
        moment = datetime.fromtimestamp(key[0] * 60, UTC).astimezone(ZoneInfo(key[1]))
        now = ((moment.weekday(), moment.hour * 60 + moment.minute), moment)
        _NOW[0] = (key, now)
    return now


def _local_now(state: ServiceState) -> tuple[int, int]:
    """Weekday and minute of the day now, in the service's time zone (Asia/Shanghai)."""
    return _local_moment(state)[0]


def _moment_at(state: ServiceState, at: datetime) -> tuple[tuple[int, int], datetime]:
    """As :func:`_local_moment`, for the moment ``at`` (aware) instead of now."""
    moment = at.astimezone(ZoneInfo(state.settings.timezone)).replace(second=0, microsecond=0)
    return (moment.weekday(), moment.hour * 60 + moment.minute), moment


def _stations_fc(state: ServiceState, snap: Snapshot, slots: np.ndarray, crs: str) -> dict[str, Any]:
    ids = [snap.index.ids[i] for i in slots.tolist()]
    lon, lat = coords.from_wgs84(snap.index.lon[slots], snap.index.lat[slots], dst=crs)
    local = _local_now(state)
    feats = [{"type": "Feature", "id": sid, "geometry": {"type": "Point", "coordinates": [_r(a), _r(b)]},
              "properties": station_view(snap, sid).properties(local)}
             for sid, a, b in zip(ids, lon.tolist(), lat.tolist(), strict=True)]
    return {"type": "FeatureCollection", "coord_system": crs, "count": len(feats), "features": feats}


@router.get("/stations", response_model=StationCollection, tags=["stations"], responses=_ERR,
            summary="List stations (GeoJSON), filtered by kind, amenity, open at, bbox")
async def list_stations(state: State, q: Annotated[StationsQuery, Query()]) -> Response:
    snap = state.current()
    mask = snap.index.mask(_filter(q), tz=state.settings.timezone)
    slots = np.flatnonzero(mask)
    if q.bbox:
        w, s, e, n = (float(x) for x in q.bbox.split(","))
        lon, lat = coords.from_wgs84(snap.index.lon[slots], snap.index.lat[slots], dst=q.crs)
        slots = slots[(lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)]
    return JsonResponse(_stations_fc(state, snap, slots, q.crs))


@router.get("/stations/{station_id}", response_model=StationFeature, tags=["stations"],
            responses={404: {"description": "No station with this id"}}, summary="One station (GeoJSON Feature)")
async def get_station(station_id: StationId, state: State, q: Annotated[CrsQuery, Query()]) -> Response:
    snap = state.current()
    slot = snap.index.slot_of.get(station_id)
    if slot is None:
        raise ApiError(404, "no_such_station", f"没有编号为 {station_id!r} 的站点 / no station with this id")
    return JsonResponse(_stations_fc(state, snap, np.array([slot]), q.crs)["features"][0])


def _unrouted(snap: Snapshot, res: Any) -> list[dict[str, Any]]:
    """The stations left out of a network answer because no street reaches them (far from every street),
    nearer by straight line than the answer's last station: named, never dropped silently."""
    out = []
    for sid, straight_m, street_m in res.unrouted or []:
        st = snap.stations[sid]
        far = "附近没有道路数据" if not math.isfinite(street_m) else f"离最近的道路约 {_round_m(street_m)} 米"
        out.append({"id": sid, "name": st.name, "straight_m": _round1(straight_m),
                    "street_m": None if not math.isfinite(street_m) else _round1(street_m),
                    "note": f"{st.name}：直线约 {_round_m(straight_m)} 米，但{far}，无法按路网计算时间"})
    return out


def _round_m(m: float) -> str:
    """Metres as people write them: 331 米 → “330”, 1,234 → “1,200”."""
    return f"{round(m, -1):,.0f}" if m < 1000 else f"{round(m, -2):,.0f}"


STRAIGHT_SUGGEST_M = 20_000.0
"""A point outside the area served gets the nearest stations by straight line when they are this close."""


def _straight_line(snap: Snapshot, lon: float, lat: float) -> list[dict[str, Any]]:
    """The three stations nearest to a WGS84 point by straight line, within :data:`STRAIGHT_SUGGEST_M`."""
    dist, slot = snap.index.query(np.array([lon]), np.array([lat]), k=3)
    return [{"id": snap.index.ids[j], "name": snap.stations[snap.index.ids[j]].name, "straight_m": _round1(d)}
            for d, j in zip(dist[0].tolist(), slot[0].tolist(), strict=True) if j >= 0 and d <= STRAIGHT_SUGGEST_M]


def _check_area(state: ServiceState, snap: Snapshot, q: Any) -> None:
    """Raise the ``outside_area`` answer when the query point lies outside the area the service's streets
    cover (:func:`geomap.network.extent.network_extent`)."""
    from geomap.network.extent import contains

    lon, lat = (float(v) for v in coords.to_wgs84(q.lon, q.lat, src=q.crs))
    if contains(state.area, lon, lat)[0]:
        return
    ws = state.workspace
    near = _straight_line(snap, lon, lat)
    hint = ("；按直线距离，最近的站点是" + "、".join(f"{n['name']}（约 {_round_m(n['straight_m'])} 米）" for n in near)
            if near else "")
    raise ApiError(422, "outside_area", f"您的位置不在本服务范围（{ws.area_label}）内{hint} / the point is outside "
                   f"the area this service covers ({ws.area_label})", area_label=ws.area_label, straight_line=near)


def _no_network_answer(state: ServiceState, snap: Snapshot, q: Any, exc: SnapError) -> ApiError:
    """The 422 for a point the streets cannot take: outside the area served (named), or inside it but far
    from every street (the true distance)."""
    from geomap.network.routing import snap_points

    _check_area(state, snap, q)
    lon, lat = (float(v) for v in coords.to_wgs84(q.lon, q.lat, src=q.crs))
    graph = state.graphs.get(q.mode) or next(iter(state.graphs.values()))
    d = float(snap_points(graph, lon, lat, max_snap_m=50_000.0, errors="ignore", prefer_core=False).distance_m[0])
    far = f"离最近的道路约 {_round_m(d)} 米" if math.isfinite(d) else "附近没有道路"
    limit = f"{exc.max_snap_m:,.0f}"
    return ApiError(422, "far_from_network", f"该位置{far}，超过可接入路网的 {limit} 米：请移到路边再查，或在地图上选点"
                    f" / the point is {d:,.0f} m from the nearest street, more than {limit} m",
                    distance_m=_r(d, 1) if math.isfinite(d) else None, max_snap_m=exc.max_snap_m)


def _none_found(state: ServiceState, snap: Snapshot, q: Any, mode: str | None,
                flt_open: datetime | None) -> dict[str, Any]:
    """What to say when no station was found: why (no filter set: nothing within reach of this mode; with
    filters: nothing that matches), what the other modes reach (:func:`_other_modes`) and the nearest
    stations by straight line, labelled as such."""
    from geomap.network.graph import load_profiles

    filtered = bool(q.kind or q.amenity or q.open_at)
    if mode is None:
        why = "附近没有符合条件的站点" + ("，试试减少筛选条件" if filtered else "")
    else:
        label = load_profiles()[mode].label or mode
        limit = f"{state.settings.label_limit_minutes:g}"
        why = (f"{label} {limit} 分钟内没有符合条件的站点，试试减少筛选条件" if filtered
               else f"{label} {limit} 分钟内沿道路到不了任何站点")
    lon, lat = (float(v) for v in coords.to_wgs84(q.lon, q.lat, src=q.crs))
    near = _straight_line(snap, lon, lat)
    return {"message": why, "straight_line": near if mode is not None else [],
            "other_modes": _other_modes(state, snap, q, mode, flt_open) if mode is not None else []}


OTHER_MODES_K = 3
"""How many stations each other mode names when the asked mode reaches none."""


def _other_modes(state: ServiceState, snap: Snapshot, q: Any, mode: str, flt_open: datetime | None
                 ) -> list[dict[str, Any]]:
    """When ``mode`` reaches no matching station: the nearest by each other loaded mode (same filters, the
    same time limit), quickest first within a mode, modes in the service's order; a mode that reaches none
    or whose streets do not take the point is left out. Only on this path: each (mode, filter) pays its own
    bounded search once, like any first query."""
    from geomap.network.graph import load_profiles

    profiles = load_profiles()
    out = []
    for other, graph in state.graphs.items():
        if other == mode:
            continue
        try:
            res = nearest_point(snap.index, q.lon, q.lat, k=min(q.k, OTHER_MODES_K), kind=q.kind, amenity=q.amenity,
                                open_at=flt_open, crs=q.crs, mode=other, graph=graph, return_routes=False,
                                index_k=LABEL_K)
        except SnapError:
            continue
        if not res.station_id or res.travel_s is None:
            continue
        out.append({"mode": other, "label": profiles[other].label or other, "stations": [
            {"id": sid, "name": snap.stations[sid].name, "travel_s": _round1(t), "travel_minutes": _round1(t / 60),
             "distance_m": _round1(d)}
            for sid, t, d in zip(res.station_id, res.travel_s, res.distance_m, strict=True)]})
    return out


def _is_now(text: str) -> bool:
    return text.strip().lower() in ("now", "现在")


def nearest_body(state: ServiceState, q: NearestQuery) -> bytes:
    """The ``/nearest`` answer as JSON text (UTF-8): a GeoJSON FeatureCollection of the stations found
    (:func:`geomap.nearest.nearest_point`), each with its answer's fields (open now or when it opens next,
    rank, travel time, network distance, the route, the map apps' navigation links from the query point).
    Per station, the text of its Feature around those fields is written once per snapshot
    (:class:`StationView`). Opening states are for ``q.at`` (default now), and so is ``open_at=now``."""
    snap = state.current()
    at = None if q.at is None else parse_open_at(q.at, tz=state.settings.timezone)
    local, moment = _local_moment(state) if at is None else _moment_at(state, at)
    flt_open = None if q.open_at is None else (at if at is not None and _is_now(q.open_at)
                                                else parse_open_at(q.open_at, tz=state.settings.timezone))
    mode = None if q.mode == "straight" else q.mode
    out_crs = q.out_crs or q.crs
    if mode is not None and mode not in state.graphs:
        raise ApiError(422, "no_network", f"该服务没有加载 {mode} 路网 / no street network loaded for mode "
                       f"{mode!r}; loaded: {', '.join(state.graphs) or 'none'} (or use mode=straight)")
    try:
        res = nearest_point(snap.index, q.lon, q.lat, k=q.k, kind=q.kind, amenity=q.amenity, open_at=flt_open,
                            crs=q.crs, mode=mode, graph=state.graphs.get(mode) if mode else None,
                            return_routes=q.route, index_k=LABEL_K,  # one label set serves every k ≤ 5
                            route_crs=out_crs, route_decimals=7)
    except SnapError as exc:
        raise _no_network_answer(state, snap, q, exc) from None
    if mode is None and state.graphs:  # by straight line: a point in another city is still outside the area
        _check_area(state, snap, q)
    nav_mode = mode or "ebike"
    apps = q.nav.split(",")
    # routes in the apps start where the answer does; AMap's link is always written (amap_nav_url)
    origin = nav_point(q.lon, q.lat, ORIGIN_NAME, crs=q.crs, apps=apps if "amap" in apps else [*apps, "amap"])
    parts = [orjson.dumps({"type": "FeatureCollection", "coord_system": out_crs, "mode": q.mode,
                           "query": {"lon": q.lon, "lat": q.lat, "crs": q.crs,
                                     "snap_m": None if res.snap_m is None else _round1(res.snap_m)},
                           "at": moment.isoformat(),
                           "open_at": flt_open.isoformat() if flt_open else None,
                           "count": len(res.station_id), "unrouted": _unrouted(snap, res),
                           **(_none_found(state, snap, q, mode, flt_open) if not res.station_id else {})})[:-1],
             b',"features":[']
    for n, sid in enumerate(res.station_id):
        view = station_view(snap, sid)
        travel = None if res.travel_s is None else _round1(res.travel_s[n])
        route = None if res.route_xy is None else {"type": "LineString", "coordinates": res.route_xy[n]}
        urls = nav_urls(view.target, mode=nav_mode, origin=origin, apps=apps)
        own = orjson.dumps({"open_now": view.open_now(local), "opens_next": view.opens_next(local, moment),
                            "rank": n + 1, "travel_s": travel,
                            "travel_minutes": None if travel is None else _round1(travel / 60),
                            "distance_m": _round1(res.distance_m[n]), "route": route,
                            "amap_nav_url": urls.get("amap") or nav_url("amap", view.target, mode=nav_mode,
                                                                            origin=origin),
                            "nav_urls": urls}, option=orjson.OPT_SERIALIZE_NUMPY)
        parts += (b"," if n else b"", view.feature_head, memoryview(own)[1:-1], view.geometry_tail[out_crs])
    parts.append(b"]}")
    return b"".join(parts)


def warm_nearest(state: ServiceState) -> None:
    """Answer one ``/nearest`` per loaded mode at start: the labels of the unfiltered stations and the
    compiled kernels are then ready before the first rider asks."""
    for mode, graph in state.graphs.items():
        lon, lat = graph.centre_lonlat
        with contextlib.suppress(ApiError):  # the centre may be off-street
            nearest_body(state, NearestQuery(lon=lon, lat=lat, crs="wgs84", mode=mode))


@router.get("/nearest", response_model=NearestCollection, tags=["nearest"], responses=_ERR,
            summary="Nearest stations by travel time along the streets (or straight line)")
async def get_nearest(state: State, q: Annotated[NearestQuery, Query()]) -> Response:
    """Ranked stations quickest to reach from the point (travel seconds, network metres, open now, route).

    Filters combine: `kind` (any of), `amenity` (all of), `open_at`. Stations that cannot be reached
    along the streets are left out, so `count` may be less than `k`."""
    return Response(nearest_body(state, q), media_type="application/json")


def _isochrones(state: ServiceState, q: IsochroneQuery, snap: Snapshot) -> dict[str, Any]:
    from geomap.network.isochrones import isochrones

    if q.mode not in state.graphs:
        raise ApiError(422, "no_network", f"no street network loaded for mode {q.mode!r} / 未加载该路网")
    if q.station:
        st = snap.stations.get(q.station)
        if st is None:
            raise ApiError(404, "no_such_station", f"没有编号为 {q.station!r} 的站点 / no station with this id")
        lon, lat, origin = st.lon, st.lat, st.id
    else:
        lon, lat = coords.to_wgs84(q.lon, q.lat, src=q.crs)
        origin = f"{q.lon},{q.lat}"
    try:
        with state.iso_lock:
            fc = isochrones(state.graphs[q.mode], lon=float(lon), lat=float(lat), minutes=q.minutes_list,
                            origin_ids=[origin], crs=q.crs, as_geojson=True)
    except SnapError as exc:
        raise ApiError(422, "far_from_network", str(exc), distance_m=_r(exc.distance_m[0], 1),
                       max_snap_m=exc.max_snap_m) from None
    feats = [{"type": "Feature", "geometry": f["geometry"],
              "properties": {"origin_id": str(f["properties"]["origin_id"]), "minutes": f["properties"]["minutes"],
                             "area_km2": round(f["properties"]["area_km2"], 4), "mode": q.mode}}
             for f in fc["features"]]
    return {"type": "FeatureCollection", "coord_system": q.crs, "features": feats}


@router.get("/isochrones", response_model=IsochroneCollection, tags=["service circles"],
            responses={**_ERR, 404: {"description": "No station with this id"}},
            summary="Service circles (服务圈) around a station or a point, as polygons")
async def get_isochrones(state: State, q: Annotated[IsochroneQuery, Query()]) -> Response:
    """Areas reachable within each of `minutes` along the streets by `mode` (not a straight-line buffer)."""
    return JsonResponse(await run_in_threadpool(_isochrones, state, q, state.current()))


@router.get("/healthz", response_model=Health, tags=["service"], summary="Liveness and what is loaded")
async def healthz(state: State) -> Response:
    snap = state.current()
    ws = state.workspace
    return JsonResponse({"status": "ok", "place": ws.name, "publisher": ws.publisher, "area_label": ws.area_label,
                         "stations": len(snap.stations), "version": snap.version,
                         "worker_pid": os.getpid(), "map_ready": state.map_html is not None,
                         "modes": list(state.graphs), "admin_enabled": state.admin_token is not None,
                         "uptime_s": round(time.time() - state.started_at, 1)})
