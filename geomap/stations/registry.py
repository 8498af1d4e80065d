"""The persistent station registry: a GeoPackage (SQLite) file, with transactional imports and edits.

The file is a standard OGC GeoPackage 1.4 with one point layer ``stations`` (EPSG:4326, WGS84), so QGIS,
GDAL/ogr2ogr, geopandas and pyogrio open it as they are. geomap writes it with the standard library's
``sqlite3`` so that an import or edit is one SQLite transaction: a failed, interrupted or killed import
leaves the file exactly as it was (SQLite's rollback journal restores it on the next open).

Every import is also logged in the table ``geomap_imports`` (file, time, counts), and every write that
changes stations (import, create, update, delete, undo) is recorded, in the same transaction, as a change
set (``geomap_changesets``: when, who, what, from where) with each station's full row before and after
(``geomap_changes``), so that :meth:`Registry.undo` can put the rows back exactly (same ``fid``, same
``updated_at``, same values). See ``docs/stations.md``, section "History and undo".

The in-memory :class:`~geomap.stations.index.StationIndex` is loaded once and follows every edit made
through this object without a full rebuild.
"""

from __future__ import annotations

import getpass
import json
import logging
import sqlite3
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely

from geomap.stations.index import StationIndex
from geomap.stations.schema import STATION_COLUMNS, Station, StationImportError, ValidationReport

log = logging.getLogger("geomap.stations")

LAYER = "stations"
CHANGESETS = "geomap_changesets"
CHANGES = "geomap_changes"
ACTIONS: tuple[str, ...] = ("import", "create", "update", "delete", "undo")
"""The actions a change set records."""
Action = Literal["import", "create", "update", "delete", "undo"]
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

# the history tables: created with a new registry and added to an existing one when it is opened
_HISTORY_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {CHANGESETS} (
  changeset_id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, who TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ({", ".join(f"'{a}'" for a in ACTIONS)})), source TEXT, summary TEXT,
  undoes INTEGER REFERENCES {CHANGESETS}(changeset_id), added INTEGER NOT NULL DEFAULT 0,
  changed INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS {CHANGES} (
  change_id INTEGER PRIMARY KEY AUTOINCREMENT,
  changeset_id INTEGER NOT NULL REFERENCES {CHANGESETS}(changeset_id), station_id TEXT NOT NULL,
  before TEXT, after TEXT, UNIQUE (changeset_id, station_id));
