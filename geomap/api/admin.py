"""Admin endpoints: create, change, delete and import stations. All need ``Authorization: Bearer <token>``.

Each write is one registry transaction (run in a worker thread), then a reload of the snapshot from the
registry (see :mod:`geomap.api.state`); writers are serialised by ``state.write_lock`` within a worker
and by SQLite's write lock across workers. Each write is recorded in the registry's history as made by the
admin token's name (``admin_token_name``), from ``api`` (an import: from the uploaded file's name); see
:mod:`geomap.api.history` for reading and undoing it. An import whose file has
errors is refused as a whole (registry untouched) unless ``skip_invalid``; its validation report is the
answer either way.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import numpy as np
import pandas as pd
from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geomap import coords
from geomap.api.deps import Admin, ApiError, State, StationId, require_admin
from geomap.api.models import Crs, DeleteResult, ImportReport, StationCreate, StationFeature, StationPatch
from geomap.api.read import _stations_fc
from geomap.stations.hours import parse_hours
from geomap.stations.schema import STATION_COLUMNS, Station, StationImportError, ValidationReport
from geomap.stations.validate import stable_id

router = APIRouter(tags=["admin"], dependencies=[Admin], responses={
    401: {"description": "Missing or wrong bearer token"},
    403: {"description": "The service was started without GEOMAP_ADMIN_TOKEN: writes are disabled"},
})

log = logging.getLogger("geomap.api")
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_IMPORT_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
"""The whole request of an import (the file plus the multipart framing and the form fields): a longer body is
refused with 413 before it is read (declared length) or as soon as it passes this (chunked upload)."""
UPLOAD_BLOCK_BYTES = 1024 * 1024
IMPORT_PATH = "/stations/import"
API_SOURCE = "api"
"""The ``source`` of change sets made through the service (an import's is the uploaded file's name)."""
_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".geojson", ".json", ".gpkg")


def _frame(st: Station) -> pd.DataFrame:
    return pd.DataFrame([{c: getattr(st, c) for c in STATION_COLUMNS}])


def _hours(raw: str | None) -> str | None:
    parsed = parse_hours(raw) if raw else None
    return parsed.to_osm() if parsed else None


@router.post("/stations", status_code=201, response_model=StationFeature,
             responses={409: {"description": "A station with this id exists (use PATCH)"}, 422: {}},
             summary="Add a station (admin)")
async def create_station(body: StationCreate, state: State) -> JSONResponse:
    lon, lat = coords.to_wgs84(body.lon, body.lat, src=body.crs)
    sid = body.id or stable_id(source_id=None, name=body.name, address=body.address)
    fields = body.model_dump(exclude={"crs", "id", "lon", "lat"})
    st = Station(id=sid, lon=float(lon), lat=float(lat), opening_hours=_hours(body.opening_hours_raw),
                 source="api", source_crs=body.crs, **fields)
    async with state.write_lock:
        if sid in state.current().stations:
            raise ApiError(409, "exists", f"编号 {sid!r} 已存在，请用 PATCH 修改 / station id exists; use PATCH")
        await run_in_threadpool(state.registry.upsert, _frame(st), who=state.admin_name, action="create",
                                source=API_SOURCE)
        snap = state.wrote()
    return JSONResponse(_stations_fc(state, snap, np.array([snap.index.slot_of[sid]]), body.crs)["features"][0],
                        status_code=201)


@router.patch("/stations/{station_id}", response_model=StationFeature,
              responses={404: {"description": "No station with this id"}, 422: {}}, summary="Change a station (admin)")
async def patch_station(station_id: StationId, body: StationPatch, state: State) -> JSONResponse:
    if body.id is not None and body.id != station_id:
        raise ApiError(422, "id_mismatch", f"请求体里的编号 {body.id!r} 与地址中的 {station_id!r} 不一致："
                       "编号不能修改 / the body's id differs from the path's; ids cannot be changed")
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"crs", "lon", "lat", "id"})
    if body.lon is not None and body.lat is not None:
        lon, lat = coords.to_wgs84(body.lon, body.lat, src=body.crs)
        changes.update(lon=float(lon), lat=float(lat), source_crs=body.crs)
    if "opening_hours_raw" in changes:
        changes["opening_hours"] = _hours(changes["opening_hours_raw"])
    if any(changes.get(f, "") is None for f in ("name", "kinds")):
        raise ApiError(422, "required", "name 和 kinds 不能为空 / name and kinds cannot be null")
    async with state.write_lock:
        current = state.current().stations.get(station_id)
        if current is None:
            raise ApiError(404, "no_such_station", f"没有编号为 {station_id!r} 的站点 / no station with this id")
        if changes.get("amenities") is None and "amenities" in changes:
            changes["amenities"] = []
        st = Station.model_validate({**current.model_dump(), **changes})
        await run_in_threadpool(state.registry.upsert, _frame(st), who=state.admin_name, action="update",
                                source=API_SOURCE)
        snap = state.wrote()
    return JSONResponse(_stations_fc(state, snap, np.array([snap.index.slot_of[station_id]]), body.crs)["features"][0])


@router.delete("/stations/{station_id}", response_model=DeleteResult,
               responses={404: {"description": "No station with this id"}}, summary="Delete a station (admin)")
async def delete_station(station_id: StationId, state: State) -> JSONResponse:
    async with state.write_lock:
        if station_id not in state.current().stations:
            raise ApiError(404, "no_such_station", f"没有编号为 {station_id!r} 的站点 / no station with this id")
        await run_in_threadpool(state.registry.delete, [station_id], who=state.admin_name, source=API_SOURCE)
        snap = state.wrote()
    return JSONResponse({"deleted": station_id, "stations": len(snap.stations)})


MAX_ROWS_LISTED = 1000
"""Row numbers of left-out rows listed in an import's answer (the count says how many in all)."""


