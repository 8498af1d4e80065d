"""Street networks per travel mode as compact arrays, built from OpenStreetMap and cached on disk.

Coordinates are WGS84 longitude/latitude in degrees; lengths are metres (great-circle, sphere of radius
:data:`geomap.coords.EARTH_RADIUS_M`); times are seconds.

A :class:`StreetGraph` holds one mode's network:

* **nodes**: OSM nodes where ways meet or end (intersections and dead ends), ``node_lon`` / ``node_lat``.
* **streets**: the pieces of OSM ways between two nodes (ways are split at every node they share with
  another allowed way), each with its full geometry (``geom_lon`` / ``geom_lat`` sliced by
  ``geom_offsets``, running from ``street_u`` to ``street_v``), ``street_length_m``, ``street_travel_s``
  and whether it may be travelled forward (u→v) and/or backward (v→u) by the mode.
* **directed edges** in CSR form (``indptr``, ``indices``, ``edge_travel_s``, ``edge_length_m``,
  ``edge_street``, ``edge_forward``) for :mod:`scipy.sparse.csgraph`. Where parallel streets join the
  same two nodes, the CSR keeps the quickest (then shortest) one; the others stay in the street table for
  snapping.

Sources: :func:`build_network` reads an OSM PBF or XML file (pyosmium); :func:`network_from_place`,
:func:`network_from_bbox` and :func:`network_from_polygon` download from the Overpass API (through osmnx's
downloader; needs internet). Modes are profiles in ``geomap/vocab/modes.toml`` (see ``docs/network.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from geomap import npy
from geomap.coords import haversine_m
from geomap.network._osm import RawWays, read_osm_file, ways_from_overpass
from geomap.settings import get_settings

__all__ = [
    "MODES",
    "ModeProfile",
    "StreetGraph",
    "build_network",
    "load_profiles",
    "network_from_bbox",
    "network_from_place",
    "network_from_polygon",
    "source_fingerprint",
]

MODES: tuple[str, ...] = ("walk", "ebike", "drive", "truck")
CACHE_FORMAT_VERSION = 4  # 2: a folder of memory-mappable .npy arrays, CSR included; 3: reversed edge arrays;
# 4: the access legs' speed in meta.json
MODES_TOML = Path(__file__).resolve().parent.parent / "vocab" / "modes.toml"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_ALLOW_VALUES = frozenset({"yes", "designated", "permissive", "destination", "official", "customers"})
_ONEWAY_FWD = frozenset({"yes", "true", "1"})
_ONEWAY_BWD = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "false", "0"})
_NUM_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")


# ------------------------------------------------------------------------------------------------------
# Profiles
# ------------------------------------------------------------------------------------------------------


def _tag_match(tags: Mapping[str, str], rules: Iterable[str]) -> bool:
    for rule in rules:
        key, _, value = rule.partition("=")
        got = tags.get(key)
        if got is None:
            continue
        if (value.endswith("*") and got.startswith(value[:-1])) or got == value:
            return True
    return False


def _parse_number(text: str | None) -> float | None:
    if not text:
        return None
    m = _NUM_RE.search(text)
    return float(m.group()) if m else None


def parse_maxspeed_kmh(text: str | None) -> float | None:
    """OSM ``maxspeed`` -> km/h (``"50"``, ``"30 mph"``, ``"60;40"`` takes the lowest); None if unknown."""
    if not text:
        return None
    values = []
    for part in text.split(";"):
        v = _parse_number(part)
        if v is None or v <= 0:
            continue
        values.append(v * 1.609344 if "mph" in part else v)
    return min(values) if values else None


def parse_weight_t(text: str | None) -> float | None:
    """OSM ``maxweight`` -> tonnes (``"10"``, ``"10 t"``, ``"7500 kg"``, ``"5 st"`` short tons)."""
    v = _parse_number(text)
    if v is None or text is None:
        return None
    low = text.lower()
    if "kg" in low:
        return v / 1000.0
    if "st" in low:
        return v * 0.90718474
    if "lbs" in low:
        return v * 0.00045359237
    return v


def parse_height_m(text: str | None) -> float | None:
    """OSM ``maxheight`` -> metres (``"4.2"``, ``"4.2 m"``, ``"14'6\\""`` feet and inches)."""
    if not text:
        return None
    ft = re.match(r"\s*(\d+(?:\.\d+)?)\s*'\s*(?:(\d+(?:\.\d+)?)\s*\")?", text)
    if ft:
        return float(ft.group(1)) * 0.3048 + float(ft.group(2) or 0.0) * 0.0254
    v = _parse_number(text)
    if v is None:
        return None
    return v * 0.3048 if "ft" in text.lower() else v


@dataclass(frozen=True)
class ModeProfile:
    """How one travel mode uses OSM ways (one table of ``geomap/vocab/modes.toml``).

    Speeds are km/h. For walk / e-bike, ``base_speed_kmh`` comes from settings (``walk_speed_kmh``,
    ``ebike_speed_kmh``) and is multiplied by ``speed_factor[highway]``; for drive / truck,
    ``speed_kmh[highway]`` applies unless a ``maxspeed`` tag is present and ``use_maxspeed`` is set.
    """

    name: str
    label: str = ""
    highway: frozenset[str] = frozenset()
    highway_if_allowed: frozenset[str] = frozenset()
    access_keys: tuple[str, ...] = ("access",)
    deny_values: frozenset[str] = frozenset({"no", "private"})
    deny_tags: tuple[str, ...] = ()
    oneway: str = "obey"
    oneway_exempt: tuple[str, ...] = ()
    base_speed_kmh: float | None = None
    speed_factor: Mapping[str, float] = field(default_factory=dict)
    speed_kmh: Mapping[str, float] = field(default_factory=dict)
    use_maxspeed: bool = False
    maxspeed_factor: float = 1.0
    max_speed_kmh: float = 200.0
    max_weight_t: float | None = None
    max_height_m: float | None = None
    access_speed_kmh: float = 5.0
    """Speed (km/h) of the straight access legs between a point and its street (and a street and a
    station), off the street network: settings ``access_speed_kmh``."""

    def params(self) -> dict[str, Any]:
        """The profile as plain, sorted JSON-able data (part of the cache key)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, frozenset | set):
                out[k] = sorted(v)
            elif isinstance(v, Mapping):
                out[k] = {kk: float(vv) for kk, vv in sorted(v.items())}
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = v
        return out

    def evaluate(self, tags: Mapping[str, str]) -> tuple[bool, bool, float] | None:
        """``(forward_ok, backward_ok, speed_kmh)`` for a way with these tags, or None if closed."""
        hw = tags.get("highway")
        if hw is None:
            return None
        decided = next((tags[k].strip().lower() for k in self.access_keys if k in tags), None)
        if decided is not None and decided.split(";")[0] in self.deny_values:
            return None
        if hw not in self.highway:
            explicit = any(
                tags.get(k, "").strip().lower() in _ALLOW_VALUES for k in self.access_keys if k != "access"
            )
            if not (hw in self.highway_if_allowed and explicit):
                return None
        if _tag_match(tags, self.deny_tags):
            return None
        if self.max_weight_t is not None:
            w = parse_weight_t(tags.get("maxweight"))
            if w is not None and w < self.max_weight_t:
                return None
        if self.max_height_m is not None:
            h = parse_height_m(tags.get("maxheight"))
            if h is not None and h < self.max_height_m:
                return None
        fwd = bwd = True
        if self.oneway == "obey":
            ow = tags.get("oneway", "").strip().lower()
            if ow in _ONEWAY_FWD or (
                ow not in _ONEWAY_NO and ow not in _ONEWAY_BWD
                and (tags.get("junction") in ("roundabout", "circular") or hw == "motorway")
            ):
                bwd = False
            elif ow in _ONEWAY_BWD:
                fwd = False
            if not (fwd and bwd) and _tag_match(tags, self.oneway_exempt):
                fwd = bwd = True
        if self.base_speed_kmh is not None:
            speed = self.base_speed_kmh * float(self.speed_factor.get(hw, 1.0))
        else:
            speed = float(self.speed_kmh.get(hw, min(self.speed_kmh.values(), default=20.0)))
            if self.use_maxspeed:
                ms = parse_maxspeed_kmh(tags.get("maxspeed"))
                if ms is not None:
                    speed = min(ms * self.maxspeed_factor, self.max_speed_kmh)
        if speed <= 0:
            return None
        return fwd, bwd, speed


def load_profiles(path: str | Path | None = None, *, settings: Any = None) -> dict[str, ModeProfile]:
    """Read the mode profiles (default ``geomap/vocab/modes.toml``).

    Walk / e-bike base speeds are read from ``settings`` (default :func:`geomap.settings.get_settings`).
    """
    settings = settings if settings is not None else get_settings()
    with open(path or MODES_TOML, "rb") as fh:
        data = tomllib.load(fh)
    out: dict[str, ModeProfile] = {}
    for name, t in data.items():
        base = None
        if "speed_setting" in t:
            base = float(getattr(settings, t["speed_setting"]))
        out[name] = ModeProfile(
            name=name,
            label=t.get("label", name),
            highway=frozenset(t.get("highway", [])),
            highway_if_allowed=frozenset(t.get("highway_if_allowed", [])),
            access_keys=tuple(t.get("access_keys", ["access"])),
            deny_values=frozenset(t.get("deny_values", ["no", "private"])),
            deny_tags=tuple(t.get("deny_tags", [])),
            oneway=t.get("oneway", "obey"),
            oneway_exempt=tuple(t.get("oneway_exempt", [])),
            base_speed_kmh=base,
            speed_factor=dict(t.get("speed_factor", {})),
            speed_kmh=dict(t.get("speed_kmh", {})),
            use_maxspeed=bool(t.get("use_maxspeed", False)),
            maxspeed_factor=float(t.get("maxspeed_factor", 1.0)),
            max_speed_kmh=float(t.get("max_speed_kmh", 200.0)),
            max_weight_t=t.get("max_weight_t"),
            max_height_m=t.get("max_height_m"),
            access_speed_kmh=float(settings.access_speed_kmh),
        )
        if out[name].oneway not in ("obey", "ignore"):
            raise ValueError(f"mode {name}: oneway must be 'obey' or 'ignore', not {out[name].oneway!r}")
    return out


# ------------------------------------------------------------------------------------------------------
# The graph
# ------------------------------------------------------------------------------------------------------

_STORED = (
    "node_lon", "node_lat", "node_osmid", "street_u", "street_v", "street_length_m", "street_travel_s",
    "street_forward", "street_backward", "street_way_id", "geom_offsets", "geom_lon", "geom_lat",
)


@dataclass(eq=False)
class StreetGraph:
    """One mode's street network as arrays (see the module docstring for the layout).

    Build it with :func:`build_network` (OSM data) or :meth:`from_arrays` (plain arrays, for tests and
    synthetic networks). ``from_cache`` tells whether it was loaded from the on-disk cache.
    """

    mode: str
    node_lon: FloatArray
    node_lat: FloatArray
    node_osmid: IntArray
    street_u: IntArray
    street_v: IntArray
    street_length_m: FloatArray
    street_travel_s: FloatArray
    street_forward: BoolArray
    street_backward: BoolArray
    street_way_id: IntArray
    geom_offsets: IntArray
    geom_lon: FloatArray
    geom_lat: FloatArray
    cache_key: str = ""
    from_cache: bool = False
    access_speed_kmh: float = 5.0
    """Speed (km/h) of a trip's access legs: from a point straight to where it snaps onto a street, and from
    a station's street straight to the station (see :func:`geomap.network.routing.access_s`)."""

    def __post_init__(self) -> None:
        self._build_csr()

    # -- sizes --------------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_lon)

    @property
    def n_streets(self) -> int:
        return len(self.street_u)

    @property
    def n_edges(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return (
            f"StreetGraph(mode={self.mode!r}, nodes={self.n_nodes}, streets={self.n_streets}, "
            f"edges={self.n_edges}, from_cache={self.from_cache})"
        )

    # -- directed CSR ---------------------------------------------------------------------------------
    def _build_csr(self) -> None:
        n = self.n_nodes
        s_idx = np.arange(self.n_streets, dtype=np.int64)
        f = self.street_forward & (self.street_u != self.street_v)
        b = self.street_backward & (self.street_u != self.street_v)
        eu = np.concatenate([self.street_u[f], self.street_v[b]])
        ev = np.concatenate([self.street_v[f], self.street_u[b]])
        es = np.concatenate([s_idx[f], s_idx[b]])
        efwd = np.concatenate([np.ones(int(f.sum()), bool), np.zeros(int(b.sum()), bool)])
        et = self.street_travel_s[es]
        el = self.street_length_m[es]
        order = np.lexsort((el, et, ev, eu))
        eu, ev, es, efwd, et, el = (a[order] for a in (eu, ev, es, efwd, et, el))
        first = np.ones(len(eu), dtype=bool)
        if len(eu) > 1:
            first[1:] = (eu[1:] != eu[:-1]) | (ev[1:] != ev[:-1])
        eu, ev, es, efwd, et, el = (a[first] for a in (eu, ev, es, efwd, et, el))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(eu, minlength=n), out=indptr[1:])
        self.indptr: IntArray = indptr
        self.indices: IntArray = ev.astype(np.int64)
        self.edge_u: IntArray = eu.astype(np.int64)
        self.edge_travel_s: FloatArray = et.astype(np.float64)
        self.edge_length_m: FloatArray = el.astype(np.float64)
        self.edge_street: IntArray = es.astype(np.int64)
        self.edge_forward: BoolArray = efwd

    def csr(self, *, weight: str = "travel_s") -> sp.csr_matrix:
        """The directed adjacency matrix (n × n) with ``travel_s`` or ``length_m`` weights."""
        data = self.edge_travel_s if weight == "travel_s" else self.edge_length_m
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n_nodes, self.n_nodes))

    @cached_property
    def reverse_order(self) -> IntArray:
        """Permutation of edges sorting them by (target, source): the CSR of the reversed graph."""
        return np.lexsort((self.edge_u, self.indices)).astype(np.int64)

    @cached_property
    def reverse_indptr(self) -> IntArray:
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.n_nodes), out=indptr[1:])
        return indptr

    @cached_property
    def reverse_src(self) -> IntArray:
        """The source node of each in-edge, in reversed-CSR order (node x's in-edges are
        ``reverse_indptr[x]:reverse_indptr[x + 1]``)."""
        return self.edge_u[self.reverse_order]

    @cached_property
    def reverse_travel_s(self) -> FloatArray:
        """Travel seconds of each in-edge, in reversed-CSR order."""
        return self.edge_travel_s[self.reverse_order]

    @cached_property
    def reverse_length_m(self) -> FloatArray:
        """Metres of each in-edge, in reversed-CSR order."""
        return self.edge_length_m[self.reverse_order]

    # -- components ---------------------------------------------------------------------------------
    @cached_property
    def node_component(self) -> IntArray:
        """Weakly connected component label of every node (0 = the largest)."""
        from scipy.sparse.csgraph import connected_components

        if self.n_nodes == 0:
            return np.zeros(0, dtype=np.int64)
        adj = sp.csr_matrix(
            (np.ones(self.n_streets), (self.street_u, self.street_v)), shape=(self.n_nodes, self.n_nodes)
        )
        _, lab = connected_components(adj, directed=False)
        counts = np.bincount(lab)
        rank = np.empty_like(counts)
        rank[np.argsort(-counts, kind="stable")] = np.arange(len(counts))
        return rank[lab].astype(np.int64)

    @cached_property
    def core_street(self) -> BoolArray:
        """Streets whose two ends lie in the largest strongly connected part of the directed graph.

        From a point on such a street every other core street can be reached and back. Streets outside it
        are one-way dead ends (often cut by the edge of the extract), roads that only lead out of the
        network, or small islands."""
        from scipy.sparse.csgraph import connected_components

        core = np.zeros(self.n_streets, dtype=bool)
        if self.n_nodes:
            _, lab = connected_components(self.csr(), directed=True, connection="strong")
            big = np.argmax(np.bincount(lab))
            if np.count_nonzero(lab == big) > 1:
                core = (lab[self.street_u] == big) & (lab[self.street_v] == big)
        return core

    # -- geometry -----------------------------------------------------------------------------------
    def street_coords(self, street: int) -> tuple[FloatArray, FloatArray]:
        """WGS84 lon, lat arrays of one street's geometry, from ``street_u`` to ``street_v``."""
        a, b = self.geom_offsets[street], self.geom_offsets[street + 1]
        return self.geom_lon[a:b], self.geom_lat[a:b]

    @cached_property
    def geom_cumfrac(self) -> FloatArray:
        """Per geometry vertex: fraction (0..1) of its street's length_m reached at that vertex."""
        seg = haversine_m(self.geom_lon[:-1], self.geom_lat[:-1], self.geom_lon[1:], self.geom_lat[1:])
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        start = self.geom_offsets[:-1]
        counts = np.diff(self.geom_offsets)
        base = np.repeat(cum[start], counts)
        total = np.repeat(cum[self.geom_offsets[1:] - 1] - cum[start], counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(total > 0, (cum - base) / np.where(total > 0, total, 1.0), 0.0)
        # exact endpoints, whatever the rounding
        frac[start] = 0.0
        frac[self.geom_offsets[1:] - 1] = np.where(total[self.geom_offsets[1:] - 1] > 0, 1.0, 0.0)
        return np.clip(frac, 0.0, 1.0)

    @cached_property
    def centre_lonlat(self) -> tuple[float, float]:
        """Centre of the node bounding box (WGS84 degrees), origin of the graph's local metric frame."""
        if self.n_nodes == 0:
            return 0.0, 0.0
        return (
            float((self.node_lon.min() + self.node_lon.max()) / 2),
            float((self.node_lat.min() + self.node_lat.max()) / 2),
        )

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        *,
        node_lon: npt.ArrayLike,
        node_lat: npt.ArrayLike,
        edge_u: npt.ArrayLike,
        edge_v: npt.ArrayLike,
        forward: npt.ArrayLike | bool = True,
        backward: npt.ArrayLike | bool = True,
        length_m: npt.ArrayLike | None = None,
        travel_s: npt.ArrayLike | None = None,
        speed_kmh: float = 5.0,
        geometry: Sequence[npt.ArrayLike] | None = None,
        mode: str = "custom",
        node_osmid: npt.ArrayLike | None = None,
        access_speed_kmh: float = 5.0,
    ) -> StreetGraph:
        """A graph from plain arrays: nodes (WGS84 lon/lat degrees) and streets ``edge_u[i] - edge_v[i]``.

        ``forward`` / ``backward`` say whether street i may be travelled u→v / v→u (scalars broadcast).
        ``geometry[i]`` is an ``(k, 2)`` lon/lat array from u to v (default: the straight segment);
        ``length_m`` defaults to the great-circle length of the geometry; ``travel_s`` to
        ``length_m / speed_kmh``.
        """
        lon = np.asarray(node_lon, dtype=np.float64)
        lat = np.asarray(node_lat, dtype=np.float64)
        u = np.asarray(edge_u, dtype=np.int64)
        v = np.asarray(edge_v, dtype=np.int64)
        m = len(u)
        if geometry is None:
            glon = np.column_stack([lon[u], lon[v]]).ravel()
            glat = np.column_stack([lat[u], lat[v]]).ravel()
            offsets = np.arange(0, 2 * m + 1, 2, dtype=np.int64)
        else:
            arrs = [np.asarray(g, dtype=np.float64).reshape(-1, 2) for g in geometry]
            glon = np.concatenate([a[:, 0] for a in arrs]) if arrs else np.zeros(0)
            glat = np.concatenate([a[:, 1] for a in arrs]) if arrs else np.zeros(0)
            offsets = np.zeros(m + 1, dtype=np.int64)
            np.cumsum([len(a) for a in arrs], out=offsets[1:])
        if length_m is None:
            seg = haversine_m(glon[:-1], glat[:-1], glon[1:], glat[1:])
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            length = cum[offsets[1:] - 1] - cum[offsets[:-1]]
        else:
            length = np.asarray(length_m, dtype=np.float64)
        travel = length / (speed_kmh / 3.6) if travel_s is None else np.asarray(travel_s, dtype=np.float64)
        return cls(
            mode=mode,
            node_lon=lon,
            node_lat=lat,
            node_osmid=(
                np.arange(len(lon), dtype=np.int64) if node_osmid is None
                else np.asarray(node_osmid, dtype=np.int64)
            ),
            street_u=u,
            street_v=v,
            street_length_m=length,
            street_travel_s=travel,
            street_forward=np.broadcast_to(np.asarray(forward, dtype=bool), (m,)).copy(),
            street_backward=np.broadcast_to(np.asarray(backward, dtype=bool), (m,)).copy(),
            street_way_id=np.full(m, -1, dtype=np.int64),
            geom_offsets=offsets,
            geom_lon=glon,
            geom_lat=glat,
            access_speed_kmh=float(access_speed_kmh),
        )

    # -- persistence ----------------------------------------------------------------------------------
    _DERIVED = ("indptr", "indices", "edge_u", "edge_travel_s", "edge_length_m", "edge_street", "edge_forward",
                "reverse_order", "reverse_indptr", "reverse_src", "reverse_travel_s", "reverse_length_m",
                "geom_cumfrac", "core_street")

    def save(self, folder: str | Path) -> None:
        """Write the graph to ``folder``: one ``.npy`` per array (its CSR and reversed CSR included, so a
        load computes nothing) and ``meta.json``; no pickles. Written to a folder of this process's own and
        renamed into place, so processes building the same graph at once (the workers of a service
        starting on a new workspace) never see or leave a half-written one."""
        import shutil

        folder = Path(folder)
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for k in (*_STORED, *self._DERIVED):
            np.save(tmp / f"{k}.npy", np.ascontiguousarray(getattr(self, k)))
        (tmp / "meta.json").write_text(json.dumps({"mode": self.mode, "cache_key": self.cache_key,
                                                   "format": CACHE_FORMAT_VERSION,
                                                   "access_speed_kmh": self.access_speed_kmh}), encoding="utf-8")
        try:
            tmp.rename(folder)
        except OSError:  # another process wrote it first (same content: same key)
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: str | Path, *, mmap: bool = True) -> StreetGraph:
        """Read a graph written by :meth:`save` (``from_cache`` is set). With ``mmap`` (default) every array
        is memory-mapped read-only: nothing is read until used, and processes that load the same graph
        (the workers of a service) share its pages."""
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT_VERSION:
            raise ValueError(f"{folder}: graph cache of another format")
        mode = "r" if mmap else None
        g = cls.__new__(cls)
        for k in _STORED:
            setattr(g, k, npy.load(folder / f"{k}.npy", mmap_mode=mode))
        g.mode, g.cache_key, g.from_cache = meta["mode"], meta["cache_key"], True
        g.access_speed_kmh = float(meta["access_speed_kmh"])
        for k in cls._DERIVED:  # reverse_order / reverse_indptr land in the cached properties' slots
            g.__dict__[k] = npy.load(folder / f"{k}.npy", mmap_mode=mode)
        return g


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """Concatenation of ``arange(s, s + c)`` for every (s, c), vectorised."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)
    return np.arange(total, dtype=np.int64) + shift


def graph_from_ways(raw: RawWays, profile: ModeProfile, *, cache_key: str = "") -> StreetGraph:
    """Build one mode's :class:`StreetGraph` from highway ways: keep the ways the profile allows, split
    them at every node shared with another kept way (and at their ends), keep each piece's geometry."""
    verdicts = [profile.evaluate(t) for t in raw.tags]
    keep = np.array([v is not None for v in verdicts], dtype=bool)
    fwd_w = np.array([bool(v and v[0]) for v in verdicts], dtype=bool)
    bwd_w = np.array([bool(v and v[1]) for v in verdicts], dtype=bool)
    speed_w = np.array([v[2] if v else 0.0 for v in verdicts], dtype=np.float64)
    keep &= fwd_w | bwd_w
    ways = np.flatnonzero(keep)
    counts = np.diff(raw.offsets)[ways]
    pts = _ranges(raw.offsets[:-1][ways], counts)
    way_of_pt = np.repeat(np.arange(len(ways)), counts)
    pid = raw.node_id[pts]
    plon = raw.lon[pts]
    plat = raw.lat[pts]
    npts = len(pts)
    if npts == 0:
        return StreetGraph.from_arrays(node_lon=[], node_lat=[], edge_u=[], edge_v=[], mode=profile.name,
                                       access_speed_kmh=profile.access_speed_kmh)
    way_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    is_first = np.zeros(npts, dtype=bool)
    is_first[way_start] = True
    is_last = np.zeros(npts, dtype=bool)
    is_last[way_start + counts - 1] = True

    _, inv, cnt = np.unique(pid, return_inverse=True, return_counts=True)
    split = (cnt[inv] >= 2) | is_first | is_last
    sidx = np.flatnonzero(split)
    pair_ok = ~is_last[sidx[:-1]]
    start = sidx[:-1][pair_ok]
    end = sidx[1:][pair_ok]

    seg = np.zeros(npts, dtype=np.float64)
    seg[:-1] = haversine_m(plon[:-1], plat[:-1], plon[1:], plat[1:])
    seg[is_last] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    length = cum[end] - cum[start]

    geom_idx = _ranges(start, end - start + 1)
    offsets = np.zeros(len(start) + 1, dtype=np.int64)
    np.cumsum(end - start + 1, out=offsets[1:])

    node_ids, node_inv = np.unique(pid[sidx], return_inverse=True)
    first_occ = np.zeros(len(node_ids), dtype=np.int64)
    first_occ[node_inv[::-1]] = sidx[::-1]
    node_of_pt = np.full(npts, -1, dtype=np.int64)
    node_of_pt[sidx] = node_inv

    w = way_of_pt[start]
    speed_ms = speed_w[ways][w] / 3.6
    return StreetGraph(
        mode=profile.name,
        node_lon=plon[first_occ].copy(),
        node_lat=plat[first_occ].copy(),
        node_osmid=node_ids.astype(np.int64),
        street_u=node_of_pt[start],
        street_v=node_of_pt[end],
        street_length_m=length,
        street_travel_s=length / speed_ms,
        street_forward=fwd_w[ways][w],
        street_backward=bwd_w[ways][w],
        street_way_id=raw.way_id[ways][w],
        geom_offsets=offsets,
        geom_lon=plon[geom_idx],
        geom_lat=plat[geom_idx],
        cache_key=cache_key,
        access_speed_kmh=profile.access_speed_kmh,
    )


