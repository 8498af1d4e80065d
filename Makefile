# geomap — two commands set up everything: `make serve` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SHARED  ?= ../shared/data
REGISTRY ?= data/registry.gpkg

.PHONY: install data serve test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Copy the third-party sample data from ../shared/data (never committed) and build the sample registry.
data: $(STAMP)
	$(BIN)/python scripts/prepare_data.py --shared $(SHARED) --registry $(REGISTRY)

serve: data
	$(BIN)/python scripts/serve.py --registry $(REGISTRY)

test: data
	$(BIN)/python -m ruff check geomap tests scripts benchmarks
	$(BIN)/python -m pytest -q

bench: data
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/python -m ruff check geomap tests scripts benchmarks

clean:
	rm -rf $(VENV) data/osm data/stations data/population data/boundaries data/cache $(REGISTRY)
