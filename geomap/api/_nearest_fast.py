"""The rider's request, ``GET /nearest``, answered without Starlette's routing and middleware layers.

Between uvicorn and the route, a request passes FastAPI's and Starlette's layers (error and exception
middleware, the body limits, the query guard, an exit stack, the router matching each route in turn,
the route's request wrapper), each wrapping the next one's ``send``. On the million-node city those
layers took a third of a ``/nearest`` request's time, as much as two thirds of the answer itself
(sampled under load, ``py-spy``), and the riders' p99 at 64 clients waits on every such microsecond.

:class:`NearestFastPath` sits in front of them: the app (:class:`geomap.api.app.ServiceApp`) asks it first. For a
``GET /nearest`` it validates the query string with the route's own pydantic model, in one call, and writes
the answer of :func:`geomap.api.read.nearest_body`, the function the route itself calls. Everything else,
and every ``/nearest`` request that would not be a plain 200 (a request line over the guard's limit, a
repeated or invalid parameter, no station within reach, any error), goes through the full app as before,
which answers it with its usual status and message: the fast path never writes an error of its own.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.types import Scope, Send

from geomap.api._query_guard import MAX_TARGET_BYTES, repeated_parameters
from geomap.api.deps import query_dict
from geomap.api.models import NearestQuery
from geomap.api.read import nearest_body

__all__ = ["NearestFastPath"]

_HEADERS_JSON = b"application/json"


class NearestFastPath:
    """``GET /nearest`` answered directly (see the module) for the FastAPI app ``app``
    (:class:`geomap.api.app.ServiceApp` calls :meth:`handle` before its own layers). The service state is
    read from ``app.state.geomap`` at each request (set at start-up). ``enabled`` False: every request
    goes through the full app (tests compare both)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.enabled = True
        self._validate = NearestQuery.__pydantic_validator__.validate_python

    async def handle(self, scope: Scope, send: Send) -> bool:
        """Answer ``scope`` when it is a plain ``GET /nearest`` (True), else leave it to the app (False)."""
        if not (self.enabled and scope["type"] == "http" and scope["path"] == "/nearest"
                and scope["method"] == "GET"):
            return False
        body = self._answer(scope)
        if body is None:
            return False
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _HEADERS_JSON)]})
        await send({"type": "http.response.body", "body": body})
        return True

    def _answer(self, scope: Scope) -> bytes | None:
        """The answer's JSON text, or None when the full app is to answer (anything but a plain 200)."""
        state = getattr(self.app.state, "geomap", None)
        qs: bytes = scope.get("query_string", b"")
        if state is None or len(scope.get("raw_path") or b"/nearest") + len(qs) > MAX_TARGET_BYTES:
            return None
        if qs and repeated_parameters(qs):
            return None
        try:
            q = self._validate(query_dict(qs))
        except ValidationError:
            return None
        try:
            return nearest_body(state, q)
        except Exception:  # the full app answers it, with its status and message
            return None
