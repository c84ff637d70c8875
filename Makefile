# Everything here needs only Debian, Python 3.11 and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := .demo
# Debian packages the tests use: the sqlite3 CLI (proves the store cannot be opened without the
# key), mosquitto (a real MQTT broker; the tests start their own on free loopback ports), and
# Chromium with its driver (the web page is tested in a real headless browser), GStreamer's
# RTSP server for the system Python (the simulated RTSP camera), and PostgreSQL (the ingest
# service's tests start their own cluster with initdb).
TEST_APT := sqlite3 mosquitto chromium chromium-driver fonts-wqy-zenhei \
            python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
            postgresql

.PHONY: demo test lint bench clean chaos soak

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || scripts/ensure-apt python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,vision]'
	@touch $@

demo: $(STAMP)
	@test -f $(DEMO)/box.toml || $(BIN)/safetybox --home $(DEMO) init --demo
	@echo
	@echo "  SafetyBox demo: open http://127.0.0.1:8080/ and log in as admin with the password"
	@echo "  printed when .demo was created (forgot it? $(BIN)/safetybox --home $(DEMO) users reset admin)"
	@echo "  JSON: http://127.0.0.1:8080/api/status and /api/alarms.   CLI in another terminal:"
	@echo "    $(BIN)/safetybox --home $(DEMO) status"
	@echo "    $(BIN)/safetybox --home $(DEMO) alarms list"
	@echo "  Field devices: Modbus simulators on a pseudo-terminal RS-485 line and on TCP 15020."
	@echo "  A scripted leak on tank1.lel raises A1 about 60 s after start (then every 5 min);"
	@echo "  a simulated operator acknowledges it 20 s later; it clears at 150 s."
	@echo "  Stop with Ctrl-C."
	@echo
	@BIN=$(BIN) DEMO=$(DEMO) scripts/demo

test: $(STAMP)
	@scripts/ensure-apt $(TEST_APT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy box drivers sim firmware_tools vision ingest
	$(BIN)/pytest

# Fault tests with the long settings (the normal suite runs the same files briefly): 50 SIGKILL
# cycles per power-loss scenario (ingest with retention, config change, backup, sync), the full
# and read-only disk tests (they mount filesystems: run as root), thousands of generated cases
# per fuzz test, an hour of a garbage-answering sensor at one poll a second, a 5-minute soak.
# Override any of them: make chaos CHAOS_CYCLES=100 CHAOS_EXAMPLES=20000 SOAK_S=1800
CHAOS_CYCLES ?= 50
CHAOS_EXAMPLES ?= 5000
CHAOS_GARBAGE_POLLS ?= 3600
SOAK_S ?= 3600
chaos: $(STAMP)
	@scripts/ensure-apt $(TEST_APT)
	CHAOS_CYCLES=$(CHAOS_CYCLES) CHAOS_EXAMPLES=$(CHAOS_EXAMPLES) CHAOS_GARBAGE_POLLS=$(CHAOS_GARBAGE_POLLS) \
	SOAK_S=$(if $(filter command line environment,$(origin SOAK_S)),$(SOAK_S),300) \
	$(BIN)/pytest tests/chaos -q -s --timeout 7200

# The accelerated one-hour soak (SOAK_S seconds) with every simulator; figures are printed and
# kept in test-artifacts/soak.json.
soak: $(STAMP)
	@scripts/ensure-apt $(TEST_APT)
	@mkdir -p test-artifacts
	SOAK_S=$(SOAK_S) SOAK_REPORT=test-artifacts/soak.json \
	$(BIN)/pytest tests/chaos/test_soak_flat.py -q -s --timeout $$(( $(SOAK_S) + 900 ))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy box drivers sim firmware_tools vision ingest

bench: $(STAMP)
	$(BIN)/safetybox bench pipeline

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info test-artifacts
