"""The studio's WSGI application with one more URL, /bench/bare/: a view that does nothing,
behind the same middleware (sessions, authentication, CSRF, security headers). bench_peers.py
serves it with the same gunicorn settings to measure what Django itself costs under a load.

    gunicorn -c psychosafe_site/gunicorn.conf.py --pythonpath bench bare_wsgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "psychosafe_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.decorators import login_not_required  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402


@login_not_required
def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare), path("", include("psychosafe_site.urls"))]
settings.ROOT_URLCONF = __name__
application = get_wsgi_application()
