"""Stations: the schema, readers for CSV / XLSX / GeoJSON / GeoPackage / profile JSON, and validation.

Reading a station list is two steps:

1. :func:`read_records` turns a file into a raw table with geomap's field names (headers may be English
   or Chinese, see ``vocab/columns.toml``; a column mapping or a named import profile can be given) and
   the position of every record in its file (``row``: the spreadsheet row for CSV / XLSX, header = row 1;
   the feature index from 0 for GeoJSON, JSON and GeoPackage).
2. :func:`validate_records` checks every record, converts coordinates to WGS84, parses opening hours and
   free-text services, and returns the stations with a :class:`ValidationReport`.

:func:`load_stations` does both. Errors make the import fail as a whole (unless ``skip_invalid``, which
leaves the bad rows out and lists them in the report); warnings are handled as documented in
``docs/stations.md`` and always reported. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, Field
from scipy.spatial import cKDTree

from geomap import coords, vocab
from geomap.hours import parse_hours
from geomap.settings import get_settings

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
_COLUMNS_FILE = Path(__file__).resolve().parent / "vocab" / "columns.toml"

FIELDS: tuple[str, ...] = (
    "id", "name", "kind", "address", "district", "subdistrict", "lon", "lat", "lonlat", "opening_hours",
    "services", "phone", "operator", "meal_price_yuan", "note",
)
"""geomap's names for the fields of a station list (the targets of a column mapping)."""

STATION_COLUMNS: tuple[str, ...] = (
    "id", "name", "kinds", "lon", "lat", "address", "district", "subdistrict", "operator", "phone",
    "opening_hours", "opening_hours_raw", "amenities", "services_raw", "meal_price_yuan", "note",
    "source", "source_crs", "source_ref",
)
"""Columns of a validated station table (and of the registry)."""


class Station(BaseModel):
    """One service station. Coordinates are WGS84 (the canonical system); the source system is recorded."""

    id: str = Field(description="Stable id: the list's own id (with the profile's prefix) or a hash")
    name: str = Field(description="Station name (名称)")
    kinds: list[str] = Field(description="Kind keys: outdoor_station, driver_home, canteen, rest_point …")
    lon: float = Field(description="Longitude, WGS84 degrees")
    lat: float = Field(description="Latitude, WGS84 degrees")
    address: str | None = Field(None, description="Address (地址)")
    district: str | None = Field(None, description="District (区)")
    subdistrict: str | None = Field(None, description="Subdistrict (街道 / 镇)")
    operator: str | None = Field(None, description="Operator (运营单位)")
    phone: str | None = Field(None, description="Phone (电话)")
    opening_hours: str | None = Field(None, description="Parsed hours, OSM opening_hours syntax; null = unknown")
    opening_hours_raw: str | None = Field(None, description="Opening hours as written in the source")
    amenities: list[str] = Field(default_factory=list, description="Amenity keys: water, toilet …")
    services_raw: str | None = Field(None, description="Services as written in the source (服务内容)")
    meal_price_yuan: float | None = Field(None, description="Price of the (rider) meal in yuan")
    note: str | None = Field(None, description="Note (备注)")
    source: str | None = Field(None, description="Where the record came from (file or list name)")
    source_crs: str | None = Field(None, description="Coordinate system of the source: wgs84, gcj02, bd09")
    source_ref: str | None = Field(None, description="The record's position or id in its source")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Station:
        clean = {k: (None if _is_missing(v) else v) for k, v in row.items() if k in cls.model_fields}
        clean.setdefault("amenities", [])
        if clean.get("amenities") is None:
            clean["amenities"] = []
        return cls(**clean)


