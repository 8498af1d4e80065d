"""Pydantic models of every request and response of the service (they are the OpenAPI documentation).

Coordinates: every model that carries coordinates says in which system (``crs`` / ``coord_system``:
``wgs84`` GPS/OSM, ``gcj02`` AMap/WeChat/Tencent, ``bd09`` Baidu). Positions are ``[lon, lat]`` in
degrees, as in GeoJSON (RFC 7946). Units are in the field names: ``*_s`` seconds, ``*_m`` metres,
``*_minutes`` minutes, ``*_km2`` square kilometres, ``*_yuan`` yuan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from geomap import coords, vocab


def _crs_name(v: Any) -> Any:
    """Coordinate-system names as people write them: ``WGS84``, ``GCJ-02``, ``bd09ll``, ``高德`` …"""
    if isinstance(v, str):
        try:
            return coords.normalize_crs(v)
        except ValueError:
            return v  # left for the Literal to refuse, naming the allowed values
    return v


Crs = Annotated[Literal["wgs84", "gcj02", "bd09"], BeforeValidator(_crs_name)]
Mode = Literal["walk", "ebike", "drive", "truck"]
NearestMode = Literal["walk", "ebike", "drive", "truck", "straight"]

CRS_DOC = "Coordinate system of the coordinates: wgs84 (GPS/OSM), gcj02 (AMap/WeChat/Tencent), bd09 (Baidu)"
Lon = Annotated[float, Field(ge=-180, le=180, description="Longitude in degrees, in `crs`")]
Lat = Annotated[float, Field(ge=-90, le=90, description="Latitude in degrees, in `crs`")]


def _valid(voc: vocab.Vocabulary) -> str:
    return ", ".join(f"{k} ({t.label})" for k, t in voc.terms.items())


def resolve_terms(value: str | list[str] | None, voc: vocab.Vocabulary, what: str) -> tuple[str, ...]:
    """Keys or Chinese aliases (comma-separated or a list) → vocabulary keys; ValueError lists the valid ones."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for part in str(item).replace("，", ",").split(","):
            part = part.strip()
            if not part:
                continue
            key = voc.lookup(part)
            if key is None:
                raise ValueError(f"未知的{what} {part!r} / unknown {what}; valid values: {_valid(voc)}")
            out.append(key)
    return tuple(dict.fromkeys(out))


def parse_open_at(text: str | None, *, tz: str = "Asia/Shanghai") -> datetime | None:
    """``now`` / ``现在`` or an ISO date-time (local Asia/Shanghai time when it has no zone)."""
    if text is None or not str(text).strip():
        return None
    zone = ZoneInfo(tz)
    t = str(text).strip()
    if t.lower() in ("now", "现在"):
        return datetime.now(zone)
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"{t!r}: 请用 now 或 2026-11-23T12:30 / use 'now' or an ISO date-time "
                         "like 2026-11-23T12:30 (Asia/Shanghai when no zone is given)") from None
    if not 2000 <= when.year <= 2100:  # a week either side must stay a valid date in any zone
        raise ValueError(f"{t!r}: 年份须在 2000–2100 之间 / the year must be between 2000 and 2100")
    return when if when.tzinfo else when.replace(tzinfo=zone)


def _is_now_text(v: str) -> bool:
    return v.strip().lower() in ("now", "现在")


KIND_DOC = ("Station kind(s), any of them matches; keys or Chinese names, comma-separated. Valid: "
            + _valid(vocab.kinds()))
AMENITY_DOC = ("Required amenities, all must be present; keys or Chinese names, comma-separated. Valid: "
               + _valid(vocab.amenities()))
OPEN_AT_DOC = "Only stations open at this moment: `now` or ISO date-time (Asia/Shanghai when no zone given)"


class _Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str | None = Field(None, description=KIND_DOC, examples=["司机之家"])
    amenity: str | None = Field(None, description=AMENITY_DOC, examples=["热饭,充电"])
    open_at: str | None = Field(None, description=OPEN_AT_DOC, examples=["now"])

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str | None) -> str | None:
        return ",".join(resolve_terms(v, vocab.kinds(), "kind 站点类型")) or None if v is not None else None

    @field_validator("amenity")
    @classmethod
    def _amenity(cls, v: str | None) -> str | None:
        return ",".join(resolve_terms(v, vocab.amenities(), "amenity 设施")) or None if v is not None else None

    @field_validator("open_at")
    @classmethod
    def _open_at(cls, v: str | None) -> str | None:
        parse_open_at(v)
        return v