def _report(report: ValidationReport, *, ok: bool, imported: int, stations: int) -> dict[str, Any]:
    problems = [{"severity": p.severity, "row": p.row, "field": p.field, "code": p.code, "message": p.message,
                 "station_name": p.station_name} for p in report.problems]
    return {"ok": ok, "imported": imported, "added": report.added, "updated": report.updated,
            "unchanged": report.unchanged, "stations": stations, "records": report.records,
            "errors": report.error_count, "warnings": report.warning_count,
            "skipped_rows": report.skipped_rows[:MAX_ROWS_LISTED], "skipped_count": len(report.skipped_rows),
            "merged": report.merged, "crs": report.crs, "crs_reason": report.crs_reason, "notes": report.notes,
            "summary": report.summary(), "problems": problems, "omitted": report.omitted}


def _no_paths(text: str, folder: str) -> str:
    """A message without the server's temporary folder in it (as given, or with its links resolved)."""
    for f in dict.fromkeys([folder, os.path.realpath(folder)]):
        text = text.replace(f + "/", "").replace(f, "")
    return text


def _too_large() -> ApiError:
    return ApiError(413, "too_large", "文件超过 50 MB / file larger than 50 MB")


def _save_upload(src: BinaryIO, path: Path) -> bool:
    """Copy the uploaded file to ``path`` a block at a time; False (and stop) as soon as it passes
    :data:`MAX_UPLOAD_BYTES`."""
    size = 0
    with path.open("wb") as out:
        while block := src.read(UPLOAD_BLOCK_BYTES):
            size += len(block)
            if size > MAX_UPLOAD_BYTES:
                return False
            out.write(block)
    return True


