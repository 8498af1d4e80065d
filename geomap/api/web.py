"""The rider page (``GET /``), its static files, the small street sketch it draws, the vocabulary, the map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from geomap import coords, vocab
from geomap.api.deps import ApiError, State
from geomap.api.map_build import start_map_build
from geomap.api.models import CRS_DOC, Crs, Mode, StreetsFeature

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
router = APIRouter()


@router.get("/", response_class=FileResponse, include_in_schema=False)
async def rider_page() -> FileResponse:
    """The rider page: nearest open stations by e-bike minutes (Chinese, mobile first)."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


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


@router.get("/place", response_model=Place, tags=["service"],
            summary="The place this service covers: its name, publisher and area (shown on the rider page)")
async def place(state: State) -> dict[str, Any]:
    ws = state.workspace
    return {"name": ws.name, "publisher": ws.publisher, "area_label": ws.area_label, "modes": list(state.graphs)}


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
