"""An OSM extract clipped to a polygon, as ``osmium extract --strategy complete_ways`` would (pyosmium).

Kept: every way with at least one node inside the polygon, whole (all its nodes, even those outside), the
tagged nodes inside (POIs, entrances), and the ``boundary=administrative`` relations that have a kept way
as a member, completed with all their members (the 街道 outlines are rebuilt from them). Other relations
(bus routes, multipolygons) are left out: they would pull in ways from far away. The referenced objects
are added by :class:`osmium.BackReferenceWriter` from the source file, tags kept.

Why whole ways: a route that stays inside the polygon uses only streets with a node inside, so within the
polygon the clipped network is the source's network (``docs/regions.md``, “Why the buffer is enough”).

Coordinates: the polygon is WGS84 lon/lat degrees, as OSM data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import shapely

__all__ = ["clip_osm"]


def clip_osm(source: str | Path, out: str | Path, polygon: shapely.Geometry) -> dict[str, int]:
    """Write the part of ``source`` (``.osm.pbf`` / ``.osm``) touching ``polygon`` (WGS84) to ``out``
    (written under a temporary name, then renamed: readers never see half a file). Returns how many ways,
    tagged nodes and relations were kept (their referenced nodes come on top)."""
    import osmium

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp{''.join(out.suffixes)}")
    shapely.prepare(polygon)
    kept_ways: set[int] = set()
    counts = {"ways": 0, "nodes": 0, "relations": 0}
    fp = osmium.FileProcessor(str(source)).with_locations()
    with osmium.BackReferenceWriter(str(tmp), ref_src=str(source), overwrite=True, remove_tags=False) as writer:
        for obj in fp:
            if obj.is_node():
                if len(obj.tags) and obj.location.valid() and shapely.contains_xy(polygon, obj.location.lon,
                                                                                   obj.location.lat):
                    writer.add_node(obj)
                    counts["nodes"] += 1
            elif obj.is_way():
                xy = np.array([(n.lon, n.lat) for n in obj.nodes if n.location.valid()], dtype=float).reshape(-1, 2)
                if len(xy) and shapely.contains_xy(polygon, xy[:, 0], xy[:, 1]).any():
                    writer.add_way(obj)
                    kept_ways.add(obj.id)
                    counts["ways"] += 1
            elif obj.is_relation() and obj.tags.get("boundary") == "administrative" and any(
                    m.type == "w" and m.ref in kept_ways for m in obj.members):
                writer.add_relation(obj)
                counts["relations"] += 1
    tmp.replace(out)
    return counts