CREATE INDEX IF NOT EXISTS {CHANGES}_station ON {CHANGES} (station_id, changeset_id);
"""
_CS_COLUMNS = "changeset_id, created_at, who, action, source, summary, undoes, added, changed, deleted"
_HISTORY_CONTENTS = (
    (CHANGESETS, "registry history: one row per change set (import, edit, undo)"),
    (CHANGES, "registry history: each station's row before and after a change set (JSON)"),
)


def _gpkg_points(lon: np.ndarray, lat: np.ndarray) -> list[bytes]:
    """GeoPackage geometry blobs (header + little-endian WKB) for WGS84 points."""
    wkb = shapely.to_wkb(shapely.points(lon, lat), byte_order=1)
    return [_GP_HEADER + w for w in wkb]


def _now() -> str:
    """The time of a write: UTC, ISO 8601 to the second (``updated_at`` and a change set's ``created_at``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_who() -> str:
    """Who a write is recorded as when the caller does not say: the operating system's user name, else
    ``unknown`` (a container without a passwd entry or ``USER`` variable)."""
    try:
        name = getpass.getuser()
    except Exception:  # OSError / KeyError / ImportError by Python version and platform
        name = ""
    return name or "unknown"


# --- history: what the registry tells about its change sets ------------------------------------------------

@dataclass(frozen=True)
class ChangeSet:
    """One recorded write to the registry (a row of ``geomap_changesets``)."""

    id: int
    time: str
    """When it was committed: UTC, ISO 8601 (``2026-05-01T06:30:00+00:00``)."""
    who: str
    """The admin token's name (API) or the operating system's user (command line, notebook)."""
    action: Action
    source: str | None
    """The imported file's name; ``api`` / ``cli`` for edits and undos through those faces."""
    summary: str
    undoes: int | None
    """For an ``undo``: the change set it undid."""
    added: int
    changed: int
    deleted: int
    undone_by: int | None = None
    """The ``undo`` change set that undid this one (None when it stands)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StationChange:
    """What one change set did to one station: its row before (None: it did not exist) and after (None: deleted).
    Rows are as stored (``fid``, ``updated_at`` included; ``kinds`` / ``amenities`` as lists; no geometry blob)."""

    station_id: str
    kind: Literal["added", "changed", "deleted"]
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def fields(self) -> list[str]:
        """The station columns whose value differs between before and after (all of them for added / deleted)."""
        if self.before is None or self.after is None:
            return list(STATION_COLUMNS)
        return [c for c in STATION_COLUMNS if self.before.get(c) != self.after.get(c)]

    @property
    def name(self) -> str:
        row = self.after if self.after is not None else self.before
        return str((row or {}).get("name") or "")

    def to_dict(self) -> dict[str, Any]:
        return {"station_id": self.station_id, "kind": self.kind, "fields": self.fields,
                "before": self.before, "after": self.after}


class HistoryError(Exception):
    """A history request that cannot be done; the message is for people (Chinese)."""


class UnknownChangeSetError(HistoryError, LookupError):
    """No change set with this id."""

    def __init__(self, changeset_id: int) -> None:
        super().__init__(f"没有编号为 #{changeset_id} 的变更记录")
        self.changeset_id = changeset_id


class UndoRefusedError(HistoryError):
    """The undo would throw away later changes (or the change set is already undone): nothing was changed.

    ``later``: the change sets to undo first (newest first); ``station_ids``: the stations concerned;
    ``undone_by``: the undo that already undid it."""

    def __init__(self, message: str, *, changeset_id: int, later: list[int] | None = None,
                 station_ids: list[str] | None = None, undone_by: int | None = None) -> None:
        super().__init__(message)
        self.changeset_id = changeset_id
        self.later = later or []
        self.station_ids = station_ids or []
        self.undone_by = undone_by


def _ids_text(ids: list[str], *, most: int = 5) -> str:
    shown = "、".join(ids[:most])
    return shown + (f" 等 {len(ids)} 个站点" if len(ids) > most else "")


def _encode_row(row: dict[str, Any]) -> str:
    """A stored station row as JSON, exactly: blobs (the geometry) as ``{"$hex": …}``, floats by repr."""
    return json.dumps({k: ({"$hex": v.hex()} if isinstance(v, bytes) else v) for k, v in row.items()},
                      ensure_ascii=False, separators=(",", ":"))


def _decode_row(text: str) -> dict[str, Any]:
    return {k: (bytes.fromhex(v["$hex"]) if isinstance(v, dict) and "$hex" in v else v)
            for k, v in json.loads(text).items()}


def _readable_row(text: str | None) -> dict[str, Any] | None:
    """A recorded row for people and JSON answers: lists as lists, without the geometry blob."""
    if text is None:
        return None
    row = {k: v for k, v in json.loads(text).items() if not (isinstance(v, dict) and "$hex" in v)}
    for col in _LIST_COLUMNS:
        if isinstance(row.get(col), str):
            row[col] = json.loads(row[col]) if row[col] else []
    return row


def _change_kind(before: Any, after: Any) -> Literal["added", "changed", "deleted"]:
    return "added" if before is None else ("deleted" if after is None else "changed")


def _summary(action: str, *, source: str | None, added: int, changed: int, deleted: int,
             rows: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]], undoes: int | None) -> str:
    """A short Chinese line saying what a change set did."""
    counts = "，".join(f"{label} {n}" for label, n in (("新增", added), ("修改", changed), ("删除", deleted)) if n)
    if action == "import":
        return f"导入 {source or '名单'}：{counts or '无改动'}"
    if action == "undo":
        return f"撤销变更 #{undoes}：{counts or '无改动'}"
    if len(rows) == 1:
        sid, before, after = rows[0]
        name = (after or before or {}).get("name") or ""
        if before is None:
            return f"新增站点 {sid}（{name}）"
        if after is None:
            return f"删除站点 {sid}（{name}）"
        fields = [c for c in STATION_COLUMNS if before.get(c) != after.get(c)]
        return f"修改站点 {sid}（{name}）：{'、'.join(fields)}"
    return counts or "无改动"


class Registry:
    """The station registry stored in a GeoPackage file (created on first use).

    >>> reg = Registry("data/registry.gpkg")          # doctest: +SKIP
    >>> stations, report = reg.import_file("list.csv", crs="gcj02")   # doctest: +SKIP
    >>> reg.history()[0].id, reg.undo(reg.history()[0].id)           # doctest: +SKIP
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
    def _has_table(con: sqlite3.Connection, name: str) -> bool:
        return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    @classmethod
    def _ensure_schema(cls, con: sqlite3.Connection) -> None:
        """Create the GeoPackage tables of a new registry; add the history tables to one that lacks them
        (a registry written before history existed is upgraded in place, its stations untouched)."""
        existing = cls._has_table(con, LAYER)
        if existing and cls._has_table(con, CHANGES):
            return
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not existing:
                raise
            log.warning("cannot add the history tables to the registry (%s); reading it as it is", exc)
            return
        try:
            if not cls._has_table(con, LAYER):  # looked at again under the write lock
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
            for stmt in _HISTORY_SCHEMA.strip().split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.executemany("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
                            "VALUES (?, 'attributes', ?, ?)", [(t, t, d) for t, d in _HISTORY_CONTENTS])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def _read_rows(con: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored rows (every column of the table, ``fid`` and ``geom`` included) of these ids."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            cur = con.execute(f"SELECT * FROM {LAYER} WHERE id IN ({', '.join('?' * len(part))})", part)
            names = [d[0] for d in cur.description]
            for values in cur:
                row = dict(zip(names, values, strict=True))
                out[row["id"]] = row
        return out

    @staticmethod
    def _record(con: sqlite3.Connection, *, action: str, who: str | None, source: str | None,
                rows: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]],
                undoes: int | None = None, now: str | None = None) -> int:
        """Write one change set and its stations' before / after rows (inside the caller's transaction)."""
        kinds = [_change_kind(b, a) for _, b, a in rows]
        added, changed, deleted = (kinds.count(k) for k in ("added", "changed", "deleted"))
        summary = _summary(action, source=source, added=added, changed=changed, deleted=deleted, rows=rows,
                           undoes=undoes)
        cur = con.execute(
            f"INSERT INTO {CHANGESETS} (created_at, who, action, source, summary, undoes, added, changed, deleted) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (now or _now(), who or default_who(), action, source, summary, undoes, added, changed, deleted))
        cs_id = int(cur.lastrowid or 0)
        con.executemany(
            f"INSERT INTO {CHANGES} (changeset_id, station_id, before, after) VALUES (?,?,?,?)",
            ((cs_id, sid, None if b is None else _encode_row(b), None if a is None else _encode_row(a))
             for sid, b, a in rows))
        return cs_id

    # --- reading --------------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """All stations as a table (WGS84 lon/lat; ``kinds`` / ``amenities`` as lists)."""
        with self._connect() as con:
            df = pd.read_sql_query(f"SELECT {', '.join(STATION_COLUMNS)} FROM {LAYER} ORDER BY fid", con)
        for col in _LIST_COLUMNS:  # one JSON document per column: a reload after an edit reads them all
            df[col] = json.loads("[" + ",".join(v or "[]" for v in df[col]) + "]") if len(df) else []
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
    def upsert(self, stations: pd.DataFrame, *, report: ValidationReport | None = None, who: str | None = None,
               action: Action | None = None, source: str | None = None) -> int:
        """Insert stations, replacing those with the same id, in one transaction, recorded as one change set.

        Rows whose stored content would not change (every station column equal; ``updated_at`` is not
        compared) are neither written nor recorded. Returns how many rows were inserted or changed.

        ``report``: the import's validation report (logged in ``geomap_imports``; the action is then
        ``import``). ``who``: recorded as the author (default: the operating system's user).
        ``action``: ``import`` / ``create`` / ``update`` (default: ``import`` with a report, else
        ``create`` when every written row is new, else ``update``). ``source``: where the rows came from
        (default with a report: the file's name, also what the import log records).
        """
        missing = [c for c in STATION_COLUMNS if c not in stations.columns]
        if missing:
            raise ValueError(f"station table lacks columns: {missing}")
        now = _now()
        wanted: dict[str, tuple[int, tuple[Any, ...]]] = {}  # id -> (position, stored values); the last wins
        for pos, rec in enumerate(stations[list(STATION_COLUMNS)].itertuples(index=False)):
            vals: list[Any] = []
            for col, v in zip(STATION_COLUMNS, rec, strict=True):
                if col in _LIST_COLUMNS:
                    vals.append(json.dumps(list(v or []), ensure_ascii=False))
                elif col in _REAL_COLUMNS:
                    vals.append(None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v))
                else:
                    vals.append(None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
            wanted[vals[0]] = (pos, tuple(vals))
        if report is not None and source is None:
            source = Path(report.source).name
        cols = ["geom", *STATION_COLUMNS, "updated_at"]
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c != "id")
        sql = (f"INSERT INTO {LAYER} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(id) DO UPDATE SET {updates}")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                before = self._read_rows(con, list(wanted))
                write = [(pos, vals) for sid, (pos, vals) in wanted.items()
                         if sid not in before or tuple(before[sid][c] for c in STATION_COLUMNS) != vals]
                if write:
                    lon = np.array([vals[STATION_COLUMNS.index("lon")] for _, vals in write], dtype=float)
                    lat = np.array([vals[STATION_COLUMNS.index("lat")] for _, vals in write], dtype=float)
                    geoms = _gpkg_points(lon, lat)
                    con.executemany(sql, [(g, *vals, now) for g, (_, vals) in zip(geoms, write, strict=True)])
                    self._update_extent(con)
                    ids = [vals[0] for _, vals in write]
                    after = self._read_rows(con, ids)
                    if action is None:
                        action = "import" if report is not None else (
                            "create" if all(i not in before for i in ids) else "update")
                    self._record(con, action=action, who=who, source=source, now=now,
                                 rows=[(i, before.get(i), after[i]) for i in ids])
                if report is not None:
                    con.execute(
                        "INSERT INTO geomap_imports (file, finished_at, records, imported, errors, warnings, "
                        "skipped, merged) VALUES (?,?,?,?,?,?,?,?)",
                        (source, now, report.records, len(wanted),
                         len(report.errors), len(report.warnings), len(report.skipped_rows), report.merged))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if self._index is not None and write:
            self._index.upsert(stations.iloc[sorted(pos for pos, _ in write)])
        return len(write)

    def delete(self, ids: Iterable[str], *, who: str | None = None, source: str | None = None) -> int:
        """Delete stations by id in one transaction, recorded as one change set; returns how many existed."""
        ids = list(dict.fromkeys(str(i) for i in ids))
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                before = self._read_rows(con, ids)
                gone = [i for i in ids if i in before]
                if gone:
                    con.executemany(f"DELETE FROM {LAYER} WHERE id=?", [(i,) for i in gone])
                    self._update_extent(con)
                    self._record(con, action="delete", who=who, source=source,
                                 rows=[(i, before[i], None) for i in gone])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if self._index is not None and gone:
            self._index.delete(gone)
        return len(gone)

    def update(self, station_id: str, *, who: str | None = None, source: str | None = None, **fields: Any) -> Station:
        """Change fields of one station (e.g. ``lon=…, lat=…`` in WGS84, ``opening_hours_raw=…``), recorded
        as an ``update`` change set by ``who`` (nothing is written or recorded when no value changes)."""
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
        self.upsert(pd.DataFrame([updated.model_dump()]), who=who, action="update", source=source)
        return updated

    @staticmethod
    def _update_extent(con: sqlite3.Connection) -> None:
        con.execute(
            f"UPDATE gpkg_contents SET min_x=(SELECT min(lon) FROM {LAYER}), min_y=(SELECT min(lat) FROM {LAYER}),"
            f" max_x=(SELECT max(lon) FROM {LAYER}), max_y=(SELECT max(lat) FROM {LAYER}),"
            f" last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name='{LAYER}'")

    def import_file(self, path: str | Path, *, update: bool = False, who: str | None = None,
                    source: str | None = None, **kwargs: Any) -> tuple[pd.DataFrame, ValidationReport]:
        """Read, validate and store a station list in one transaction (see :func:`load_stations`), recorded
        as an ``import`` change set by ``who`` from ``source`` (default: the file's name).

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
        # also logs an import that changed nothing (its change set is then not recorded)
        self.upsert(stations, report=report, who=who, action="import", source=source)
        return stations, report

    def imports(self) -> pd.DataFrame:
        """The import log."""
        with self._connect() as con:
            return pd.read_sql_query("SELECT * FROM geomap_imports ORDER BY import_id", con)

    # --- history and undo -----------------------------------------------------------------------------
    @staticmethod
    def _undone(con: sqlite3.Connection) -> dict[int, int]:
        """Change set -> the undo that undid it and still stands (an undo can itself be undone: a redo)."""
        undone: dict[int, int] = {}
        for undo_id, target in con.execute(f"SELECT changeset_id, undoes FROM {CHANGESETS} WHERE undoes IS NOT "
                                           "NULL ORDER BY changeset_id DESC"):
            if undo_id not in undone:  # newest first: whether an undo stands depends only on later ones
                undone[int(target)] = int(undo_id)
        return undone

    @staticmethod
    def _changeset(row: tuple[Any, ...], undone: dict[int, int]) -> ChangeSet:
        cs_id, created_at, who, action, source, summary, undoes, added, changed, deleted = row
        return ChangeSet(id=int(cs_id), time=created_at, who=who, action=action, source=source,
                         summary=summary or "", undoes=undoes, added=int(added), changed=int(changed),
                         deleted=int(deleted), undone_by=undone.get(int(cs_id)))

    def history(self, *, limit: int | None = 50) -> list[ChangeSet]:
        """The recorded change sets, newest first (at most ``limit``; None: all)."""
        with self._connect() as con:
            if not self._has_table(con, CHANGESETS):  # a read-only registry from before history
                return []
            undone = self._undone(con)
            rows = con.execute(f"SELECT {_CS_COLUMNS} FROM {CHANGESETS} ORDER BY changeset_id DESC LIMIT ?",
                               (-1 if limit is None else int(limit),)).fetchall()
            return [self._changeset(r, undone) for r in rows]

    def changeset(self, changeset_id: int) -> ChangeSet:
        """One change set; :class:`UnknownChangeSetError` when there is none with this id."""
        with self._connect() as con:
            return self._get_changeset(con, changeset_id)

    def _get_changeset(self, con: sqlite3.Connection, changeset_id: int) -> ChangeSet:
        row = None
        if self._has_table(con, CHANGESETS) and -(2**63) <= int(changeset_id) < 2**63:
            row = con.execute(f"SELECT {_CS_COLUMNS} FROM {CHANGESETS} WHERE changeset_id=?",
                              (int(changeset_id),)).fetchone()
        if row is None:
            raise UnknownChangeSetError(changeset_id)
        return self._changeset(row, self._undone(con))

    def changes(self, changeset_id: int) -> list[StationChange]:
        """What a change set did, station by station (rows before and after, as stored), in recorded order."""
        with self._connect() as con:
            self._get_changeset(con, changeset_id)
            rows = con.execute(f"SELECT station_id, before, after FROM {CHANGES} WHERE changeset_id=? "
                               "ORDER BY change_id", (int(changeset_id),)).fetchall()
        return [StationChange(station_id=sid, kind=_change_kind(b, a), before=_readable_row(b),
                              after=_readable_row(a)) for sid, b, a in rows]

    def undo(self, changeset_id: int, *, who: str | None = None, source: str | None = None,
             force: bool = False) -> ChangeSet:
        """Undo a change set in one transaction: every station it touched gets back its row from before it,
        exactly (same ``fid``, ``updated_at`` and values; stations it added are deleted). The undo is itself
        recorded, as an ``undo`` change set (returned), so it can be undone in turn.

        Refused (:class:`UndoRefusedError`, nothing changed) when the change set was already undone, or when
        a station it touched is no longer as it left it — a later change set touched it (named in the error:
        undo those first, newest first) — unless ``force``: then the later changes to those stations are lost.
        :class:`UnknownChangeSetError` for an unknown id.
        """
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                target = self._get_changeset(con, changeset_id)
                if target.undone_by is not None:
                    raise UndoRefusedError(
                        f"变更 #{target.id} 已经撤销过了（撤销记录为变更 #{target.undone_by}）；要恢复它，请撤销变更 "
                        f"#{target.undone_by}", changeset_id=target.id, undone_by=target.undone_by)
                recorded = con.execute(f"SELECT station_id, before, after FROM {CHANGES} WHERE changeset_id=? "
                                       "ORDER BY change_id", (target.id,)).fetchall()
                ids = [sid for sid, _, _ in recorded]
                current = self._read_rows(con, ids)
                moved = [sid for sid, _, after in recorded
                         if current.get(sid) != (None if after is None else _decode_row(after))]
                if moved and not force:
                    self._refuse(con, target.id, moved)
                rows: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
                for sid, before_text, _ in recorded:
                    now_row, old = current.get(sid), (None if before_text is None else _decode_row(before_text))
                    if now_row == old:
                        continue
                    if now_row is not None:
                        con.execute(f"DELETE FROM {LAYER} WHERE id=?", (sid,))
                    if old is not None:
                        con.execute(f"INSERT INTO {LAYER} ({', '.join(old)}) VALUES ({', '.join('?' * len(old))})",
                                    list(old.values()))
                    rows.append((sid, now_row, old))
                if rows:
                    self._update_extent(con)
                cs_id = self._record(con, action="undo", who=who, source=source, rows=rows, undoes=target.id)
                done = self._get_changeset(con, cs_id)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self._index = None  # reloaded from the file on next use
        log.info("undid change set %d as %d (%d stations restored)", target.id, done.id, len(rows))
        return done

    def _refuse(self, con: sqlite3.Connection, changeset_id: int, moved: list[str]) -> None:
        """Raise the refusal of undoing ``changeset_id``, whose stations ``moved`` are no longer as it left them."""
        later: set[int] = set()
        for chunk in range(0, len(moved), 500):
            part = moved[chunk:chunk + 500]
            later.update(int(r[0]) for r in con.execute(
                f"SELECT DISTINCT changeset_id FROM {CHANGES} WHERE changeset_id > ? AND station_id IN "
                f"({', '.join('?' * len(part))})", [changeset_id, *part]))
        undone = self._undone(con)
        undo_of = {int(u): int(t) for u, t in con.execute(
            f"SELECT changeset_id, undoes FROM {CHANGESETS} WHERE undoes IS NOT NULL")}
        # pairs that cancel out are not in the way: an undone change set, and the undo of a later one
        blockers = sorted((c for c in later if c not in undone and not undo_of.get(c, -1) > changeset_id),
                          reverse=True)
        if blockers:
            raise UndoRefusedError(
                f"不能撤销变更 #{changeset_id}：之后的变更 {'、'.join(f'#{c}' for c in blockers)} 也改动了其中的站点"
                f"（{_ids_text(moved)}）。请先从最新的开始撤销这些变更；强制撤销会丢失这些站点之后的改动",
                changeset_id=changeset_id, later=blockers, station_ids=moved)
        raise UndoRefusedError(
            f"不能撤销变更 #{changeset_id}：站点 {_ids_text(moved)} 在变更记录之外被改动过"
            "（当前内容与该变更后的不同）；强制撤销会丢失这些改动",
            changeset_id=changeset_id, station_ids=moved)