# ------------------------------------------------------------------------------------------------------
# Building and caching
# ------------------------------------------------------------------------------------------------------


def source_fingerprint(path: str | Path) -> str:
    """A content fingerprint of a file: full SHA-256 up to 64 MiB; above that, size + mtime + SHA-256 of
    the first and last MiB."""
    path = Path(path)
    st = path.stat()
    h = hashlib.sha256()
    mib = 1 << 20
    with open(path, "rb") as fh:
        if st.st_size <= 64 * mib:
            for chunk in iter(lambda: fh.read(4 * mib), b""):
                h.update(chunk)
            return f"sha256:{h.hexdigest()}"
        h.update(fh.read(mib))
        fh.seek(-mib, 2)
        h.update(fh.read(mib))
    return f"size:{st.st_size}:mtime:{st.st_mtime_ns}:sha256-ends:{h.hexdigest()}"


def _cache_key(source_id: str, profile: ModeProfile) -> str:
    blob = json.dumps(
        {"format": CACHE_FORMAT_VERSION, "source": source_id, "profile": profile.params()}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _cache_path(cache_dir: Path, mode: str, key: str) -> Path:
    return cache_dir / f"network_{mode}_{key[:20]}"


def _select_profiles(
    modes: str | Sequence[str], profiles: Mapping[str, ModeProfile] | None
) -> dict[str, ModeProfile]:
    profiles = dict(profiles) if profiles is not None else load_profiles()
    wanted = [modes] if isinstance(modes, str) else list(modes)
    unknown = [m for m in wanted if m not in profiles]
    if unknown:
        raise ValueError(f"unknown mode(s) {unknown}; known: {sorted(profiles)} / 未知出行方式")
    return {m: profiles[m] for m in wanted}


def _build_cached(
    source_id: str,
    reader: Any,
    *,
    modes: str | Sequence[str],
    profiles: Mapping[str, ModeProfile] | None,
    cache: bool,
    cache_dir: str | Path | None,
    progress: bool,
    read_cache: bool = True,
) -> dict[str, StreetGraph]:
    chosen = _select_profiles(modes, profiles)
    if cache_dir is None:
        cache_dir = get_settings().cache_dir  # a workspace's cache folder, or None: no disk cache
    cache = cache and cache_dir is not None
    cdir = Path(cache_dir) if cache_dir is not None else Path()
    out: dict[str, StreetGraph] = {}
    missing: list[str] = []
    keys = {m: _cache_key(source_id, p) for m, p in chosen.items()}
    for m in chosen:
        path = _cache_path(cdir, m, keys[m])
        if cache and read_cache and path.exists():
            try:
                g = StreetGraph.load(path)
                if g.cache_key == keys[m]:
                    out[m] = g
                    continue
            except (OSError, ValueError, KeyError):  # unreadable cache: rebuild it
                import shutil

                shutil.rmtree(path, ignore_errors=True)
        missing.append(m)
    if missing:
        raw = reader()
        it: Iterable[str] = missing
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(missing, desc="building networks", unit=" mode")
        for m in it:
            g = graph_from_ways(raw, chosen[m], cache_key=keys[m])
            if cache:
                g.save(_cache_path(cdir, m, keys[m]))
            out[m] = g
    if cache:  # where the graph's derived caches (station labels) are kept too
        for g in out.values():
            g.__dict__["_cache_dir"] = str(cdir)
    return {m: out[m] for m in chosen}


def build_network(
    source: str | Path,
    *,
    modes: str | Sequence[str] = MODES,
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    profiles: Mapping[str, ModeProfile] | None = None,
) -> dict[str, StreetGraph]:
    """Per-mode street graphs from an OSM file (``.osm.pbf`` or ``.osm`` XML), cached on disk.

    Returns ``{mode: StreetGraph}``. The cache (``cache_dir``, default ``settings.cache_dir``: the
    workspace's ``cache/`` folder; no disk cache when neither is set) holds one folder of memory-mapped
    arrays per mode, keyed by the file's content fingerprint (:func:`source_fingerprint`), the mode's
    profile (including the speeds from settings) and the cache format version; a second call with the
    same file and profile loads from it (``graph.from_cache`` is True), a changed file or profile
    rebuilds. ``profiles`` overrides :func:`load_profiles`.
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"OSM file not found / 找不到 OSM 文件: {path}. Download an extract for your city (e.g. from "
            "https://download.geofabrik.de/asia/china.html) or use network_from_place / network_from_bbox."
        )
    source_id = f"file:{source_fingerprint(path)}"
    return _build_cached(
        source_id,
        lambda: read_osm_file(path, progress=progress),
        modes=modes,
        profiles=profiles,
        cache=cache,
        cache_dir=cache_dir,
        progress=progress,
    )


def _download_ways(polygon: Any) -> RawWays:
    try:
        from osmnx import _overpass
    except ImportError as exc:  # pragma: no cover - osmnx is a dependency
        raise ImportError("downloading OSM data needs osmnx (pip install osmnx)") from exc
    try:
        return ways_from_overpass(_overpass._download_overpass_network(polygon, "all", '["highway"]'))
    except Exception as exc:
        raise ConnectionError(
            "Could not download OSM data from the Overpass API (no internet, or the server refused). "
            "Use an OSM file instead: build_network('city.osm.pbf'). / 无法从 Overpass API 下载 OSM 数据"
            f"（无网络或服务器拒绝），请改用本地 OSM 文件。Cause: {exc}"
        ) from exc


def network_from_polygon(
    polygon: Any,
    *,
    modes: str | Sequence[str] = MODES,
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    profiles: Mapping[str, ModeProfile] | None = None,
    refresh: bool = False,
) -> dict[str, StreetGraph]:
    """Download the highway ways inside a shapely (Multi)Polygon in WGS84 degrees and build the graphs.

    Needs internet (Overpass API through osmnx's downloader). The cache key is the polygon's WKT plus the
    profile; pass ``refresh=True`` to download again.
    """
    import shapely

    source_id = f"polygon:{shapely.to_wkt(polygon, rounding_precision=7)}"
    return _build_cached(
        source_id,
        lambda: _download_ways(polygon),
        modes=modes,
        profiles=profiles,
        cache=cache,
        cache_dir=cache_dir,
        progress=progress,
        read_cache=not refresh,
    )


def network_from_bbox(
    bbox: tuple[float, float, float, float], *, modes: str | Sequence[str] = MODES, **kwargs: Any
) -> dict[str, StreetGraph]:
    """Download and build for a bounding box ``(west, south, east, north)`` in WGS84 degrees."""
    from shapely.geometry import box

    west, south, east, north = (float(x) for x in bbox)
    if not (west < east and south < north):
        raise ValueError(f"bbox must be (west, south, east, north) with west<east, south<north; got {bbox}")
    return network_from_polygon(box(west, south, east, north), modes=modes, **kwargs)


def network_from_place(
    name: str, *, modes: str | Sequence[str] = MODES, **kwargs: Any
) -> dict[str, StreetGraph]:
    """Geocode a place name with Nominatim (osmnx) and download and build its street networks."""
    try:
        import osmnx as ox

        gdf = ox.geocode_to_gdf(name)
    except Exception as exc:
        raise ConnectionError(
            f"Could not geocode {name!r} (needs internet access to Nominatim). Use an OSM file or a bbox "
            f"instead. / 无法查询地名 {name!r}（需要联网），请改用本地 OSM 文件。Cause: {exc}"
        ) from exc
    return network_from_polygon(gdf.geometry.iloc[0], modes=modes, **kwargs)
