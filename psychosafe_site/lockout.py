"""Login lockout: the client address django-axes counts failures against, and the page it shows.

The address must not be the client's to choose. Each trusted proxy appends the address it
received the request from to X-Forwarded-For, so with N proxies in front of the studio the
client is the N-th entry from the right; everything left of it was written by the client and
is ignored. (django-ipware, which axes would otherwise use, counts the header's entries after
the client rather than the proxies, and in its default strict mode skips the header altogether
when a client pads it, so that every padded request would count against one shared address.)
"""

import ipaddress

from django.conf import settings
from django.shortcuts import render


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or behind PSYCHOSAFE_TRUSTED_PROXIES proxies the address the outermost one saw."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXIES
    if not proxies:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote  # the request did not come through every proxy: nothing in the header is vouched for
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


def lockout_response(request, original_response=None, credentials=None):
    """The login page, saying how long logins are paused and whom to ask (HTTP 429)."""
    cooloff = settings.AXES_COOLOFF_TIME
    context = {
        "locked_out": True,
        "cooloff_minutes": round(cooloff.total_seconds() / 60) if cooloff else None,
        "lockout_contact": settings.LOCKOUT_CONTACT,
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
