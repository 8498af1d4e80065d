"""The registry's history (admin): the change sets, what each did, and undoing one. All need
``Authorization: Bearer <token>``, as the other admin routes.

Thin routes over :meth:`Registry.history <geomap.stations.registry.Registry.history>`,
:meth:`~geomap.stations.registry.Registry.changes` and :meth:`~geomap.stations.registry.Registry.undo`. An
undo is a write like the others: serialised by ``state.write_lock``, run in a worker thread, recorded as made
by the token's name, then the snapshot is reloaded so the answer and every later request see it (other
workers follow the registry file, :mod:`geomap.api.state`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from geomap.api.admin import API_SOURCE
from geomap.api.deps import Admin, ApiError, State
from geomap.api.models import ChangeSetDetail, HistoryOut, UndoResult
from geomap.stations.registry import UndoRefusedError, UnknownChangeSetError

router = APIRouter(tags=["admin"], dependencies=[Admin], responses={
    401: {"description": "Missing or wrong bearer token"},
    403: {"description": "The service was started without GEOMAP_ADMIN_TOKEN: writes are disabled"},
})

ChangeSetId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Change set number (from `GET /history`)")]


def _unknown(exc: UnknownChangeSetError) -> ApiError:
    return ApiError(404, "no_such_changeset", f"{exc} / no change set with this number; see GET /history")


@router.get("/history", response_model=HistoryOut, summary="The registry's change sets, newest first (admin)")
async def history(state: State, limit: Annotated[int, Query(ge=1, le=1000, description="How many change sets "
                                                             "(the newest)")] = 50) -> JSONResponse:
    sets = await run_in_threadpool(state.registry.history, limit=limit)
    return JSONResponse({"count": len(sets), "changesets": [cs.to_dict() for cs in sets]})


@router.get("/history/{changeset_id}", response_model=ChangeSetDetail,
            responses={404: {"description": "No change set with this number"}},
            summary="One change set with each station's row before and after (admin)")
async def changeset(changeset_id: ChangeSetId, state: State) -> JSONResponse:
    def read() -> dict:
        return {"changeset": state.registry.changeset(changeset_id).to_dict(),
                "changes": [c.to_dict() for c in state.registry.changes(changeset_id)]}

    try:
        return JSONResponse(await run_in_threadpool(read))
    except UnknownChangeSetError as exc:
        raise _unknown(exc) from None


@router.post("/history/{changeset_id}/undo", response_model=UndoResult,
             responses={404: {"description": "No change set with this number"},
                        409: {"description": "Later change sets touched the same stations (undo them first, "
                              "newest first, or pass force=true), or it was already undone; nothing changed"}},
             summary="Undo a change set: its stations get back their rows from before it (admin)")
async def undo(changeset_id: ChangeSetId, state: State,
               force: Annotated[bool, Query(description="Undo even when later change sets touched the same "
                                                        "stations (their changes to those stations are lost)")] = False,
               ) -> JSONResponse:
    async with state.write_lock:
        try:
            done = await run_in_threadpool(state.registry.undo, changeset_id, who=state.admin_name,
                                           source=API_SOURCE, force=force)
        except UnknownChangeSetError as exc:
            raise _unknown(exc) from None
        except UndoRefusedError as exc:
            hint = "" if exc.undone_by is not None else "。确认要强制撤销，请加 force=true"
            raise ApiError(409, "undo_refused", f"{exc}{hint} / undo refused, nothing changed", later=exc.later,
                           station_ids=exc.station_ids, undone_by=exc.undone_by) from None
        changes = await run_in_threadpool(state.registry.changes, done.id)
        snap = state.wrote()
    return JSONResponse({"undone": changeset_id, "changeset": done.to_dict(),
                         "changes": [c.to_dict() for c in changes], "stations": len(snap.stations)})
