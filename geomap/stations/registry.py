"""The persistent station registry: a GeoPackage (SQLite) file, with transactional imports and edits.

The file is a standard OGC GeoPackage 1.4 with one point layer ``stations`` (EPSG:4326, WGS84), so QGIS,
GDAL/ogr2ogr, geopandas and pyogrio open it as they are. geomap writes it with the standard library's
``sqlite3`` so that an import or edit is one SQLite transaction: a failed, interrupted or killed import
leaves the file exactly as it was (SQLite's rollback journal restores it on the next open).

Every import is also logged in the table ``geomap_imports`` (file, time, counts).

The in-memory :class:`~geomap.stations.index.StationIndex` is loaded once and follows every edit made
through this object without a full rebuild.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geomap.stations.index import StationIndex
from geomap.stations.schema import STATION_COLUMNS, Station, StationImportError, ValidationReport

LAYER = "stations"
_SRS_ID = 4326
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10400
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",'
    '0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],'
    'AUTHORITY["EPSG","4326"]]'
)
_LIST_COLUMNS = ("kinds", "amenities")
_REAL_COLUMNS = ("lon", "lat", "meal_price_yuan")
_GP_HEADER = b"GP" + bytes([0, 0b00000001]) + struct.pack("<i", _SRS_ID)  # v1, little endian, no envelope

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT
  DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE,
  min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
CREATE TABLE IF NOT EXISTS {LAYER} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT,
  id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kinds TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
  address TEXT, district TEXT, subdistrict TEXT, operator TEXT, phone TEXT, opening_hours TEXT,
  opening_hours_raw TEXT, amenities TEXT, services_raw TEXT, meal_price_yuan REAL, note TEXT, source TEXT,
  source_crs TEXT, source_ref TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS geomap_imports (
  import_id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT, finished_at TEXT, records INTEGER,
  imported INTEGER, errors INTEGER, warnings INTEGER, skipped INTEGER, merged INTEGER);
"""


def _gpkg_points(lon: np.ndarray, lat: np.ndarray) -> list[bytes]:
    """GeoPackage geometry blobs (header + little-endian WKB) for WGS84 points."""
    wkb = shapely.to_wkb(shapely.points(lon, lat), byte_order=1)
    return [_GP_HEADER + w for w in wkb]


