"""The stations part: the schema (:mod:`.schema`), readers for CSV / XLSX / GeoJSON / GeoPackage / profile JSON
(:mod:`.readers`), validation (:mod:`.validate`), opening hours (:mod:`.hours`), the registry (:mod:`.registry`)
and the great-circle index (:mod:`.index`); import profiles in ``profiles/``.

Reading a station list is two steps:

1. :func:`.readers.read_records` turns a file into a raw table with geomap's field names (headers may be English
   or Chinese, see ``vocab/columns.toml``; a column mapping or a named import profile can be given) and
   the position of every record in its file (``row``: the spreadsheet row for CSV / XLSX, header = row 1;
   the feature index from 0 for GeoJSON, JSON and GeoPackage).
2. :func:`.validate.validate_records` checks every record, converts coordinates to WGS84, parses opening hours and
   free-text services, and returns the stations with a :class:`ValidationReport`.

:func:`.validate.load_stations` does both. Errors make the import fail as a whole (unless ``skip_invalid``, which
leaves the bad rows out and lists them in the report); warnings are handled as documented in
``docs/stations.md`` and always reported. Nothing is dropped silently.
"""
