"""The street network part: OSM reading (:mod:`._osm`), per-mode graphs (:mod:`.graph`), snapping and
shortest paths (:mod:`.routing`), the k-nearest station labels (:mod:`.labels`), network nearest
(:mod:`.nearest`) and service circles (:mod:`.isochrones`)."""
