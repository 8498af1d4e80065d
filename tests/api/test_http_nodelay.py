"""Connections served by `geomap serve` have Nagle's algorithm off, also on the socket uvicorn binds for
several workers (protocol number 0, where asyncio leaves it on): see geomap/api/_http.py."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from geomap.api._http import NoDelayHttpToolsProtocol


async def _app(scope, receive, send):  # pragma: no cover - never called: no request is sent
    raise AssertionError


async def _nodelay_of_served_connection(protocol_class: type[HttpToolsProtocol]) -> int:
    config = uvicorn.Config(app=_app, log_level="warning")
    config.load()
    listener = socket.socket(family=socket.AF_INET)  # as uvicorn's Config.bind_socket: protocol number 0
    listener.bind(("127.0.0.1", 0))
    made: list[HttpToolsProtocol] = []

    def factory() -> HttpToolsProtocol:
        made.append(protocol_class(config=config, server_state=ServerState(), app_state={}))
        return made[-1]

    server = await asyncio.get_running_loop().create_server(factory, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        value = made[0].transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return value
    finally:
        server.close()


def test_nagle_is_off_on_served_connections():
    assert asyncio.run(_nodelay_of_served_connection(NoDelayHttpToolsProtocol)) == 1

