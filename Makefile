# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv on first use, upgrades pip (the machine's pip 23.2 fails
# resolving the OpenTelemetry packages) and installs the package with its
# development tools; later runs reuse it until requirements change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Azurite (Azure Storage emulator) for the Table and Queue tests, from npm.
NODE_STAMP := node_modules/.installed
# checkov pins packaging<24, which pytest 9 cannot share: it gets its own environment.
CHECKOV_STAMP := $(VENV)/checkov/.installed

.PHONY: demo test lint security bench soak clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(CHECKOV_STAMP): $(STAMP)
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/checkov/bin/python -m pip install --quiet 'checkov==3.3.30'
	touch $(CHECKOV_STAMP)

demo: $(STAMP)
	$(BIN)/patchpilot demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# No high-severity bandit finding, no secret beyond the audited baseline, no known
# vulnerability in the installed dependencies (PyPI's advisory data).
security: $(STAMP)
	$(BIN)/bandit -q -r patchpilot functions function_app.py --severity-level high
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline
	$(BIN)/pip-audit --progress-spinner off --skip-editable

test: lint security $(NODE_STAMP) $(CHECKOV_STAMP)
	$(BIN)/pytest

bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m bench.plan_scale
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.arm_cost
	$(BIN)/python -m bench.event_latency
	$(BIN)/python -m bench.time_to_patch --out time-to-patch.json

# The reliability tests ten times longer: ten chaos seeds, ten times the fuzz examples.
SOAK ?= 10
soak: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest tests/reliability --soak $(SOAK) -s

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