# --- the validation report ------------------------------------------------------------------------------

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding of a validation: where (row / feature index, field), what (code) and why (message)."""

    severity: Severity
    row: int
    field: str
    code: str
    message: str
    station_name: str = ""


@dataclass
class ValidationReport:
    """All problems found in one import, plus counts. Printable and writable as CSV."""

    source: str
    row_label: str = "row"
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    merged: int = 0

    def add(self, severity: Severity, row: int, field_name: str, code: str, message: str,
            station_name: str = "") -> None:
        self.problems.append(Problem(severity, int(row), field_name, code, message, station_name))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self, severity: Severity | None = None) -> list[str]:
        return [p.code for p in self.problems if severity is None or p.severity == severity]

    def to_frame(self) -> pd.DataFrame:
        cols = ["severity", self.row_label, "field", "code", "message", "station_name"]
        rows = [(p.severity, p.row, p.field, p.code, p.message, p.station_name) for p in self.problems]
        return pd.DataFrame(rows, columns=cols)

    def write_csv(self, path: str | Path) -> None:
        """Write the problems as CSV (UTF-8 with BOM so that Excel shows the Chinese text)."""
        self.to_frame().to_csv(path, index=False, encoding="utf-8-sig")

    def summary(self) -> str:
        return (f"{self.source}: {self.records} records, {len(self.errors)} errors, "
                f"{len(self.warnings)} warnings, {len(self.skipped_rows)} rows skipped, "
                f"{self.merged} duplicates merged")

    def format(self) -> str:
        """Human-readable report: one line per problem, then the summary."""
        lines = []
        for p in sorted(self.problems, key=lambda p: (p.row, p.severity != "error")):
            tag = "错误 ERROR" if p.severity == "error" else "警告 warning"
            who = f" [{p.station_name}]" if p.station_name else ""
            lines.append(f"{self.row_label} {p.row}{who} {p.field}: {tag} {p.code}: {p.message}")
        lines.append(self.summary())
        return "\n".join(lines)


class StationImportError(ValueError):
    """A station list could not be imported; ``report`` holds every problem with its row and field."""

    def __init__(self, report: ValidationReport, message: str | None = None):
        self.report = report
        n = len(report.errors)
        super().__init__(message or (
            f"{report.source}: {n} invalid record(s); nothing was imported. Fix them, or import the valid "
            f"rows with --skip-invalid. First: " + "; ".join(
                f"{report.row_label} {p.row} {p.field}: {p.message}" for p in report.errors[:3])))


# --- profiles and column mapping ------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportProfile:
    """A named recipe for one publisher's file format (see ``geomap/profiles/*.toml``)."""

    name: str
    description: str = ""
    format: str | None = None
    records: str | None = None
    crs: str | None = None
    id_prefix: str = ""
    source: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, list[str]] = field(default_factory=dict)


def list_profiles() -> list[str]:
    """Names of the import profiles shipped with geomap."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> ImportProfile:
    """Load a shipped profile by name, or a profile TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.exists():
        raise ValueError(f"unknown import profile {name_or_path!r}; shipped profiles: {', '.join(list_profiles())}")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    for target in raw.get("columns", {}).values():
        if target not in FIELDS:
            raise ValueError(f"profile {path.name}: column target {target!r} is not one of {', '.join(FIELDS)}")
    for code, keys in raw.get("kinds", {}).items():
        for k in keys:
            vocab.kinds().require(k)
        raw["kinds"][code] = list(keys)
    return ImportProfile(name=path.stem, **raw)


def _header_key(text: str) -> str:
    t = re.sub(r"[（(【\[][^）)】\]]*[）)】\]]", "", str(text))
    return t.strip().lower().replace(" ", "").replace("_", "")


def _header_aliases() -> dict[str, str]:
    raw = tomllib.loads(_COLUMNS_FILE.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for target, aliases in raw.items():
        for a in [target, *aliases]:
            out.setdefault(_header_key(a), target)
    return out


def map_columns(headers: list[str], *, columns: dict[str, str] | None = None) -> dict[str, str]:
    """Map a file's headers onto geomap fields: the user's mapping first, then the known aliases.

    Returns ``{file header: field}``. Headers that map to nothing are left out (and reported by the
    caller as ignored columns); two headers mapping to the same field is an error.
    """
    columns = dict(columns or {})
    for target in columns.values():
        if target not in FIELDS:
            raise ValueError(f"column mapping target {target!r} is not one of: {', '.join(FIELDS)}")
    aliases = _header_aliases()
    out: dict[str, str] = {h: columns[h] for h in headers if h in columns}
    explicit = set(out.values())
    for h in headers:
        if h in out:
            continue
        target = aliases.get(_header_key(h))
        if target is None or target in explicit:
            continue
        if target in out.values():
            other = next(k for k, v in out.items() if v == target)
            raise ValueError(f"columns {other!r} and {h!r} both map to {target!r}; give a column mapping "
                             f"(--column {h}=note) to say which one is meant")
        out[h] = target
    return out


# --- readers --------------------------------------------------------------------------------------------

@dataclass
class RawRecords:
    """A station list read from a file: geomap field names, values as text, each record's position."""

    table: pd.DataFrame          # columns: geomap fields (subset of FIELDS) + "row"
    source: str
    row_label: str               # "row" (spreadsheet row, header = 1) or "feature" (index from 0)
    crs: str | None = None       # coordinate system declared by the file or profile, if any
    ignored_columns: list[str] = field(default_factory=list)
    profile: ImportProfile | None = None


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path}: cannot decode as UTF-8 or GB18030 (GBK); save the file as UTF-8 CSV")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    from io import StringIO
    return pd.read_csv(StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)


