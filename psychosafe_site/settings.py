"""PsychoSafe Studio settings: one file, read from the environment.

Defaults run the studio on a bare machine (SQLite under var/, an embedded file-system
broker, the offline demo model). Production sets DEBUG=0 and the variables listed in
README.md; the typed readers in `environment.py` refuse bad values at start-up.
"""

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from psychosafe_site.environment import (
    development_secret_key,
    env_bool,
    env_int,
    env_list,
    env_path,
    env_str,
    validate_allowed_hosts,
    validate_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("PSYCHOSAFE_VAR_DIR", BASE_DIR / "var")

# DEBUG has no default: a production start that forgot it stops here instead of serving debug
# pages. Only under pytest (which sets PYTEST_VERSION, inherited by the workers tests start) is
# it on by default; the Makefile sets DEBUG=1 for the demo, the tests and the benchmarks.
DEBUG = env_bool("DEBUG", True if os.environ.get("PYTEST_VERSION") else None)

if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY") or development_secret_key(VAR_DIR / "secret_key")
else:
    SECRET_KEY = validate_secret_key(env_str("SECRET_KEY"))

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG:
    validate_allowed_hosts(ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must start with http:// or https://.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page requires login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

if not DEBUG:
    # Production serves collected static files itself (run `manage.py collectstatic`).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "psychosafe_site.urls"
WSGI_APPLICATION = "psychosafe_site.wsgi.application"
ASGI_APPLICATION = "psychosafe_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "annotation.roles.roles_context",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'studio.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0))
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {error}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and a worker write at once: WAL lets readers proceed during a write,
    # IMMEDIATE transactions take the write lock up front (so two writers queue on the
    # busy timeout instead of failing on lock upgrade), and the timeout is generous.
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    # Tests need a file, not :memory:, so that Celery workers and other processes share it.
    _database["TEST"] = {"NAME": str(VAR_DIR / f"test-studio-{os.getpid()}.sqlite3")}
    if _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
if _database["ENGINE"] == "django.db.backends.postgresql":
    # One test database per test process, so that concurrent test runs never collide.
    _database["TEST"] = {"NAME": f"test_{_database['NAME']}_{os.getpid()}"}
    # Connections: opened per request by default; DATABASE_CONN_MAX_AGE keeps one per thread open
    # (checked before reuse); DATABASE_POOL=1 shares a psycopg pool among each process's threads
    # instead (docs/performance.md). Each web process opens up to DATABASE_POOL_MAX_SIZE.
    if env_bool("DATABASE_POOL", False):
        if _database["CONN_MAX_AGE"]:
            raise ImproperlyConfigured("DATABASE_POOL=1 replaces DATABASE_CONN_MAX_AGE: leave that at 0.")
        _pool_min = env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0)
        _database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": _pool_min,
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", max(_pool_min, 10), minimum=max(_pool_min, 1)),
            # Seconds a request waits for a free connection before failing.
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
    _database["CONN_HEALTH_CHECKS"] = bool(_database["CONN_MAX_AGE"])
DATABASES = {"default": _database}

# --- Cache ------------------------------------------------------------------------------
# What the rating pages read on every request and that rarely changes (criteria, strategies:
# annotation/rating_sheets.py). Shared by every process that serves pages, so a change made
# in one process is seen by all: by default a directory under var/ (one host); several hosts
# share Redis. Under pytest each test process has its own, in memory.
CACHE_URL = env_str("CACHE_URL", "locmem://" if os.environ.get("PYTEST_VERSION") else "")
if not CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # Sessions live here too: room for thousands before the oldest third is dropped.
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
elif CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use redis://host:6379/N, locmem://, or leave it empty.")
# Keys name the database they describe, so studios on two databases never share an entry.
CACHES["default"]["KEY_PREFIX"] = hashlib.sha256(DATABASE_URL.encode()).hexdigest()[:12]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Audit trail ------------------------------------------------------------------------
# History is a record, not an undo button: the admin shows it (who, when, before and after) but
# cannot "revert" to an old version, which would bypass the checks that guard each change (a
# user's superuser flag, a frozen prompt) and rewrite what ratings were made against.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes; docs/security.md) ------------------------------------
# Failed logins are counted per username and per client address, separately: either one
# reaching the limit refuses logins for it until the cool-off has passed without another try.
# Before "annotation": its post-migrate step gives the admin role axes' permissions (to unlock).
INSTALLED_APPS.insert(INSTALLED_APPS.index("annotation"), "axes")
# The model backend, loading a session's user with their roles in one query (annotation/roles.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "annotation.roles.RolesBackend"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success must not clear the counts, or a user could interleave their own logins with guesses.
AXES_RESET_ON_SUCCESS = False
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
# 0: locked until an admin unlocks (admin "Access attempts", or `manage.py axes_reset_username`).
_cooloff_minutes = env_int("AXES_COOLOFF_MINUTES", 15, minimum=0)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes) if _cooloff_minutes else None
# How many reverse proxies in front of the studio append to X-Forwarded-For. 0: the header is
# ignored and REMOTE_ADDR is the client (a client can write any X-Forwarded-For it likes).
TRUSTED_PROXIES = env_int("PSYCHOSAFE_TRUSTED_PROXIES", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "psychosafe_site.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "psychosafe_site.lockout.lockout_response"
# Shown on the login page when it is locked: whom to ask for an early unlock.
LOCKOUT_CONTACT = env_str("PSYCHOSAFE_LOCKOUT_CONTACT", "a studio admin")

# --- Sessions (docs/security.md) ---------------------------------------------------------
# Logged out after this long without a request, and in any case this long after logging in.
SESSION_IDLE_SECONDS = 60 * env_int("PSYCHOSAFE_SESSION_IDLE_MINUTES", 60, minimum=1)
SESSION_LIFETIME_SECONDS = 3600 * env_int("PSYCHOSAFE_SESSION_MAX_HOURS", 12, minimum=1)
# The cookie and the stored session expire with the lifetime; the middleware enforces both limits.
SESSION_COOKIE_AGE = SESSION_LIFETIME_SECONDS
# Sessions live in the database and are read from the shared cache (see CACHES): a page costs
# no session query, and a logout or expiry deletes both copies.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
MIDDLEWARE += ["psychosafe_site.sessions.SessionLifetimeMiddleware"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")

# --- Security (production) --------------------------------------------------------------
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- Content-Security-Policy and Permissions-Policy (docs/security.md) ------------------------
# Enforced everywhere, the admin included. Scripts and styles come from our static files, or
# from an inline block that carries the request's nonce (`nonce="{{ request.csp_nonce }}"`).
# Never add 'unsafe-inline' or 'unsafe-eval': move the code or style to static/ instead.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],  # the round report embeds its plots as data: URIs
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        # Where browsers send violation reports (e.g. an error tracker's CSP endpoint); none by default.
        "report-uri": env_list("CSP_REPORT_URI", []) or None,
    },
}
# Browser features the studio never uses, turned off for its pages and anything they embed.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "interest-cohort",  # FLoC, browsing-topics' predecessor
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# First after SecurityMiddleware, so that every response (error pages, static files) gets both.
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE[_after_security:_after_security] = [
    "psychosafe_site.security_headers.ContentSecurityPolicyMiddleware",
    "psychosafe_site.security_headers.PermissionsPolicyMiddleware",
]

