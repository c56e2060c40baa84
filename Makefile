# bourg: `make demo` runs a street of virtual boards; `make test` runs every gate.
# Both set everything up on a fresh machine: .venv, Python packages, umqtt.simple from PyPI
# (pinned sha256), the stubs of the pinned ESP32 image (`make lint` types the firmware against
# them) and Debian's mosquitto.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := build/.stamps
# stubs of the image in firmware/lib/bourg/__init__.py (IMAGE), outside the venv so that host
# code keeps CPython's time/socket/select; firmware/pyrightconfig.json points basedpyright here
ESP32_STUBS := micropython-esp32-esp32-generic-stubs==1.28.0.post4 \
	micropython-stdlib-stubs==1.28.0.post6
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test lint unit hil bench demo soak clean

setup: $(STAMP)/venv $(STAMP)/umqtt build/stubs-esp32/.stamp $(STAMP)/mosquitto $(STAMP)/postgresql \
	$(STAMP)/chromium

$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(STAMP)/umqtt: tools/fetch_umqtt.py $(STAMP)/venv
	$(PY) tools/fetch_umqtt.py
	@touch $@

build/stubs-esp32/.stamp: Makefile $(STAMP)/venv
	rm -rf build/stubs-esp32
	$(PY) -m pip install -q --no-deps --target build/stubs-esp32 $(ESP32_STUBS)
	@touch $@

# $(call debian,PACKAGE,TEST,WHY): apt-get install PACKAGE unless the shell TEST succeeds
define debian
	@mkdir -p $(STAMP)
	@if ! ( $(2) ) >/dev/null 2>&1; then \
		echo "installing Debian's $(1) (needed by $(3))"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(1) >/dev/null; \
	fi
	@touch $@
endef

# the console's tests start their own PostgreSQL server from Debian's packages
$(STAMP)/postgresql:
	$(call debian,postgresql,ls /usr/lib/postgresql/*/bin/initdb,the console's tests)

# the console's browser tests drive Debian's Chromium with Playwright (no browser download)
$(STAMP)/chromium:
	$(call debian,chromium,[ -x /usr/bin/chromium ],the console's browser tests)

$(STAMP)/mosquitto:
	$(call debian,mosquitto,command -v mosquitto || [ -x /usr/sbin/mosquitto ],the MQTT tests)

lint: setup
	$(VENV)/bin/ruff check host_tools bourg_console tests hil_tests console_tests tools firmware
	$(PY) tools/check_mpy.py
	$(VENV)/bin/basedpyright -p firmware/pyrightconfig.json

# the host's unit tests without the slow ones (pytest -m slow): the quick loop
unit: setup
	$(PY) -m pytest -q $(XDIST) -m "not slow and not soak" tests console_tests

hil: setup
	$(PY) -m pytest -q hil_tests

# The HIL tests mostly wait on virtual boards, so four pytest-xdist workers share two cores
# well. Their tests last from milliseconds to half a minute: an idle worker steals queued
# tests from a busy one (worksteal), so one long test at the end does not hold the run.
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 4
XDIST = -n $(TEST_WORKERS) $(if $(filter 0,$(TEST_WORKERS)),,--dist worksteal)

test: setup lint
	$(PY) -m pytest -q $(XDIST) --durations=20 -m "not soak" tests hil_tests console_tests

# A small town for six virtual hours (docs/soak.md), then the soak tests; SOAK_ARGS adds to
# the command (--hours, --seed, -v)
soak: setup
	$(VENV)/bin/bourg soak $(SOAK_ARGS)
	$(PY) -m pytest -q -m soak tests

bench: setup
	$(PY) -m host_tools.cli bench

demo: setup
	$(VENV)/bin/bourg demo $(DEMO_ARGS)

clean:
	rm -rf build .pytest_cache