class StationsQuery(_Filters):
    """Filters of ``GET /stations``."""

    crs: Crs = Field("wgs84", description=CRS_DOC + " (of `bbox` and of the output)")
    bbox: str | None = Field(None, description="west,south,east,north in degrees, in `crs`",
                             examples=["121.49,31.29,121.53,31.32"])

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            w, s, e, n = (float(x) for x in v.split(","))
        except ValueError:
            raise ValueError("bbox: 请写 西,南,东,北 / write west,south,east,north as four numbers") from None
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError("bbox: need -180 ≤ west < east ≤ 180 and -90 ≤ south < north ≤ 90 / 范围无效")
        return v


class CrsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crs: Crs = Field("wgs84", description=CRS_DOC + " (of the output)")


class NearestQuery(_Filters):
    """Parameters of ``GET /nearest``."""

    lon: Lon
    lat: Lat
    crs: Crs = Field("wgs84", description=CRS_DOC + " (of lon/lat, and of the output unless `out_crs`)")
    out_crs: Crs | None = Field(None, description="Coordinate system of the output (default: `crs`)")
    mode: NearestMode = Field("ebike", description="Travel mode along the streets, or `straight` (great circle)")
    k: int = Field(3, ge=1, le=50, description="How many stations (1–50)")
    route: bool = Field(True, description="Include the route (LineString) to each station")
    at: str | None = Field(None, description="The moment the answer is for: `open_now`, `opens_next` and "
                           "`open_at=now` (ISO date-time, Asia/Shanghai when no zone given; default: the time "
                           "of the request)", examples=["2026-12-05T20:00"])

    nav: str = Field("amap", description="Which map apps' navigation links each station carries in `nav_urls`, "
                     "comma-separated: amap (高德), baidu (百度), tencent (腾讯), or `all` (default amap: a client "
                     "asks for the app its user chose; every link is written per request)",
                     examples=["amap", "baidu", "amap,baidu,tencent"], max_length=40)

    @field_validator("at")
    @classmethod
    def _at(cls, v: str | None) -> str | None:
        if v is not None and _is_now_text(v):
            return None
        parse_open_at(v)
        return v

    @field_validator("nav")
    @classmethod
    def _nav(cls, v: str) -> str:
        from geomap.navigation import APPS

        apps = list(APPS) if v.strip().lower() == "all" else [a.strip().lower() for a in v.split(",") if a.strip()]
        bad = [a for a in apps if a not in APPS]
        if bad or not apps:
            raise ValueError(f"地图应用只能是 {', '.join(APPS)} 或 all，不认识：{', '.join(bad) or '（空）'} / "
                             f"nav must list {', '.join(APPS)} or be all")
        return ",".join(dict.fromkeys(apps))


class IsochroneQuery(BaseModel):
    """Parameters of ``GET /isochrones``: a station id, or a point (lon, lat in `crs`)."""

    model_config = ConfigDict(extra="forbid")

    station: str | None = Field(None, description="Station id (origin); or give lon and lat", max_length=200)
    lon: float | None = Field(None, ge=-180, le=180, description="Origin longitude in degrees, in `crs`")
    lat: float | None = Field(None, ge=-90, le=90, description="Origin latitude in degrees, in `crs`")
    crs: Crs = Field("wgs84", description=CRS_DOC + " (of lon/lat and of the output polygons)")
    minutes: str = Field("5,10,15", description="Service-circle sizes in minutes (1–120), comma-separated",
                         examples=["15", "5,10,15"])
    mode: Mode = Field("ebike", description="Travel mode along the streets")

    @field_validator("minutes")
    @classmethod
    def _minutes(cls, v: str) -> str:
        try:
            vals = [float(x) for x in v.replace("，", ",").split(",") if x.strip()]
        except ValueError:
            raise ValueError("minutes: 请写 5,10,15 / write minutes like 5,10,15") from None
        if not vals or len(vals) > 12 or any(not (1 <= m <= 120) for m in vals):
            raise ValueError("minutes: 1–12 values, each between 1 and 120 / 每个值须在 1–120 分钟之间")
        return ",".join(f"{m:g}" for m in vals)

    @model_validator(mode="after")
    def _origin(self) -> IsochroneQuery:
        has_pt = self.lon is not None and self.lat is not None
        if bool(self.station) == has_pt or (self.lon is None) != (self.lat is None):
            raise ValueError("give either station=ID or both lon and lat / 请提供站点编号，或经度和纬度")
        return self

    @property
    def minutes_list(self) -> list[float]:
        return [float(x) for x in self.minutes.split(",")]


