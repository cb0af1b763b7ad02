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
	@$(BIN)/pybabel -q compile --domain gridsnap --directory locales

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
	$(BIN)/python bench/updates.py
	$(BIN)/python bench/loop.py

# Debian's Chromium, a CJK font (so screenshots show Chinese) and a colour emoji font (📍 👍
# are boxes without it) for the browser tests. Only what is missing is installed, only as
# root, after saying what; nothing happens (and nothing is printed) when everything is there.
BROWSER_NEEDS := /usr/bin/chromium:chromium \
	/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei \
	/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf:fonts-noto-color-emoji

browser:
	@missing=""; \
	for need in $(BROWSER_NEEDS); do \
	  [ -e "$${need%%:*}" ] || missing="$$missing $${need##*:}"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "make browser: installing$$missing with apt-get (for the browser tests)"; \
	  out=$$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } 2>&1 ) \
	    || { echo "$$out" >&2; exit 1; }; \
	elif [ -n "$$missing" ]; then \
	  echo "make browser: missing$$missing (run as root to install them)" >&2; \
	fi

clean:
	rm -rf $(VENV) var build *.egg-info
