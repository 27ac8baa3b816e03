# Snowsage: one entry point for checks, builds and the local sandbox.
#   make test    everything CI runs (.ci/run): venvs, lint, pytest. Works on a fresh clone with
#                only a system Python (3.12 preferred, see scripts/python312) and npm.
#   make unit    the fast loop: the core's, the ASL's and the template's tests, dev venv only.
#   make help    the other targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

VENV := .venv
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Stamps: each install step reruns only when its lock file changes.
VENV_STAMP := $(VENV)/.installed-dev-lock
# uv installs every lock file (exact pins, --no-deps): pip took 3 min for the SageMaker SDK's venv
# here, uv 8 s. The venvs themselves come from `python -m venv`, so each keeps its own pip (sam build
# and the training toolkit's requirements.txt install call `python -m pip`).
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
UV_STAMP := $(UV_VENV)/.installed-uv
# The one way the project's own code is importable (CLI, tests, bench, scripts, smoke): a .pth file
# in .venv's site-packages naming the repository root (sandbox, bench, smoke, scripts,
# snowsage_setup, tooling, tests) and the common layer's source (snowsage, which Lambda finds in /opt/python).
PROJECT_PATH_STAMP := $(VENV)/.installed-project-path
PROJECT_PTH := snowsage-project.pth
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-checkov
NODE_STAMP := node_modules/.installed-package-lock
# The SageMaker emulator runs each job on the xgboost its image pins (sandbox/sagemaker/images.py),
# in a venv of its own: .venv-xgboost-<version>, from requirements/xgboost-<version>.lock.
XGBOOST_VERSIONS := 1.7.4 3.0.5 3.2.0
XGBOOST_STAMPS := $(foreach v,$(XGBOOST_VERSIONS),.venv-xgboost-$(v)/.installed-lock)
# The sandbox's Snowflake runs Python functions (ML_PREDICT_<DATASET>) in a venv standing in for
# Snowflake's Python 3.11 runtime and the Anaconda packages the function names.
SNOWFLAKE_PYTHON_STAMP := .venv-snowflake-python/.installed-lock
# The SageMaker Python SDK that tests/sdk drives against `sandbox serve`: v2 and v3 are both the
# `sagemaker` package, so each has a venv of its own (.venv-sagemaker-v2, .venv-sagemaker-v3).
SAGEMAKER_SDK_STAMPS := .venv-sagemaker-v2/.installed-lock .venv-sagemaker-v3/.installed-lock
# The quickstart notebook's kernel and nbclient (notebooks/quickstart.ipynb): Snowpark wants pandas<3,
# the dev tree pins 3.x, so it has a venv of its own (requirements/notebook.lock).
NOTEBOOK_STAMP := .venv-notebook/.installed-lock

