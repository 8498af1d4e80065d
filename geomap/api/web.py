"""The rider page (``GET /``), its static files and service worker, the small street sketch it draws, the
vocabulary, the map.

The page shell opens fast on a weak connection and on a phone that keeps it:

* ``index.html`` names its script and style sheet with their content hash (``/static/app.js?v=…``), is itself
  sent with ``Cache-Control: no-cache`` and an ETag (a 304 when unchanged), and the versioned files with
  ``max-age`` a year, ``immutable``: a phone asks only for the small page again, and a new release changes
  the names. This works in every browser, WeChat's on iOS included (its WebKit view runs no service worker).
* ``/sw.js``, a service worker where the browser runs one (Chromium, WeChat's XWeb on Android): the shell
  from the phone's cache even offline; ``/place``, ``/vocab``, ``/streets`` network first with the last copy
  as fallback; ``/nearest`` never cached (see ``geomap/web/sw.js``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Scope

from geomap import coords, vocab
from geomap.api.deps import ApiError, State
from geomap.api.map_build import start_map_build
from geomap.api.models import CRS_DOC, Crs, Mode, StreetsFeature

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SHELL_ASSETS = ("app.js", "style.css")
"""The page's own files, named in index.html with their content version."""
router = APIRouter()


@dataclass(frozen=True)
class Shell:
    """The page shell as served: ``index.html`` with versioned asset URLs, the service worker with the
    shell's version and URLs filled in, and each asset's version (first 12 hex digits of its SHA-256)."""

    index: bytes
    index_etag: str
    service_worker: bytes
    versions: dict[str, str]


_SHELL: list[Any] = [None, None]  # (files' stamp, Shell)


def shell() -> Shell:
    """The :class:`Shell`, made once and again whenever one of its files changed (size or mtime)."""
    files = [WEB_DIR / "index.html", WEB_DIR / "sw.js", *(WEB_DIR / a for a in SHELL_ASSETS)]
    stamp = tuple((st.st_mtime_ns, st.st_size) for st in (f.stat() for f in files))
    if _SHELL[0] != stamp:
        versions = {a: hashlib.sha256((WEB_DIR / a).read_bytes()).hexdigest()[:12] for a in SHELL_ASSETS}
        index = (WEB_DIR / "index.html").read_text(encoding="utf-8")
        for a, v in versions.items():
            index = index.replace(f'"/static/{a}"', f'"/static/{a}?v={v}"')
        index_b = index.encode("utf-8")
        urls = ["/", *(f"/static/{a}?v={v}" for a, v in versions.items())]
        sw = (WEB_DIR / "sw.js").read_text(encoding="utf-8")
        version = hashlib.sha256(index_b + sw.encode("utf-8")).hexdigest()[:12]
        sw = sw.replace('"__VERSION__"', json.dumps(version)).replace("__SHELL__", json.dumps(urls))
        _SHELL[1] = Shell(index=index_b, index_etag=f'"{version}"', service_worker=sw.encode("utf-8"),
                          versions=versions)
        _SHELL[0] = stamp
    return _SHELL[1]


