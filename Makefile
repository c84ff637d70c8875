# Everything here needs only Debian, Python 3.11 and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := .demo
# Debian packages the tests use: the sqlite3 CLI (proves the store cannot be opened without the key).
TEST_APT := sqlite3

.PHONY: demo test lint bench clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || scripts/ensure-apt python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

demo: $(STAMP)
	@test -f $(DEMO)/box.toml || $(BIN)/safetybox --home $(DEMO) init --demo
	@echo
	@echo "  SafetyBox demo: open http://127.0.0.1:8080/api/status  (no login needed yet)"
	@echo "  CLI in another terminal:  $(BIN)/safetybox --home $(DEMO) status"
	@echo "  Stop with Ctrl-C."
	@echo
	$(BIN)/safetybox --home $(DEMO) run

test: $(STAMP)
	@scripts/ensure-apt $(TEST_APT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/safetybox bench pipeline

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info test-artifacts
