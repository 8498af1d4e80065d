"""A workspace: one folder that holds everything about one place, described by its ``geomap.toml``.

The file names the place as people say it (``name = "杨浦区"``), its publisher, the coordinate system its
station lists usually come in, its OpenStreetMap extract, registry, census file, 街道 boundaries, study
area, demand layers, travel speeds and every other setting of :class:`geomap.settings.Settings` (same
names). Paths in it are relative to the folder; ``GEOMAP_<NAME>`` environment variables override any key.
Caches (street graphs) live in the workspace's ``cache_dir`` (default ``cache/`` in the folder), keyed by
their inputs, so two workspaces on one machine never share or mix anything.

Every face finds its workspace the same way (:func:`locate_workspace`): ``--workspace DIR``, then the
``GEOMAP_WORKSPACE`` variable, then the current folder and its parents (as git finds its repository).
Nothing falls back to another place's files: a layer the place has no data for is absent (and the outputs
say so), and a path that is given but missing is an error naming it.

>>> ws = open_workspace("data/yangpu")                     # doctest: +SKIP
>>> ws.name, len(ws.registry)                              # doctest: +SKIP
('杨浦区', 46)
>>> ws.nearest(121.5145, 31.3005, crs="gcj02", k=3).to_frame()   # doctest: +SKIP
>>> ws.study().coverage(ws.registry.index, minutes=15).summary()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from geomap import coords
from geomap.settings import PATH_FIELDS, Settings, settings_in_force

if TYPE_CHECKING:  # heavy imports only where used
    from geomap.nearest import NearestResult
    from geomap.network.graph import StreetGraph
    from geomap.planning.study import Study
    from geomap.stations.geocode import Geocoder
    from geomap.stations.registry import Registry

WORKSPACE_FILE = "geomap.toml"
WORKSPACE_ENV = "GEOMAP_WORKSPACE"
STREET_SEARCH_M = 5000.0
"""How far from a station a street is looked for when checking an imported list (metres)."""

__all__ = ["WORKSPACE_ENV", "WORKSPACE_FILE", "NoNetworkError", "Workspace", "WorkspaceError", "find_workspace",
           "init_workspace", "locate_workspace", "open_workspace", "read_workspace_settings"]


class WorkspaceError(ValueError):
    """No workspace where one was looked for, or its ``geomap.toml`` cannot be used (message in Chinese)."""


class NoNetworkError(ValueError):
    """The workspace has no street network (no OSM extract set in ``geomap.toml``)."""


def find_workspace(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the current folder) holding a ``geomap.toml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    return None


def locate_workspace(path: str | Path | None = None) -> Path:
    """The workspace folder to work in: ``path`` (a folder or its ``geomap.toml``), else ``GEOMAP_WORKSPACE``,
    else the current folder or the nearest parent with a ``geomap.toml``. Raises :class:`WorkspaceError`."""
    given, how = (path, "--workspace") if path is not None else (os.environ.get(WORKSPACE_ENV) or None, WORKSPACE_ENV)
    if given is not None:
        p = Path(given).expanduser()
        if p.name == WORKSPACE_FILE and p.is_file():
            return p.parent.resolve()
        if not p.exists():
            raise WorkspaceError(f"工作区文件夹不存在：{p}（{how}）")
        if not (p / WORKSPACE_FILE).is_file():
            raise WorkspaceError(f"{p} 不是 geomap 工作区（其中没有 {WORKSPACE_FILE}；{how}）。"
                                 f"新建一个：geomap init {p} --name 地名 --osm 路网.osm.pbf")
        return p.resolve()
    found = find_workspace()
    if found is None:
        raise WorkspaceError(
            f"当前文件夹（{Path.cwd()}）及其上级都不是 geomap 工作区。请进入工作区文件夹运行，或用 --workspace DIR"
            f" / 环境变量 {WORKSPACE_ENV} 指定；新建一个：geomap init DIR --name 地名 --osm 路网.osm.pbf")
    return found


_FOLDER_DEFAULTS = {"registry_path": "registry.gpkg", "cache_dir": "cache"}
"""Where a workspace keeps its registry and caches when its geomap.toml does not say (in its folder)."""


def read_workspace_toml(root: str | Path) -> dict[str, Any]:
    """The table of the ``geomap.toml`` in ``root`` as read (a :class:`WorkspaceError` when missing or not TOML)."""
    path = Path(root).resolve() / WORKSPACE_FILE
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"{path.parent} 不是 geomap 工作区（其中没有 {WORKSPACE_FILE}）") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{path} 不是有效的 TOML：{exc}") from None


def read_workspace_settings(root: str | Path, *, raw: dict[str, Any] | None = None) -> Settings:
    """The settings of the workspace at ``root``: its ``geomap.toml`` (paths relative to ``root``), with any
    ``GEOMAP_*`` environment variable winning over the file (a relative path there is relative to the
    current folder). Unknown keys and invalid values are a :class:`WorkspaceError` naming them. ``raw``: the
    file's settings table when the caller has read it already (a regions workspace, :mod:`geomap.regions`,
    takes its own tables out first)."""
    root = Path(root).resolve()
    path = root / WORKSPACE_FILE
    if raw is None:
        raw = read_workspace_toml(root)
    unknown = sorted(set(raw) - set(Settings.model_fields))
    if unknown:
        raise WorkspaceError(f"{path}：不认识的设置 {', '.join(unknown)}（可用的设置见 docs/workspace.md："
                             f"{', '.join(Settings.model_fields)}）")
    from_env = {k for k in Settings.model_fields if f"GEOMAP_{k.upper()}" in os.environ}
    values = {k: v for k, v in raw.items() if k not in from_env}
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise WorkspaceError(f"{path}：设置有误 / invalid settings: {errs}") from None
    update: dict[str, Any] = {}
    for key in PATH_FIELDS:
        value = getattr(settings, key)
        if value is None and key in _FOLDER_DEFAULTS:
            value = Path(_FOLDER_DEFAULTS[key])
        if value is not None and not Path(value).is_absolute():
            base = Path.cwd() if key in from_env else root
            update[key] = (base / value).resolve()
    demand = [d.model_copy(update={"path": (root / d.path).resolve()}) if not d.path.is_absolute() else d
              for d in settings.demand]
    if "demand" not in from_env:
        update["demand"] = demand
    return settings.model_copy(update=update)


@dataclass(eq=False)
class Workspace:
    """One place's data and settings. Opened by :func:`open_workspace`; every part is read on first use.

    ``root``: the folder; ``settings``: its :class:`~geomap.settings.Settings` (absolute paths)."""

    root: Path
    settings: Settings
    _registry: Registry | None = field(default=None, repr=False)
    _graphs: dict[str, StreetGraph] = field(default_factory=dict, repr=False)
    _area: Any = field(default=None, repr=False)

    # --- what the place is ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The place as people say it (``name`` in ``geomap.toml``)."""
        return self.settings.name

    @property
    def publisher(self) -> str:
        """Who publishes its map and reports (may be empty)."""
        return self.settings.publisher

    @property
    def area_label(self) -> str:
        """Words for the area the street data covers (the rider page's 服务范围), default the name."""
        return self.settings.area_label or self.settings.name

    @property
    def registry_path(self) -> Path:
        assert self.settings.registry_path is not None  # set by read_workspace_settings
        return self.settings.registry_path

    @property
    def cache_dir(self) -> Path:
        assert self.settings.cache_dir is not None  # set by read_workspace_settings
        return self.settings.cache_dir

    @property
    def osm_path(self) -> Path | None:
        """The OpenStreetMap extract (None when the workspace has none)."""
        return self.settings.osm_path

    def describe(self) -> dict[str, Any]:
        """The place, its publisher and its files (for ``/healthz``, ``geomap info`` and reports)."""
        files = {k: getattr(self.settings, k) for k in ("osm_path", "registry_path", "population_path",
                                                         "subdistricts_path", "study_area_path")}
        return {"name": self.name, "publisher": self.publisher, "area_label": self.area_label,
                "root": str(self.root), "lists_crs": self.settings.lists_crs,
                "files": {k: (None if v is None else {"path": str(v), "exists": Path(v).exists()})
                          for k, v in files.items()},
                "demand": [str(d.path) for d in self.settings.demand]}

    def with_settings(self, **changes: Any) -> Workspace:
        """This workspace with some settings changed (validated as in ``geomap.toml``), e.g.
        ``ws.with_settings(walk_speed_kmh=4.0)``; a new object, nothing written."""
        return Workspace(root=self.root, settings=Settings(**{**self.settings.model_dump(), **changes}))

    @contextmanager
    def in_force(self) -> Iterator[Workspace]:
        """Within the block, the library's defaults (speeds, time zone, snapping limit …) are this
        workspace's settings (:func:`geomap.settings.settings_in_force`)."""
        with settings_in_force(self.settings):
            yield self

    # --- stations ------------------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The place's station registry (created empty on first use)."""
        if self._registry is None:
            from geomap.stations.registry import Registry

            self._registry = Registry(self.registry_path)
        return self._registry

    def import_file(self, path: str | Path, *, geocode: str | None = None, **kwargs: Any) -> Any:
        """Import a station list into the registry (:meth:`Registry.import_file`), checked against this
        place's streets: without ``crs`` the coordinate system is found from how close the stations lie
        to them (the workspace's ``lists_crs`` when the data cannot tell), and stations too far from every
        street to be routed to are warned about. Rows with an address or name but no coordinates are placed
        by :meth:`geocoder` ``(geocode)`` (default: the ``geocoder`` setting; ``none``: they are errors),
        unless a ``geocoder=`` object is given."""
        kwargs.setdefault("usual_crs", self.settings.lists_crs)
        with self.in_force():
            if "geocoder" not in kwargs:
                kwargs["geocoder"] = self.geocoder(geocode)
            kwargs.setdefault("distance_m", self.street_distance())
            return self.registry.import_file(path, **kwargs)

    def geocoder(self, kind: str | None = None) -> Geocoder | None:
        """The geocoder ``kind`` (``none`` / ``amap`` / ``tianditu`` / ``osm``; default the ``geocoder``
        setting) with this place's settings: keys, endpoints and timeout, its OSM extract, answers cached in
        ``cache_dir/geocode``, and its name in front of addresses that name no district
        (:func:`geomap.stations.geocode.make_geocoder`). None for ``none``; ValueError (Chinese) when a key
        or the extract is missing."""
        from geomap.stations.geocode import make_geocoder

        return make_geocoder(kind, settings=self.settings, cache_dir=self.cache_dir, place=self.name,
                             osm_path=self.osm_path)

    def street_distance(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """A function from WGS84 lon/lat (degrees, arrays) to the distance to the nearest street of any of
        the place's networks (metres; inf beyond 5 km), or None when the place has no street network. Builds
        (or loads) the networks."""
        if not self.has_network:
            return None
        from geomap.network.routing import snap_points

        try:
            graphs = list(self.graphs().values())
        except NoNetworkError:
            return None

        def distance_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
            d = np.full(len(lon), np.inf)
            for g in graphs:
                sn = snap_points(g, lon, lat, max_snap_m=STREET_SEARCH_M, errors="ignore", prefer_core=False)
                d = np.minimum(d, np.where(np.isfinite(sn.distance_m), sn.distance_m, np.inf))
            return d

        return distance_m

    # --- street network ------------------------------------------------------------------------------
    @property
    def has_network(self) -> bool:
        return self.osm_path is not None

    def _require_osm(self) -> Path:
        if self.osm_path is None:
            raise NoNetworkError(f"工作区“{self.name}”没有路网数据：在 {self.root / WORKSPACE_FILE} 里设置 "
                                 "osm_path（OpenStreetMap 文件），或运行 geomap network build --osm FILE")
        if not self.osm_path.exists():
            raise FileNotFoundError(f"找不到 OSM 文件：{self.osm_path}（{self.root / WORKSPACE_FILE} 的 osm_path）")
        return self.osm_path

    def graphs(self, modes: Sequence[str] | None = None, *, progress: bool = False) -> dict[str, StreetGraph]:
        """The street graphs of ``modes`` (default all) from the workspace's extract: built once, cached in
        the workspace's ``cache_dir`` (keyed by the file's content and each mode's profile), kept in memory."""
        from geomap.network.graph import MODES, build_network, load_profiles

        wanted = list(modes or MODES)
        missing = [m for m in wanted if m not in self._graphs]
        if missing:
            osm = self._require_osm()
            built = build_network(osm, modes=missing, progress=progress, cache_dir=self.cache_dir,
                                  profiles=load_profiles(settings=self.settings))
            self._graphs.update(built)
        return {m: self._graphs[m] for m in wanted}

    def graph(self, mode: str) -> StreetGraph:
        """The street graph of one mode (see :meth:`graphs`)."""
        return self.graphs([mode])[mode]

    # --- answers ---------------------------------------------------------------------------------------
    def nearest(self, lon: Any, lat: Any, *, mode: str | None = "default", **kwargs: Any) -> NearestResult:
        """:func:`geomap.nearest.nearest` over the workspace's stations: by ``mode`` along its streets (default
        ``settings.default_mode``), or by straight line with ``mode=None``."""
        from geomap.nearest import nearest

        with self.in_force():
            if mode == "default":
                mode = self.settings.default_mode if self.has_network else None
            graph = self.graph(mode) if mode is not None else None
            if self.has_network:
                kwargs.setdefault("area", self.service_area())
            return nearest(self.registry.index, lon, lat, mode=mode, graph=graph, **kwargs)

    def service_area(self, graphs: Sequence[StreetGraph] | None = None) -> Any:
        """The area its streets serve (WGS84 polygon, :func:`geomap.network.extent.network_extent`): the hull
        of ``graphs`` (default: every mode's) widened by ``max_snap_m``, cut to ``study_area_path`` when
        given. Computed once."""
        if self._area is None:
            from geomap.network.extent import network_extent

            boundary = None
            if self.settings.study_area_path is not None:
                from geomap.planning.study import read_area

                boundary = read_area(self.settings.study_area_path, crs=self.settings.study_area_crs)
            self._area = network_extent(list(graphs) if graphs is not None else self.graphs().values(),
                                        margin_m=float(self.settings.max_snap_m), boundary=boundary)
        return self._area

    def study(self, **overrides: Any) -> Study:
        """A planning :class:`~geomap.planning.study.Study` of the place from its settings (census, 街道,
        study area, demand layers); ``overrides`` are :func:`~geomap.planning.study.load_study` arguments."""
        from geomap.planning.study import load_study

        s = self.settings
        args: dict[str, Any] = {
            "osm_path": self._require_osm(), "graph": self.graph, "population": s.population_path,
            "subdistricts": s.subdistricts_path, "subdistricts_crs": s.subdistricts_crs,
            "study_area": s.study_area_path, "study_area_crs": s.study_area_crs,
            "demand_files": [d.model_dump() for d in s.demand], "settings": s, "place": self.name,
        }
        args.update({k: v for k, v in overrides.items() if v is not None})
        with self.in_force():
            return load_study(**args)

def open_workspace(path: str | Path | None = None) -> Workspace:
    """Open the workspace at ``path`` (a folder or its ``geomap.toml``), else the one ``GEOMAP_WORKSPACE``
    names, else the one the current folder is in (see :func:`locate_workspace`)."""
    root = locate_workspace(path)
    settings = read_workspace_settings(root)
    if not settings.name:
        raise WorkspaceError(f"{root / WORKSPACE_FILE}：缺少 name（地名，如 name = \"杨浦区\"）")
    return Workspace(root=root, settings=settings)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _relative(path: Path, root: Path) -> str:
    """``path`` as written into ``geomap.toml``: relative to the workspace when inside it, else absolute."""
    p = path.resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def init_workspace(folder: str | Path, *, name: str, osm: str | Path | None = None, publisher: str = "",
                   area_label: str | None = None, boundary: str | Path | None = None, boundary_crs: str = "wgs84",
                   population: str | Path | None = None, subdistricts: str | Path | None = None,
                   subdistricts_crs: str = "wgs84", lists_crs: str | None = None, copy: bool = False,
                   force: bool = False) -> Workspace:
    """Create a workspace in ``folder`` (made if missing) and return it opened.

    ``osm``: the place's OpenStreetMap extract; ``boundary``: its outline (the study area of planning) in
    ``boundary_crs``; ``population``: census residents per 街道 (CSV); ``subdistricts``: 街道 boundaries;
    ``lists_crs``: the usual coordinate system of its station lists. Every file given must exist; with
    ``copy`` they are copied into the folder (``osm/``, ``boundaries/``, ``population/``), else referred
    to where they are (relative when inside the folder). An existing ``geomap.toml`` is kept unless ``force``.
    """
    root = Path(folder).expanduser()
    if not name or not name.strip():
        raise WorkspaceError("请给出地名：--name 北京市海淀区")
    if (root / WORKSPACE_FILE).exists() and not force:
        raise WorkspaceError(f"{root / WORKSPACE_FILE} 已经存在：这里已是工作区（要重写它，加 --force）")
    files = {"osm_path": (osm, "osm"), "study_area_path": (boundary, "boundaries"),
             "population_path": (population, "population"), "subdistricts_path": (subdistricts, "boundaries")}
    for key, (given, _) in files.items():
        if given is not None and not Path(given).expanduser().is_file():
            raise FileNotFoundError(f"找不到文件：{given}（{key}）")
    for crs_name in (boundary_crs, subdistricts_crs, lists_crs):
        if crs_name is not None:
            coords.normalize_crs(crs_name)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    values: dict[str, Any] = {"name": name.strip(), "publisher": publisher.strip()}
    if area_label:
        values["area_label"] = area_label.strip()
    if lists_crs:
        values["lists_crs"] = coords.normalize_crs(lists_crs)
    for key, (given, sub) in files.items():
        if given is None:
            continue
        src = Path(given).expanduser().resolve()
        if copy and not src.is_relative_to(root):
            dst = root / sub / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            src = dst
        values[key] = _relative(src, root)
    if boundary is not None:
        values["study_area_crs"] = coords.normalize_crs(boundary_crs)
    if subdistricts is not None:
        values["subdistricts_crs"] = coords.normalize_crs(subdistricts_crs)
    (root / WORKSPACE_FILE).write_text(_render_toml(values), encoding="utf-8")
    return open_workspace(root)


_TOML_HEAD = """\
# geomap 工作区：一个地方的全部数据与设置。路径相对于本文件夹；GEOMAP_<设置名> 环境变量可覆盖任一项。
# A geomap workspace: everything about one place. Paths are relative to this folder. Every setting of
# geomap.settings.Settings may be set here (e.g. ebike_speed_kmh = 15.0); see docs/workspace.md.
"""

_TOML_COMMENTS = {
    "name": "地名，显示在每个输出上",
    "publisher": "发布单位",
    "area_label": "路网覆盖的范围（骑手页面：服务范围：…）",
    "lists_crs": "站点名单通常使用的坐标系：wgs84 / gcj02 / bd09",
    "osm_path": "OpenStreetMap 路网数据",
    "population_path": "人口普查：各街道常住人口（CSV）",
    "subdistricts_path": "街道边界",
    "study_area_path": "本地边界（规划的研究范围）",
}


def _render_toml(values: dict[str, Any]) -> str:
    lines = [_TOML_HEAD]
    for key, value in values.items():
        comment = _TOML_COMMENTS.get(key)
        lines.append(f"{key} = {_toml_value(value)}" + (f"  # {comment}" if comment else ""))
    lines.append('registry_path = "registry.gpkg"  # 站点库（GeoPackage，导入时自动创建）')
    lines.append('cache_dir = "cache"  # 路网等缓存，按输入内容分键')
    return "\n".join(lines) + "\n"


def set_workspace_value(ws: Workspace, key: str, value: Any) -> Workspace:
    """Set one top-level key of the workspace's ``geomap.toml`` (the line is replaced, or added at the end;
    comments elsewhere are kept) and return the workspace opened again."""
    if key not in Settings.model_fields:
        raise WorkspaceError(f"不认识的设置 {key}")
    path = ws.root / WORKSPACE_FILE
    text = path.read_text(encoding="utf-8").splitlines()
    if isinstance(value, Path):
        value = _relative(value, ws.root)
    line = f"{key} = {_toml_value(value)}"
    for i, old in enumerate(text):
        if old.split("=", 1)[0].strip() == key and not old.lstrip().startswith("#"):
            text[i] = line
            break
    else:
        first_table = next((i for i, t in enumerate(text) if t.lstrip().startswith("[")), len(text))
        text.insert(first_table, line)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return open_workspace(ws.root)
