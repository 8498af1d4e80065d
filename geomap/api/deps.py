"""Shared request dependencies: the service state, the admin check, and the error type of the routes."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Path, Request

from geomap.api.state import ServiceState


class ApiError(HTTPException):
    """A 4xx with a machine code and a message in Chinese and English (``detail``)."""

    def __init__(self, status_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status_code=status_code, detail={"code": code, "message": message, **extra})


def get_state(request: Request) -> ServiceState:
    """The :class:`ServiceState` loaded at start (``app.state.geomap``)."""
    return request.app.state.geomap


State = Annotated[ServiceState, Depends(get_state)]
StationId = Annotated[str, Path(description="Station id (as in the registry, e.g. YP001)", max_length=200)]


def require_admin(state: State, authorization: Annotated[str | None, Header(
        description="`Bearer <GEOMAP_ADMIN_TOKEN>`")] = None) -> None:
    """403 when the service has no admin token configured; 401 when the bearer token is missing or wrong."""
    token = state.admin_token
    if token is None:
        raise ApiError(403, "admin_disabled", "本服务未设置管理令牌，拒绝写入 / writes are disabled: the service "
                       "was started without GEOMAP_ADMIN_TOKEN")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(status_code=401, detail={
            "code": "bad_token", "message": "管理令牌缺失或错误 / missing or wrong admin token: send "
            "'Authorization: Bearer <GEOMAP_ADMIN_TOKEN>'"}, headers={"WWW-Authenticate": "Bearer"})


Admin = Depends(require_admin)
