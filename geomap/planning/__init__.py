"""The planning part: OSM features (:mod:`._osm_features`), 街道 (:mod:`.subdistricts`), demand layers
(:mod:`.demand`), coverage and the gap grid (:mod:`.coverage`), site proposals (:mod:`.siting`), and the
:class:`~.study.Study` that reads their inputs once."""
