# `make serve` and `make test` set themselves up: the virtual environment is made from
# requirements-dev.txt (the service's requirements.txt and the test tools) the first time, and again whenever
# either file changes. `make bench` also builds .venv-deploy from requirements.txt alone: the servers it
# measures run there, with exactly what a deployment installs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.requirements-installed
DEPLOY_VENV  := .venv-deploy
DEPLOY_STAMP := $(DEPLOY_VENV)/.requirements-installed
PYTEST_ARGS ?=
# The TypeScript client's npm dependencies: a prerequisite of `make test` where npm is (see `make client`).
CLIENT       := clients/typescript
CLIENT_STAMP := $(CLIENT)/node_modules/.package-lock-installed
CLIENT_DEPS  := $(if $(shell command -v npm 2>/dev/null),$(CLIENT_STAMP))

# `make token USER=user_x`, `make event SOURCE=clerk USER=user_x`: USER only counts when given on the command line
# (not your login name).
TOKEN_USER := $(if $(filter command line,$(origin USER)),$(USER),user_demo)
TYPE   ?=
ID     ?=
SOURCE ?= stripe

DURATION ?= 20
BENCH_ARGS ?=

.PHONY: serve test test-live install clean token event load bench openapi config-docs reconcile sync clock pay client
SINCE ?= 3d

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

$(DEPLOY_STAMP): requirements.txt
	@test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(DEPLOY_STAMP)

serve: $(STAMP)
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP) $(CLIENT_DEPS)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=300 tests --ignore=tests/live $(PYTEST_ARGS)

# Real accounts from the environment or .env; each part skips when its keys are absent.
test-live: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=120 -rs tests/live $(PYTEST_ARGS)

# Mixed traffic against gunicorn for DURATION seconds, then an audit: errors, events lost or processed twice.
load: $(STAMP)
	$(BIN)/python -m tests.perf.load --duration $(DURATION)

# (a) bare Flask, (b) GET /, (c) catalog with a warm cache, (d) webhooks: req/s, p50/p99, memory, start-up.
# The load comes from .venv; the servers run on .venv-deploy (requirements.txt alone), as deployed.
bench: $(STAMP) $(DEPLOY_STAMP)
	$(BIN)/python -m tests.perf.bench --server-python $(DEPLOY_VENV)/bin/python $(BENCH_ARGS)

token: $(STAMP)
	@$(BIN)/flask --app wsgi token --user "$(TOKEN_USER)"

event: $(STAMP)
	@$(BIN)/flask --app wsgi event --source "$(SOURCE)" $(if $(TYPE),--type "$(TYPE)") $(if $(ID),--id "$(ID)") \
		--user "$(TOKEN_USER)" $(if $(EMAIL),--email "$(EMAIL)")

# The OpenAPI document that GET /openapi.json serves, written to the committed copy (a test fails when they differ),
# then the TypeScript client's types from it (`make client`).
openapi: $(STAMP)
	@$(BIN)/flask --app wsgi openapi --output openapi.json
	@echo "openapi.json written"
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory client; \
	else echo "npm not found: run \`make client\` where Node is, or the client's drift test fails"; fi

# docs/configuration.md from the declaration in config.py (a test fails when they differ).
config-docs: $(STAMP)
	@$(BIN)/python -m config docs/configuration.md

# The TypeScript client (clients/typescript): its npm dev dependencies, installed again whenever
# package-lock.json changes. Without npm (or when `npm ci` cannot reach the registry) the client's
# tests skip, unless TATAME_REQUIRE_NODE=1 (CI): then they fail.

$(CLIENT_STAMP): $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@cd $(CLIENT) && if npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; then touch node_modules/.package-lock-installed; \
	elif [ "$$TATAME_REQUIRE_NODE" = "1" ]; then exit 1; \
	else echo "npm ci failed: the TypeScript client's tests will skip"; fi

# Regenerate the client's types (clients/typescript/src/openapi.ts) from openapi.json; a test fails when they differ.
client: $(CLIENT_STAMP)
	@cd $(CLIENT) && npm run --silent generate
	@echo "clients/typescript/src/openapi.ts written"

# Recover missed webhook deliveries: Stripe's events of the last SINCE through the exactly-once path.
reconcile: $(STAMP)
	@$(BIN)/flask --app wsgi stripe reconcile --since "$(SINCE)"

# Re-read every subscription from Stripe.
sync: $(STAMP)
	@$(BIN)/flask --app wsgi stripe sync

# Sandbox only (no STRIPE_SECRET_KEY): move its Stripe's clock DAYS forward (renewals, retries, trial ends, expiries);
# DECLINE=1 declines every charge from now on, DECLINE=0 stops declining.
DAYS ?= 0
clock: $(STAMP)
	@$(BIN)/flask --app wsgi stripe clock --days "$(DAYS)" $(if $(DECLINE),$(if $(filter 0,$(DECLINE)),--no-decline,--decline))

# Sandbox only: confirm the payment sheet whose client_secret is SECRET, as a test card would.
pay: $(STAMP)
	@$(BIN)/flask --app wsgi stripe pay --client-secret "$(SECRET)"

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) .pytest_cache $(CLIENT)/node_modules $(CLIENT)/dist $(CLIENT)/.build
