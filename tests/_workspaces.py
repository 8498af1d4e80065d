"""Workspaces for tests: private copies of the sample workspace (data/yangpu, made by `make data`) and small
generated places of their own (scripts/synthetic_city.py), each in its own temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from geomap.workspace import Workspace, init_workspace, open_workspace
from scripts.synthetic_city import City, write_city

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "yangpu"


def need_sample() -> Path:
    """The sample workspace folder; skips the test when `make data` has not made it."""
    if not (SAMPLE / "geomap.toml").exists() or not (SAMPLE / "registry.gpkg").exists():
        pytest.skip("sample workspace data/yangpu missing: run `make data` (copies ../shared/data)")
    return SAMPLE


def sample_workspace(folder: Path, *, registry: bool = True, **settings: Any) -> Workspace:
    """A private copy of the sample workspace in ``folder``: its own geomap.toml (naming the sample's OSM
    extract and census where they are), a copy of the sample registry (unless ``registry=False``) and its
    own cache. ``settings`` replace settings of the opened workspace (e.g. ``admin_token``)."""
    src = open_workspace(need_sample())
    init_workspace(folder, name=src.name, publisher=src.publisher, area_label=src.area_label, osm=src.osm_path,
                   population=src.settings.population_path, lists_crs=src.settings.lists_crs)
    if registry:
        shutil.copy(src.registry_path, folder / "registry.gpkg")
    ws = open_workspace(folder)
    return ws.with_settings(**settings) if settings else ws


def made_up_place(folder: Path, *, name: str = "北京市海淀区", publisher: str = "海淀区总工会", nodes: int = 400,
                  stations: int = 12, restaurants: int = 0, **settings: Any) -> tuple[Workspace, City]:
    """A small generated place of its own (lattice streets, GCJ-02 station list, no census) as a workspace
    in ``folder`` with its stations imported; its source files are in ``folder.parent / (folder.name +
    '-src')``."""
    city = write_city(folder.parent / f"{folder.name}-src", nodes=nodes, stations=stations, name=name[:3],
                      restaurants=restaurants)
    ws = init_workspace(folder, name=name, publisher=publisher, osm=city.osm_path, lists_crs="gcj02", copy=True)
    ws.import_file(city.stations_path)
    return (ws.with_settings(**settings) if settings else ws), city