class ImportBodyLimit:
    """ASGI middleware: a ``POST /stations/import`` whose body is longer than :data:`MAX_IMPORT_BODY_BYTES`
    is answered 413 without reading it (a declared ``Content-Length``) or as soon as the body received
    passes the limit (a chunked upload): the multipart parser never spools more than that to disk."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_IMPORT_BODY_BYTES, path: str = IMPORT_PATH) -> None:
        self.app, self.max_bytes, self.path = app, max_bytes, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refused = _token_refusal(scope, headers.get(b"authorization", b"").decode("latin-1"))
        if refused is not None:  # no file is stored for a client that may not import
            await self._answer(send, *refused)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True  # the app sees a client gone: it stops reading; we answer for it
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a body cut short is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await self._refuse(send)

    @classmethod
    async def _refuse(cls, send: Send) -> None:
        await cls._answer(send, 413, _too_large().detail)

    @staticmethod
    async def _answer(send: Send, status: int, detail: Any) -> None:
        body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), *extra]})
        await send({"type": "http.response.body", "body": body})


def _token_refusal(scope: Scope, authorization: str) -> tuple[int, Any] | None:
    """(status, detail) when the request may not import (as :func:`~geomap.api.deps.require_admin` decides),
    checked before its body is read; None when it may, or when the app holds no loaded state yet."""
    state = getattr(getattr(scope.get("app"), "state", None), "geomap", None)
    if state is None:
        return None
    try:
        require_admin(state, authorization or None)
    except HTTPException as exc:  # ApiError too
        return exc.status_code, exc.detail
    return None


@router.post(IMPORT_PATH, response_model=ImportReport,
             responses={422: {"model": ImportReport, "description": "The file has errors: nothing was imported; "
                              "the report lists every problem with its row and field"},
                        413: {"description": "File larger than 50 MB"}},
             summary="Import a station list file (admin); the validation report is the answer")
async def import_stations(
    state: State,
    file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK), XLSX, GeoJSON, GeoPackage or profile JSON")],
    crs: Annotated[Crs | None, Form(description="Coordinate system of the file (default: the profile's, "
                                               "else wgs84)")] = None,
    profile: Annotated[str | None, Form(description="Import profile name (e.g. anting_miniprogram)",
                                        max_length=100)] = None,
    skip_invalid: Annotated[bool, Form(description="Import the valid rows and list the others")] = False,
    kind: Annotated[str | None, Form(description="Kind of every station without one of its own (工会驿站, "
                                                 "司机之家 …)", max_length=100)] = None,
    update: Annotated[bool, Form(description="The file updates stations already in the registry (else a "
                                             "changed station is a conflict)")] = False,
) -> JSONResponse:
    from geomap.stations.readers import list_profiles

    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ApiError(422, "bad_file_type", f"不支持的文件类型 {suffix or '(无扩展名)'} / unsupported file type; "
                       f"use one of {', '.join(_SUFFIXES)}")
    if profile is not None and profile not in list_profiles():
        raise ApiError(422, "unknown_profile", f"未知的导入模板 {profile!r} / unknown profile; valid values: "
                       f"{', '.join(list_profiles())}")
    with tempfile.TemporaryDirectory(prefix="geomap-import-") as tmp:
        path = Path(tmp) / name
        if not await run_in_threadpool(_save_upload, file.file, path):
            raise _too_large()
        async with state.write_lock:
            try:
                stations, report = await run_in_threadpool(
                    state.workspace.import_file, path, crs=crs, profile=profile, skip_invalid=skip_invalid,
                    kind=kind, update=update, who=state.admin_name, source=name)
            except StationImportError as exc:
                body = _report(exc.report, ok=False, imported=0, stations=len(state.current().stations))
                body["message"] = _no_paths(f"导入失败，站点库未改动：{exc}", tmp)
                return JSONResponse(body, status_code=422)
            except sqlite3.Error:
                raise  # the registry itself failed: a server error, not the file's fault
            except Exception as exc:  # any reader failure on an uploaded file is the file's problem
                log.info("import of %s refused: %s", name, _no_paths(repr(exc), tmp))
                raise ApiError(422, "unreadable_file", f"无法读取该文件：{_no_paths(str(exc), tmp)}") from None
            snap = state.wrote()
    return JSONResponse(_report(report, ok=True, imported=len(stations), stations=len(snap.stations)))
