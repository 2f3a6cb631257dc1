"""Request limits: per token, per user session, and per client address (whoever is calling).

Counts live in Django's cache (`CACHES`); with several server processes, point `CACHES` at a
shared cache (e.g. Redis) so that the limits are counted across them. Over a limit: 429 with
Retry-After. The rates are read at each request, so `REST_FRAMEWORK` changes apply at once.
"""

from rest_framework import throttling
from rest_framework.settings import api_settings

from psychosafe_site.lockout import client_ip


class _Rate(throttling.SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_Rate):
    """Each token (or, for a browser, each user's session) has its own budget."""

    scope = "token"

    def get_cache_key(self, request, view):
        if request.auth is not None and hasattr(request.auth, "pk"):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ClientRateThrottle(_Rate):
    """Each client address has a budget, whatever token or session it sends (or none)."""

    scope = "client"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request._request) or "unknown"}
