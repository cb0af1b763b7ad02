# The few verbs. Every target creates or reuses .venv, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench locales locales-update clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

locales: $(STAMP)
	$(BIN)/pybabel compile --domain gridsnap --directory locales --statistics 2>&1 | tail -n 2

# Re-extract messages and merge them into both catalogues; the lock keeps parallel edits apart.
# Extract from ".": babel.cfg patterns are matched against paths relative to the scanned
# directory, so scanning bot/ etc. directly matched nothing.
locales-update: $(STAMP)
	flock locales/.lock sh -c '$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location --sort-output -o locales/gridsnap.pot . >/dev/null && \
	  $(BIN)/pybabel update --no-fuzzy-matching -D gridsnap -i locales/gridsnap.pot -d locales'

run: $(STAMP) locales
	$(BIN)/gridsnap run

test: $(STAMP) locales browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers storage

bench: $(STAMP) locales
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/photos.py

# Debian's Chromium (and a CJK font, so screenshots show Chinese) for the browser tests;
# only root can install, and nothing happens when it is already there.
browser:
	@if { [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; } && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

clean:
	rm -rf $(VENV) var build *.egg-info
