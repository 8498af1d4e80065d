"""Build the illustrative sample station registry ``data/sample/yangpu_stations_gcj02.csv``.

The registry is *authored* (示例数据，非官方名单): the stations below are what a Yangpu trade union's list
could look like, placed on real places of the OpenStreetMap extract ``../shared/data/osm`` (bank branches,
post offices, restaurants, car parks) or, where OSM has no fitting place, at a real street corner of the
extract. Names of invented stations, services, prices, operators and phone numbers (021-6555xxxx) are
fictitious. This script makes the file reproducible:

1. reads the OSM XML extract (WGS84);
2. resolves every station's position: an OSM node, the centroid of an OSM way, or a named street corner
   (the crossing of two named streets of the extract, moved a few metres onto a corner);
3. checks each point: inside the extract's dense area, near a road (an authored corner position beside
   the carriageway, not on it), not inside a campus, school, hospital or water area, the street of its
   address passes close by, and a station on an OSM element carries that element's name;
4. finds 区 and 街道 by point in polygon against the OSM admin boundary relations (the extract clips them,
   so open boundary ends are extended straight to the next boundary or the extract's frame);
5. converts WGS84 to GCJ-02 (as unions copy coordinates from AMap) and writes UTF-8 with BOM.

Run: ``.venv/bin/python scripts/make_sample_registry.py [--osm PATH] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from shapely import STRtree
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, polygonize, unary_union

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomap.coords import transform  # noqa: E402

DEFAULT_OSM = ROOT.parent / "shared" / "data" / "osm" / "yangpu_wujiaochang.osm"
DEFAULT_OUT = ROOT / "data" / "sample" / "yangpu_stations_gcj02.csv"

EXTENT = (121.477, 31.278, 121.528, 31.332)
"""Dense part of the extract (WGS84 west, south, east, north); every station must lie inside."""

HEADERS = ("编号", "名称", "类型", "地址", "区", "街道", "经度", "纬度", "开放时间", "服务内容", "套餐价格(元)",
           "运营单位", "联系电话", "备注")

# Local metric frame (equirectangular around the extract's centre): good to well under 1 m here.
_LON0, _LAT0 = 121.5, 31.3
_MX = 111_320.0 * math.cos(math.radians(_LAT0))
_MY = 110_574.0

MAX_STREET_M = 60.0
"""A station is at most this far from a street or service road (a large car park: its own size)."""
ADDRESS_STREET_M = 150.0
"""The street of a station's address must pass within this distance."""
BLOCKING = {"amenity": {"university", "college", "school", "kindergarten", "hospital"},
            "natural": {"water"}, "landuse": {"reservoir", "basin"}, "waterway": {"riverbank"}}
"""Areas a station must not lie inside (the middle of a campus, a school, a lake)."""
STREET_CLASSES = {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "living_street"}
ACCESS_CLASSES = STREET_CLASSES | {"service", "pedestrian"}
"""Roads a station can be reached by (named or not)."""
CLEARANCE_M = {"trunk": 15.0, "primary": 15.0, "secondary": 10.0, "tertiary": 8.0, "service": 3.0}
"""An authored position (street corner) keeps this far from a road's centre line (default 6 m): it must
stand beside the carriageway, not on it. Tunnels are not in the way."""


