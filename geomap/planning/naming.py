"""A place told by its streets, as people give directions: "国和路与政立路交叉口附近", or "国和路附近".

A proposed site that is an H3 cell centre has no name of its own; a planner's boss needs one that leads
somewhere. :class:`StreetNamer` answers from the street graph (its streets keep their OSM way id) and the
extract's road names (:attr:`geomap.planning._osm_features.OsmFeatures.street_names`):

1. the nearest **junction** within ``junction_m`` (default 200 m) of two differently named roads — a graph
   node where named streets of at least two names meet; where more than two meet, the two longest roads
   (total named length in the graph: the better known) give the name, the longer first;
2. otherwise the nearest **named road** within ``street_m`` (default 400 m): "XX路附近";
3. otherwise None (the caller says where the place is in other words, e.g. its 街道).

Distances are straight lines in a local azimuthal equidistant frame (metres) centred on the graph.
Input points are WGS84 lon/lat degrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from geomap.coords import local_metric_crs
from geomap.network.graph import StreetGraph

__all__ = ["JUNCTION_M", "STREET_M", "StreetNamer", "street_namer"]

JUNCTION_M = 200.0
"""How far (m) a junction may be from a place to name it."""
STREET_M = 400.0
"""How far (m) a named road may be from a place to name it, when no junction is near."""


@dataclass
class StreetNamer:
    """Names places by their nearest named junction or road (see the module docstring)."""

    to_xy: Transformer
    junction_tree: cKDTree | None
    junction_names: list[tuple[str, str]]
    street_tree: shapely.STRtree | None
    street_lines: npt.NDArray[np.object_]
    street_names: npt.NDArray[np.object_]

    def describe(self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, junction_m: float = JUNCTION_M,
                 street_m: float = STREET_M) -> list[str | None]:
        """One description per WGS84 point: "A与B交叉口附近", "A附近", or None when no named road is near."""
        lon = np.atleast_1d(np.asarray(lon, float))
        lat = np.atleast_1d(np.asarray(lat, float))
        out: list[str | None] = [None] * len(lon)
        if not len(lon):
            return out
        x, y = self.to_xy.transform(lon, lat)
        xy = np.column_stack([x, y])
        if self.junction_tree is not None:
            dist, idx = self.junction_tree.query(xy, k=1, distance_upper_bound=junction_m)
            for i in np.flatnonzero(np.isfinite(dist)):
                a, b = self.junction_names[int(idx[i])]
                out[i] = f"{a}与{b}交叉口附近"
        rest = [i for i, d in enumerate(out) if d is None]
        if rest and self.street_tree is not None:
            pts = shapely.points(xy[rest])
            p_idx, s_idx = self.street_tree.query_nearest(pts, max_distance=street_m)
            first = np.unique(p_idx, return_index=True)[1]  # equidistant ties: the first street
            for pi, si in zip(p_idx[first], s_idx[first], strict=True):
                out[rest[int(pi)]] = f"{self.street_names[int(si)]}附近"
        return out


def street_namer(graph: StreetGraph, names: Mapping[int, str]) -> StreetNamer:
    """A :class:`StreetNamer` over ``graph``'s streets named by ``names`` (OSM way id -> road name)."""
    cx = float(np.mean(graph.node_lon)) if graph.n_nodes else 0.0
    cy = float(np.mean(graph.node_lat)) if graph.n_nodes else 0.0
    to_xy = Transformer.from_crs("EPSG:4326", local_metric_crs(cx, cy), always_xy=True)
    way_name = np.array([names.get(int(w)) for w in graph.street_way_id], dtype=object)
    named = np.flatnonzero(way_name != None)  # noqa: E711 (element-wise)
    if not len(named):
        return StreetNamer(to_xy, None, [], None, np.zeros(0, object), np.zeros(0, object))
    # how well known a road is: its named length in the graph
    length: dict[str, float] = {}
    for nm, ln in zip(way_name[named].tolist(), graph.street_length_m[named].tolist(), strict=True):
        length[nm] = length.get(nm, 0.0) + ln
    # junctions: nodes where streets of two or more names meet
    at_node: dict[int, set[str]] = {}
    for nm, u, v in zip(way_name[named].tolist(), graph.street_u[named].tolist(), graph.street_v[named].tolist(),
                        strict=True):
        at_node.setdefault(u, set()).add(nm)
        at_node.setdefault(v, set()).add(nm)
    j_nodes = [n for n, s in at_node.items() if len(s) >= 2]
    j_names = []
    for n in j_nodes:
        a, b = sorted(at_node[n], key=lambda s: (-length[s], s))[:2]
        j_names.append((a, b))
    tree = None
    if j_nodes:
        jx, jy = to_xy.transform(graph.node_lon[j_nodes], graph.node_lat[j_nodes])
        tree = cKDTree(np.column_stack([jx, jy]))
    # named streets as metric lines, for the nearest named road
    off = graph.geom_offsets
    counts = off[named + 1] - off[named]
    pos = np.concatenate([np.arange(off[s], off[s + 1]) for s in named.tolist()])
    gx, gy = to_xy.transform(graph.geom_lon[pos], graph.geom_lat[pos])
    lines = shapely.linestrings(np.column_stack([gx, gy]), indices=np.repeat(np.arange(len(named)), counts))
    return StreetNamer(to_xy, tree, j_names, shapely.STRtree(lines), np.asarray(lines, dtype=object),
                       way_name[named])
