"""The FastAPI application: :func:`create_app` wires the routers over one :class:`ServiceState`.

Other routers (e.g. the coverage / gaps / plan routes) are added with ``create_app(routers=[...])`` or
``app.include_router(router)``; inside a route, ``state: geomap.api.deps.State`` gives the loaded registry,
graphs and station snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from geomap.api import admin, history, planning, read, web
from geomap.api.map_build import start_map_build, stop_map_builds
from geomap.api.state import ServiceState, settle_heap
from geomap.settings import use_settings
from geomap.workspace import Workspace, open_workspace

log = logging.getLogger("geomap.api")

DESCRIPTION = """
新就业形态劳动者服务地图 API — nearest open service station (户外劳动者服务站点, 司机之家, 爱心食堂, 休息点)
for riders, couriers and drivers, along real streets; station admin for union staff.

* **Coordinates**: every endpoint takes `crs=wgs84|gcj02|bd09` for its input coordinates and answers in the
  same system (`/nearest` also has `out_crs`). Positions are `[lon, lat]` degrees (GeoJSON, RFC 7946);
  each collection says its `coord_system`. Inside, geomap works in WGS84.
* **Units** are in the field names: `travel_s` seconds, `distance_m` metres, `minutes`, `area_km2`.
* **Errors** are 4xx with `detail` (Chinese and English; 422 lists the valid values). A point too far
  from the street network gets 422 `far_from_network` with `distance_m`.
* **Admin** endpoints need `Authorization: Bearer <GEOMAP_ADMIN_TOKEN>` (403 when the service has no
  token, 401 for a wrong one).
"""


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body"))
        parts.append(f"{where}: {e.get('msg', '')}")
    return "参数有误 / invalid request: " + "; ".join(parts)


def create_app(state: ServiceState | None = None, *, workspace: Workspace | None = None,
               routers: Sequence[APIRouter] = (), modes: list[str] | None = None) -> FastAPI:
    """The service of one workspace. ``state``: an already loaded :class:`ServiceState` (tests share one);
    otherwise it is loaded at start-up from ``workspace`` (default: :func:`geomap.workspace.open_workspace`,
    found as every command finds it) with the graphs of ``modes``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded_here = getattr(app.state, "geomap", None) is None
        if loaded_here:
            ws = workspace if workspace is not None else open_workspace()
            use_settings(ws.settings)
            app.state.geomap = ServiceState.load(ws, modes=modes)
            read.warm_nearest(app.state.geomap)
            settle_heap()
            start_map_build(app.state.geomap)
        yield
        if loaded_here:  # a state passed in belongs to the caller (tests share one)
            stop_map_builds(app.state.geomap)
            app.state.geomap.close()

    app = FastAPI(title="geomap 服务站点 API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.geomap = state

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        return JSONResponse({"detail": errors, "message": _validation_message(errors)}, status_code=422)

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
        # the library raises ValueError with a readable message for input it cannot use
        log.info("422 for %s: %s", request.url.path, exc)
        return JSONResponse({"detail": {"code": "invalid", "message": str(exc)}}, status_code=422)

    app.include_router(read.router)
    app.include_router(admin.router)
    app.include_router(history.router)
    app.include_router(web.router)
    app.include_router(planning.router)
    for r in routers:
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=web.WEB_DIR), name="static")
    app.add_middleware(admin.ImportBodyLimit)
    return app