def to_xy(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 degrees -> local metres."""
    return (lon - _LON0) * _MX, (lat - _LAT0) * _MY


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres -> WGS84 degrees."""
    return x / _MX + _LON0, y / _MY + _LAT0


# --------------------------------------------------------------------------------------------------------
# OSM reading
# --------------------------------------------------------------------------------------------------------


@dataclass
class Osm:
    """The parts of an OSM XML file this script needs; node positions in local metres."""

    nodes: dict[int, tuple[float, float]] = field(default_factory=dict)
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    ways: dict[int, list[int]] = field(default_factory=dict)
    way_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    rel_members: dict[int, list[tuple[str, int, str]]] = field(default_factory=dict)
    rel_tags: dict[int, dict[str, str]] = field(default_factory=dict)

    def way_line(self, wid: int) -> LineString | None:
        pts = [self.nodes[n] for n in self.ways.get(wid, []) if n in self.nodes]
        return LineString(pts) if len(pts) >= 2 else None

    def way_polygon(self, wid: int) -> BaseGeometry | None:
        refs = self.ways.get(wid, [])
        pts = [self.nodes[n] for n in refs if n in self.nodes]
        if len(refs) < 4 or refs[0] != refs[-1] or len(pts) != len(refs):
            return None
        poly = Polygon(pts)
        return poly if poly.is_valid and poly.area > 0 else poly.buffer(0)


def read_osm(path: Path) -> Osm:
    """Read nodes, ways and relations (with tags) from an OSM XML file."""
    osm = Osm()
    for _, el in ET.iterparse(path):
        if el.tag not in ("node", "way", "relation"):
            continue
        oid = int(el.get("id", "0"))
        tags = {t.get("k", ""): t.get("v", "") for t in el.findall("tag")}
        if el.tag == "node":
            osm.nodes[oid] = to_xy(float(el.get("lon", "nan")), float(el.get("lat", "nan")))
            if tags:
                osm.node_tags[oid] = tags
        elif el.tag == "way":
            osm.ways[oid] = [int(n.get("ref", "0")) for n in el.findall("nd")]
            osm.way_tags[oid] = tags
        else:
            osm.rel_members[oid] = [(m.get("type", ""), int(m.get("ref", "0")), m.get("role", ""))
                                    for m in el.findall("member")]
            osm.rel_tags[oid] = tags
        el.clear()
    return osm


def access_roads(osm: Osm) -> list[tuple[LineString, float]]:
    """Every road a vehicle or a rider can reach a station by, named or not (local metres), with the
    clearance an authored position keeps from it (0 for tunnels)."""
    out: list[tuple[LineString, float]] = []
    for wid, tags in osm.way_tags.items():
        highway = tags.get("highway", "")
        line = osm.way_line(wid) if highway in ACCESS_CLASSES else None
        if line is not None:
            out.append((line, 0.0 if tags.get("tunnel") == "yes" else CLEARANCE_M.get(highway, 6.0)))
    return out


def named_streets(osm: Osm) -> dict[str, BaseGeometry]:
    """Named streets of the extract (Chinese ``name``), merged per name, in local metres."""
    parts: dict[str, list[LineString]] = {}
    for wid, tags in osm.way_tags.items():
        if tags.get("highway") in STREET_CLASSES and tags.get("name"):
            line = osm.way_line(wid)
            if line is not None:
                parts.setdefault(tags["name"], []).append(line)
    return {name: unary_union(lines) for name, lines in parts.items()}


def relation_polygon(osm: Osm, rid: int) -> BaseGeometry | None:
    """Polygon of a multipolygon relation from its outer ways that are complete in the extract."""
    lines = [osm.way_line(ref) for typ, ref, role in osm.rel_members[rid] if typ == "way" and role != "inner"]
    polys = list(polygonize([ln for ln in lines if ln is not None]))
    return unary_union(polys) if polys else None


def blocking_areas(osm: Osm) -> list[tuple[str, BaseGeometry]]:
    """Campus, school, hospital and water areas (name, polygon) a station must not be placed inside."""
    def blocks(tags: dict[str, str]) -> bool:
        return any(tags.get(k) in vals for k, vals in BLOCKING.items())

    out: list[tuple[str, BaseGeometry]] = []
    for wid, tags in osm.way_tags.items():
        if blocks(tags):
            poly = osm.way_polygon(wid)
            if poly is not None and not poly.is_empty:
                out.append((tags.get("name", f"way {wid}"), poly))
    for rid, tags in osm.rel_tags.items():
        if blocks(tags) and tags.get("type") == "multipolygon":
            poly = relation_polygon(osm, rid)
            if poly is not None and not poly.is_empty:
                out.append((tags.get("name", f"relation {rid}"), poly))
    return out


# --------------------------------------------------------------------------------------------------------
# Admin areas (区 / 街道) from the clipped boundary relations
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminArea:
    """One face of the boundary network, labelled with its 街道 (may be empty) and 区."""

    subdistrict: str
    district: str
    polygon: BaseGeometry


def _extend(line: LineString, at_end: bool, obstacles: BaseGeometry, reach_m: float) -> LineString | None:
    """Straight extension of ``line`` beyond one end until it meets ``obstacles`` (None if it meets none)."""
    coords = list(line.coords)
    (x0, y0), (x1, y1) = (coords[-2], coords[-1]) if at_end else (coords[1], coords[0])
    d = math.hypot(x1 - x0, y1 - y0)
    ray = LineString([(x1, y1), (x1 + (x1 - x0) / d * reach_m, y1 + (y1 - y0) / d * reach_m)])
    hit = ray.intersection(obstacles)
    start = Point(x1, y1)
    pts = [p for p in _points(hit) if p.distance(start) > 0.5]
    if not pts:
        return None
    # go 1 m past the hit so that noding the network splits the line met (polygonize needs a true crossing)
    t = start.distance(min(pts, key=start.distance)) + 1.0
    return LineString([(x1, y1), (x1 + (x1 - x0) / d * t, y1 + (y1 - y0) / d * t)])


def _points(geom: BaseGeometry) -> list[Point]:
    if geom.is_empty:
        return []
    if geom.geom_type == "Point":
        return [geom]  # type: ignore[list-item]
    if geom.geom_type in ("LineString", "LinearRing"):
        return [Point(c) for c in geom.coords]
    return [p for g in getattr(geom, "geoms", []) for p in _points(g)]


def admin_areas(osm: Osm, frame: Polygon) -> list[AdminArea]:
    """Faces of the admin boundary network inside ``frame``, labelled by the relations all their edges share.

    The extract holds only the boundary ways near its area, so relations are open. Each open end of a
    boundary way is extended straight until it meets another boundary line (or an earlier extension, or the
    frame); the lines then cut the frame into faces. A face belongs to the 街道 (admin_level 8) that has every
    boundary way on the face's edge as a member; its 区 is the admin_level 6 relation listing that 街道 as
    a subarea (or, for a face without 街道, the one 区 all its edges share).
    """
    admin = {rid: tags for rid, tags in osm.rel_tags.items()
             if tags.get("boundary") == "administrative" and tags.get("admin_level") in ("6", "8")}
    member_of: dict[int, set[int]] = {}
    for rid in admin:
        for typ, ref, role in osm.rel_members[rid]:
            if typ == "way" and role in ("outer", "") and ref in osm.ways:
                member_of.setdefault(ref, set()).add(rid)
    lines = {wid: ln for wid in sorted(member_of) if (ln := osm.way_line(wid)) is not None}
    vertex_count: Counter[int] = Counter(n for wid in lines for n in set(osm.ways[wid]))
    reach = math.hypot(*(b - a for a, b in zip(frame.bounds[:2], frame.bounds[2:], strict=True)))
    network: list[BaseGeometry] = [frame.exterior, *lines.values()]
    for wid, line in lines.items():
        refs = [n for n in osm.ways[wid] if n in osm.nodes]
        for at_end, node in ((False, refs[0]), (True, refs[-1])):
            if vertex_count[node] > 1:
                continue  # a junction with another boundary way
            ext = _extend(line, at_end, unary_union(network), reach)
            if ext is not None:
                network.append(ext)
    parent = {sub: rid for rid in admin if admin[rid].get("admin_level") == "6"
              for typ, sub, role in osm.rel_members[rid] if typ == "relation" and role == "subarea"}
    areas: list[AdminArea] = []
    for face in polygonize(unary_union(network)):
        if not frame.buffer(1.0).contains(face):
            continue
        edge = face.exterior.buffer(0.5)
        rels = [member_of[wid] for wid, ln in lines.items() if ln.intersection(edge).length > 5.0]
        if not rels:
            continue
        shared = set.intersection(*rels)
        sub8 = [r for r in shared if admin[r]["admin_level"] == "8"]
        dist6 = [r for r in shared if admin[r]["admin_level"] == "6"]
        sub = sub8[0] if len(sub8) == 1 else None
        dist = parent.get(sub) if sub is not None else (dist6[0] if len(dist6) == 1 else None)
        areas.append(AdminArea(admin[sub]["name"] if sub else "", admin[dist]["name"] if dist else "", face))
    return areas


def admin_of(areas: list[AdminArea], p: Point) -> tuple[str, str]:
    """(区, 街道) of a point; empty strings where it falls in no labelled face."""
    for a in areas:
        if a.polygon.covers(p):
            return a.district, a.subdistrict
    return "", ""


# --------------------------------------------------------------------------------------------------------
# Station positions
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """An OSM node (a POI such as a bank branch or a restaurant)."""

    id: int


@dataclass(frozen=True)
class Way:
    """An OSM closed way (a car park, a building): its centroid."""

    id: int


@dataclass(frozen=True)
class Corner:
    """The crossing of two named streets, moved ``dx`` m east and ``dy`` m north onto a corner."""

    a: str
    b: str
    dx: float
    dy: float


@dataclass(frozen=True)
class Along:
    """The point of a named street nearest to (lon, lat) WGS84, moved ``dx`` m east and ``dy`` m north."""

    street: str
    lon: float
    lat: float
    dx: float
    dy: float


Place = Node | Way | Corner | Along


@dataclass(frozen=True)
class Resolved:
    """A station's position (local metres), the name of the OSM element it sits on, and how far the nearest
    road may be."""

    point: Point
    osm_name: str
    max_road_m: float


def resolve(place: Place, osm: Osm, streets: dict[str, BaseGeometry]) -> Resolved:
    """Where a station stands (see :class:`Resolved`)."""
    if isinstance(place, Node):
        tags = osm.node_tags.get(place.id, {})
        return Resolved(Point(osm.nodes[place.id]), tags.get("name", ""), MAX_STREET_M)
    if isinstance(place, Way):
        poly = osm.way_polygon(place.id)
        if poly is None:
            raise ValueError(f"way {place.id} is not a complete closed way in the extract")
        c = poly.centroid if poly.contains(poly.centroid) else poly.representative_point()
        # the centroid of a large car park or building lies inside it: allow for its size
        reach = MAX_STREET_M + math.sqrt(poly.area)
        return Resolved(c, osm.way_tags[place.id].get("name", ""), reach)
    if isinstance(place, Corner):
        crossing = streets[place.a].intersection(streets[place.b])
        pts = _points(crossing)
        if not pts:
            raise ValueError(f"{place.a} and {place.b} do not cross in the extract")
        c = unary_union(pts).centroid
        if max(c.distance(p) for p in pts) > 60.0:
            raise ValueError(f"{place.a} and {place.b} cross at several places")
        return Resolved(Point(c.x + place.dx, c.y + place.dy), "", MAX_STREET_M)
    p0 = Point(to_xy(place.lon, place.lat))
    on = nearest_points(streets[place.street], p0)[0]
    if on.distance(p0) > 100.0:
        raise ValueError(f"({place.lon}, {place.lat}) is {on.distance(p0):.0f} m from {place.street}")
    return Resolved(Point(on.x + place.dx, on.y + place.dy), "", MAX_STREET_M)


# --------------------------------------------------------------------------------------------------------
# The registry (authored; ids follow the order of this list, so only ever append)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Station:
    """One row of the sample registry. ``alias``: the part of a long OSM name the station name uses."""

    name: str
    types: str
    place: Place
    address: str
    hours: str
    services: str
    operator: str
    phone: str
    price: int | None = None
    note: str = ""
    alias: str = ""


BASIC = "免费饮水、休憩、如厕、手机充电"

STATIONS: tuple[Station, ...] = (
    # --- 户外劳动者服务站点 / 工会驿站 / 爱心接力站 -------------------------------------------------------
    Station("中国工商银行创智天地网点劳动者港湾", "户外劳动者服务站点", Node(9438416302), "淞沪路199号",
            "9:00-17:00", f"{BASIC}、热饭、微波炉、应急药箱、避暑取暖、wifi", "工商银行杨浦支行", "021-65550112"),
    Station("中国农业银行武东路网点暖心驿站", "工会驿站", Node(9072472963), "吉浦路588号",
            "周一至周六 9:00-18:00", f"{BASIC}、热饭、应急药箱、书报", "农业银行杨浦支行", "021-65550127"),
    Station("中国光大银行吉浦路网点爱心驿站", "爱心接力站", Node(9072472961), "吉浦路540号",
            "周一至周五8:30-17:00", "免费饮水、休憩、手机充电、避暑取暖", "光大银行上海分行", "021-65550135"),
    Station("交通银行彰武路网点爱心接力站", "爱心接力站", Node(13357134692), "彰武路78号",
            "9:00-17:00", f"{BASIC}、微波炉、应急药箱、爱心妈咪小屋", "交通银行上海杨浦支行", "021-65550148"),
    Station("宁波银行五角场支行爱心驿站", "工会驿站", Node(7063150383), "国顺东路36号",
            "周一至周五9:00-17:00", "免费饮水、休憩、手机充电、空调、wifi", "宁波银行上海分行", "021-65550156"),
    Station("国定路邮政所工会驿站", "工会驿站", Node(1564937627), "国定路812号",
            "8:30-17:30", f"{BASIC}、热饭、微波炉、修车工具", "中国邮政上海分公司", "021-65550163"),
    Station("政本路邮政支局爱心驿站", "户外劳动者服务站点", Node(5335205045), "政本路180号",
            "周一至周六 8:30-17:00", f"{BASIC}、热饭、应急药箱、避暑取暖", "中国邮政上海分公司", "021-65550171"),
    Station("杨浦区市场监督管理局爱心接力站", "爱心接力站", Node(4444992989), "黄兴路2022号",
            "周一至周五8:30-17:00", "免费饮水、休憩、如厕、应急药箱、法律咨询", "杨浦区市场监督管理局工会",
            "021-65550189"),
    Station("五角场街道政立路工会驿站", "工会驿站", Corner("政立路", "国京路", -22.0, -18.0), "政立路527号",
            "24小时", f"{BASIC}、电瓶车充电、热饭、微波炉、应急药箱、避暑取暖、wifi", "五角场街道总工会",
            "021-65550194", note="24小时智能门禁，扫码进入"),
    Station("新江湾城街道国安路户外劳动者服务站点", "户外劳动者服务站点", Corner("国安路", "政立路", -20.0, 20.0),
            "国安路9号", "9:00-20:30", f"{BASIC}、热饭、微波炉、电瓶车充电、书报", "新江湾城街道总工会",
            "021-65550203"),
    Station("新江湾城街道政青路爱心接力站", "爱心接力站", Corner("政青路", "政立路", 18.0, 22.0), "政青路12号",
            "8:00-20:00", "免费饮水、休憩、手机充电、修车工具、应急药箱", "新江湾城街道总工会", "021-65550217"),
    Station("长海路街道恒仁路工会驿站", "工会驿站", Corner("恒仁路", "政立路", 18.0, 20.0), "恒仁路11号",
            "7:00-21:00", f"{BASIC}、热饭、微波炉、血压测量、爱心妈咪小屋", "长海路街道总工会", "021-65550226"),
    Station("长海路街道翔殷路爱心接力站", "爱心接力站", Corner("翔殷路", "黑山南路", 10.0, 25.0), "翔殷路866号",
            "6:00-22:00", f"{BASIC}、电瓶车充电、避暑取暖", "长海路街道总工会", "021-65550238"),
    Station("曲阳路街道伊敏河路工会驿站", "工会驿站", Corner("伊敏河路", "运光路", -20.0, 18.0), "伊敏河路52号",
            "9:00-20:30", f"{BASIC}、热饭、微波炉、应急药箱、书报、wifi", "曲阳路街道总工会", "021-65550241"),
    Station("江湾镇街道万安路户外职工爱心接力站", "爱心接力站", Along("万安路", 121.4792, 31.3036, 0.0, -16.0),
            "万安路718号", "8:30-11:00, 13:00-17:00", "免费饮水、休憩、手机充电、应急药箱",
            "江湾镇街道总工会", "021-65550259"),
    Station("四平路街道赤峰路工会驿站", "工会驿站", Corner("赤峰路", "四平路", -26.0, -20.0), "赤峰路99号",
            "24小时", f"{BASIC}、电瓶车充电、热饭、微波炉、空调", "四平路街道总工会", "021-65550264"),
    # --- 司机之家 --------------------------------------------------------------------------------------------
    Station("久事公交逸仙路停车场司机之家", "工会驿站、司机之家", Way(1155782979), "纪念路18号", "24小时",
            "免费饮水、休憩、如厕、热饭、微波炉、洗澡、洗衣、停车、手机充电、应急药箱",
            "上海久事公共交通集团有限公司工会", "021-65550272", alias="逸仙路停车场"),
    Station("五角场商圈停车场司机之家", "司机之家", Way(169022299), "四平路2488号", "24小时",
            "货车停车、休憩、如厕、热饭、微波炉、免费饮水、手机充电", "五角场街道总工会", "021-65550285",
            note="地面停车场东侧，限高3.5米"),
    Station("江湾体育场P1停车场司机之家", "司机之家", Way(166720420), "政立路611号", "6:00-24:00",
            "货车停车、休憩、热饭、洗澡、洗衣、住宿、如厕、免费饮水、手机充电、wifi", "杨浦区总工会",
            "021-65550293"),
    Station("大润发五角场店停车场司机之家", "司机之家", Way(176966216), "国权东路88号", "22:00-06:00",
            "货车停车、休憩、热饭、微波炉、洗澡、如厕、免费饮水、应急药箱", "长海路街道总工会", "021-65550307",
            note="夜间配送司机优先"),
    Station("创智天地停车场司机之家", "司机之家", Way(166725896), "政民路507号", "7:00-23:00",
            "休憩、如厕、热饭、微波炉、免费饮水、手机充电、洗衣、法律咨询", "杨浦区交通运输行业工会联合会",
            "021-65550314"),
    # --- 爱心食堂 / 社区食堂 ---------------------------------------------------------------------------------
    Station("永昌烧味餐厅", "骑手友好商户、爱心食堂", Node(5311523825), "国定路333号2层", "9:30-22:00",
            "骑手优惠套餐、免费饮水、热饭、休憩、手机充电", "永昌烧味餐厅", "021-65550326", price=18),
    Station("有家川菜", "骑手友好商户、爱心食堂", Node(11200448486), "大学路59号", "10:30-14:00, 16:30-21:30",
            "骑手优惠套餐、免费饮水、热饭、休憩", "有家川菜大学路店", "021-65550331", price=15),
    Station("和记菜馆", "骑手友好商户、爱心食堂", Node(8930599624), "大学路336号", "18:00-02:00",
            "骑手优惠套餐、免费饮水、热饭、手机充电", "和记菜馆", "021-65550347", price=20, note="夜宵时段供应"),
    Station("面店（辉河路）", "骑手友好商户、爱心食堂", Node(4988897721), "辉河路25号", "6:30-20:00",
            "骑手优惠套餐、免费饮水、休憩", "辉河路面店", "021-65550352", price=12),
    Station("五角场街道国顺路社区食堂", "社区食堂", Corner("国顺路", "政化路", 18.0, -20.0), "国顺路288号",
            "10:30-13:30, 16:30-19:30", "骑手优惠套餐、餐食、热饭、免费饮水、如厕", "五角场街道社区事务受理服务中心",
            "021-65550368", price=15),
    Station("四平路街道国康路社区食堂", "社区食堂", Corner("国康路", "四平路", -15.0, 20.0), "国康路98号",
            "10:30-13:30, 16:30-19:30", "骑手优惠套餐、餐食、热饭、免费饮水", "四平路街道社区事务受理服务中心",
            "021-65550375", price=12),
    Station("曲阳路街道爱心食堂", "爱心食堂", Corner("曲阳路", "腾克路", -30.0, 0.0), "曲阳路520号",
            "10:30-13:00, 16:30-19:00", "骑手优惠套餐、餐食、热饭、免费饮水、休憩、如厕", "曲阳路街道总工会",
            "021-65550383", price=13),
    Station("长海路街道安波路社区食堂", "社区食堂", Corner("安波路", "双阳北路", 22.0, 18.0), "安波路160号",
            "10:30-13:30, 16:30-19:30", "骑手优惠套餐、餐食、热饭、免费饮水", "长海路街道社区事务受理服务中心",
            "021-65550396", price=15),
    Station("新江湾城街道国亮路社区食堂", "社区食堂", Corner("国亮路", "政立路", 18.0, 22.0), "国亮路21号",
            "10:30-13:30, 16:30-19:30", "骑手优惠套餐、餐食、热饭、免费饮水、如厕",
            "新江湾城街道社区事务受理服务中心", "021-65550402", price=14),
    Station("五角场街道国济路职工爱心食堂", "爱心食堂", Corner("国济路", "政旦东路", -18.0, 16.0), "国济路26号",
            "11:00-13:30, 17:00-19:30", "骑手优惠套餐、餐食、热饭、微波炉、免费饮水", "五角场街道总工会",
            "021-65550419", price=16),
    # --- 休息点 / 骑手友好商户 / 党群服务中心 / 公厕 -----------------------------------------------------------
    Station("快客便利店（运光路）", "骑手友好商户", Node(5122316222), "运光路58号", "24小时",
            "免费饮水、热饭、微波炉、手机充电、休憩", "快客运光路店", "021-65550427"),
    Station("全家便利店（大学路店）", "骑手友好商户", Node(7472809934), "大学路270号", "24小时",
            "免费饮水、热饭、微波炉、手机充电", "全家大学路店", "021-65550433"),
    Station("罗森便利店（国康路）", "骑手友好商户", Node(13357134677), "国康路46号", "7:00-23:00",
            "免费饮水、热饭、微波炉、休憩", "罗森国康路店", "021-65550448"),
    Station("全家便利店（赤峰路）", "骑手友好商户", Node(13357134679), "赤峰路65号", "24小时",
            "免费饮水、热饭、手机充电", "全家赤峰路店", "021-65550451"),
    Station("85度C（国定路）", "骑手友好商户", Node(5311531522), "国定路333号", "24小时",
            "免费饮水、休憩、手机充电、wifi", "85度C国定路店", "021-65550466"),
    Station("肯德基（黄兴路）", "骑手友好商户", Node(8095881648), "黄兴路1858号", "6:30-23:00",
            "免费饮水、休憩、如厕、手机充电、空调", "肯德基黄兴路餐厅", "021-65550472"),
    Station("五角场街道社区文化服务中心", "党群服务中心", Way(1057676280), "国顺路338号",
            "8:30-11:00, 13:00-17:00", f"{BASIC}、书报、法律咨询、血压测量、爱心妈咪小屋",
            "五角场街道社区事务受理服务中心", "021-65550485"),
    Station("长海路街道政衷路党群服务站", "党群服务中心", Corner("政衷路", "黑山路", -20.0, 15.0), "政衷路58号",
            "周一至周五8:30-17:00", f"{BASIC}、书报、法律咨询", "长海路街道党群服务中心", "021-65550497"),
    Station("新江湾城街道国安路党群服务站", "党群服务中心", Along("国安路", 121.5003, 31.3170, 16.0, 0.0),
            "国安路168号", "9:00-20:30", f"{BASIC}、热饭、书报、wifi", "新江湾城街道党群服务中心",
            "021-65550503"),
    Station("淞沪路政立路公厕", "公厕", Node(2355378637), "淞沪路388号旁", "24小时", "如厕、爱心妈咪小屋",
            "杨浦区绿化和市容管理局", ""),
    Station("松花江路公厕", "公厕", Corner("松花江路", "辉河路", 14.0, 16.0), "松花江路18号旁", "5:00-22:00",
            "如厕、免费饮水", "虹口区绿化和市容管理局", ""),
    Station("国定东路公厕", "公厕", Corner("国定东路", "关山路", 16.0, -14.0), "国定东路200号旁", "5:00-21:00",
            "如厕", "杨浦区绿化和市容管理局", "", note="环卫工人休息室在公厕北侧"),
    Station("政旦东路社区卫生服务站", "休息点", Node(9435358262), "政旦东路88号", "周一至周五8:00-16:30",
            "免费饮水、休憩、如厕、血压测量、应急药箱", "五角场街道社区卫生服务中心", "021-65550518"),
    Station("邯郸路环卫工人爱心休息点", "休息点", Corner("邯郸路", "国达路", -15.0, -15.0), "邯郸路371号",
            "5:00-20:00", "免费饮水、休憩、热饭、微波炉、如厕", "五角场街道总工会", "021-65550524"),
    Station("沃尔玛购物广场（五角场店）", "骑手友好商户", Node(468826701), "淞沪路77号", "8:00-22:00",
            "免费饮水、休憩、如厕、手机充电、空调", "沃尔玛五角场店", "021-65550539", note="地下一层骑手休息区"),
)


# --------------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------------


def frame_polygon(pad_deg: float = 0.002) -> Polygon:
    """The extract's dense area padded a little (local metres): the boundary network is cut to it."""
    w, s, e, n = EXTENT
    return box(*to_xy(w - pad_deg, s - pad_deg), *to_xy(e + pad_deg, n + pad_deg))


def address_street(address: str) -> str:
    """The street an address starts with ("国定路333号2层" -> "国定路")."""
    i = address.find("路")
    if i < 0:
        raise ValueError(f"address {address!r} names no street (…路)")
    return address[: i + 1]


def build_rows(osm: Osm) -> list[dict[str, str]]:
    """Resolve, check and describe every station; raises ValueError listing every failed check."""
    streets = named_streets(osm)
    street_names = list(streets)
    street_tree = STRtree([streets[n] for n in street_names])
    roads = access_roads(osm)
    road_tree = STRtree([ln for ln, _ in roads])
    blocking = blocking_areas(osm)
    areas = admin_areas(osm, frame_polygon())
    inner = box(*to_xy(*EXTENT[:2]), *to_xy(*EXTENT[2:]))
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    phones = [s.phone for s in STATIONS if s.phone]
    if len(set(phones)) != len(phones):
        problems.append("phone numbers repeat")
    for i, st in enumerate(STATIONS, start=1):
        sid = f"YP{i:03d}"
        res = resolve(st.place, osm, streets)
        p = res.point
        if res.osm_name and res.osm_name not in st.name and not (st.alias and st.alias in res.osm_name):
            problems.append(f"{sid} {st.name}: does not use the OSM name {res.osm_name!r}")
        if not inner.contains(p):
            problems.append(f"{sid} {st.name}: outside the extract's area")
        near = street_tree.query(p.buffer(ADDRESS_STREET_M))
        dists = sorted((streets[street_names[j]].distance(p), street_names[j]) for j in near)
        road = road_tree.query_nearest(p, max_distance=res.max_road_m)
        if len(road) == 0:
            problems.append(f"{sid} {st.name}: no road within {res.max_road_m:.0f} m")
        if isinstance(st.place, Corner | Along):
            on_road = [j for j in road_tree.query(p.buffer(20.0)) if roads[j][0].distance(p) < roads[j][1]]
            if on_road:
                problems.append(f"{sid} {st.name}: stands on a road ({len(on_road)} too close)")
        street = address_street(st.address)
        if street not in {n for _, n in dists}:
            problems.append(f"{sid} {st.name}: {street} is not within {ADDRESS_STREET_M:.0f} m "
                            f"(near: {', '.join(n for _, n in dists[:4])})")
        inside = [name for name, poly in blocking if poly.contains(p)]
        if inside:
            problems.append(f"{sid} {st.name}: inside {', '.join(inside)}")
        if (st.price is not None) != any(w in st.services for w in ("套餐", "餐食")):
            problems.append(f"{sid} {st.name}: a meal price goes with meal services, and only with them")
        district, subdistrict = admin_of(areas, p)
        lon, lat = to_lonlat(p.x, p.y)
        glon, glat = transform(lon, lat, src="wgs84", dst="gcj02")
        rows.append({
            "编号": sid, "名称": st.name, "类型": st.types, "地址": st.address, "区": district,
            "街道": subdistrict, "经度": f"{float(glon):.6f}", "纬度": f"{float(glat):.6f}", "开放时间": st.hours,
            "服务内容": st.services, "套餐价格(元)": "" if st.price is None else str(st.price),
            "运营单位": st.operator, "联系电话": st.phone, "备注": st.note,
        })
    if problems:
        raise ValueError("sample registry checks failed:\n  " + "\n  ".join(problems))
    return rows


def write_csv(rows: list[dict[str, str]], out: Path) -> None:
    """UTF-8 with BOM and CRLF line ends, as Excel writes a CSV."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADERS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--osm", type=Path, default=DEFAULT_OSM, help="OSM XML extract (WGS84)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    args = parser.parse_args(argv)
    if not args.osm.is_file():
        print(f"OSM extract {args.osm} not found (it lives in ../shared/data/osm beside the checkout)",
              file=sys.stderr)
        return 2
    try:
        rows = build_rows(read_osm(args.osm))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    write_csv(rows, args.out)
    print(f"wrote {len(rows)} stations to {args.out}")
    for key, label in (("街道", "街道"), ("区", "区")):
        counts = Counter(r[key] or "（无）" for r in rows)
        print(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
