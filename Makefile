# Two commands matter: `make demo` runs the import job on the bundled
# example, `make test` runs every check. Both build .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SSOAR := $(BIN)/ssoar
DEMO := demo-output
SSOAR_REAL_DATA ?= $(abspath ../shared/data)
export SSOAR_REAL_DATA

.PHONY: demo live-demo test check lint typecheck docs-check unit bench bench-live docs lock clean

$(BIN)/.installed: pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ssoar needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: $(BIN)/.installed
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(SSOAR) import examples/traces/*.json --profile examples/profile.toml \
		--policies examples/policies --db $(DEMO)/demo.db
	$(SSOAR) report --db $(DEMO)/demo.db --sessions
	$(SSOAR) explain conv:ticket-4712 --db $(DEMO)/demo.db
	$(SSOAR) verify --db $(DEMO)/demo.db
	$(SSOAR) prove conv:ticket-4711 4f3c2a1b0e9d8c7b6a5f4e3d2c1b0a91/a000000000000002 \
		--db $(DEMO)/demo.db --output $(DEMO)/proof.json
	$(BIN)/python tools/ssoar-verify-proof $(DEMO)/proof.json

# The live booth in this process: a session run through the SDK, settled,
# then explained and verified like an imported one.
live-demo: $(BIN)/.installed
	rm -rf $(DEMO)/live.db $(DEMO)/live.key && mkdir -p $(DEMO)
	$(BIN)/python examples/live_session.py --db $(DEMO)/live.db
	$(SSOAR) explain ticket-4713 --db $(DEMO)/live.db
	$(SSOAR) verify --db $(DEMO)/live.db

test: check unit

check: lint typecheck docs-check

lint: $(BIN)/.installed
	$(BIN)/ruff format --check src tests bench tools/ssoar-verify-proof tools/gen-docs
	$(BIN)/ruff check src tests bench tools/ssoar-verify-proof tools/gen-docs

typecheck: $(BIN)/.installed
	$(BIN)/mypy

docs-check: $(BIN)/.installed
	$(BIN)/python tools/gen-docs --check

docs: $(BIN)/.installed
	$(BIN)/python tools/gen-docs

unit: $(BIN)/.installed
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/import_settle.py

bench-live: $(BIN)/.installed
	$(BIN)/python bench/live_booth.py

lock: $(BIN)/.installed
	( echo "# Exact versions of every package the tests and tools run with."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable --all | grep -v "^pip==" ) > requirements/dev.lock

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache .hypothesis