# --- GeoJSON responses ------------------------------------------------------------------------------------

class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[lon, lat] in degrees, in the collection's coord_system")


class LineGeometry(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[float, float]] = Field(
        description="[[lon, lat], …] in degrees, in the collection's coord_system")


class StationProperties(BaseModel):
    id: str = Field(description="Stable station id")
    name: str = Field(description="Station name (名称)")
    kinds: list[str] = Field(description="Kind keys (outdoor_station, driver_home, canteen, rest_point …)")
    kind_labels: list[str] = Field(description="Chinese labels of the kinds")
    amenities: list[str] = Field(description="Amenity keys (water, toilet, ebike_charging …)")
    amenity_labels: list[str] = Field(description="Chinese labels of the amenities")
    address: str | None = Field(None, description="Address (地址)")
    district: str | None = Field(None, description="District (区)")
    subdistrict: str | None = Field(None, description="Subdistrict (街道 / 镇)")
    operator: str | None = Field(None, description="Operator (运营单位)")
    phone: str | None = Field(None, description="Phone (电话)")
    opening_hours: str | None = Field(None, description="Parsed hours, OSM opening_hours syntax; null = unknown")
    opening_hours_raw: str | None = Field(None, description="Opening hours as written by the publisher")
    open_now: bool | None = Field(None, description="Open at the time of the request (Asia/Shanghai); "
                                  "null when the hours are unknown")
    services_raw: str | None = Field(None, description="Services as written by the publisher (服务内容)")
    meal_price_yuan: float | None = Field(None, description="Price of the rider meal, yuan")
    note: str | None = Field(None, description="Note (备注)")
    source: str | None = Field(None, description="Where the record came from")
    source_crs: str | None = Field(None, description="Coordinate system of the source list (wgs84, gcj02, bd09), "
                                   "or geocode:amap / geocode:tianditu / geocode:osm for a station placed by geocoding")
    source_ref: str | None = Field(None, description="Row or id of the record in its source")


class StationFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="Station id")
    geometry: PointGeometry
    properties: StationProperties


class StationCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    coord_system: Crs = Field(description="Coordinate system of every position in this collection")
    count: int = Field(description="Number of features")
    features: list[StationFeature] = Field(description="One Point feature per station")


class NavUrls(BaseModel):
    """The links asked for with `nav` (the others absent)."""

    amap: str | None = Field(None, description="高德地图: uri.amap.com/navigation, GCJ-02 (`coordinate=gaode`), "
                             "mode=walk|ride|car")
    baidu: str | None = Field(None, description="百度地图: api.map.baidu.com/direction, BD-09 (`coord_type=bd09ll`, "
                              "latitude first), mode=walking|riding|driving")
    tencent: str | None = Field(None, description="腾讯地图: apis.map.qq.com/uri/v1/routeplan, GCJ-02 (latitude "
                                "first), type=walk|bike|drive")


class NearestProperties(StationProperties):
    rank: int = Field(description="1 = quickest (or closest in straight line)")
    travel_s: float | None = Field(description="Travel time of the whole trip, seconds: from the query point "
                                   "straight to its street and from the station's street straight to the "
                                   "station on foot (the workspace's access_speed_kmh, default 5 km/h), along "
                                   "the streets in the mode between (null for mode=straight)")
    travel_minutes: float | None = Field(description="travel_s / 60, rounded to 0.1 minute")
    distance_m: float = Field(description="Distance in metres: the whole trip (both straight access legs and "
                              "the streets), or great-circle for straight")
    route: LineGeometry | None = Field(None, description="The route from the query point (as given) by its street "
                                       "to the station (as placed), in the collection's coord_system (null when "
                                       "route=false or straight)")
    opens_next: str | None = Field(None, description="When a station closed at the answer's `at` opens next: "
                                   "ISO 8601 local time with its offset (Asia/Shanghai), e.g. "
                                   "2026-12-07T08:30:00+08:00; null when open then or the hours are unknown")
    amap_nav_url: str = Field(description="AMap (高德) navigation link to the station, GCJ-02 coordinates (the "
                              "same as nav_urls.amap)")
    nav_urls: NavUrls = Field(description="Navigation links into the map apps asked for with `nav`, from the query "
                              "point to the station, with the travel mode of `mode` (geomap.navigation)")


class NearestFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="Station id")
    geometry: PointGeometry
    properties: NearestProperties


class QueryEcho(BaseModel):
    lon: float = Field(description="Query longitude as given, degrees in `crs`")
    lat: float = Field(description="Query latitude as given, degrees in `crs`")
    crs: Crs = Field(description="Coordinate system of the query point")
    snap_m: float | None = Field(None, description="Straight-line metres from the query point to the street "
                                 "network, the first access leg of every trip (null for mode=straight)")


class StraightStation(BaseModel):
    id: str = Field(description="Station id")
    name: str = Field(description="Station name")
    straight_m: float = Field(description="Straight-line distance from the query point, metres")


class UnroutedStation(BaseModel):
    id: str = Field(description="Station id")
    name: str = Field(description="Station name")
    straight_m: float = Field(description="Straight-line distance from the query point, metres")
    street_m: float | None = Field(description="Distance from the station to the nearest street, metres (null: "
                                   "no street within 5 km)")
    note: str = Field(description="What to tell the rider, in Chinese")


class OtherModeStation(BaseModel):
    id: str = Field(description="Station id")
    name: str = Field(description="Station name")
    travel_s: float = Field(description="Travel time by this mode along the streets, seconds")
    travel_minutes: float = Field(description="travel_s / 60, rounded to 0.1 minute")
    distance_m: float = Field(description="Distance along the streets, metres")


class OtherMode(BaseModel):
    mode: Mode = Field(description="Another travel mode of this service")
    label: str = Field(description="Its Chinese name (步行, 电动自行车, 驾车, 货车)")
    stations: list[OtherModeStation] = Field(description="The quickest matching stations by it (1–3)")


class NearestCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    coord_system: Crs = Field(description="Coordinate system of every position in this collection")
    mode: NearestMode = Field(description="Travel mode used")
    query: QueryEcho
    at: str = Field(description="The moment `open_now` and `opens_next` are for: the request's `at`, or the "
                    "time of the request, to the minute (ISO 8601 local time with its offset, Asia/Shanghai)")
    open_at: str | None = Field(None, description="The `open_at` filter as evaluated (ISO, Asia/Shanghai)")
    count: int = Field(description="Number of stations found (may be < k when fewer match or are reachable)")
    unrouted: list[UnroutedStation] = Field(
        default_factory=list, description="Matching stations left out because no street reaches them (farther "
        "than max_snap_m from every street), nearer by straight line than the last station found")
    message: str | None = Field(None, description="When nothing was found: why, in Chinese (nothing within reach "
                                "of this mode, or nothing that matches the filters)")
    straight_line: list[StraightStation] = Field(
        default_factory=list, description="When nothing was found along the streets: the nearest stations by "
        "straight line (any filter ignored), within 20 km, labelled as such on the rider page")
    other_modes: list[OtherMode] = Field(
        default_factory=list, description="When nothing was found by `mode` (not straight): what each other "
        "travel mode of the service reaches with the same filters within the same time limit (modes reaching "
        "nothing left out)")
    features: list[NearestFeature] = Field(description="Ranked stations, quickest first; Point at the station")


class IsochroneProperties(BaseModel):
    origin_id: str = Field(description="Station id, or 'lon,lat' of the query point")
    minutes: float = Field(description="Service-circle size, minutes")
    area_km2: float = Field(description="Area of the polygon, km² (measured in a local metric projection)")
    mode: Mode = Field(description="Travel mode")


class IsochroneFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] = Field(description="Polygon or MultiPolygon, degrees in the coord_system")
    properties: IsochroneProperties


class IsochroneCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    coord_system: Crs = Field(description="Coordinate system of every position in this collection")
    features: list[IsochroneFeature] = Field(description="One polygon per origin and minutes value")


class StreetsFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] = Field(description="MultiLineString of the (simplified) streets, degrees")
    properties: dict[str, Any] = Field(description="mode, bbox [west, south, east, north] in coord_system")


