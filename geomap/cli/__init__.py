"""The ``geomap`` command line: a thin face over the library (:mod:`geomap.cli.main` builds the parser;
:mod:`geomap.cli.plan` holds the planner commands; :mod:`geomap.cli._common` what both share)."""
