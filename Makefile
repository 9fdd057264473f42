# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv on first use, upgrades pip (the machine's pip 23.2 fails
# resolving the OpenTelemetry packages), installs the runtime packages from the
# lock exactly as Azure does, then the package with its development tools;
# later runs reuse it until requirements change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Azurite (Azure Storage emulator) for the Table and Queue tests, from npm.
NODE_STAMP := node_modules/.installed
# checkov pins packaging<24, which pytest 9 cannot share: it gets its own environment.
CHECKOV_STAMP := $(VENV)/checkov/.installed
# The deployed app's dependencies: requirements.in as people write them,
# requirements.txt as Azure installs them (every package pinned, with its hashes),
# resolved by uv for the Function App's runtime (Linux, Python 3.11, as in
# infra/modules/function-app.bicep). uv keeps the pins already in the output file,
# so a lock changes only where requirements.in asks it to; UPGRADE=1 takes the
# newest releases requirements.in allows.
UV := $(BIN)/uv
UV_REQUIREMENT := uv~=0.13
LOCK_PYTHON := 3.11
LOCK := $(UV) pip compile --quiet --generate-hashes --python-version $(LOCK_PYTHON) \
	--python-platform linux --custom-compile-command 'make lock' requirements.in

.PHONY: demo test lint security lock lock-check audit bench soak clean

# The lock is installed on its own first: pip checks its hashes only when every
# requirement has them, which the editable package cannot.
$(STAMP): requirements.txt requirements.in pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# uv on its own, so that `make lock` works while requirements.txt is stale
# (the full install above needs the lock to be right). The same bound as the dev extras.
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '$(UV_REQUIREMENT)'

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

# No high-severity bandit finding, no secret beyond the audited baseline, a lock
# that matches requirements.in. The vulnerability audit is `make audit` (below),
# not yet part of this: no advisory service answers from this project's machines.
security: $(STAMP) lock-check
	$(BIN)/bandit -q -r patchpilot functions function_app.py --severity-level high
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline

# Rewrites requirements.txt from requirements.in (`make lock UPGRADE=1` to upgrade).
lock: $(UV)
	$(LOCK) $(if $(UPGRADE),--upgrade) -o requirements.txt

# Fails when requirements.txt is not what `make lock` would write today: a package
# added to or dropped from requirements.in, or a pin outside its new range. Only the
# pins are compared, so a wheel PyPI adds later to a pinned release is no failure.
PINS := sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p'
lock-check: $(UV)
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	cp requirements.txt "$$dir/fresh.txt" && $(LOCK) -o "$$dir/fresh.txt" && \
	$(PINS) requirements.txt >"$$dir/locked" && $(PINS) "$$dir/fresh.txt" >"$$dir/fresh" && \
	{ diff -u --label requirements.txt --label 'make lock' "$$dir/locked" "$$dir/fresh" || \
	{ echo 'requirements.txt is stale: run `make lock` and commit it' >&2; exit 1; }; }

# Every package the lock deploys, audited as pinned (no resolving, hashes required),
# against PyPI's advisory data (its JSON API per release) or AUDIT_SERVICE=osv.
# --strict fails when any one could not be audited, rather than passing it over:
# a package mirror that serves only the package index fails here, as it should.
AUDIT_SERVICE ?= pypi
audit: $(STAMP)
	$(BIN)/pip-audit --progress-spinner off --strict --disable-pip --require-hashes \
		--vulnerability-service $(AUDIT_SERVICE) -r requirements.txt

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