class Registry:
    """The station registry stored in a GeoPackage file (created on first use).

    >>> reg = Registry("data/registry.gpkg")          # doctest: +SKIP
    >>> stations, report = reg.import_file("list.csv", crs="gcj02")   # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._index: StationIndex | None = None
        with self._connect() as con:
            self._ensure_schema(con)

    # --- low level ------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        con.execute("PRAGMA synchronous=FULL")
        return con

    @staticmethod
    def _ensure_schema(con: sqlite3.Connection) -> None:
        if con.execute(f"SELECT 1 FROM sqlite_master WHERE name='{LAYER}'").fetchone():
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    con.execute(stmt)
            srs = [
                ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate system"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate system"),
                ("WGS 84 geodetic", _SRS_ID, "EPSG", 4326, _WGS84_WKT, "longitude/latitude WGS84"),
            ]
            con.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", srs)
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                        "VALUES (?, 'features', ?, ?, ?)",
                        (LAYER, LAYER, "geomap service stations (WGS84)", _SRS_ID))
            con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'POINT', ?, 0, 0)", (LAYER, _SRS_ID))
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                        "VALUES ('geomap_imports', 'attributes', 'geomap_imports', 'import log')")
            con.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # --- reading --------------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """All stations as a table (WGS84 lon/lat; ``kinds`` / ``amenities`` as lists)."""
        with self._connect() as con:
            df = pd.read_sql_query(f"SELECT {', '.join(STATION_COLUMNS)} FROM {LAYER} ORDER BY fid", con)
        for col in _LIST_COLUMNS:
            df[col] = [json.loads(v) if v else [] for v in df[col]]
        return df

    def __len__(self) -> int:
        with self._connect() as con:
            return int(con.execute(f"SELECT count(*) FROM {LAYER}").fetchone()[0])

    def get(self, station_id: str) -> Station | None:
        """One station by id, or None."""
        return self.stations([station_id])[0]

    def stations(self, ids: Iterable[str]) -> list[Station | None]:
        """Several stations by id, in the given order (None for unknown ids); one indexed SQL query."""
        ids = [str(i) for i in ids]
        if not ids:
            return []
        found: dict[str, Station] = {}
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                rows = con.execute(f"SELECT {', '.join(STATION_COLUMNS)} FROM {LAYER} WHERE id IN "
                                   f"({', '.join('?' * len(part))})", part).fetchall()
                for row in rows:
                    d = dict(row)
                    for col in _LIST_COLUMNS:
                        d[col] = json.loads(d[col]) if d[col] else []
                    found[d["id"]] = Station.from_row(d)
        return [found.get(i) for i in ids]

    @property
    def index(self) -> StationIndex:
        """The in-memory station index (loaded on first use, then kept in step with edits)."""
        if self._index is None:
            self._index = StationIndex.from_frame(self.frame())
        return self._index

    # --- writing --------------------------------------------------------------------------------------
    def upsert(self, stations: pd.DataFrame, *, report: ValidationReport | None = None) -> int:
        """Insert stations, replacing those with the same id, in one transaction. Returns the count."""
        missing = [c for c in STATION_COLUMNS if c not in stations.columns]
        if missing:
            raise ValueError(f"station table lacks columns: {missing}")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lon = stations["lon"].to_numpy(float)
        lat = stations["lat"].to_numpy(float)
        geoms = _gpkg_points(lon, lat)
        rows = []
        for g, rec in zip(geoms, stations[list(STATION_COLUMNS)].itertuples(index=False), strict=True):
            vals = []
            for col, v in zip(STATION_COLUMNS, rec, strict=True):
                if col in _LIST_COLUMNS:
                    vals.append(json.dumps(list(v or []), ensure_ascii=False))
                elif col in _REAL_COLUMNS:
                    vals.append(None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v))
                else:
                    vals.append(None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
            rows.append((g, *vals, now))
        cols = ["geom", *STATION_COLUMNS, "updated_at"]
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c != "id")
        sql = (f"INSERT INTO {LAYER} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(id) DO UPDATE SET {updates}")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(sql, rows)
                self._update_extent(con)
                if report is not None:
                    con.execute(
                        "INSERT INTO geomap_imports (file, finished_at, records, imported, errors, warnings, "
                        "skipped, merged) VALUES (?,?,?,?,?,?,?,?)",
                        (report.source, now, report.records, len(rows), len(report.errors),
                         len(report.warnings), len(report.skipped_rows), report.merged))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if self._index is not None:
            self._index.upsert(stations)
        return len(rows)

    def delete(self, ids: Iterable[str]) -> int:
        """Delete stations by id in one transaction; returns how many existed."""
        ids = list(ids)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                n = 0
                for sid in ids:
                    n += con.execute(f"DELETE FROM {LAYER} WHERE id=?", (sid,)).rowcount
                self._update_extent(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if self._index is not None:
            self._index.delete(ids)
        return n

    def update(self, station_id: str, **fields) -> Station:
        """Change fields of one station (e.g. ``lon=…, lat=…`` in WGS84, ``opening_hours_raw=…``)."""
        current = self.get(station_id)
        if current is None:
            raise KeyError(f"no station with id {station_id!r}")
        unknown = set(fields) - set(STATION_COLUMNS) - {"id"}
        if unknown:
            raise ValueError(f"unknown station fields: {sorted(unknown)}")
        if "opening_hours_raw" in fields and "opening_hours" not in fields:
            from geomap.stations.hours import parse_hours
            parsed = parse_hours(fields["opening_hours_raw"])
            fields["opening_hours"] = parsed.to_osm() if parsed else None
        updated = current.model_copy(update=fields)
        Station.model_validate(updated.model_dump())
        self.upsert(pd.DataFrame([updated.model_dump()]))
        return updated

    @staticmethod
    def _update_extent(con: sqlite3.Connection) -> None:
        con.execute(
            f"UPDATE gpkg_contents SET min_x=(SELECT min(lon) FROM {LAYER}), min_y=(SELECT min(lat) FROM {LAYER}),"
            f" max_x=(SELECT max(lon) FROM {LAYER}), max_y=(SELECT max(lat) FROM {LAYER}),"
            f" last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name='{LAYER}'")

    def import_file(self, path: str | Path, *, update: bool = False,
                    **kwargs: Any) -> tuple[pd.DataFrame, ValidationReport]:
        """Read, validate and store a station list in one transaction (see :func:`load_stations`).

        A record whose id is already in the registry is compared with the stored station
        (:func:`~geomap.stations.identity.plan_import`): the same -> unchanged (importing a file twice
        changes nothing); different -> written only with ``update``, else a conflict reported on its row.
        Returns the stations written and the report (``added`` / ``updated`` / ``unchanged``).

        Raises :class:`StationImportError` (registry untouched) when the file has errors or conflicts and
        ``skip_invalid`` is not set.
        """
        from geomap.stations.identity import plan_import
        from geomap.stations.validate import load_stations

        skip_invalid = bool(kwargs.get("skip_invalid", False))
        stations, report = load_stations(path, **kwargs)
        if stations.empty and report.records and not report.unchanged:
            raise StationImportError(report, f"{report.source}：没有可导入的站点，站点库未改动")
        existing = self.stations(stations["id"].tolist())
        write = plan_import(stations, existing, report, update=update)
        if not report.ok and not skip_invalid:
            raise StationImportError(report)
        stations = stations[write].reset_index(drop=True)
        self.upsert(stations, report=report)  # also logs an import that changed nothing
        return stations, report

    def imports(self) -> pd.DataFrame:
        """The import log."""
        with self._connect() as con:
            return pd.read_sql_query("SELECT * FROM geomap_imports ORDER BY import_id", con)
