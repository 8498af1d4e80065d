"""``geomap serve``: open the workspace, load everything once, run uvicorn.

``workers=1`` (default) serves from this process. ``workers=N`` starts N worker processes, each running
uvicorn on its own ``SO_REUSEPORT`` socket on the same port (the kernel spreads connections over them, and
the workers even out kept-alive connections: :class:`geomap.api._http.ConnectionShare`; ``GEOMAP_BALANCE=0``
turns that off, for measuring its effect).
Each loads its own copy of the registry snapshot, graphs and labels (memory × N) and follows the
registry file, so an edit made through one worker is served by all of them from their next request on
(see :mod:`geomap.api.state`). The workers open the workspace named by ``GEOMAP_SERVE_WORKSPACE``, which
:func:`serve` sets for them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from geomap.settings import use_settings
from geomap.workspace import open_workspace

log = logging.getLogger("geomap.api")

WORKER_WORKSPACE_ENV = "GEOMAP_SERVE_WORKSPACE"
"""The workspace folder the worker processes of ``serve(workers=N)`` open (set by :func:`serve`)."""

LOOP = "asyncio"
"""uvicorn's event loop. Measured with wrk at 64 keep-alive connections (benchmarks/bench_api.py,
docs/api.md): uvloop answered as many requests a second but left a few connections waiting for over a
second (p99 1.2–1.4 s against a p50 of ~50 ms, even for a trivial app); the standard asyncio loop serves
them in turn (p99 ~1.5× p50)."""


def serve(*, workspace: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info", workers: int = 1, access_log: bool = True) -> None:
    """Serve the workspace at ``workspace`` (default: found as every command finds it, see
    :func:`geomap.workspace.locate_workspace`): its registry and networks, until interrupted, with
    ``workers`` processes. ``access_log=False`` drops uvicorn's line per request (behind a proxy that logs
    requests itself; it costs ~0.1 ms a request here)."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    ws = open_workspace(workspace)
    use_settings(ws.settings)
    _logging(log_level)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    log.info("geomap: %s (%s), registry %s; %d worker(s); rider page http://%s:%d/ , API docs http://%s:%d/docs",
             ws.name, ws.root, ws.registry_path, workers, shown, port, shown, port)
    if workers == 1:
        from geomap.api.app import create_app
        from geomap.api.state import share_edits

        share_edits(multiprocessing.RawValue("q", 0), threading.Lock())  # one process: writes counted here
        uvicorn.run(create_app(workspace=ws), host=host, port=port, **_uvicorn_options(log_level, access_log))
        return
    os.environ[WORKER_WORKSPACE_ENV] = str(ws.root)
    os.environ["GEOMAP_SERVE_LOG_LEVEL"] = log_level
    os.environ["GEOMAP_SERVE_ACCESS_LOG"] = "1" if access_log else "0"
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not Linux/BSD/macOS: uvicorn's own workers
        uvicorn.run("geomap.api.serve:worker_app", factory=True, host=host, port=port, workers=workers,
                    **_uvicorn_options(log_level, access_log))
        return
    _run_workers(host=host, port=port, workers=workers, log_level=log_level)


def _run_workers(*, host: str, port: int, workers: int, log_level: str) -> None:
    """Start ``workers`` processes, each listening on its own ``SO_REUSEPORT`` socket, and wait for them;
    SIGINT / SIGTERM are passed on. Decision: uvicorn's ``workers=N`` shares one listening socket, and the
    asyncio loop accepts every pending connection in one go, so whichever worker woke first took all 64
    of the benchmark's connections (two workers served no more than one). With one socket per worker the
    kernel spreads connections over them."""
    ctx = multiprocessing.get_context("spawn")
    counts = ctx.RawArray("i", workers)  # each worker's open connections (geomap.api._http.ConnectionShare)
    edits = (ctx.RawValue("q", 0), ctx.Lock())  # writes committed through any worker (geomap.api.state._EDITS)
    procs = [ctx.Process(target=_worker_main, args=(host, port, log_level, counts, i, edits),
                         name=f"geomap-worker-{i}") for i in range(workers)]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        for p in procs:
            p.join(0.5)
            if not stopping and p.exitcode not in (None, 0):
                log.error("worker %s exited with %s; stopping the others", p.name, p.exitcode)
                stop(signal.SIGTERM, None)
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed and not stopping:
        raise SystemExit(1)


def _uvicorn_options(log_level: str, access_log: bool) -> dict[str, Any]:
    """What every uvicorn server of ``geomap serve`` runs with (see :data:`LOOP` and :mod:`geomap.api._http`)."""
    from geomap.api._http import NoDelayHttpToolsProtocol

    return {"log_level": log_level, "access_log": access_log, "loop": LOOP, "http": NoDelayHttpToolsProtocol}


def _worker_main(host: str, port: int, log_level: str, counts: Any = None, index: int = 0,
                 edits: tuple[Any, Any] | None = None) -> None:  # pragma: no cover - runs in a child process
    import uvicorn

    from geomap.api._http import ConnectionShare, use_share
    from geomap.api.state import share_edits

    if counts is not None and os.environ.get("GEOMAP_BALANCE", "1") == "1":
        use_share(ConnectionShare(counts, index))
    if edits is not None:
        share_edits(*edits)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    config = uvicorn.Config("geomap.api.serve:worker_app", factory=True, host=host, port=port,
                            **_uvicorn_options(log_level, os.environ.get("GEOMAP_SERVE_ACCESS_LOG", "1") == "1"))
    uvicorn.Server(config).run(sockets=[sock])


def worker_app() -> Any:
    """The app of one worker process of ``serve(workers=N)`` (uvicorn factory)."""
    from geomap.api.app import create_app

    _logging(os.environ.get("GEOMAP_SERVE_LOG_LEVEL", "info"))
    ws = open_workspace(os.environ[WORKER_WORKSPACE_ENV])
    use_settings(ws.settings)
    return create_app(workspace=ws)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