# Lint whatever exists of these (colleagues' directories may land later).
MYPY_PATHS := $(wildcard layers/common/snowsage functions sandbox bench scripts smoke snowsage_setup tooling)
BANDIT_PATHS := $(wildcard functions layers/common/snowsage)
ASL_FILES := $(wildcard statemachines/*.asl.json)
PYTEST_ARGS ?= -n auto --dist loadfile
# The slowest tests in every run's output, so a test that grows slow is seen.
DURATIONS := --durations=15
UNIT_TESTS := tests/unit tests/statemachine tests/template
# No module-scoped sandboxes there: tests go to whichever worker is free (a few files hold the slow ones).
UNIT_ARGS ?= -n auto --dist load

.PHONY: help venv bubblewrap lint test pytest unit e2e sam-local build sizes demo chaos notebook bench bench-scale upload-training smoke smoke-errors lock lock-checkov clean distclean

help:
	@echo "make venv       create .venv (requirements/dev.lock), .venv-checkov, node_modules and the"
	@echo "                emulator's xgboost venvs (.venv-xgboost-<version>, requirements/xgboost-*.lock),"
	@echo "                the SageMaker SDK venvs (.venv-sagemaker-v2/-v3) and bubblewrap"
	@echo "make lint       ruff, mypy, sam validate --lint, cfn-lint, asl-validator, checkov, bandit, actionlint"
	@echo "make test       lint + pytest + sam-local (what CI runs)"
	@echo "make unit       tests/unit, tests/statemachine, tests/template: under a minute, dev venv only"
	@echo "make e2e        the tests marked e2e: the whole loop in the sandbox (pytest -m e2e)"
	@echo "make sam-local  sam local invoke (every events/ file) and start-lambda in Docker against"
	@echo "                sandbox serve; installs and starts Docker when none runs (docs/sam-local.md)"
	@echo "make build      sam build (python3.12 from .venv first on PATH)"
	@echo "make sizes      build, then each function's unzipped size with its layers vs the budget"
	@echo "make demo       run the pipeline end to end in the local sandbox"
	@echo "make chaos      the seeded chaos campaign: 200 runs, 4 at a time (reports/chaos.json)"
	@echo "make notebook   run notebooks/quickstart.ipynb against a running sandbox serve --with-sample-data"
	@echo "make bench      benchmarks"
	@echo "make upload-training BUCKET=<DataBucketName>  deploy training/<dataset>/ for script mode"
	@echo "make bench-scale  an export of 100,000 files end to end (docs/benchmarks.md, section 4)"
	@echo "make smoke      prove it on a real AWS + Snowflake account: throwaway stack, run, teardown"
	@echo "make smoke-errors  the error names AWS gives for the ASL's Retry/Catch (TestState)"
	@echo "make lock       regenerate requirements/dev.lock from requirements/dev.in"
	@echo "make clean      remove build outputs and caches (distclean: also venvs, node_modules)"

# --- environments -------------------------------------------------------------------------------

$(UV_STAMP): requirements/uv.txt
	python=$$(scripts/python312); rm -rf $(UV_VENV); "$$python" -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --no-deps -r $<
	touch $@

# $(call install_lock,<venv>,<lock file>): the lock's exact pins without resolving, then pip's own
# consistency check (uv's also compares wheel tags and rejects xgboost 1.7.4's, mislabelled cp310).
define install_lock
$(UV) pip install --quiet --python $(1)/bin/python --no-deps -r $(2)
$(1)/bin/python -m pip check
endef

venv: $(VENV_STAMP) $(PROJECT_PATH_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP) $(XGBOOST_STAMPS) $(SNOWFLAKE_PYTHON_STAMP) \
	$(SAGEMAKER_SDK_STAMPS) $(NOTEBOOK_STAMP) bubblewrap

# Each SageMaker training host runs in a mount namespace of its own with its /opt/ml (bubblewrap,
# Debian's package; root installs it, as CI runs).
bubblewrap:
	command -v bwrap >/dev/null || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends bubblewrap; }

$(VENV_STAMP): requirements/dev.lock | $(UV_STAMP)
	python=$$(scripts/python312); echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV)
	$(call install_lock,$(VENV),requirements/dev.lock)
	touch $@

$(PROJECT_PATH_STAMP): $(VENV_STAMP)
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
		printf '%s\n' "$(CURDIR)" "$(CURDIR)/layers/common" > "$$site/$(PROJECT_PTH)"
	$(PY) -c 'import sandbox.cli, snowsage.models, snowsage_setup.sqlscript'
	touch $@

# checkov pins an older boto3 than the dev tree: it gets a venv of its own.
$(CHECKOV_STAMP): requirements/checkov.txt | $(UV_STAMP)
	python=$$(scripts/python312); "$$python" -m venv $(CHECKOV_VENV)
	$(call install_lock,$(CHECKOV_VENV),requirements/checkov.txt)
	touch $@

.venv-xgboost-%/.installed-lock: requirements/xgboost-%.lock | $(UV_STAMP)
	python=$$(scripts/python312); rm -rf .venv-xgboost-$*; "$$python" -m venv .venv-xgboost-$*
	$(call install_lock,.venv-xgboost-$*,$<)
	touch $@

.venv-sagemaker-%/.installed-lock: requirements/sagemaker-%.lock | $(UV_STAMP)
	python=$$(scripts/python312); rm -rf .venv-sagemaker-$*; "$$python" -m venv .venv-sagemaker-$*
	$(call install_lock,.venv-sagemaker-$*,$<)
	touch $@

$(NOTEBOOK_STAMP): requirements/notebook.lock | $(UV_STAMP)
	python=$$(scripts/python312); rm -rf .venv-notebook; "$$python" -m venv .venv-notebook
	$(call install_lock,.venv-notebook,$<)
	touch $@

$(SNOWFLAKE_PYTHON_STAMP): requirements/snowflake-python.lock | $(UV_STAMP)
	python=$$(PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.11\.[0-9]+$$' | sort -t. -k3,3n | tail -n1) pyenv which python3.11 2>/dev/null || command -v python3.11); \
	  rm -rf .venv-snowflake-python; "$$python" -m venv .venv-snowflake-python
	$(call install_lock,.venv-snowflake-python,$<)
	touch $@

$(NODE_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# --- checks ---------------------------------------------------------------------------------------

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PATHS)
	$(BIN)/sam validate --lint
	$(BIN)/cfn-lint template.yaml
	$(foreach asl,$(ASL_FILES),node_modules/.bin/asl-validator --json-path $(asl);)
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(BIN)/bandit --quiet --recursive $(BANDIT_PATHS)
	$(BIN)/actionlint -no-color

pytest: $(VENV_STAMP) $(PROJECT_PATH_STAMP) $(XGBOOST_STAMPS) $(SNOWFLAKE_PYTHON_STAMP) $(SAGEMAKER_SDK_STAMPS) $(NOTEBOOK_STAMP) bubblewrap
	$(BIN)/pytest $(PYTEST_ARGS) $(DURATIONS)

unit: $(VENV_STAMP) $(PROJECT_PATH_STAMP)
	$(BIN)/pytest $(UNIT_TESTS) $(UNIT_ARGS) $(DURATIONS)

e2e: $(VENV_STAMP) $(PROJECT_PATH_STAMP) $(XGBOOST_STAMPS) $(SNOWFLAKE_PYTHON_STAMP) $(SAGEMAKER_SDK_STAMPS) $(NOTEBOOK_STAMP) bubblewrap
	$(BIN)/pytest -m e2e $(PYTEST_ARGS) $(DURATIONS)

# sam local invoke for every events/ file and start-lambda through boto3, in containers of a local
# stand-in for Lambda's python3.12 image (tests/sam_local/, docs/sam-local.md). Installs Debian's
# docker.io and starts dockerd when no engine answers, and stops what it started by PID.
sam-local: $(VENV_STAMP) $(PROJECT_PATH_STAMP) $(XGBOOST_STAMPS) $(SNOWFLAKE_PYTHON_STAMP)
	SNOWSAGE_SAM_LOCAL=1 $(BIN)/pytest tests/sam_local -n 0 -s -p no:cacheprovider

test: lint pytest sam-local

# --- build ----------------------------------------------------------------------------------------

# sam build needs python3.12 on PATH (functions and the layer Makefiles): the venv's comes first.
build: $(VENV_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

sizes: build $(PROJECT_PATH_STAMP)
	$(PY) scripts/sizes.py --build-dir .aws-sam/build

# --- sandbox --------------------------------------------------------------------------------------

demo: $(VENV_STAMP) $(PROJECT_PATH_STAMP) $(XGBOOST_STAMPS) $(SNOWFLAKE_PYTHON_STAMP) bubblewrap
	$(PY) -m sandbox demo

# docs/reliability.md, "Chaos campaign": the published figure comes from this seed.
CHAOS_SEED ?= 20261207
chaos: $(VENV_STAMP) $(PROJECT_PATH_STAMP) $(XGBOOST_STAMPS) $(SNOWFLAKE_PYTHON_STAMP) bubblewrap
	$(PY) -m sandbox chaos --runs 200 --concurrency 4 --seed $(CHAOS_SEED) --json reports/chaos.json

# The quickstart notebook top to bottom against a running `python -m sandbox serve --with-sample-data`;
# the executed copy goes to reports/notebook/.
notebook: $(NOTEBOOK_STAMP) $(PROJECT_PATH_STAMP)
	mkdir -p reports/notebook
	.venv-notebook/bin/python tooling/run_notebook.py run notebooks/quickstart.ipynb --output reports/notebook/quickstart.ipynb

bench: $(VENV_STAMP) $(PROJECT_PATH_STAMP)
	$(PY) -m bench

# Script mode's source archives: training/<dataset>/ -> s3://$(BUCKET)/code/<dataset>/sourcedir.tar.gz
upload-training: $(VENV_STAMP) $(PROJECT_PATH_STAMP)
	@test -n "$(BUCKET)" || { echo "usage: make upload-training BUCKET=<the stack's DataBucketName>"; exit 2; }
	$(PY) -m snowsage_setup.training_code --bucket $(BUCKET)

# Separate from bench: longer than its budget. FILES=2000 for a shorter run.
bench-scale: $(VENV_STAMP) $(PROJECT_PATH_STAMP)
	$(PY) -m bench.scale --files $(or $(FILES),100000)

# --- real accounts (docs/smoke.md): without credentials each says what it needs and exits 0 -----

smoke: $(VENV_STAMP) $(PROJECT_PATH_STAMP)
	$(PY) -m smoke run

# STACK_NAME=<stack>: probe that deployed stack instead of a throwaway one.
smoke-errors: $(VENV_STAMP) $(PROJECT_PATH_STAMP)
	$(PY) -m smoke errors $(if $(STACK_NAME),--stack-name "$(STACK_NAME)")

# --- locks ----------------------------------------------------------------------------------------

# Resolve requirements/dev.in in a scratch venv and freeze the whole tree (setuptools/wheel too).
lock:
	rm -rf build/lock-venv
	python=$$(scripts/python312); "$$python" -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet -r requirements/dev.in
	build/lock-venv/bin/pip check
	build/lock-venv/bin/pip freeze --all --exclude pip > requirements/dev.lock
	rm -rf build/lock-venv

# CHECKOV_VERSION=3.3.30 make lock-checkov
CHECKOV_VERSION ?= $(shell sed -n 's/^checkov==//p' requirements/checkov.txt)
lock-checkov:
	rm -rf build/lock-checkov
	python=$$(scripts/python312); "$$python" -m venv build/lock-checkov
	build/lock-checkov/bin/pip install --quiet "checkov==$(CHECKOV_VERSION)"
	build/lock-checkov/bin/pip check
	{ sed -n '/^#/p' requirements/checkov.txt; build/lock-checkov/bin/pip freeze --all --exclude pip; } \
		> requirements/checkov.txt.new
	mv requirements/checkov.txt.new requirements/checkov.txt
	rm -rf build/lock-checkov

# --- housekeeping ---------------------------------------------------------------------------------

clean:
	rm -rf .aws-sam build reports .pytest_cache .mypy_cache .ruff_cache .sandbox
	find . -path ./$(VENV) -prune -o -path './.venv-*' -prune -o -path ./node_modules -prune \
		-o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules $(foreach v,$(XGBOOST_VERSIONS),.venv-xgboost-$(v)) .venv-snowflake-python \
		.venv-sagemaker-v2 .venv-sagemaker-v3 .venv-notebook $(UV_VENV)
