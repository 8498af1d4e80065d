"""Readers of station lists: import profiles, header mapping, and CSV / XLSX / GeoJSON / GeoPackage /
profile JSON files read into raw records (step 1 of an import, see :mod:`geomap.stations.validate`)."""

from __future__ import annotations

import csv
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geomap import vocab
from geomap.stations.schema import FIELDS

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
_COLUMNS_FILE = Path(__file__).resolve().parent.parent / "vocab" / "columns.toml"


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

