"""Planner endpoints: ``GET /coverage``, ``GET /gaps``, ``POST /plan`` — thin faces over
:class:`geomap.planning.study.Study` (see ``docs/coverage.md``).

The study (extract features, 街道, census residents, restaurants) is read once, on the first planner
request, and shares the service's street graphs. Computations run in a worker thread, one at a time
(``plan_lock``), on the current station snapshot.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any, Literal

import numpy as np
import shapely
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from geomap import coords
from geomap.api.deps import ApiError, State
from geomap.api.models import CRS_DOC, Crs, Mode, _Filters, parse_open_at
from geomap.api.state import ServiceState
from geomap.stations.index import StationIndex

router = APIRouter(tags=["planning"])
_LOCK = threading.Lock()


class PlanningQuery(_Filters):
    """Which stations and which service circle."""

    minutes: float = Field(15.0, gt=0, le=120, description="Service-circle size in minutes (1–120)")
    mode: Mode = Field("ebike", description="Travel mode along the streets")
    crs: Crs = Field("wgs84", description=CRS_DOC + " (of the output geometries)")


class CoverageQuery(PlanningQuery):
    area: bool = Field(True, description="Include the covered area polygon (the costliest part)")


class GapsQuery(PlanningQuery):
    resolution: int = Field(9, ge=6, le=10, description="H3 resolution of the grid (9: cells of about 0.1 km²)")


class PlanRequest(PlanningQuery):
    model_config = ConfigDict(extra="forbid")

    add: int = Field(..., ge=1, le=20, description="Number of new sites to propose (1–20)")
    candidates: list[Literal["osm", "h3"]] = Field(
        ["osm", "h3"], min_length=1,
        description="Candidate sources: `osm` (places in the extract that fit the station kind: bank branches, "
                    "post offices, fuel stations, community centres, shops for a service station; community "
                    "centres and eateries for a canteen; fuel stations and parking for a driver home — see "
                    "vocab/host_places.toml) and/or `h3` (grid cell centres, named by their nearest streets)")
    solver: Literal["greedy", "exact"] = Field("greedy", description="Lazy greedy (any size) or exact (MILP, CBC)")


class CoverageRow(BaseModel):
    subdistrict: str = Field(..., description="街道 name, or 合计 for the total")
    street_km: float = Field(..., description="Street length in the 街道 (km)")
    street_covered_km: float = Field(..., description="Street length within the service circle (km)")
    street_share: float | None = Field(None, description="Covered share of street length (0–1)")
    covered_area_km2: float | None = Field(None, description="Covered area (km²), when `area=true`")
    model_config = ConfigDict(extra="allow")  # plus <layer>, <layer>_covered, <layer>_share per demand layer


class CoverageAnswer(BaseModel):
    place: str = Field(..., description="The place (the workspace's name)")
    publisher: str = Field(..., description="Who publishes the figures (the workspace's publisher; may be empty)")
    summary_zh: str = Field(..., description="The total line in Chinese")
    summary_en: str = Field(..., description="The total line in English")
    minutes: float = Field(..., description="Service-circle size (minutes)")
    mode: str = Field(..., description="Travel mode")
    n_stations: int = Field(..., description="Stations matching the filters")
    layers: list[str] = Field(..., description="Demand layers (columns <layer>, <layer>_covered, <layer>_share)")
    table: list[CoverageRow] = Field(..., description="One row per 街道, then 合计")
    covered_area: dict[str, Any] | None = Field(None, description="GeoJSON geometry of the covered area, in `crs`")
    coord_system: Crs = Field(..., description="Coordinate system of `covered_area`")
    absent: dict[str, str] = Field(..., description="Demand layers not measured for lack of data: Chinese label -> "
                                   "why (e.g. 常住人口: 没有人口普查数据); they have no columns, never 0 %")
    notes: list[str] = Field(..., description="What the numbers leave out (off-network points, missing census)")


def _study(state: ServiceState) -> Any:
    study = state.__dict__.get("_study")
    if study is None:
        study = state.workspace.study()  # the workspace's graphs are the service's (one copy, shared caches)
        state.__dict__["_study"] = study
    return study


def _graph_ok(state: ServiceState, mode: str) -> None:
    if mode not in state.graphs:
        raise ApiError(422, "no_network", f"未加载该路网 / no street network loaded for mode {mode!r}")


def _filters(q: PlanningQuery) -> dict[str, Any]:
    return {"minutes": q.minutes, "mode": q.mode, "kind": q.kind, "amenity": q.amenity,
            "open_at": parse_open_at(q.open_at)}


def _to_crs(geom: Any, crs: str) -> Any:
    if crs == "wgs84":
        return geom
    return shapely.transform(geom, lambda xy: np.column_stack(coords.from_wgs84(xy[:, 0], xy[:, 1], dst=crs)))


def _clean(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()} for r in records]


def _coverage(state: ServiceState, q: CoverageQuery, index: StationIndex) -> dict[str, Any]:
    _graph_ok(state, q.mode)
    with _LOCK:
        study = _study(state)
        res = study.coverage(index, with_area=q.area, **_filters(q))
    area = None
    if res.covered_area is not None:
        area = shapely.geometry.mapping(_to_crs(res.covered_area, q.crs))
    ws = state.workspace
    return {"place": ws.name, "publisher": ws.publisher, "absent": res.absent,
            "summary_zh": res.summary(), "summary_en": res.summary(lang="en"), "minutes": res.minutes,
            "mode": res.mode, "n_stations": res.n_stations, "layers": list(res.demand),
            "table": _clean(res.table.to_dict("records")), "covered_area": area, "coord_system": q.crs,
            "notes": study.notes + res.notes}


@router.get("/coverage", response_model=CoverageAnswer, summary="15-minute coverage per 街道 (residents, "
            "restaurants, street length, area)")
async def get_coverage(state: State, q: Annotated[CoverageQuery, Query()]) -> JSONResponse:
    """Coverage of the stations matching the filters within `minutes` by `mode`: per 街道 and in total, the
    share of residents (census, spread over residential buildings), of restaurants (pickup points) and of
    street length within the service circle, and the covered area."""
    return JSONResponse(await run_in_threadpool(_coverage, state, q, state.current().index))


def _gaps(state: ServiceState, q: GapsQuery, index: StationIndex) -> dict[str, Any]:
    _graph_ok(state, q.mode)
    with _LOCK:
        study = _study(state)
        grid = study.gaps(index, resolution=q.resolution, **_filters(q))
    if q.crs != "wgs84":
        grid = grid.set_geometry(_to_crs(grid.geometry.values, q.crs), crs=None)
    fc = json.loads(grid.to_json(na="null", drop_id=True))
    fc["coord_system"] = q.crs
    fc["minutes"], fc["mode"] = q.minutes, q.mode
    return fc


@router.get("/gaps", summary="H3 gap grid: travel minutes to the nearest station and demand per cell",
            response_description="GeoJSON FeatureCollection of H3 cells (properties: h3, subdistrict, travel_min "
                                 "(minutes, null when off the network), covered, residents, restaurants, demand "
                                 "(resident equivalents: residents + pickup_weight × restaurants), unmeasured, "
                                 "gap_rank (1 = most uncovered demand, null when covered))")
async def get_gaps(state: State, q: Annotated[GapsQuery, Query()]) -> JSONResponse:
    """The gap grid over the study area, uncovered cells ranked by demand."""
    return JSONResponse(await run_in_threadpool(_gaps, state, q, state.current().index))


def _plan(state: ServiceState, body: PlanRequest, index: StationIndex) -> dict[str, Any]:
    _graph_ok(state, body.mode)
    with _LOCK:
        study = _study(state)
        cands = study.candidates(sources=tuple(body.candidates), kind=body.kind)
        plan = study.plan(index, p=body.add, candidates=cands, solver=body.solver,
                          **_filters(body))
    fc = plan.to_geojson(crs=body.crs)
    for f in fc["features"]:
        f["properties"] = _clean([f["properties"]])[0]
    fc.update(coord_system=body.crs, solver=plan.solver, objective=plan.objective, minutes=plan.minutes,
              mode=plan.mode, notes=plan.notes)
    return fc


@router.post("/plan", summary="Propose new station sites that cover the most uncovered demand",
             response_description="GeoJSON FeatureCollection of the proposed sites (in `crs`), in order, each "
                                  "with the 街道 it serves, residents / restaurants newly covered and the "
                                  "cumulative covered shares after it")
async def post_plan(state: State, body: PlanRequest) -> JSONResponse:
    """Maximal covering: `add` new sites among the candidates, keeping the stations matching the filters."""
    try:
        return JSONResponse(await run_in_threadpool(_plan, state, body, state.current().index))
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from None