# --- Celery -----------------------------------------------------------------------------
# With nothing set, an embedded file-system broker: no server needed, the demo runs on a
# bare machine. Production and CI use Redis. Job state lives in database rows, so results
# are not stored in a backend.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Fanout exchanges (remote control, broadcast): without this kombu writes ./control/.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "memory://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r}: use redis://, rediss://, amqp:// or filesystem://."
    )
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Two queues: `gpu` (train, generate) for workers with an accelerator, `default` for the rest.
# A prefix isolates deployments (and test sessions) that share one broker.
# Under pytest (which sets PYTEST_VERSION) each test process gets queues of its own.
QUEUE_PREFIX = env_str("PSYCHOSAFE_QUEUE_PREFIX", f"test{os.getpid()}-" if os.environ.get("PYTEST_VERSION") else "")
DEFAULT_QUEUE = f"{QUEUE_PREFIX}default"
GPU_QUEUE = f"{QUEUE_PREFIX}gpu"
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
# Every task is routed here (never pinned in its decorator), so the prefix always applies.
CELERY_TASK_ROUTES = {
    "studio.train_adapter": {"queue": GPU_QUEUE},
    "studio.generate_responses": {"queue": GPU_QUEUE},
    "studio.import_pairs": {"queue": DEFAULT_QUEUE},
    # Endpoint judges and the deterministic checks wait on the network or nothing; a local judge needs the GPU.
    "studio.judge_responses": {"queue": DEFAULT_QUEUE},
    "studio.judge_responses_gpu": {"queue": GPU_QUEUE},
    "studio.recover_stale_runs": {"queue": DEFAULT_QUEUE},
    "studio.notify_rounds_closing_soon": {"queue": DEFAULT_QUEUE},
    "studio.classify_benchmark": {"queue": DEFAULT_QUEUE},
    "studio.classify_benchmark_gpu": {"queue": GPU_QUEUE},
    "studio.warm_round_results": {"queue": DEFAULT_QUEUE},
}
# Each task runs in a fresh pool process that exits when the task ends, so the memory a task
# used (a base model, an optimiser, a generation engine) goes back to the operating system and
# a worker never holds a generation model while it trains. The pool's parent imports no torch.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("PSYCHOSAFE_WORKER_MAX_TASKS_PER_CHILD", 1, minimum=1)
# A run whose worker has not reported for this long is presumed dead and may be reclaimed.
RUN_STALE_AFTER_SECONDS = env_int("PSYCHOSAFE_RUN_STALE_AFTER_SECONDS", 300, minimum=2)
# An uploaded import file is deleted when its job ends; one that failed for another reason than
# its rows (a crash, a lost broker) or was cancelled is kept this long for "Try again".
IMPORT_UPLOAD_RETENTION_HOURS = env_int("PSYCHOSAFE_IMPORT_UPLOAD_RETENTION_HOURS", 24, minimum=0)
# Each worker upserts a WorkerHeartbeat row this often; it counts as live for three periods.
WORKER_HEARTBEAT_SECONDS = env_int("PSYCHOSAFE_WORKER_HEARTBEAT_SECONDS", 15, minimum=1)
# Queues /healthz requires a live worker on (503 otherwise): "default", "gpu", or both.
_QUEUES_BY_ROLE = {"default": DEFAULT_QUEUE, "gpu": GPU_QUEUE}
_health_roles = env_list("PSYCHOSAFE_HEALTH_QUEUES", ["default", "gpu"])
if unknown := set(_health_roles) - set(_QUEUES_BY_ROLE):
    raise ImproperlyConfigured(f"PSYCHOSAFE_HEALTH_QUEUES: unknown queue(s) {sorted(unknown)}; use default and/or gpu.")
