"""gunicorn's settings for the studio (`make serve`, README "Production").

    gunicorn -c psychosafe_site/gunicorn.conf.py

Each value can be changed by an environment variable. Workers are processes (each with its own
database connections, or pool with DATABASE_POOL=1); threads serve requests concurrently inside
a worker, which suits the studio: a request mostly waits on the database.
"""

import os

from psychosafe_site.environment import env_int, env_str

wsgi_app = "psychosafe_site.wsgi:application"
bind = env_str("GUNICORN_BIND", "127.0.0.1:8000")
# Two processes per core, at least two, so one busy process never holds up every request.
workers = env_int("GUNICORN_WORKERS", max(2, 2 * (os.cpu_count() or 1)), minimum=1)
worker_class = "gthread"
threads = env_int("GUNICORN_THREADS", 4, minimum=1)
# A request running longer than this is killed and its worker replaced; exports and imports of
# large files run as background jobs, so no page should come near it.
timeout = env_int("GUNICORN_TIMEOUT", 60, minimum=1)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
# Workers are replaced after this many requests (with jitter, so not all at once): a slow leak
# can never grow without bound.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = max_requests // 10
# Access log on stdout ("-") or in a file; the error log on stderr.
accesslog = env_str("GUNICORN_ACCESS_LOG", "-")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = env_str("GUNICORN_LOG_LEVEL", "info")
# Each worker loads the application itself (no preload), so no database connection or pool is
# ever shared across a fork; a bad setting still stops the server, as no worker can boot.
preload_app = False
