# Two entry points: `make run` (install + launch the demo) and `make test` (install + lint + tests).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: run test lint system browser bench clean

$(VENV)/.runtime-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.runtime-installed requirements-test.txt requirements-train.txt
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

# ffmpeg (for streaming the video while it is made) comes from Debian; without root the page falls back to
# showing each video when it is finished, and says so in the log.
system:
	bash scripts/install_system_packages.sh || echo "ffmpeg not installed: videos are shown when finished, not streamed"

run: $(VENV)/.runtime-installed system
	$(PY) app.py

lint: $(VENV)/.test-installed
	$(PY) -m ruff check .

# The browser tests drive Debian's chromium; installing it needs root (elsewhere they skip, saying why).
browser:
	bash scripts/install_system_packages.sh --browser || echo "chromium or ffmpeg not installed: some tests will be skipped"

test: lint browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest

bench: $(VENV)/.test-installed
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.bench_networks --write

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
