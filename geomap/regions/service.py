"""One HTTP service for all regions of a regions workspace (``geomap serve`` on it).

* ``/nearest`` answers a point with the region that holds it (:class:`geomap.regions.router.RegionRouter`:
  its outline, else the nearest buffer): the same answer, field for field, as that region's own service
  (:func:`geomap.api.read.nearest_body` on the region's :class:`~geomap.api.state.ServiceState`), over the
  stations within its outline plus the buffer. ``mode=straight`` answers from all stations of all regions
  at once. A point beyond every buffer gets 422 ``outside_area`` with the nearest stations by straight line.
* A region is loaded on first use: its graphs and station labels are memory-mapped from its cache
  (``cache/regions/<key>/``; built there first when missing — ``geomap regions build`` builds them
  ahead), and the labels of its stations are built or read for every loaded mode.
* **Memory budget** (``memory_mb``): the bytes of every array a loaded region holds (graphs, snapping
  grids, labels: what it has mapped or allocated, the most it can keep resident) are added up; past the
  budget the least recently used regions are unloaded (references dropped, so their mappings close) until
  the rest fit. The region just asked for always stays, even alone over the budget (then ``/healthz``
  says so).
* The one registry is followed as a single place's service follows its own (a file change counter, see
  :class:`geomap.api.state.RegistryWatch`): after an edit each loaded region takes its new stations before
  its next answer.
* ``/healthz`` lists the regions, which are loaded, their mapped MB, uses and the process's resident MB;
  ``/regions`` lists the regions with their outlines (GeoJSON, WGS84).
* The rider page (``/``) is the place's page over all regions (``/place``, ``/vocab``, ``/streets`` for its
  sketch map: the region of the latest question).
* ``/stations`` (and ``/stations/{id}``) list all stations of all regions with the place's handlers, over
  :attr:`RegionalService.everywhere`; ``/isochrones`` is answered by the region holding the point (or the
  station) with the place's body (:func:`geomap.api.read._isochrones`); the admin API (POST / PATCH / DELETE
  ``/stations``, ``POST /stations/import``) is the place's router writing the one registry.
* ``/map`` is the published map across regions: built in the place's map process
  (:mod:`geomap.api.map_build`, lowest CPU priority, the last page served while a new one is built) by
  :func:`render_regions_map`: every station, and the service circles of every region from the batch's
  ``circles`` cache (:mod:`geomap.regions.circles`; a region missing there is computed in the map process).

Requests run on uvicorn's event loop (one process); loading and unloading happen under one lock.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import Query

from geomap import coords
from geomap.api.models import IsochroneQuery, NearestQuery
from geomap.api.web import StreetsQuery
from geomap.regions.router import RegionRouter
from geomap.regions.workspace import RegionsWorkspace, open_regions
from geomap.workspace import Workspace

log = logging.getLogger("geomap.regions")

__all__ = ["RegionalService", "array_bytes", "create_regions_app", "map_tiles_of", "process_rss_mb",
           "render_regions_map", "serve_regions"]


def array_bytes(obj: Any, *, depth: int = 6, _seen: set[int] | None = None) -> int:
    """Bytes of the numpy arrays reachable from ``obj`` through attributes, dicts, lists and tuples (to
    ``depth`` levels), each array counted once (a view by its base)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or depth < 0:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base is not obj:
            if id(base) in seen:
                return 0
            seen.add(id(base))
        return int(base.nbytes)
    if isinstance(obj, str | bytes | int | float | bool) or obj is None:
        return 0
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, list | tuple | set | frozenset):
        items = list(obj)
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).values())
    else:
        return 0
    return sum(array_bytes(v, depth=depth - 1, _seen=seen) for v in items)