class Health(BaseModel):
    status: Literal["ok"] = Field("ok", description="Always ok when the service answers")
    place: str = Field(description="The place served (the workspace's name, e.g. 杨浦区)")
    publisher: str = Field(description="Who publishes the service (may be empty)")
    area_label: str = Field(description="Words for the area the street data covers (服务范围)")
    stations: int = Field(description="Stations in the registry snapshot being served")
    version: int = Field(description="Snapshot version of this worker; +1 each time it reloads the changed registry")
    worker_pid: int = Field(description="Process id of the worker that answered (`geomap serve --workers N`)")
    map_ready: bool = Field(description="Whether this worker has built the published map (`GET /map`)")
    modes: list[str] = Field(description="Travel modes with a loaded street network")
    admin_enabled: bool = Field(description="Whether admin writes are possible (GEOMAP_ADMIN_TOKEN set)")
    uptime_s: float = Field(description="Seconds since the service started")


# --- admin ------------------------------------------------------------------------------------------------

READ_ONLY_FIELDS = frozenset({"opening_hours", "kind_labels", "amenity_labels", "open_now", "source", "source_crs",
                              "source_ref", "updated_at", "rank", "travel_s", "travel_minutes", "distance_m",
                              "route", "amap_nav_url", "nav_urls", "opens_next"})
"""Fields a read answers that a write derives itself: accepted and ignored, so that a station read from
``GET /stations/{id}`` can be edited and written back as it is (its ``properties`` plus lon/lat)."""


class _StationFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data

    address: str | None = Field(None, max_length=500, description="Address (地址)")
    district: str | None = Field(None, max_length=100, description="District (区)")
    subdistrict: str | None = Field(None, max_length=100, description="Subdistrict (街道 / 镇)")
    operator: str | None = Field(None, max_length=200, description="Operator (运营单位)")
    phone: str | None = Field(None, max_length=100, description="Phone (电话)")
    opening_hours_raw: str | None = Field(None, max_length=200, description="Opening hours as written, e.g. "
                                          "`24小时`, `9:00-20:30`, `周一至周五8:30-17:00` (parsed by the service)")
    services_raw: str | None = Field(None, max_length=1000, description="Services as written (服务内容)")
    meal_price_yuan: float | None = Field(None, ge=0, le=10_000, description="Rider meal price, yuan")
    note: str | None = Field(None, max_length=1000, description="Note (备注)")

    @field_validator("kinds", check_fields=False)
    @classmethod
    def _kinds(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        keys = list(resolve_terms(v, vocab.kinds(), "kind 站点类型"))
        if not keys:
            raise ValueError("kinds: 至少一个站点类型 / at least one kind; valid values: " + _valid(vocab.kinds()))
        return keys

    @field_validator("amenities", check_fields=False)
    @classmethod
    def _amenities(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(resolve_terms(v, vocab.amenities(), "amenity 设施"))


class StationCreate(_StationFields):
    """A new station (``POST /stations``). Coordinates in ``crs``; stored in WGS84."""

    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$",
                           description="Station id (letters, digits, _ . : -); default: a hash of name and address")
    name: str = Field(min_length=1, max_length=200, description="Station name (名称)")
    kinds: list[str] = Field(min_length=1, description=KIND_DOC)
    amenities: list[str] = Field(default_factory=list, description=AMENITY_DOC)
    lon: Lon
    lat: Lat
    crs: Crs = Field("wgs84", description=CRS_DOC + " (of lon/lat)")


class StationPatch(_StationFields):
    """Fields to change (``PATCH /stations/{id}``); absent fields stay. lon and lat go together, in ``crs``."""

    name: str | None = Field(None, min_length=1, max_length=200, description="Station name (名称)")
    kinds: list[str] | None = Field(None, description=KIND_DOC)
    amenities: list[str] | None = Field(None, description=AMENITY_DOC)
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude in degrees, in `crs`")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude in degrees, in `crs`")
    crs: Crs = Field("wgs84", description=CRS_DOC + " (of lon/lat)")
    id: str | None = Field(None, max_length=64, description="The station's id, if given, must be the one in the "
                           "path (a station read with GET can be written back as it is); ids are not changed")

    @model_validator(mode="after")
    def _pair(self) -> StationPatch:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give lon and lat together / 经度和纬度须同时提供")
        return self


class DeleteResult(BaseModel):
    deleted: str = Field(description="Id of the deleted station")
    stations: int = Field(description="Stations in the registry after the delete")


