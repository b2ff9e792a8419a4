# Setup installs torch 2.13.0 first: it is a local CPU wheel here, while a bare `torch` requirement
# would pull several GB of CUDA packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEXT ?= I can't believe this just happened!

.PHONY: setup browser demo test docs tutorials lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0

# Two stamps: the demo needs trexplain alone (the demo model ships inside it), the tests add the test extra.
$(VENV)/.installed-core: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed-core

# The site's tools (MkDocs, Material, mkdocstrings, jupytext, nbclient, ipykernel): the docs extra.
$(VENV)/.installed-docs: $(VENV)/.installed-test
	$(BIN)/pip install -q -e ".[test,docs]"
	touch $@

setup: $(VENV)/.installed-test

demo: $(VENV)/.installed-core
	$(BIN)/trexplain explain "$(TEXT)"

# The browser tests drive Debian's chromium through Playwright (never `playwright install`): apt runs only
# when /usr/bin/chromium is missing and apt-get exists; without chromium those tests skip, saying why.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: the browser tests will be skipped"; \
	fi

test: setup browser $(VENV)/.installed-docs
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/python -m pytest
	$(MAKE) docs

# Executes the five tutorials (build/tutorials/, their outputs and figures), then builds the site into site/
# with --strict: a broken link, a missing page or a public name without a docstring fails. Offline: no CDN,
# no web fonts (theme.font: false), search included.
tutorials: $(VENV)/.installed-docs
	$(BIN)/python scripts/run_tutorials.py

docs: tutorials
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

lint: setup
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

bench: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site build/tutorials
