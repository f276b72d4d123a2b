# Two entry points: `make run` (install + launch the demo) and `make test` (install + lint + tests).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: run test lint browser bench clean

$(VENV)/.runtime-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.runtime-installed requirements-test.txt
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

run: $(VENV)/.runtime-installed
	$(PY) app.py

lint: $(VENV)/.test-installed
	$(PY) -m ruff check .

# The browser tests drive Debian's chromium; installing it needs root (elsewhere they skip, saying why).
browser:
	bash scripts/install_browser.sh || echo "chromium not installed: the browser tests will be skipped"

test: lint browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest

bench: $(VENV)/.test-installed
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.bench_networks --write

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