def process_rss_mb() -> float:
    """This process's resident memory now (MB, ``VmRSS`` of ``/proc/self/status``; NaN where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


@dataclass
class _Loaded:
    state: Any  # ServiceState
    nbytes: int
    loaded_at: float
    load_s: float
    seen_version: int
    hits: int = 0
    last_used: float = 0.0


class RegionalService:
    """The regions of a :class:`RegionsWorkspace` behind one service: routing, loading within a budget,
    following the registry. ``modes``: the travel modes loaded per region (default all);
    ``memory_mb``: the budget of :func:`array_bytes` over the loaded regions."""

    def __init__(self, rws: RegionsWorkspace, *, memory_mb: float = 4096.0, modes: list[str] | None = None,
                 prewarm: bool = True) -> None:
        from geomap.api.state import RegistryWatch, ServiceState, snapshot_from_frame
        from geomap.network.graph import MODES

        self.rws = rws
        self.memory_mb = float(memory_mb)
        self.modes = list(modes or MODES)
        self.prewarm = prewarm
        self.router = RegionRouter(rws)
        self.lock = threading.RLock()
        self.loaded: OrderedDict[int, _Loaded] = OrderedDict()
        self.unloads = 0
        self.last_region: int | None = None
        """The region of the latest routed question (the rider page's sketch map draws it)."""
        registry = rws.registry
        watch = RegistryWatch(registry.path)
        watch.changed()
        self.frame = rws.stations()
        place = Workspace(root=rws.root, settings=rws.settings)
        # all stations of all regions: straight-line answers; follows the registry like a place's service
        self.everywhere = ServiceState(workspace=place, registry=registry, graphs={},
                                       snapshot=snapshot_from_frame(self.frame.drop(columns="region"), version=1),
                                       watch=watch, map_render=render_regions_map)
        self._frame_version = self.everywhere.snapshot.version
        """The registry snapshot :attr:`frame` was read at (an admin write through the place's handlers moves
        :attr:`everywhere` on before :meth:`refresh` looks)."""

    # --- the registry ------------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Follow the registry: when it changed, read it again (all stations) and give each loaded region its
        new stations. Returns the registry snapshot's version."""
        from geomap.api.state import snapshot_from_frame

        with self.lock:
            snap = self.everywhere.current()
            if snap.version != self._frame_version:
                self.frame = self.rws.stations()
                self._frame_version = snap.version
            for i, slot in self.loaded.items():
                if slot.seen_version != snap.version:
                    part = self.rws.station_frame(i, self.frame).drop(columns="region")
                    slot.state.snapshot = snapshot_from_frame(part, version=slot.state.snapshot.version + 1)
                    slot.state.cache.clear()
                    slot.seen_version = snap.version
            return snap.version

    # --- loading within the budget ------------------------------------------------------------------------
    def state(self, i: int) -> Any:
        """Region ``i``'s :class:`~geomap.api.state.ServiceState`, loaded on first use (the least used regions
        unloaded past the budget)."""
        with self.lock:
            slot = self.loaded.get(i)
            if slot is None:
                slot = self._load(i)
                self.loaded[i] = slot
                self._enforce_budget(keep=i)
            self.loaded.move_to_end(i)
            slot.hits += 1
            slot.last_used = time.time()
            return slot.state

    def _load(self, i: int) -> _Loaded:
        from geomap.api.state import ServiceState, snapshot_from_frame
        from geomap.network.extent import network_extent

        t0 = time.perf_counter()
        ws = self.rws.region(i)
        graphs = ws.graphs(self.modes)
        part = self.rws.station_frame(i, self.frame).drop(columns="region")
        # the area served: the streets' hull within the outline plus the buffer (points in the buffer that the
        # router sends here are inside it)
        ws._area = network_extent(graphs.values(), margin_m=float(ws.settings.max_snap_m),
                                  boundary=self.rws.buffered[i])
        state = ServiceState(workspace=ws, registry=self.rws.registry, graphs=graphs,
                             snapshot=snapshot_from_frame(part, version=1), watch=None)
        if self.prewarm:
            state.prewarm()
        nbytes = array_bytes(graphs)
        load_s = time.perf_counter() - t0
        log.info("region %s (%s) loaded in %.2f s: %d stations, %.0f MB of arrays", self.rws.specs[i].key,
                 ws.name, load_s, len(part), nbytes / 1e6)
        return _Loaded(state=state, nbytes=nbytes, loaded_at=time.time(), load_s=load_s,
                       seen_version=self.everywhere.snapshot.version)

    def mapped_bytes(self) -> int:
        """Bytes of arrays held by the loaded regions now (labels built since loading included)."""
        with self.lock:
            for slot in self.loaded.values():
                slot.nbytes = array_bytes(slot.state.graphs)
            return sum(s.nbytes for s in self.loaded.values())

    def _enforce_budget(self, *, keep: int) -> None:
        budget = self.memory_mb * 1e6
        total = self.mapped_bytes()
        for i in list(self.loaded):
            if total <= budget:
                break
            if i == keep:
                continue
            total -= self.loaded[i].nbytes
            self.unload(i)

    def unload(self, i: int) -> bool:
        """Drop region ``i`` (its graphs, labels and mappings go with the last reference). False if not loaded."""
        with self.lock:
            slot = self.loaded.pop(i, None)
            if slot is None:
                return False
            slot.state.graphs.clear()
            slot.state.workspace._graphs.clear()
            del slot
            self.unloads += 1
            gc.collect()
            log.info("region %s unloaded (memory budget %.0f MB)", self.rws.specs[i].key, self.memory_mb)
            return True

    # --- answers -----------------------------------------------------------------------------------------
    def nearest(self, q: Any) -> bytes:
        """The ``/nearest`` answer (JSON bytes) for a :class:`geomap.api.models.NearestQuery`: by the region
        holding the point, or straight line over all stations (``mode=straight``)."""
        from geomap.api.read import nearest_body

        self.refresh()
        if q.mode == "straight":
            return nearest_body(self.everywhere, q)
        lon, lat = (float(v) for v in coords.to_wgs84(q.lon, q.lat, src=q.crs))
        i = int(self.router.region_for(lon, lat)[0])
        if i >= 0:
            self.last_region = i
        if i < 0:
            raise self._outside(lon, lat)
        return nearest_body(self.state(i), q)

    def _outside(self, lon: float, lat: float) -> Any:
        from geomap.api.deps import ApiError
        from geomap.api.read import _round_m, _straight_line

        near = _straight_line(self.everywhere.snapshot, lon, lat)
        hint = ("；按直线距离，最近的站点是" + "、".join(f"{n['name']}（约 {_round_m(n['straight_m'])} 米）"
                                            for n in near) if near else "")
        return ApiError(422, "outside_area", f"您的位置不在{self.rws.name}任何地区的服务范围内{hint} / the point is "
                        "outside every region of this service", area_label=self.rws.name, straight_line=near)

    def isochrones(self, q: Any) -> dict[str, Any]:
        """The ``/isochrones`` answer for a :class:`geomap.api.models.IsochroneQuery`: the place's
        (:func:`geomap.api.read._isochrones`) on the region holding the point, or the station (``station=``,
        any region's: the region holding its position answers, as for a point there)."""
        from geomap.api.deps import ApiError
        from geomap.api.read import _isochrones

        self.refresh()
        if q.station:
            st = self.everywhere.snapshot.stations.get(q.station)
            if st is None:
                raise ApiError(404, "no_such_station", f"没有编号为 {q.station!r} 的站点 / no station with this id")
            lon, lat = st.lon, st.lat
        else:
            lon, lat = (float(v) for v in coords.to_wgs84(q.lon, q.lat, src=q.crs))
        i = int(self.router.region_for(lon, lat)[0])
        if i < 0:
            if q.station:
                raise ApiError(422, "outside_area", f"站点 {q.station!r} 不在{self.rws.name}任何地区的路网范围内，"
                               "画不出服务圈 / the station lies outside every region's network")
            raise self._outside(lon, lat)
        state = self.state(i)
        return _isochrones(state, q, state.current())

    def region_of(self, lon: float, lat: float) -> str | None:
        """The key of the region answering a WGS84 point (None beyond every buffer)."""
        i = int(self.router.region_for(lon, lat)[0])
        return None if i < 0 else self.rws.specs[i].key

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` shows: the regions, which are loaded, mapped MB and uses, the budget and the
        process's resident MB."""
        with self.lock:
            mapped = self.mapped_bytes()
            counts = self.frame["region"].value_counts().to_dict()
            regions = []
            for n, spec in enumerate(self.rws.specs):
                slot = self.loaded.get(n)
                regions.append({"key": spec.key, "name": spec.name, "stations": int(counts.get(n, 0)),
                                "loaded": slot is not None,
                                "mapped_mb": None if slot is None else round(slot.nbytes / 1e6, 1),
                                "modes": None if slot is None else list(slot.state.graphs),
                                "uses": None if slot is None else slot.hits,
                                "load_s": None if slot is None else round(slot.load_s, 2)})
            return {"status": "ok", "place": self.rws.name, "publisher": self.rws.publisher,
                    "stations": len(self.everywhere.snapshot.stations), "buffer_m": self.rws.buffer_m,
                    "memory_budget_mb": self.memory_mb, "mapped_mb": round(mapped / 1e6, 1),
                    "over_budget": mapped > self.memory_mb * 1e6, "rss_mb": round(process_rss_mb(), 1),
                    "unloads": self.unloads, "loaded": [self.rws.specs[i].key for i in self.loaded],
                    "map_ready": self.everywhere.map_html is not None,
                    "regions": regions}

    def regions_geojson(self) -> dict[str, Any]:
        """The regions' outlines as a GeoJSON FeatureCollection (WGS84)."""
        counts = self.frame["region"].value_counts().to_dict()
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"key": s.key, "name": s.name, "stations": int(counts.get(n, 0))},
             "geometry": shapely.geometry.mapping(self.rws.boundaries[n])} for n, s in enumerate(self.rws.specs)]}


def create_regions_app(service: RegionalService) -> Any:
    """The FastAPI app of a :class:`RegionalService`: ``/nearest``, ``/isochrones``, ``/stations``, ``/map``,
    the admin API, ``/healthz``, ``/regions`` and the rider page. The place's handlers that answer from all
    stations or write the registry run on :attr:`RegionalService.everywhere` (``app.state.geomap``)."""
    from contextlib import asynccontextmanager

    from fastapi import APIRouter, FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from geomap.api import admin, history, read, web
    from geomap.api.app import add_error_answers
    from geomap.api.deps import QueryModelRoute
    from geomap.api.map_build import start_map_build, stop_map_builds
    from geomap.api.models import IsochroneCollection, StationCollection, StationFeature

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        start_map_build(service.everywhere)  # in the map process: riders are never kept waiting by it
        yield
        stop_map_builds(service.everywhere)

    app = FastAPI(title=f"geomap — {service.rws.name}", description="多地区服务 / one service for all regions",
                  lifespan=lifespan)
    app.state.regions = service
    app.state.geomap = service.everywhere  # the place's handlers over all stations (read, admin, map)

    add_error_answers(app)

    @app.get("/nearest", tags=["nearest"], summary="Nearest stations, answered by the region holding the point")
    def get_nearest(q: Annotated[NearestQuery, Query()]) -> Response:
        return Response(service.nearest(q), media_type="application/json")

    @app.get("/isochrones", response_model=IsochroneCollection, tags=["service circles"],
             summary="Service circles around a station or a point, answered by the region holding it")
    async def get_isochrones(q: Annotated[IsochroneQuery, Query()]) -> Response:
        return read.JsonResponse(await run_in_threadpool(service.isochrones, q))

    places = APIRouter(route_class=QueryModelRoute)  # the place's own handlers, over all stations
    places.add_api_route("/stations", read.list_stations, response_model=StationCollection, tags=["stations"],
                         summary="All stations of all regions (GeoJSON), filtered by kind, amenity, open at, bbox")
    places.add_api_route("/stations/{station_id}", read.get_station, response_model=StationFeature,
                         tags=["stations"], summary="One station of any region (GeoJSON Feature)")
    places.add_api_route("/map", web.published_map, response_class=HTMLResponse, tags=["service"],
                         summary="The published map across regions: every station and every region's service "
                         "circles")
    app.include_router(places)
    app.include_router(admin.router)
    app.include_router(history.router)
    app.add_middleware(admin.ImportBodyLimit)

    @app.get("/healthz", tags=["service"], summary="Regions and what is loaded")
    def healthz() -> JSONResponse:
        return JSONResponse(service.health())

    @app.get("/regions", tags=["service"], summary="The regions' outlines (GeoJSON, WGS84)")
    def regions() -> JSONResponse:
        return JSONResponse(service.regions_geojson())

    _rider_page(app, service)
    return app


def map_tiles_of(settings: Any) -> str:
    """The base map of the service's published map across regions: ``settings.map_tiles``, except ``none``
    (there is no one extract to draw the offline streets from), which becomes ``amap`` (GCJ-02 tiles, what
    riders and staff in China know)."""
    tiles = (getattr(settings, "map_tiles", None) or "none").strip().lower()
    return "amap" if tiles == "none" else tiles


_CHILD_REGIONS: dict[str, RegionsWorkspace] = {}
"""In the map process: the regions workspaces opened so far, by folder."""


def render_regions_map(root: str, mode: str) -> str:
    """The published map across the regions of the workspace at ``root`` (run in the map process,
    :mod:`geomap.api.map_build`): every station of the registry as it is now, and the service circles
    (:data:`geomap.regions.circles.CIRCLE_MINUTES`, ``mode``) of every region, merged
    (:func:`geomap.regions.circles.merge_circles`). Each region's circles come from the batch's cache
    (``cache/batch/circles/``, keyed by the stations it routes to: what ``geomap map --layers stations,circles``
    wrote, or this process's last build); a region missing there — new, or its stations changed — is computed
    here, one after the other (``workers=0``). A region that fails is left out of the circles and logged."""
    from geomap.publish import maps
    from geomap.regions.batch import run_batch
    from geomap.regions.circles import circle_params
    from geomap.settings import use_settings

    rws = _CHILD_REGIONS.get(root)
    if rws is None:
        rws = _CHILD_REGIONS[root] = open_regions(root)
    use_settings(rws.settings)
    t0 = time.perf_counter()
    res = run_batch(rws, "circles", params=circle_params(rws, mode=mode), workers=0, progress=False)
    for key, why in res.failed.items():
        log.warning("map: the service circles of region %s are left out: %s", key, why)
    html = maps.render_map(rws.registry.frame(), tiles=map_tiles_of(rws.settings), layers="stations,circles",
                           bands=res.cells, mode=mode, place=rws.name, publisher=rws.publisher,
                           data_date=maps.data_date(rws.registry, settings=rws.settings))
    log.info("map: %d regions' circles (%d computed, %d from the cache) in %.1f s", len(res.regions),
             len(res.computed), len(res.cached), time.perf_counter() - t0)
    return html


def _rider_page(app: Any, service: RegionalService) -> None:
    """The rider page (``geomap/web``, the same files and ``/nearest`` answers as a place's service) over all
    regions: ``/``, ``/sw.js``, ``/static``, ``/vocab`` as a place's; ``/place`` names the workspace and its
    regions; ``/streets`` (the page's sketch map) draws the region of the latest question (the first region
    before any)."""
    from fastapi.responses import JSONResponse

    from geomap.api import web
    from geomap.api.deps import ApiError

    app.add_api_route("/", web.rider_page, include_in_schema=False)
    app.add_api_route("/sw.js", web.service_worker, include_in_schema=False)
    app.add_api_route("/vocab", web.get_vocab, tags=["service"], summary="Station kinds and amenities")
    app.mount("/static", web.WebStatic(directory=web.WEB_DIR), name="static")

    @app.get("/place", tags=["service"], summary="The workspace and its regions (shown on the rider page)")
    def place() -> JSONResponse:
        names = [s.name for s in service.rws.specs]
        shown = "、".join(names[:4]) + (f" 等 {len(names)} 个地区" if len(names) > 4 else "")
        cfg = service.rws.settings
        return JSONResponse({"name": service.rws.name, "publisher": service.rws.publisher,
                             "area_label": f"{service.rws.name}（{shown}）", "modes": service.modes,
                             "speed_kmh": {"walk": cfg.walk_speed_kmh, "ebike": cfg.ebike_speed_kmh},
                             "regions": [{"key": s.key, "name": s.name} for s in service.rws.specs]})

    @app.get("/streets", tags=["service"], summary="The streets of the region of the latest question (sketch map)")
    def streets(q: Annotated[StreetsQuery, Query()]) -> JSONResponse:
        i = service.last_region if service.last_region is not None else 0
        state = service.state(i)
        if q.mode not in state.graphs:
            raise ApiError(422, "no_network", f"no street network loaded for mode {q.mode!r} / 未加载该路网")
        key = ("streets", q.mode, q.crs, q.tolerance_m)
        hit = state.cache.get(key)
        if hit is None:
            hit = state.cache[key] = web._streets(state.graphs[q.mode], mode=q.mode, crs=q.crs,
                                                  tolerance_m=q.tolerance_m)
        return JSONResponse({**hit, "properties": {**hit["properties"], "region": service.rws.specs[i].key}})


def serve_regions(rws: RegionsWorkspace, *, host: str = "127.0.0.1", port: int = 8000, memory_mb: float = 4096.0,
                  access_log: bool = True, log_level: str = "info") -> None:
    """Serve every region of ``rws`` from this process until interrupted (uvicorn)."""
    import uvicorn

    from geomap.api.serve import _logging, _uvicorn_options
    from geomap.settings import use_settings

    use_settings(rws.settings)
    _logging(log_level)
    service = RegionalService(rws, memory_mb=memory_mb)
    log.info("geomap: %s, %d regions, %d stations, memory budget %.0f MB; http://%s:%d/healthz", rws.name,
             len(rws.specs), len(service.everywhere.snapshot.stations), memory_mb, host, port)
    uvicorn.run(create_regions_app(service), host=host, port=port, **_uvicorn_options(log_level, access_log))
