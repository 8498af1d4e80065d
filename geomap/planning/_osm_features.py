"""Private: read the non-street features planners need from an OSM extract (PBF or XML, via pyosmium).

One reading gives, all in WGS84 lon/lat degrees:

- ``buildings``: building footprints (closed ways and multipolygon relations) with their ``building``
  value and whether they lie in a ``landuse=residential`` area;
- ``pois``: points of interest (nodes, and the centroids of tagged areas) with ``amenity`` / ``shop`` /
  ``office`` / ``building`` / ``name`` tags — restaurants, banks, post offices, fuel stations …;
- ``subdistrict_areas``: complete ``boundary=administrative`` + ``admin_level=8`` (街道 / 镇) polygons;
- ``subdistrict_ways``: the member ways of *every* admin_level=8 relation that are present in the
  extract, with the names of the relations they bound. A city extract usually clips these relations, so
  their polygons cannot be assembled; :mod:`geomap.planning.subdistricts` rebuilds approximate areas from them;
- ``street_names``: the ``name`` of every named road (``highway`` of :data:`NAMED_ROADS`: not footways,
  paths or service roads, whose names people do not give as an address), by way id (the street graph's streets keep
  their way id, so a place can be told by its streets: :mod:`geomap.planning.naming`);
- ``newest_edit``: the time of the newest object in the file (UTC), a lower bound of the extract's date
  when its header carries none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely

POI_KEYS = ("amenity", "shop", "office", "building", "name", "brand", "operator", "community_centre",
            "social_facility", "addr:street", "addr:housenumber")
NAMED_ROADS = frozenset({
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "living_street",
    "pedestrian", "motorway_link", "trunk_link", "primary_link", "secondary_link", "tertiary_link", "road",
})
RESIDENTIAL_BUILDINGS = frozenset({
    "apartments", "residential", "house", "dormitory", "detached", "terrace", "semidetached_house",
    "bungalow", "flats",
})


@dataclass
class OsmFeatures:
    """Planner features of one extract; every geometry in WGS84 lon/lat degrees."""

    buildings: Any  # GeoDataFrame: osm_id, building, residential_landuse, geometry (Polygon/MultiPolygon)
    pois: Any  # GeoDataFrame: osm_id, osm_type, amenity, shop, office, name, ..., geometry (Point)
    subdistrict_areas: Any  # GeoDataFrame: name, osm_id, geometry (complete admin_level=8 polygons)
    subdistrict_ways: Any  # GeoDataFrame: way_id, names (tuple of relation names), geometry (LineString)
    node_bounds: tuple[float, float, float, float]  # lon/lat extent of all nodes
    street_names: dict[int, str] = field(default_factory=dict)  # highway way id -> its name
    newest_edit: datetime | None = None  # UTC time of the newest object in the file


def _is_subdistrict(tags: Any) -> bool:
    return tags.get("boundary") == "administrative" and tags.get("admin_level") == "8"


def read_osm_features(path: str | Path) -> OsmFeatures:
    """Read buildings, POIs and 街道 boundaries from an OSM PBF / XML file (two passes, pyosmium)."""
    import geopandas as gpd
    import osmium

    path = str(path)
    member_names: dict[int, list[str]] = {}

    class _Relations(osmium.SimpleHandler):
        def relation(self, r: Any) -> None:
            if _is_subdistrict(r.tags) and "name" in r.tags:
                for m in r.members:
                    if m.type == "w":
                        member_names.setdefault(m.ref, []).append(r.tags["name"])

    _Relations().apply_file(path)

    wkb = osmium.geom.WKBFactory()
    buildings: list[dict[str, Any]] = []
    residential_areas: list[Any] = []
    pois: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    ways: list[dict[str, Any]] = []
    bounds = [180.0, 90.0, -180.0, -90.0]
    street_names: dict[int, str] = {}
    newest: list[datetime] = []

    def _seen(obj: Any) -> None:
        t = obj.timestamp
        if t is not None and t.year > 1970 and (not newest or t > newest[0]):
            newest[:] = [t]

    def _poi_row(osm_type: str, osm_id: int, tags: Any) -> dict[str, Any]:
        return {"osm_type": osm_type, "osm_id": osm_id, **{k: tags.get(k) for k in POI_KEYS}}

    class _Features(osmium.SimpleHandler):
        def node(self, n: Any) -> None:
            _seen(n)
            if n.location.valid():
                lon, lat = n.location.lon, n.location.lat
                if lon < bounds[0]:
                    bounds[0] = lon
                if lat < bounds[1]:
                    bounds[1] = lat
                if lon > bounds[2]:
                    bounds[2] = lon
                if lat > bounds[3]:
                    bounds[3] = lat
                if any(k in n.tags for k in ("amenity", "shop", "office")):
                    row = _poi_row("node", n.id, n.tags)
                    row["geometry"] = shapely.Point(lon, lat)
                    pois.append(row)

        def way(self, w: Any) -> None:
            _seen(w)
            if w.tags.get("highway") in NAMED_ROADS and "name" in w.tags:
                street_names[w.id] = w.tags["name"]
            if w.id in member_names:
                coords = [(nd.lon, nd.lat) for nd in w.nodes if nd.location.valid()]
                if len(coords) >= 2:
                    ways.append({"way_id": w.id, "names": tuple(member_names[w.id]),
                                 "geometry": shapely.LineString(coords)})

        def area(self, a: Any) -> None:
            tags = a.tags
            wanted = ("building" in tags or tags.get("landuse") == "residential" or _is_subdistrict(tags)
                      or any(k in tags for k in ("amenity", "shop", "office")))
            if not wanted:
                return
            try:
                geom = shapely.from_wkb(wkb.create_multipolygon(a))
            except Exception:  # broken ring in the extract: skip that area, as osmium does
                return
            osm_id = a.orig_id()
            osm_type = "way" if a.from_way() else "relation"
            if "building" in tags:
                buildings.append({"osm_id": osm_id, "osm_type": osm_type, "building": tags["building"],
                                  "geometry": geom})
            if tags.get("landuse") == "residential":
                residential_areas.append(geom)
            if _is_subdistrict(tags) and "name" in tags:
                areas.append({"name": tags["name"], "osm_id": osm_id, "geometry": geom})
            if any(k in tags for k in ("amenity", "shop", "office")):
                row = _poi_row(osm_type, osm_id, tags)
                row["geometry"] = geom.point_on_surface()
                pois.append(row)

    _Features().apply_file(path, locations=True)

    crs = "EPSG:4326"
    b = gpd.GeoDataFrame(buildings, columns=["osm_id", "osm_type", "building", "geometry"], geometry="geometry",
                         crs=crs)
    if len(b) and residential_areas:
        landuse = shapely.union_all(residential_areas)
        shapely.prepare(landuse)
        b["residential_landuse"] = shapely.intersects(landuse, b.geometry.representative_point().values)
    else:
        b["residential_landuse"] = False
    return OsmFeatures(
        buildings=b,
        pois=gpd.GeoDataFrame(pois, columns=["osm_type", "osm_id", *POI_KEYS, "geometry"], geometry="geometry",
                              crs=crs),
        subdistrict_areas=gpd.GeoDataFrame(areas, columns=["name", "osm_id", "geometry"], geometry="geometry",
                                           crs=crs),
        subdistrict_ways=gpd.GeoDataFrame(ways, columns=["way_id", "names", "geometry"], geometry="geometry",
                                          crs=crs),
        node_bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        street_names=street_names,
        newest_edit=newest[0] if newest else None,
    )
