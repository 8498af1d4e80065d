"""``geomap serve``: read the configuration, load everything once, run uvicorn.

``workers=1`` (default) serves from this process. ``workers=N`` starts N worker processes, each running
uvicorn on its own ``SO_REUSEPORT`` socket on the same port (the kernel spreads connections over them).
Each loads its own copy of the registry snapshot, graphs and labels (memory × N) and follows the
registry file, so an edit made through one worker is served by all of them from their next request on
(see :mod:`geomap.api.state`). The workers rebuild the configuration from ``GEOMAP_SERVE_CONFIG`` /
``GEOMAP_SERVE_REGISTRY``, which :func:`serve` sets for them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import tomllib
from pathlib import Path
from typing import Any

from geomap.settings import Settings, get_settings, use_settings

log = logging.getLogger("geomap.api")

LOOP = "asyncio"
"""uvicorn's event loop. Measured with wrk at 64 keep-alive connections (benchmarks/bench_api.py,
docs/api.md): uvloop answered as many requests a second but left a few connections waiting for over a
second (p99 1.2–1.4 s against a p50 of ~50 ms, even for a trivial app); the standard asyncio loop serves
them in turn (p99 ~1.5× p50)."""


def load_config(path: str | Path | None) -> Settings:
    """Settings from a TOML file (top-level keys or a ``[geomap]`` table; names as in
    :class:`geomap.settings.Settings`). ``GEOMAP_*`` environment variables win over the file."""
    if path is None:
        return get_settings()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"配置文件不存在 / config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: 不是有效的 TOML / not valid TOML: {exc}") from None
    values = raw.get("geomap", raw)
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown}; valid: {', '.join(Settings.model_fields)}")
    values = {k: v for k, v in values.items() if f"GEOMAP_{k.upper()}" not in os.environ}
    base = path.parent
    for k, v in list(values.items()):  # relative paths are relative to the config file
        if isinstance(Settings.model_fields[k].default, Path) and not Path(v).is_absolute():
            values[k] = base / v
    return Settings(**values)


def serve(*, config: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
          registry: str | Path | None = None, log_level: str = "info", workers: int = 1,
          access_log: bool = True) -> None:
    """Load the configured registry (``registry`` overrides the configured path) and networks, and serve
    them until interrupted, with ``workers`` processes. ``access_log=False`` drops uvicorn's line per
    request (behind a proxy that logs requests itself; it costs ~0.1 ms a request here)."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    settings = _settings(config, registry)
    _logging(log_level)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    log.info("geomap: registry %s; %d worker(s); rider page http://%s:%d/ , API docs http://%s:%d/docs",
             settings.registry_path, workers, shown, port, shown, port)
    if workers == 1:
        from geomap.api.app import create_app

        uvicorn.run(create_app(settings=settings), host=host, port=port, **_uvicorn_options(log_level, access_log))
        return
    os.environ["GEOMAP_SERVE_CONFIG"] = str(config or "")
    os.environ["GEOMAP_SERVE_REGISTRY"] = str(registry or "")
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
    procs = [ctx.Process(target=_worker_main, args=(host, port, log_level), name=f"geomap-worker-{i}")
             for i in range(workers)]
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


def _worker_main(host: str, port: int, log_level: str) -> None:  # pragma: no cover - runs in a child process
    import uvicorn

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
    settings = _settings(os.environ.get("GEOMAP_SERVE_CONFIG") or None,
                         os.environ.get("GEOMAP_SERVE_REGISTRY") or None)
    return create_app(settings=settings)


def _settings(config: str | Path | None, registry: str | Path | None) -> Settings:
    settings = load_config(config)
    if registry is not None:
        settings = settings.model_copy(update={"registry_path": Path(registry)})
    return use_settings(settings)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
