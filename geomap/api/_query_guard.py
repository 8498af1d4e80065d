"""Requests the routes would misread, refused before they run: a query parameter given twice (FastAPI would
silently keep the last: ``k=1&k=50``) is a 422, an over-long request line a 414, both with a JSON body a
person can act on (Chinese, English kept for developers).

A pure ASGI middleware: one pass over the raw query string, no request object made (the rider's
``/nearest`` stays as fast as it was)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_TARGET_BYTES = 4096
"""The longest path plus query string answered (bytes); longer ones get 414."""


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def repeated_parameters(query_string: bytes) -> list[str]:
    """The names of the parameters given more than once in ``query_string`` (decoded, in order)."""
    if b"%" not in query_string and b"+" not in query_string:  # what a phone sends: plain names
        names = [part.partition(b"=")[0] for part in query_string.split(b"&") if part]
        if len(set(names)) == len(names):
            return []
    seen: set[str] = set()
    twice: list[str] = []
    for part in query_string.split(b"&"):
        if not part:
            continue
        name = unquote_plus(part.split(b"=", 1)[0].decode("latin-1"))
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


class QueryGuard:
    """Wraps an ASGI app: 414 for a request line longer than :data:`MAX_TARGET_BYTES`, 422 for a repeated
    query parameter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            qs: bytes = scope.get("query_string", b"")
            if len(scope.get("raw_path") or scope["path"].encode()) + len(qs) > MAX_TARGET_BYTES:
                await _json(send, 414, {"detail": {
                    "code": "uri_too_long",
                    "message": f"请求地址过长（超过 {MAX_TARGET_BYTES:,} 字节）：请减少参数，或改用 POST 上传 / "
                               f"request URI longer than {MAX_TARGET_BYTES} bytes"}})
                return
            if qs:
                twice = repeated_parameters(qs)
                if twice:
                    names = "、".join(twice)
                    await _json(send, 422, {"detail": {
                        "code": "repeated_parameter", "parameters": twice,
                        "message": f"参数 {names} 出现了不止一次：每个参数只能给一次（多个取值用逗号分隔，如 "
                                   f"amenity=water,toilet） / parameter given more than once: {', '.join(twice)}"}})
                    return
        await self.app(scope, receive, send)
