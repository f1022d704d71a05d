# Each target bootstraps .venv itself; `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.stamp-run
STAMP_DEV := $(VENV)/.stamp-dev
# `make test` prints its 30 slowest tests (it must stay under 10 minutes on CI's two cores).
# Tests run in three processes (they wait on browsers and servers half the time, so a third fills two cores), each
# test file whole in one of them (`make test TEST_WORKERS=0` runs them in this one).
TEST_WORKERS ?= 3
STAMP_DIST := $(VENV)/.stamp-dist
NODE_STAMP := node_modules/.stamp

.PHONY: run test bench desktop lint system-deps clean dist dist-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,desktop]"
	touch $@ $(STAMP_RUN)

$(STAMP_DIST): pyproject.toml setup.py $(STAMP_DEV)
	$(BIN)/pip install -q -e ".[dev,desktop,dist]"
	touch $@

run: $(STAMP_RUN)
	$(BIN)/bulkmsg serve

desktop: $(STAMP_DEV)
	$(BIN)/bulkmsg desktop

system-deps:
	@bash scripts/system-deps.sh

test: $(STAMP_DEV) system-deps
	$(BIN)/ruff check backend desktop tests bench packaging/tests
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30 $(PYTEST_ARGS)

bench: $(STAMP_DEV) system-deps
	@set -e; for b in bench/*.py; do case $$b in */_*) continue;; esac; $(BIN)/python $$b; done

# The packaged one-folder app (PyInstaller) in dist/BulkMessenger, its launcher, icons and AppImage (packaging/).
dist: $(STAMP_DIST) system-deps
	$(BIN)/python packaging/build.py

# Builds the app, then starts it from outside the source tree with a clean environment (not part of `make test`).
dist-check: dist
	$(BIN)/python -m pytest -q -p no:cacheprovider packaging/tests

# The front end's tools (Biome, pinned in package-lock.json) from the npm registry, with the machine's Node.js.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

lint: $(STAMP_DEV) $(NODE_STAMP)
	$(BIN)/ruff check backend desktop tests bench packaging/tests
	$(BIN)/ruff format --check backend desktop tests bench packaging/tests
	$(BIN)/mypy backend
	node_modules/.bin/biome ci frontend

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache
