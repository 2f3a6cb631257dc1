"""Session lifetime: log out after SESSION_IDLE_SECONDS without a request, and SESSION_LIFETIME_SECONDS
after logging in, whatever the activity.

Django alone gives one of the two: SESSION_COOKIE_AGE counts from the session's last save, so it
is an idle timeout if every request saves (SESSION_SAVE_EVERY_REQUEST) and never an absolute one.
Here the session records when its user logged in and when it was last seen; the last-seen time is
written at most once a minute, so an active user costs one session write a minute, not one a
request.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout

LOGIN_AT = "_studio_login_at"
SEEN_AT = "_studio_seen_at"
SEEN_RESOLUTION_SECONDS = 60


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            reason = check_session(request.session, now=time.time())
            if reason:
                # The login-required middleware then sends the request to the login page.
                logout(request)
                messages.info(request, reason)
        return self.get_response(request)


def record_login(sender, request, user, **kwargs) -> None:
    """Receiver of `user_logged_in`: the session's lifetime starts now.

    Any login (the login page, the admin's, a test's force_login) goes through Django's `login()`,
    which sends the signal; recording here also spares the first request after it a session write.
    """
    now = time.time()
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


def check_session(session, *, now: float) -> str | None:
    """Why this logged-in session has ended, or None after recording that it was seen now.

    A session from before these limits existed has no times yet: it starts its clocks now.
    """
    login_at = session.setdefault(LOGIN_AT, now)
    seen_at = session.setdefault(SEEN_AT, now)
    if now - login_at > settings.SESSION_LIFETIME_SECONDS:
        hours = _count(settings.SESSION_LIFETIME_SECONDS / 3600, "hour")
        return f"You were logged out because sessions last at most {hours}. Please log in again."
    if now - seen_at > settings.SESSION_IDLE_SECONDS:
        minutes = _count(settings.SESSION_IDLE_SECONDS / 60, "minute")
        return f"You were logged out after {minutes} without activity. Please log in again."
    if now - seen_at >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_AT] = now
    return None


def _count(number: float, unit: str) -> str:
    return f"{number:g} {unit}{'' if number == 1 else 's'}"
