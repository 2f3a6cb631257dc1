"""A session ends after an hour without a request, and twelve hours after login whatever the activity."""

import time

from django.test import SimpleTestCase, override_settings
from django.urls import reverse

from psychosafe_site import sessions
from tests.personas import PersonaTestCase

HOUR = 3600


class SessionLifetimeTests(PersonaTestCase):
    def setUp(self):
        self.client.force_login(self.raj)
        assert self.client.get(reverse("home")).status_code == 200  # the session records login and activity

    def _backdate(self, **seconds_ago):
        session = self.client.session
        for key, seconds in seconds_ago.items():
            session[getattr(sessions, key)] = time.time() - seconds
        session.save()

    def _assert_logged_out_with(self, message):
        response = self.client.get(reverse("home"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
        page = self.client.get(response["Location"])
        assert message in page.content.decode()
        assert "_auth_user_id" not in self.client.session

    def test_the_defaults_are_an_hour_idle_and_twelve_hours_in_all(self):
        from django.conf import settings

        assert settings.SESSION_IDLE_SECONDS == HOUR
        assert settings.SESSION_LIFETIME_SECONDS == settings.SESSION_COOKIE_AGE == 12 * HOUR

    def test_a_session_used_within_the_hour_stays_logged_in(self):
        self._backdate(SEEN_AT=HOUR - 60, LOGIN_AT=11 * HOUR)
        assert self.client.get(reverse("home")).status_code == 200
        assert self.client.get(reverse("home")).status_code == 200

    def test_an_idle_session_is_logged_out(self):
        self._backdate(SEEN_AT=HOUR + 60)
        self._assert_logged_out_with("logged out after 60 minutes without activity")

    def test_an_active_session_ends_twelve_hours_after_login(self):
        self._backdate(LOGIN_AT=12 * HOUR + 60, SEEN_AT=30)
        self._assert_logged_out_with("sessions last at most 12 hours")

    def test_logging_in_again_restarts_the_clock(self):
        self._backdate(LOGIN_AT=12 * HOUR + 60, SEEN_AT=HOUR + 60)
        self.client.force_login(self.raj)
        assert self.client.get(reverse("home")).status_code == 200

    @override_settings(SESSION_IDLE_SECONDS=5 * 60, SESSION_LIFETIME_SECONDS=HOUR)
    def test_the_limits_follow_the_settings(self):
        self._backdate(SEEN_AT=6 * 60)
        self._assert_logged_out_with("logged out after 5 minutes without activity")


class CheckSessionTests(SimpleTestCase):
    def test_a_new_session_records_its_login_and_activity(self):
        session = {}
        assert sessions.check_session(session, now=1000.0) is None
        assert session == {sessions.LOGIN_AT: 1000.0, sessions.SEEN_AT: 1000.0}

    def test_activity_is_written_at_most_once_a_minute(self):
        session = {sessions.LOGIN_AT: 1000.0, sessions.SEEN_AT: 1000.0}
        sessions.check_session(session, now=1030.0)
        assert session[sessions.SEEN_AT] == 1000.0
        sessions.check_session(session, now=1061.0)
        assert session[sessions.SEEN_AT] == 1061.0
