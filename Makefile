# geomap — two commands set up everything: `make serve` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SHARED  ?= ../shared/data
WORKSPACE ?= data/yangpu

.PHONY: install sysdeps benchdeps data serve test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# System packages the tests need: Debian's Chromium (browser tests, the report's PDF), a CJK font (posters, screenshots), poppler-utils
# (pdftotext / pdftoppm read the poster's and the report's PDF pages) and zbar-tools (zbarimg, an independent QR decoder for the
# poster's QR code). Installed only when missing; needs root (CI and the project's machines) or prints what to install.
SYSDEPS := chromium fonts-noto-cjk poppler-utils zbar-tools
sysdeps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q 'Noto Sans CJK' \
	  && command -v pdftoppm >/dev/null 2>&1 && command -v zbarimg >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(SYSDEPS) (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSDEPS) >/dev/null; \
	else echo "browser and poster tests need: sudo apt-get install $(SYSDEPS)" >&2; exit 1; fi

# The HTTP load benchmark drives the service with wrk (Debian), a C load generator.
benchdeps:
	@if command -v wrk >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing wrk (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	else echo "the HTTP benchmark needs wrk: sudo apt-get install wrk" >&2; exit 1; fi

# The sample workspace data/yangpu/ from ../shared/data (never committed): its files, geomap.toml, registry.
data: $(STAMP)
	$(BIN)/python scripts/prepare_data.py --shared $(SHARED)

serve: data
	$(BIN)/python scripts/serve.py --workspace $(WORKSPACE) --port $(or $(PORT),8000) --workers $(or $(WORKERS),1)

test: data sysdeps
	$(BIN)/python -m ruff check geomap tests scripts benchmarks notebooks
	$(BIN)/python -m pytest -q

bench: data sysdeps benchdeps
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/python -m ruff check geomap tests scripts benchmarks notebooks

clean:
	rm -rf $(VENV) data/yangpu data/stations
