"""The station schema (:class:`Station`, WGS84) and the validation report of an import (:class:`ValidationReport`:
every problem with its row, field, code and message)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

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


def _is_missing(v: Any) -> bool:
    """True for None, NaN and blank text: a value the list does not give."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()



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
    source_crs: str | None = Field(None, description="Coordinate system of the source: wgs84, gcj02, bd09; "
                                   "geocode:amap / geocode:tianditu / geocode:osm when placed by geocoding")
    source_ref: str | None = Field(None, description="The record's position or id in its source")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Station:
        clean = {k: (None if _is_missing(v) else v) for k, v in row.items() if k in cls.model_fields}
        clean.setdefault("amenities", [])
        if clean.get("amenities") is None:
            clean["amenities"] = []
        return cls(**clean)


# --- the validation report ------------------------------------------------------------------------------

Severity = Literal["error", "warning", "info"]
"""error: the record is not imported; warning: imported, but look at it; info: a row that is not a record
(blank, title, footer) left out, or a decision taken for the whole file."""

MAX_LISTED_PER_CODE = 50
"""Problems of one code listed in a report; the rest are counted (a 600,000-row file of bad rows gives a
report of a few kB, not 100 MB)."""

_SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "说明"}


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
    """All problems found in one import, plus counts. Printable and writable as CSV.

    ``problems`` lists at most ``max_per_code`` problems of each code; ``counts`` counts them all
    (``omitted`` says how many of each code were not listed). ``source`` is the file's name, never a
    folder path (a server's temporary folder must not reach the person reading the report)."""

    source: str
    row_label: str = "row"
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    merged: int = 0
    max_per_code: int = MAX_LISTED_PER_CODE
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    """(severity, code) -> how many were found, listed or not."""
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    crs: str | None = None
    """The coordinate system the file was read in (wgs84 / gcj02 / bd09)."""
    crs_reason: str = ""
    """Why that one, in Chinese (given with --crs, by the profile, or found from the data and how)."""
    station_rows: list[int] = field(default_factory=list)
    """The row (or feature) of each validated station, in the order of the returned table."""
    notes: list[str] = field(default_factory=list)
    """Decisions for the whole file, in Chinese (the sheet read, the header row found …)."""

    def __post_init__(self) -> None:
        self.source = Path(str(self.source)).name or str(self.source)

    def add(self, severity: Severity, row: int, field_name: str, code: str, message: str,
            station_name: str = "") -> None:
        key = (severity, code)
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        if n < self.max_per_code:
            self.problems.append(Problem(severity, int(row), field_name, code, message, station_name))

    @property
    def errors(self) -> list[Problem]:
        """The errors listed (see :attr:`error_count` for all of them)."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The warnings listed (see :attr:`warning_count`)."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def error_count(self) -> int:
        return sum(n for (sev, _), n in self.counts.items() if sev == "error")

    @property
    def warning_count(self) -> int:
        return sum(n for (sev, _), n in self.counts.items() if sev == "warning")

    @property
    def omitted(self) -> dict[str, int]:
        """code -> problems of that code found but not listed."""
        return {code: n - self.max_per_code for (_, code), n in self.counts.items() if n > self.max_per_code}

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def codes(self, severity: Severity | None = None) -> list[str]:
        return [p.code for p in self.problems if severity is None or p.severity == severity]

    def to_frame(self) -> pd.DataFrame:
        cols = ["severity", self.row_label, "field", "code", "message", "station_name"]
        rows = [(p.severity, p.row, p.field, p.code, p.message, p.station_name) for p in self.problems]
        rows += [("info", 0, "", code, f"另有 {n:,} 条同类问题未列出", "") for code, n in self.omitted.items()]
        return pd.DataFrame(rows, columns=cols)

    def write_csv(self, path: str | Path) -> None:
        """Write the problems as CSV (UTF-8 with BOM so that Excel shows the Chinese text)."""
        self.to_frame().to_csv(path, index=False, encoding="utf-8-sig")

    def summary(self) -> str:
        """One line in Chinese: records, what happened to them, problems."""
        parts = [f"{self.source}：共 {self.records:,} 条记录"]
        if self.added or self.updated or self.unchanged:
            parts.append(f"新增 {self.added:,}、更新 {self.updated:,}、未变 {self.unchanged:,}")
        parts.append(f"错误 {self.error_count:,} 条、警告 {self.warning_count:,} 条")
        if self.skipped_rows:
            parts.append(f"未导入 {len(self.skipped_rows):,} 行")
        if self.merged:
            parts.append(f"合并重复 {self.merged:,} 处")
        if self.crs:
            parts.append(f"坐标系 {self.crs.upper().replace('GCJ02', 'GCJ-02').replace('BD09', 'BD-09')}")
        return "，".join(parts)

    def where(self, row: int) -> str:
        """A record's place in the file as people say it: 第 12 行 (a spreadsheet row, the header is row 1),
        第 3 条 (a feature or JSON record, from 0), 整个文件 (row 0 of a spreadsheet: the whole file)."""
        if row < 0 or (row == 0 and self.row_label == "row"):
            return "整个文件"
        return f"第 {row} 行" if self.row_label == "row" else f"第 {row} 条"

    def format(self) -> str:
        """Human-readable report: the decisions for the file, one line per problem, the counts of what was
        not listed, then the summary."""
        lines = list(self.notes)
        if self.crs_reason:
            lines.append(self.crs_reason)
        for p in sorted(self.problems, key=lambda p: (p.row, p.severity != "error")):
            where = self.where(p.row)
            who = f"［{p.station_name}］" if p.station_name else ""
            field_txt = f" {p.field}" if p.field else ""
            lines.append(f"{where}{who}{field_txt}：{_SEVERITY_ZH[p.severity]} {p.code}：{p.message}")
        for code, n in self.omitted.items():
            lines.append(f"……另有 {n:,} 条 {code} 未列出")
        lines.append(self.summary())
        return "\n".join(lines)


class StationImportError(ValueError):
    """A station list could not be imported; ``report`` holds every problem with its row and field."""

    def __init__(self, report: ValidationReport, message: str | None = None):
        self.report = report
        n = report.error_count
        super().__init__(message or (
            f"{report.source}：{n:,} 处错误，未导入任何站点。请改正，或用 --skip-invalid 只导入无误的行。前几处："
            + "；".join(f"{report.where(p.row)} {p.field}：{p.message}" for p in report.errors[:3])))


