"""The FastAPI application: :func:`create_app` wires the routers over one :class:`ServiceState`.

Other routers (e.g. the coverage / gaps / plan routes) are added with ``create_app(routers=[...])`` or
``app.include_router(router)``; inside a route, ``state: geomap.api.deps.State`` gives the loaded registry,
graphs and station snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from geomap.api import admin, history, planning, read, web
from geomap.api._nearest_fast import NearestFastPath
from geomap.api._query_guard import QueryGuard
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


_FIELD_ZH = {
    "lon": "经度 lon", "lat": "纬度 lat", "crs": "坐标系 crs", "out_crs": "输出坐标系 out_crs", "k": "站点数 k",
    "mode": "出行方式 mode", "kind": "站点类型 kind", "amenity": "设施 amenity", "open_at": "开放时间 open_at",
    "bbox": "范围 bbox", "at": "时刻 at", "minutes": "分钟数 minutes", "station": "站点 station", "limit": "条数 limit",
    "name": "名称 name", "kinds": "类型 kinds", "route": "路线 route",
}


def _num(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _one_message(e: dict[str, Any]) -> str:
    """One validation error in Chinese: the parameter, what is allowed, what was given."""
    loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path")]
    name = ".".join(loc) or "请求"
    label = _FIELD_ZH.get(loc[-1], f"参数 {name}") if loc else "请求"
    ctx, got = e.get("ctx") or {}, e.get("input")
    given = "" if got is None or isinstance(got, dict | list) else f"（收到 {str(got)[:40]!r}）"
    kind = e.get("type", "")
    if kind == "missing":
        return f"缺少{label}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": "不小于", "greater_than": "大于", "less_than_equal": "不大于",
                 "less_than": "小于"}[kind]
        limit = _num(next(iter(ctx.values()), ""))
        return f"{label}应{bound} {limit}{given}"
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace(" or ", "、").replace(", ", "、")
        return f"{label}只能是 {allowed}{given}"
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type", "int_from_float"):
        return f"{label}应是{'整数' if 'int' in kind else '数字'}{given}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{label}应是 true 或 false{given}"
    if kind == "string_too_long":
        return f"{label}太长：最多 {ctx.get('max_length')} 个字符"
    if kind == "string_too_short":
        return f"{label}太短：至少 {ctx.get('min_length')} 个字符"
    if kind == "extra_forbidden":
        return f"{label}不是可用的字段"
    msg = str(e.get("msg", "")).removeprefix("Value error, ")
    return f"{label}有误：{msg}"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """The errors of a refused request in Chinese, naming each parameter and what it may be (the English
    of every error stays in ``detail`` for developers)."""
    return "参数有误：" + "；".join(_one_message(e) for e in errors[:5])


DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
"""Swagger UI and ReDoc as files in an installed package (fastapi-offline): the API documentation makes no
request beyond the service, so it opens on an intranet or offline."""


_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from :data:`DOCS_ASSETS`, served at ``/docs-assets``."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    redoc_js: list[bytes] = []

    @app.get("/docs-assets/redoc.js", include_in_schema=False)
    async def _redoc_js() -> Response:
        # ReDoc's bundle shows its logo from cdn.redoc.ly: the copy served points at a local file instead
        if not redoc_js:
            text = (DOCS_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
            redoc_js.append(text.replace(_REDOC_LOGO, "/docs-assets/favicon.png").encode("utf-8"))
        return Response(redoc_js[0], media_type="text/javascript")

    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def _swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · 文档",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def _redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · 文档",
                              redoc_js_url="/docs-assets/redoc.js",
                              redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)


def add_error_answers(app: FastAPI) -> None:
    """422 answers for invalid parameters (one Chinese message naming them, :func:`_validation_message`)
    and for the library's ``ValueError`` (its readable message): a place's service and the regions'."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        return JSONResponse({"detail": errors, "message": _validation_message(errors)}, status_code=422)

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
        # the library raises ValueError with a readable message for input it cannot use
        log.info("422 for %s: %s", request.url.path, exc)
        return JSONResponse({"detail": {"code": "invalid", "message": str(exc)}}, status_code=422)


class ServiceApp(FastAPI):
    """The service's FastAPI app: the rider's plain ``GET /nearest`` is answered before FastAPI's and
    Starlette's layers (:class:`geomap.api._nearest_fast.NearestFastPath`), everything else as usual."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nearest_fast = NearestFastPath(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self.nearest_fast.handle(scope, send):
            await super().__call__(scope, receive, send)


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
            app.state.geomap.follow()
        yield
        if loaded_here:  # a state passed in belongs to the caller (tests share one)
            stop_map_builds(app.state.geomap)
            app.state.geomap.close()

    # no OpenTelemetry export: FastAPI's native telemetry, on by default, looked up the tracer and meter
    # providers on every request (2 % of a rider's request)
    app = ServiceApp(title="geomap 服务站点 API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                     docs_url=None, redoc_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.geomap = state
    _offline_docs(app)

    add_error_answers(app)
    app.include_router(read.router)
    app.include_router(admin.router)
    app.include_router(history.router)
    app.include_router(web.router)
    app.include_router(planning.router)
    for r in routers:
        app.include_router(r)
    app.mount("/static", web.WebStatic(directory=web.WEB_DIR), name="static")  # versioned: cached a year
    app.add_middleware(admin.ImportBodyLimit)  # an upload over the limit: 413 before it is read
    app.add_middleware(QueryGuard)  # a repeated parameter: 422; an over-long request line: 414 (JSON)
    return app
