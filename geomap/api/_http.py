"""uvicorn's httptools protocol with TCP_NODELAY on every connection.

uvicorn writes a response's headers and body in two writes. asyncio sets TCP_NODELAY only on sockets
whose protocol number is TCP, and the listening socket uvicorn binds itself for several workers has
protocol number 0, so its connections kept Nagle's algorithm: with the client's delayed ACK every
answer waited 40 ms (measured: 23 requests a second on one connection with ``--workers 2``).
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that turns Nagle's algorithm off on each TCP connection it serves."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
