# bourg: `make demo` runs a street of virtual boards; `make test` runs every gate.
# Both set everything up on a fresh machine: .venv, Python packages, umqtt.simple from PyPI
# (pinned sha256) and Debian's mosquitto.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := build/.stamps
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test lint unit hil bench demo clean

setup: $(STAMP)/venv $(STAMP)/umqtt $(STAMP)/mosquitto

$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(STAMP)/umqtt: tools/fetch_umqtt.py $(STAMP)/venv
	$(PY) tools/fetch_umqtt.py
	@touch $@

$(STAMP)/mosquitto:
	@mkdir -p $(STAMP)
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then \
		echo "installing Debian's mosquitto (needed by the MQTT tests)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto >/dev/null; \
	fi
	@touch $@

lint: setup
	$(VENV)/bin/ruff check host_tools tests hil_tests tools firmware
	$(PY) tools/check_mpy.py

unit: setup
	$(PY) -m pytest -q tests

hil: setup
	$(PY) -m pytest -q hil_tests

test: setup lint
	$(PY) -m pytest -q --durations=20 tests hil_tests

bench: setup
	$(PY) -m host_tools.bench

demo: setup
	$(VENV)/bin/bourg demo $(DEMO_ARGS)

clean:
	rm -rf build .pytest_cache
