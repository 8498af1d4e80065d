"""uvicorn's httptools protocol for ``geomap serve``: TCP_NODELAY on every connection, and kept-alive
connections spread evenly over the worker processes.

* uvicorn writes a response's headers and body in two writes. asyncio sets TCP_NODELAY only on sockets
  whose protocol number is TCP, and the listening socket uvicorn binds itself for several workers has
  protocol number 0, so its connections kept Nagle's algorithm: with the client's delayed ACK every
  answer waited 40 ms (measured: 23 requests a second on one connection with ``--workers 2``).
* With ``--workers N`` each worker listens on its own ``SO_REUSEPORT`` socket and the kernel hands each new
  connection to one of them by a hash of its addresses: at random. Kept-alive connections stay where they
  landed, so 64 of them over two workers split 38 / 26 as often as not (measured), and the riders on the
  fuller worker wait in a queue half as long again. :class:`ConnectionShare` counts each worker's open
  connections in memory the workers share; a worker holding more than its share (the total divided by
  the workers, rounded up) answers the next request on one of its connections and closes it
  (``connection: close``, as nginx closes a connection after ``keepalive_requests``). The client opens a
  new one, which the kernel hands to a worker at random again, until the counts are even.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ConnectionShare", "NoDelayHttpToolsProtocol", "over_share", "use_share"]


def over_share(counts: list[int], index: int, *, closing: int = 0) -> bool:
    """Whether worker ``index`` holds more open connections than its share: its count (less the
    ``closing`` ones it already asked to close) above the total divided by the workers, rounded up."""
    total = sum(counts)
    fair = -(-total // len(counts))
    return counts[index] - closing > fair


class ConnectionShare:
    """This worker's open connections, counted in ``counts`` (a ``multiprocessing`` shared array of ints,
    one slot per worker; each worker writes only its own slot)."""

    def __init__(self, counts: Any, index: int) -> None:
        self.counts = counts
        self.index = index
        self.closing = 0
        """Connections this worker has asked to close and that are not closed yet."""

    def opened(self) -> None:
        self.counts[self.index] += 1

    def closed(self, *, was_closing: bool) -> None:
        self.counts[self.index] -= 1
        if was_closing:
            self.closing -= 1

    def should_close(self) -> bool:
        """Whether to close a connection after its current answer (and count it as closing if so)."""
        if over_share(list(self.counts), self.index, closing=self.closing):
            self.closing += 1
            return True
        return False


_SHARE: ConnectionShare | None = None


def use_share(share: ConnectionShare | None) -> None:
    """Count this process's connections in ``share`` (set by each worker of ``serve(workers=N)``)."""
    global _SHARE
    _SHARE = share


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that turns Nagle's algorithm off on each TCP connection it serves and,
    with several workers, closes a kept-alive connection after its answer while this worker holds more
    than its share (:class:`ConnectionShare`)."""

    _share: ConnectionShare | None = None
    _closing = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._share = _SHARE
        if self._share is not None:
            self._share.opened()
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._share is not None:
            self._share.closed(was_closing=self._closing)
            self._share = None
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if (self._share is not None and not self._closing and cycle is not None and cycle.keep_alive
                and self._share.should_close()):
            cycle.keep_alive = False  # uvicorn adds `connection: close` and closes after the answer
            self._closing = True
