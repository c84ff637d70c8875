# Everything here needs only Debian, Python 3.11 and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := .demo
# Debian packages the tests use: the sqlite3 CLI (proves the store cannot be opened without the
# key), mosquitto (a real MQTT broker; the tests start their own on free loopback ports), and
# Chromium with its driver (the web page is tested in a real headless browser), and GStreamer's
# RTSP server for the system Python (the simulated RTSP camera).
TEST_APT := sqlite3 mosquitto chromium chromium-driver fonts-wqy-zenhei \
            python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good

.PHONY: demo test lint bench clean

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
	$(BIN)/mypy box drivers sim firmware_tools vision
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy box drivers sim firmware_tools vision

bench: $(STAMP)
	$(BIN)/safetybox bench pipeline

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info test-artifacts