HEALTH_QUEUES = [_QUEUES_BY_ROLE[role] for role in _health_roles]
# `celery beat` (or a worker started with -B) re-enqueues such runs every minute.
CELERY_BEAT_SCHEDULE = {
    "recover-stale-runs": {"task": "studio.recover_stale_runs", "schedule": 60.0},
    # Raters of open rounds whose deadline is near are told once per deadline.
    "notify-rounds-closing-soon": {"task": "studio.notify_rounds_closing_soon", "schedule": 300.0},
    # Results figures of open rounds that ratings or verdicts made stale (annotation.figures).
    "warm-round-results": {"task": "studio.warm_round_results", "schedule": 60.0, "options": {"expires": 60}},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Models -----------------------------------------------------------------------------
MODELS_DIR = env_path("PSYCHOSAFE_MODELS_DIR", VAR_DIR / "models")
ADAPTERS_DIR = env_path("PSYCHOSAFE_ADAPTERS_DIR", VAR_DIR / "adapters")
# A local path or a name the GPU host can load; the default is the converted offline demo model.
BASE_MODEL = env_str("PSYCHOSAFE_BASE_MODEL", str(MODELS_DIR / "smollm2-135m-instruct"))
# The base models a training run may start from: the training and Retrain forms offer only these,
# never a free-text path that could point at any file on the workers. BASE_MODEL is always one.
BASE_MODELS = list(dict.fromkeys([BASE_MODEL, *env_list("PSYCHOSAFE_BASE_MODELS", [])]))
# `manage.py rundemo` sets this: the Retrain form then proposes a cycle that fits a CPU in minutes.
DEMO = env_bool("PSYCHOSAFE_DEMO", False)
# An OpenAI-compatible judge endpoint (e.g. `vllm serve` on a GPU host) that `seed_demo` registers.
JUDGE_ENDPOINT_URL = env_str("PSYCHOSAFE_JUDGE_URL", "")
JUDGE_ENDPOINT_MODEL = env_str("PSYCHOSAFE_JUDGE_MODEL", "")
JUDGE_API_KEY_ENV = env_str("PSYCHOSAFE_JUDGE_API_KEY_ENV", "")
if bool(JUDGE_ENDPOINT_URL) != bool(JUDGE_ENDPOINT_MODEL):
    raise ImproperlyConfigured("Set both PSYCHOSAFE_JUDGE_URL and PSYCHOSAFE_JUDGE_MODEL, or neither.")
# First wait before an endpoint judge's request is retried after HTTP 429/5xx (it doubles each time).
JUDGE_BACKOFF_SECONDS = float(env_str("PSYCHOSAFE_JUDGE_BACKOFF_SECONDS", "0.5"))
# Recorded in every trained condition's lineage; by default the checkout's git HEAD.
CODE_VERSION = env_str("PSYCHOSAFE_CODE_VERSION", "")
GENERATION_BACKEND = env_str("PSYCHOSAFE_GENERATION_BACKEND", "transformers")
if GENERATION_BACKEND not in {"transformers", "vllm"}:
    raise ImproperlyConfigured(f"PSYCHOSAFE_GENERATION_BACKEND={GENERATION_BACKEND!r}: use transformers or vllm.")

# --- Notifications and e-mail ------------------------------------------------------------
# The inbox always gets every notice; e-mail goes to people who chose the kind on their settings page.
# The development default prints e-mails to the console; production sets an SMTP server.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "PsychoSafe Studio <studio@localhost>")
# Links in e-mails start with this (the address people open the studio at).
SITE_URL = env_str("PSYCHOSAFE_SITE_URL", "http://127.0.0.1:8000")
# Raters are told a round closes soon this many hours before its deadline.
ROUND_CLOSING_SOON_HOURS = env_int("PSYCHOSAFE_ROUND_CLOSING_SOON_HOURS", 24, minimum=1)
# --- JSON API (docs/api.md) -------------------------------------------------------------
# Requests per token (or per user session) and per client address; over either: 429 + Retry-After.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.api.authentication.TokenAuthentication",
        "annotation.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies; the import (a file upload) takes multipart/form-data.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("PSYCHOSAFE_API_TOKEN_RATE", "1200/min"),
        "client": env_str("PSYCHOSAFE_API_CLIENT_RATE", "2400/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotation.api.problems.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `format` is the exports' own parameter (csv, jsonl, parquet…), not a renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PsychoSafe Studio API",
    "DESCRIPTION": "Pairs, imports, splits, runs, the retraining cycle, rounds, rating and results. See docs/api.md.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotation.api.schema.add_problem_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
