"""The street network part: OSM reading (:mod:`._osm`), per-mode graphs (:mod:`.graph`), routing kernels
(:mod:`.routing`, one point compiled in :mod:`.routing_one` and :mod:`.geojson_text`), network nearest
(:mod:`.nearest`) and service circles (:mod:`.isochrones`)."""
