"""Many places in one workspace: a province's or the country's regions, one registry, one service, one batch.

* :mod:`geomap.regions.workspace` — the regions workspace (``[[regions]]`` in ``geomap.toml``), its buffer,
  which region counts a station or a demand point, each region opened as a place of its own;
* :mod:`geomap.regions.clip` — a region's OSM extract clipped to its boundary plus the buffer (pyosmium);
* :mod:`geomap.regions.router` — which region answers a point (its boundary, else the nearest buffer);
* :mod:`geomap.regions.batch` — coverage and gaps of every region, one Dask task per region, cached;
* :mod:`geomap.regions.service` — one HTTP service for all regions, graphs loaded on first use within a
  memory budget.

See ``docs/regions.md``.
"""