class ProblemOut(BaseModel):
    severity: Literal["error", "warning", "info"] = Field(
        description="error: the record is refused; warning: handled as documented in docs/stations.md; info: "
                    "a row that is not a record (title, blank, footer) left out")
    row: int = Field(description="Row (CSV/XLSX, as numbered in the spreadsheet) or record index from 0 "
                                 "(GeoJSON/JSON/GeoPackage); -1: the whole file")
    field: str = Field(description="Field the problem concerns")
    code: str = Field(description="Machine-readable problem code")
    message: str = Field(description="What is wrong, in Chinese")
    station_name: str = Field("", description="Station name of the record, when known")


class ImportReport(BaseModel):
    """The validation report of an import (answer of ``POST /stations/import``)."""

    ok: bool = Field(description="True when the stations were imported")
    imported: int = Field(description="Stations written to the registry (0 when the import was refused)")
    stations: int = Field(description="Stations in the registry after the import")
    records: int = Field(description="Records read from the file")
    errors: int = Field(description="Number of errors found")
    warnings: int = Field(description="Number of warnings found")
    added: int = Field(0, description="New stations")
    updated: int = Field(0, description="Stations already in the registry that the file changed (update=true)")
    unchanged: int = Field(0, description="Stations already in the registry exactly as the file gives them")
    skipped_rows: list[int] = Field(description="Rows left out (the first 1,000; skipped_count has them all)")
    skipped_count: int = Field(0, description="How many rows were left out")
    merged: int = Field(description="Duplicate records merged into others")
    crs: str | None = Field(None, description="Coordinate system the file was read in: wgs84, gcj02 or bd09")
    crs_reason: str = Field("", description="Why that coordinate system (Chinese)")
    notes: list[str] = Field(default_factory=list, description="Decisions for the whole file (Chinese): sheet, "
                             "header row, columns")
    summary: str = Field(description="One-line summary of the report (Chinese)")
    problems: list[ProblemOut] = Field(description="The problems with their row and field: at most 50 of each "
                                       "code (omitted counts the rest)")
    omitted: dict[str, int] = Field(default_factory=dict, description="Problem code -> how many were not listed")


# --- history (admin) --------------------------------------------------------------------------------------

class ChangeSetOut(BaseModel):
    """One recorded write to the registry (an import, an edit, an undo)."""

    id: int = Field(description="Change set number (give it to `POST /history/{id}/undo`)")
    time: str = Field(description="When it was committed: UTC, ISO 8601")
    who: str = Field(description="The admin token's name (GEOMAP_ADMIN_TOKEN_NAME) or the OS user of the command line")
    action: Literal["import", "create", "update", "delete", "undo"] = Field(description="What kind of write")
    source: str | None = Field(description="The imported file's name; `api` / `cli` for edits and undos")
    summary: str = Field(description="What it did, in Chinese")
    undoes: int | None = Field(description="For an undo: the change set it undid")
    added: int = Field(description="Stations added")
    changed: int = Field(description="Stations changed")
    deleted: int = Field(description="Stations deleted")
    undone_by: int | None = Field(description="The undo that undid this change set (null while it stands)")


class HistoryOut(BaseModel):
    """The registry's change sets, newest first (``GET /history``)."""

    count: int = Field(description="Change sets in this answer")
    changesets: list[ChangeSetOut] = Field(description="The change sets, newest first")


class StationChangeOut(BaseModel):
    """What a change set did to one station: its stored row before and after (WGS84, as in the registry)."""

    station_id: str = Field(description="Station id")
    kind: Literal["added", "changed", "deleted"] = Field(description="added: it did not exist before; deleted: it "
                                                         "does not exist after")
    fields: list[str] = Field(description="The station fields that differ between before and after")
    before: dict[str, Any] | None = Field(description="The row before (null: the station did not exist), with "
                                          "`fid` and `updated_at`")
    after: dict[str, Any] | None = Field(description="The row after (null: deleted)")


class ChangeSetDetail(BaseModel):
    """A change set with each station's row before and after (``GET /history/{id}``)."""

    changeset: ChangeSetOut = Field(description="The change set")
    changes: list[StationChangeOut] = Field(description="What it did to each station, in recorded order")


class UndoResult(BaseModel):
    """The answer of ``POST /history/{id}/undo``: the undo, itself recorded as a change set."""

    undone: int = Field(description="The change set that was undone")
    changeset: ChangeSetOut = Field(description="The new `undo` change set")
    changes: list[StationChangeOut] = Field(description="What the undo did to each station")
    stations: int = Field(description="Stations in the registry after the undo")
