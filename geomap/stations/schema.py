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