def _records_from_features(features: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for i, feat in enumerate(features):
        props = dict(feat.get("properties") or {})
        geom = feat.get("geometry")
        if geom:
            gtype, gcoords = geom.get("type"), geom.get("coordinates")
            if gtype == "MultiPoint" and gcoords and len(gcoords) == 1:
                gtype, gcoords = "Point", gcoords[0]
            if gtype == "Point" and gcoords is not None and len(gcoords) >= 2:
                props["__lon"], props["__lat"] = gcoords[0], gcoords[1]
            else:
                props["__geom_problem"] = f"geometry is {gtype}, not a point"
        props["__row"] = i
        rows.append(props)
    return pd.DataFrame(rows)


def read_records(path: str | Path, *, profile: str | ImportProfile | None = None,
                 columns: dict[str, str] | None = None, sheet: str | int | None = None,
                 layer: str | None = None) -> RawRecords:
    """Read a station list (CSV, XLSX, GeoJSON, GeoPackage, or JSON with a profile) into raw records.

    ``columns`` maps file headers to geomap fields (:data:`FIELDS`) and wins over the built-in aliases.
    Coordinates are not converted here; see :func:`validate_records`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"station file not found: {path}")
    prof = load_profile(profile) if isinstance(profile, str | Path) else profile
    mapping = dict(prof.columns) if prof else {}
    mapping.update(columns or {})
    suffix = path.suffix.lower()
    fmt = (prof.format if prof and prof.format else None) or {
        ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx",
        ".geojson": "geojson", ".json": "json", ".gpkg": "gpkg",
    }.get(suffix)
    declared_crs: str | None = None
    row_label = "feature"
    if fmt == "csv":
        df = _read_csv(path)
        df["__row"] = np.arange(len(df)) + 2
        df = df[(df.drop(columns="__row") != "").any(axis=1)]  # blank lines are not records
        row_label = "row"
    elif fmt == "xlsx":
        df = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=str, keep_default_na=False)
        df["__row"] = np.arange(len(df)) + 2
        row_label = "row"
    elif fmt in ("geojson", "json"):
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            df = _records_from_features(data.get("features", []))
            crs_name = str((data.get("crs") or {}).get("properties", {}).get("name", ""))
            if crs_name and "4326" not in crs_name and "CRS84" not in crs_name:
                declared_crs = None  # a projected GeoJSON crs member is obsolete; --crs decides
        else:
            records = data
            key = prof.records if prof else None
            if key:
                records = data.get(key) if isinstance(data, dict) else None
                if records is None:
                    raise ValueError(f"{path}: profile {prof.name!r} expects a list under {key!r}")
            elif isinstance(data, dict):
                lists = [k for k, v in data.items() if isinstance(v, list)]
                hint = ""
                if "serviceStations" in data:
                    hint = " This looks like the Anting mini-program export: use --profile anting_miniprogram."
                raise ValueError(f"{path}: a JSON object with lists under {lists}; give an import profile "
                                 f"(--profile NAME, shipped: {', '.join(list_profiles())}).{hint}")
            if not isinstance(records, list):
                raise ValueError(f"{path}: expected a list of records")
            df = pd.DataFrame(records)
            df["__row"] = np.arange(len(df))
    elif fmt == "gpkg":
        import pyogrio
        gdf = pyogrio.read_dataframe(path, layer=layer)
        if gdf.crs is not None and not gdf.crs.is_geographic:
            gdf = gdf.to_crs(4326)
            declared_crs = "wgs84"
        geoms = gdf.geometry
        is_point = (geoms.geom_type == "Point").to_numpy()
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        xy = shapely.get_coordinates(geoms.to_numpy()[is_point])
        df["__lon"], df["__lat"] = np.nan, np.nan
        df.loc[is_point, "__lon"], df.loc[is_point, "__lat"] = xy[:, 0], xy[:, 1]
        df.loc[~is_point, "__geom_problem"] = "geometry is not a point"
        df["__row"] = np.arange(len(df))
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use CSV, XLSX, GeoJSON, GeoPackage, or "
                         f"JSON with --profile")
    headers = [c for c in df.columns if not str(c).startswith("__")]
    col_map = map_columns([str(h) for h in headers], columns=mapping)
    table = pd.DataFrame({"row": df["__row"].to_numpy()})
    for h, target in col_map.items():
        table[target] = df[h].to_numpy()
    for extra in ("__lon", "__lat", "__geom_problem"):
        if extra in df.columns:
            target = extra.strip("_")
            if target in ("lon", "lat") and target in table.columns:
                # explicit coordinate columns win over the geometry only where the geometry is missing
                table[target] = np.where(pd.isna(df[extra]), table[target], df[extra])
            else:
                table[target] = df[extra].to_numpy()
    ignored = [str(h) for h in headers if h not in col_map]
    return RawRecords(table=table, source=str(path), row_label=row_label,
                      crs=(prof.crs if prof and prof.crs else declared_crs), ignored_columns=ignored,
                      profile=prof)


# --- validation -----------------------------------------------------------------------------------------

def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _text(v: Any) -> str | None:
    return None if _is_missing(v) else str(v).strip()


def _number(v: Any) -> float | None:
    """Parse a coordinate or price; None when missing; raises ValueError when not a number."""
    if _is_missing(v):
        return None
    if isinstance(v, int | float):
        return float(v)
    t = str(v).strip().replace("，", ".").replace("°", "").replace("元", "").replace("¥", "").replace("￥", "")
    return float(t)


_PRICE_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*元")
_NAME_NOISE = re.compile(r"[\s·・.,，、()（）\[\]【】\-_]+")


def _in_china(lon: float, lat: float) -> bool:
    """Scalar twin of :func:`geomap.coords.in_china` for the per-row checks (numpy scalars are slow)."""
    w, s, e, n = coords.CHINA_BOX
    return w <= lon <= e and s <= lat <= n


def _name_key(name: str) -> str:
    return _NAME_NOISE.sub("", name).lower()


def _names_match(a: str, b: str) -> bool:
    ka, kb = _name_key(a), _name_key(b)
    return bool(ka) and bool(kb) and (ka == kb or ka in kb or kb in ka)


def stable_id(*, source_id: str | None, name: str, address: str | None, prefix: str = "") -> str:
    """The station's stable id: the list's own id (with the profile's prefix), else a content hash.

    The hash covers the name and address, not the coordinates, so moving a pin keeps the id.
    """
    if source_id:
        return f"{prefix}{source_id}"
    digest = hashlib.sha1(f"{name}|{address or ''}".encode()).hexdigest()[:12]
    return f"{prefix}st-{digest}"


def validate_records(raw: RawRecords, *, crs: str | None = None, skip_invalid: bool = False,
                     merge_duplicates: bool = True, id_prefix: str | None = None,
                     source: str | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Check raw records and build the station table (WGS84), with a report of every problem.

    ``crs`` is the coordinate system of the file's coordinates (``wgs84``, ``gcj02``, ``bd09``); it
    defaults to the profile's, then to ``wgs84``. Raises :class:`StationImportError` when a record has an
    error and ``skip_invalid`` is false.

    Handling of warnings (documented in ``docs/stations.md``):
    probable lat/lon swap -> swapped back; point far outside the rest -> kept, flagged; same place
    listed twice -> merged into the first record (kinds and amenities united) unless
    ``merge_duplicates=False``; unparseable hours -> raw text kept, hours unknown (never "open");
    unmapped service text -> kept in ``services_raw``.
    """
    settings = get_settings()
    crs_name = coords.normalize_crs(crs or raw.crs or "wgs84")
    prof = raw.profile
    prefix = id_prefix if id_prefix is not None else (prof.id_prefix if prof else "")
    src = source or (prof.source if prof and prof.source else Path(raw.source).name)
    report = ValidationReport(source=raw.source, row_label=raw.row_label, records=len(raw.table))
    t = raw.table
    for col in raw.ignored_columns:
        report.add("warning", 0, col, "ignored_column",
                   f"列 {col!r} 无对应字段，未导入（可用 --column {col}=字段 指定）")
    has_kind_col = "kind" in t.columns
    if not has_kind_col:
        report.add("error", 0, "kind", "missing_kind_column",
                   "文件没有“类型”列：请加上类型列，或用 --column 指定（类型如 工会驿站、司机之家、爱心食堂、休息点）")

    out: list[dict[str, Any]] = []
    bad_rows: set[int] = set()
    records = t.to_dict("records")
    lon_raw = np.full(len(records), np.nan)
    lat_raw = np.full(len(records), np.nan)
    for i, rec in enumerate(records):
        row = int(rec["row"])
        name = _text(rec.get("name"))
        ok = True

        def err(field_name: str, code: str, msg: str, row: int = row, name: str | None = name) -> None:
            report.add("error", row, field_name, code, msg, name or "")

        def warn(field_name: str, code: str, msg: str, row: int = row, name: str | None = name) -> None:
            report.add("warning", row, field_name, code, msg, name or "")

        if name is None:
            err("name", "missing_name", "名称为空")
            ok = False
        # coordinates
        lon = lat = None
        if _text(rec.get("geom_problem")):
            err("geometry", "not_a_point", f"几何不是点：{rec.get('geom_problem')}")
            ok = False
        else:
            lon_v, lat_v = rec.get("lon"), rec.get("lat")
            if _is_missing(lon_v) and _is_missing(lat_v) and not _is_missing(rec.get("lonlat")):
                parts = re.split(r"[,，\s]+", str(rec.get("lonlat")).strip())
                lon_v, lat_v = [*parts, None, None][:2]
            try:
                lon, lat = _number(lon_v), _number(lat_v)
            except ValueError:
                err("lon/lat", "bad_coordinate", f"坐标不是数字：经度={lon_v!r} 纬度={lat_v!r}")
                ok = False
            else:
                if lon is None or lat is None:
                    err("lon/lat", "missing_coordinates", "缺少经度或纬度")
                    ok = False
                elif not (np.isfinite(lon) and np.isfinite(lat)):
                    err("lon/lat", "bad_coordinate", f"坐标不是有限数：{lon}, {lat}")
                    ok = False
                elif lon == 0 and lat == 0:
                    err("lon/lat", "zero_coordinates", "坐标为 (0, 0)，多半是缺失值")
                    ok = False
                else:
                    if not _in_china(lon, lat) and _in_china(lat, lon):
                        warn("lon/lat", "lat_lon_swapped",
                             f"经纬度疑似填反（经度={lon}, 纬度={lat}），已对调为 经度={lat}, 纬度={lon}")
                        lon, lat = lat, lon
                    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                        err("lon/lat", "coordinate_out_of_range",
                            f"坐标超出范围：经度 {lon} 应在 -180..180，纬度 {lat} 应在 -90..90")
                        ok = False
                    elif not _in_china(lon, lat):
                        warn("lon/lat", "outside_china", f"点 ({lon}, {lat}) 不在中国境内，未做坐标偏移转换")
        # kinds
        kinds: list[str] = []
        if has_kind_col:
            kind_text = _text(rec.get("kind"))
            if kind_text is None:
                err("kind", "missing_kind", "类型为空")
                ok = False
            else:
                if prof and kind_text in prof.kinds:
                    kinds, unknown = list(prof.kinds[kind_text]), []
                else:
                    kinds, unknown = vocab.parse_kinds(kind_text)
                if unknown:
                    known = "、".join(t.label for t in vocab.kinds().terms.values())
                    err("kind", "unknown_kind", f"未知类型 {'、'.join(unknown)}（已知：{known}；或用导入配置映射）")
                    ok = False
        if name:
            kinds += [k for k in vocab.kinds_from_name(name) if k not in kinds]
        # services -> amenities
        services_raw = _text(rec.get("services"))
        amen, unmapped = vocab.parse_amenities(services_raw)
        if unmapped:
            warn("services", "unmapped_service",
                 f"服务内容“{'、'.join(unmapped)}”不在设施词表中，原文保留在 services_raw")
        if "meals" in amen and "canteen" not in kinds and kinds:
            kinds.append("canteen")
        # hours
        hours_raw = _text(rec.get("opening_hours"))
        hours = parse_hours(hours_raw)
        if hours_raw and hours is None:
            warn("opening_hours", "unparseable_hours",
                 f"开放时间“{hours_raw}”无法解析：原文保留，按“时间未知”处理（不计入“正在开放”）")
        # meal price
        price = None
        price_text = rec.get("meal_price_yuan")
        try:
            price = _number(price_text)
        except ValueError:
            warn("meal_price_yuan", "bad_meal_price", f"套餐价格“{price_text}”不是数字，未导入该价格")
        if price is None and services_raw:
            m = _PRICE_IN_TEXT.search(services_raw)
            if m:
                price = float(m.group(1))
        if not ok:
            bad_rows.add(row)
            continue
        assert lon is not None and lat is not None and name is not None
        lon_raw[i], lat_raw[i] = lon, lat
        source_id = _text(rec.get("id"))
        kinds_ordered = [k for k in vocab.kinds().terms if k in kinds]
        out.append({
            "id": stable_id(source_id=source_id, name=name, address=_text(rec.get("address")), prefix=prefix),
            "name": name, "kinds": kinds_ordered, "lon": lon, "lat": lat,
            "address": _text(rec.get("address")), "district": _text(rec.get("district")),
            "subdistrict": _text(rec.get("subdistrict")), "operator": _text(rec.get("operator")),
            "phone": _text(rec.get("phone")), "opening_hours": hours.to_osm() if hours else None,
            "opening_hours_raw": hours_raw, "amenities": amen, "services_raw": services_raw,
            "meal_price_yuan": price, "note": _text(rec.get("note")), "source": src,
            "source_crs": crs_name, "source_ref": source_id or f"{raw.row_label} {row}", "_row": row,
            "_generated": source_id is None,
        })

    df = pd.DataFrame(out, columns=[*STATION_COLUMNS, "_row", "_generated"])
    if len(df):
        wlon, wlat = coords.to_wgs84(df["lon"].to_numpy(float), df["lat"].to_numpy(float), src=crs_name)
        df["lon"], df["lat"] = wlon, wlat
        _disambiguate_generated_ids(df, prefix=prefix)
        _check_duplicate_ids(df, report, bad_rows)
        df = df[~df["_row"].isin(bad_rows)].reset_index(drop=True)
        _flag_outliers(df, report, min_km=settings.outlier_min_km, factor=settings.outlier_median_factor)
        df = _handle_duplicates(df, report, radius_m=settings.duplicate_radius_m, merge=merge_duplicates)

    file_level = any(p.row == 0 for p in report.errors)  # e.g. no 类型 column: skipping rows cannot help
    if report.errors and (file_level or not skip_invalid):
        raise StationImportError(report)
    report.skipped_rows = sorted(bad_rows)
    return df.drop(columns=["_row", "_generated"]).reset_index(drop=True), report


def _disambiguate_generated_ids(df: pd.DataFrame, *, prefix: str) -> None:
    """Rows without an id whose name and address hash alike (a chain shop with no address) get the
    rounded position (about 10 m) into their hash, so two branches are two stations. Two rows at the
    same spot stay alike and are then found as the same place listed twice."""
    gen = df["_generated"].to_numpy(bool)
    clash = gen & df["id"].duplicated(keep=False).to_numpy()
    for i in np.flatnonzero(clash):
        key = f"{df.at[i, 'name']}|{df.at[i, 'address'] or ''}|{df.at[i, 'lon']:.4f}|{df.at[i, 'lat']:.4f}"
        df.at[i, "id"] = f"{prefix}st-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _check_duplicate_ids(df: pd.DataFrame, report: ValidationReport, bad_rows: set[int]) -> None:
    dup = df[df["id"].duplicated(keep=False) & ~df["_generated"].astype(bool)]
    for _id, grp in dup.groupby("id", sort=False):
        rows = grp["_row"].tolist()
        for r, name in zip(rows[1:], grp["name"].tolist()[1:], strict=True):
            report.add("error", r, "id", "duplicate_id",
                       f"编号 {_id!r} 与 {report.row_label} {rows[0]} 重复：编号必须唯一", name)
            bad_rows.add(r)


def _flag_outliers(df: pd.DataFrame, report: ValidationReport, *, min_km: float, factor: float) -> None:
    """Warn about points far outside the rest of the file (kept: a list may span two towns)."""
    if len(df) < 5:
        return
    lon, lat = df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    d = coords.haversine_m(lon, lat, np.median(lon), np.median(lat))
    limit = max(min_km * 1000.0, factor * float(np.median(d)))
    for i in np.flatnonzero(d > limit):
        report.add("warning", int(df["_row"].iat[i]), "lon/lat", "far_outlier",
                   f"该点距本文件其他站点的中心 {d[i] / 1000:.1f} km（阈值 {limit / 1000:.1f} km）："
                   "请核对坐标；已保留", df["name"].iat[i])


def _handle_duplicates(df: pd.DataFrame, report: ValidationReport, *, radius_m: float,
                       merge: bool) -> pd.DataFrame:
    """Find the same place listed twice (close together, same or contained name) and merge or flag it."""
    if len(df) < 2:
        return df
    tree = cKDTree(coords.unit_vectors(df["lon"], df["lat"]))
    pairs = sorted(tree.query_pairs(float(coords.m_to_chord(radius_m))))
    names = df["name"].tolist()
    parent = list(range(len(df)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        if _names_match(names[a], names[b]):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    drop: list[int] = []
    for i in range(len(df)):
        keep = find(i)
        if keep == i:
            continue
        dist = float(coords.haversine_m(df["lon"].iat[i], df["lat"].iat[i], df["lon"].iat[keep], df["lat"].iat[keep]))
        first_row = int(df["_row"].iat[keep])
        if merge:
            k_all = set(df.at[keep, "kinds"]) | set(df.at[i, "kinds"])
            a_all = set(df.at[keep, "amenities"]) | set(df.at[i, "amenities"])
            df.at[keep, "kinds"] = [k for k in vocab.kinds().terms if k in k_all]
            df.at[keep, "amenities"] = [k for k in vocab.amenities().terms if k in a_all]
            if _is_missing(df.at[keep, "meal_price_yuan"]) and not _is_missing(df.at[i, "meal_price_yuan"]):
                df.at[keep, "meal_price_yuan"] = df.at[i, "meal_price_yuan"]
            df.at[keep, "source_ref"] = f"{df.at[keep, 'source_ref']}+{df.at[i, 'source_ref']}"
            extra = ""
            if df.at[keep, "opening_hours_raw"] != df.at[i, "opening_hours_raw"]:
                extra = f"；开放时间不同，保留第一条的“{df.at[keep, 'opening_hours_raw']}”"
            report.add("warning", int(df["_row"].iat[i]), "name", "duplicate_place",
                       f"与 {report.row_label} {first_row}“{names[keep]}”为同一地点（相距 {dist:.0f} m）："
                       f"已合并到该条，类型和设施取并集{extra}", names[i])
            drop.append(i)
            report.merged += 1
        else:
            report.add("warning", int(df["_row"].iat[i]), "name", "duplicate_place",
                       f"与 {report.row_label} {first_row}“{names[keep]}”疑似同一地点（相距 {dist:.0f} m）：两条都保留",
                       names[i])
    return df.drop(index=df.index[drop]).reset_index(drop=True)


def load_stations(path: str | Path, *, crs: str | None = None, profile: str | ImportProfile | None = None,
                  columns: dict[str, str] | None = None, skip_invalid: bool = False,
                  merge_duplicates: bool = True, sheet: str | int | None = None,
                  layer: str | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate a station list; returns (stations in WGS84, report). See the module docstring."""
    raw = read_records(path, profile=profile, columns=columns, sheet=sheet, layer=layer)
    return validate_records(raw, crs=crs, skip_invalid=skip_invalid, merge_duplicates=merge_duplicates)