@router.get("/", include_in_schema=False)
async def rider_page(request: Request) -> Response:
    """The rider page: nearest stations for riders, walkers and drivers (Chinese, mobile first)."""
    sh = shell()
    headers = {"Cache-Control": "no-cache", "ETag": sh.index_etag}
    if request.headers.get("if-none-match") == sh.index_etag:
        return Response(status_code=304, headers=headers)
    return Response(sh.index, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> Response:
    """The page's service worker (scope ``/``); browsers look for a new one at every visit."""
    return Response(shell().service_worker, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


IMMUTABLE = "public, max-age=31536000, immutable"


class WebStatic(StaticFiles):
    """``/static``: a page file asked for by its current version is cached for a year (:data:`IMMUTABLE`);
    anything else is revalidated (ETag). The service worker's template is not served here."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == "sw.js":
            return Response("Not Found", status_code=404)
        response = await super().get_response(path, scope)
        query = scope.get("query_string", b"").decode("latin-1")
        current = shell().versions.get(path)
        fresh = current is not None and query == f"v={current}"
        response.headers["Cache-Control"] = IMMUTABLE if fresh else "no-cache"
        return response


class StreetsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode = Field("ebike", description="Whose street network to draw")
    crs: Crs = Field("gcj02", description=CRS_DOC + " (of the output)")
    tolerance_m: float = Field(8.0, ge=0, le=200, description="Simplification tolerance, metres")


@router.get("/streets", response_model=StreetsFeature, tags=["service"],
            summary="The street network as one simplified MultiLineString (for the rider page's sketch map)")
async def streets(state: State, q: Annotated[StreetsQuery, Query()]) -> JSONResponse:
    if q.mode not in state.graphs:
        raise ApiError(422, "no_network", f"no street network loaded for mode {q.mode!r} / 未加载该路网")
    key = ("streets", q.mode, q.crs, q.tolerance_m)
    hit = state.cache.get(key)
    if hit is None:
        hit = state.cache[key] = _streets(state.graphs[q.mode], mode=q.mode, crs=q.crs, tolerance_m=q.tolerance_m)
    return JSONResponse(hit)


def _streets(graph: Any, *, mode: str, crs: str, tolerance_m: float) -> dict[str, Any]:
    lon, lat = coords.from_wgs84(graph.geom_lon, graph.geom_lat, dst=crs)
    idx = np.repeat(np.arange(graph.n_streets), np.diff(graph.geom_offsets))
    lines = shapely.linestrings(np.column_stack([lon, lat]), indices=idx)
    deg = tolerance_m / 111_000.0
    lines = shapely.simplify(lines, deg, preserve_topology=False)
    parts = [np.round(shapely.get_coordinates(g), 5).tolist() for g in lines if not shapely.is_empty(g)]
    bbox = [round(float(lon.min()), 5), round(float(lat.min()), 5), round(float(lon.max()), 5),
            round(float(lat.max()), 5)]
    return {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": parts},
            "properties": {"mode": mode, "coord_system": crs, "bbox": bbox}}


class Place(BaseModel):
    name: str = Field(description="The place served (the workspace's name, e.g. 杨浦区)")
    publisher: str = Field(description="Who publishes the service (may be empty)")
    area_label: str = Field(description="Words for the area the street data covers, e.g. 杨浦区五角场一带")
    modes: list[str] = Field(description="Travel modes with a street network")
    speed_kmh: dict[str, float] = Field(description="Base speed of the modes that have one (walk, ebike), km/h; "
                                        "drive and truck go by each road's speed")


@router.get("/place", response_model=Place, tags=["service"],
            summary="The place this service covers: its name, publisher and area (shown on the rider page)")
async def place(state: State) -> dict[str, Any]:
    ws = state.workspace
    cfg = state.settings
    return {"name": ws.name, "publisher": ws.publisher, "area_label": ws.area_label, "modes": list(state.graphs),
            "speed_kmh": {"walk": cfg.walk_speed_kmh, "ebike": cfg.ebike_speed_kmh}}


@router.get("/vocab", tags=["service"], summary="Station kinds and amenities: keys, Chinese labels, colours")
async def get_vocab() -> dict[str, list[dict[str, str]]]:
    def terms(voc: vocab.Vocabulary) -> list[dict[str, str]]:
        return [{"key": k, "label": t.label, "short_label": t.short_label, "color": t.color}
                for k, t in voc.terms.items()]
    return {"kinds": terms(vocab.kinds()), "amenities": terms(vocab.amenities())}


_MAP_WAIT_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="5">
<title>地图生成中</title></head><body style="font-family:sans-serif;padding:2em">
<p>服务地图正在生成，页面将在几秒后自动刷新。</p><p>The service map is being built; this page reloads itself.</p>
</body></html>"""


@router.get("/map", response_class=HTMLResponse, tags=["service"],
            responses={404: {"description": "The published map module (geomap.publish.maps) is not in this build"}},
            summary="The published service map (综合服务地图), one self-contained HTML page")
async def published_map(state: State) -> HTMLResponse:
    """Built once at start in the background and rebuilt after admin edits (the previous page is served
    while a rebuild runs; before the first build finishes, a short page that reloads itself)."""
    state.current()  # follow the registry first: an edit made through another worker rebuilds the map too
    available = start_map_build(state)  # no-op unless the stations changed since the last build
    html = state.map_html
    if html is not None:
        return HTMLResponse(html)
    if not available:
        raise ApiError(404, "no_map",
                       "本服务未包含发布地图模块 / the published map (geomap.publish.maps) is not available")
    return HTMLResponse(_MAP_WAIT_HTML, headers={"Cache-Control": "no-store", "Retry-After": "5"})
