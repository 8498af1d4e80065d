"""The area a place's street networks cover: where a rider's question can be answered along its streets.

The convex hull of the networks' nodes, widened by the snapping distance (a point that far from the last
street is still served), cut to the place's boundary when the workspace gives one. A point outside it is
*outside the area served* (the service says so, naming the area), not "far from a street": a rider in
Beijing asking a Yangpu service is not 1,071,996 m from a street of Yangpu, they are in another city.

Coordinates are WGS84 degrees; the widening is done in a local equirectangular frame (metres)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import shapely

from geomap.network.graph import StreetGraph

MAX_POINTS = 200_000
"""Nodes used for the hull (evenly taken): the hull of a million-node city's nodes is the same shape."""


def network_extent(graphs: Iterable[StreetGraph], *, margin_m: float,
                   boundary: shapely.Geometry | None = None) -> shapely.Geometry:
    """The area served (WGS84 polygon): the hull of the nodes of ``graphs`` widened by ``margin_m`` metres,
    intersected with ``boundary`` (WGS84) when given. Empty when the graphs have no nodes."""
    lon = np.concatenate([g.node_lon for g in graphs] or [np.zeros(0)])
    lat = np.concatenate([g.node_lat for g in graphs] or [np.zeros(0)])
    if not len(lon):
        return shapely.Polygon()
    if len(lon) > MAX_POINTS:
        pick = np.linspace(0, len(lon) - 1, MAX_POINTS).astype(np.int64)
        lon, lat = lon[pick], lat[pick]
    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    kx, ky = 111_320.0 * np.cos(np.radians(lat0)), 110_540.0
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([(lon - lon0) * kx, (lat - lat0) * ky])))
    area = shapely.buffer(hull, margin_m, quad_segs=8)
    area = shapely.transform(area, lambda xy: np.column_stack([xy[:, 0] / kx + lon0, xy[:, 1] / ky + lat0]))
    if boundary is not None and not boundary.is_empty:
        area = shapely.intersection(area, boundary)
    shapely.prepare(area)
    return area


def contains(area: shapely.Geometry, lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray:
    """Which WGS84 points lie in ``area`` (on its edge counts as in)."""
    return np.atleast_1d(shapely.intersects_xy(area, lon, lat))
