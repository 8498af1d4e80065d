"""``geomap serve``: read the configuration, load everything once, run uvicorn (one worker process).

One process on purpose: the station snapshot and the network labels live in memory, and admin edits
swap them in place; several workers would each hold their own copy and miss each other's edits.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path

from geomap.settings import Settings, get_settings, use_settings

log = logging.getLogger("geomap.api")


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
          registry: str | Path | None = None, log_level: str = "info") -> None:
    """Load the configured registry (``registry`` overrides the configured path) and networks, and serve
    them until interrupted."""
    import uvicorn

    from geomap.api.app import create_app

    settings = load_config(config)
    if registry is not None:
        settings = settings.model_copy(update={"registry_path": Path(registry)})
    use_settings(settings)
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    log.info("geomap: registry %s; rider page http://%s:%d/ , API docs http://%s:%d/docs",
             settings.registry_path, shown, port, shown, port)
    uvicorn.run(create_app(settings=settings), host=host, port=port, log_level=log_level, workers=1)
