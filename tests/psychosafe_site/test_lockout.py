"""Failed logins lock the account and the client out; X-Forwarded-For counts only behind trusted proxies."""

from datetime import timedelta
from io import StringIO

from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import RequestFactory, SimpleTestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from psychosafe_site.lockout import client_ip
from tests.personas import PASSWORD, PersonaTestCase

ATTACKER = "203.0.113.7"
PROXY = "10.0.0.2"


# Every attempt hashes a password: a fast hasher keeps the many attempts here quick.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class LockoutTests(PersonaTestCase):
    def _login(self, username, password=PASSWORD, *, address=ATTACKER, forwarded=None):
        extra = {"REMOTE_ADDR": address}
        if forwarded is not None:
            extra["HTTP_X_FORWARDED_FOR"] = forwarded
        self.client.logout()
        return self.client.post(reverse("login"), {"username": username, "password": password}, **extra)

    def _fail(self, times, username, **kwargs):
        """`times` wrong passwords; a callable username or keyword value gets the attempt's number."""
        for i in range(times):
            options = {key: _nth(value, i) for key, value in kwargs.items()}
            self._login(_nth(username, i), "wrong-password", **options)

    def _assert_logged_in(self, response, username):
        assert response.status_code == 302 and response["Location"] == reverse("home"), response.status_code
        assert self.client.get(reverse("home")).context["user"].username == username

    def _assert_locked_out(self, response):
        assert response.status_code == 429
        assert "_auth_user_id" not in self.client.session
        page = response.content.decode()
        assert "Too many failed log-ins" in page
        assert "paused for 15 minutes" in page
        assert "ask a studio admin" in page

    def test_six_wrong_passwords_lock_the_account_whatever_x_forwarded_for_says(self):
        for i in range(6):
            self._login("raj", "wrong-password", forwarded=f"198.51.100.{i}")
        self._assert_locked_out(self._login("raj", forwarded="198.51.100.99"))

    def test_the_account_stays_locked_for_guesses_from_many_addresses(self):
        self._fail(6, "raj", address="198.51.100.1")
        for address in ("198.51.100.2", "192.0.2.50"):
            self._assert_locked_out(self._login("raj", address=address))

    def test_other_users_still_log_in_while_an_account_is_locked(self):
        self._fail(6, "raj")
        self._assert_logged_in(self._login("rhea", address="192.0.2.50"), "rhea")

    def test_a_client_guessing_many_usernames_is_locked_out_for_every_account(self):
        self._fail(5, lambda i: f"user{i}")
        self._assert_locked_out(self._login("rhea"))
        self._assert_logged_in(self._login("rhea", address="192.0.2.50"), "rhea")

    def test_logging_in_to_ones_own_account_does_not_clear_the_count_of_guesses(self):
        self._fail(4, "raj")
        self._assert_logged_in(self._login("rhea"), "rhea")
        self._fail(1, "raj", address="192.0.2.50")
        self._assert_locked_out(self._login("raj", address="192.0.2.51"))

    def test_fewer_failures_than_the_limit_do_not_lock(self):
        self._fail(4, "raj")
        self._assert_logged_in(self._login("raj"), "raj")

    def test_the_lock_lifts_after_the_cool_off(self):
        self._fail(6, "raj")
        AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
        self._assert_logged_in(self._login("raj"), "raj")

    @override_settings(AXES_COOLOFF_TIME=None, LOCKOUT_CONTACT="the studio lead (lead@example.org)")
    def test_without_a_cool_off_the_lock_holds_until_an_admin_lifts_it(self):
        self._fail(6, "raj")
        AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(days=30))
        response = self._login("raj", address="192.0.2.50")
        assert response.status_code == 429
        page = response.content.decode()
        assert "paused until an admin unlocks it" in page and "ask the studio lead (lead@example.org)" in page

    def test_the_reset_command_unlocks_an_account(self):
        self._fail(6, "raj", address="198.51.100.1")
        call_command("axes_reset_username", "raj", stdout=StringIO())
        self._assert_logged_in(self._login("raj", address="192.0.2.50"), "raj")

    def test_an_admin_unlocks_an_account_in_the_admin(self):
        self._fail(6, "raj")
        self.client.force_login(self.ada)
        changelist = reverse("admin:axes_accessattempt_changelist")
        assert self.client.get(changelist).status_code == 200
        attempts = [str(pk) for pk in AccessAttempt.objects.filter(username="raj").values_list("pk", flat=True)]
        response = self.client.post(
            changelist, {"action": "delete_selected", "_selected_action": attempts, "post": "yes"}
        )
        assert response.status_code == 302
        self._assert_logged_in(self._login("raj"), "raj")

    def test_the_admin_login_page_is_locked_too(self):
        self._fail(6, "ada")
        response = self.client.post(
            reverse("admin:login"), {"username": "ada", "password": PASSWORD}, REMOTE_ADDR="192.0.2.50"
        )
        self._assert_locked_out(response)

    @override_settings(TRUSTED_PROXIES=1)
    def test_behind_a_proxy_each_client_is_counted_by_the_address_the_proxy_saw(self):
        # The client writes the left part of the header; the proxy appends the address it saw.
        self._fail(5, lambda i: f"user{i}", address=PROXY, forwarded=lambda i: f"192.0.2.{i}, {ATTACKER}")
        self._assert_locked_out(self._login("rhea", address=PROXY, forwarded=f"192.0.2.77, {ATTACKER}"))
        self._assert_logged_in(self._login("rhea", address=PROXY, forwarded="198.51.100.20"), "rhea")


def _nth(value, i):
    return value(i) if callable(value) else value


class ClientAddressTests(SimpleTestCase):
    def _ip(self, forwarded=None, remote="10.0.0.2"):
        meta = {"REMOTE_ADDR": remote}
        if forwarded is not None:
            meta["HTTP_X_FORWARDED_FOR"] = forwarded
        return client_ip(RequestFactory().get("/", **meta))

    def test_without_trusted_proxies_x_forwarded_for_is_ignored(self):
        assert self._ip("198.51.100.1", remote="203.0.113.7") == "203.0.113.7"

    @override_settings(TRUSTED_PROXIES=1)
    def test_one_proxy_the_rightmost_entry_is_the_client(self):
        assert self._ip("1.1.1.1, 2.2.2.2, 203.0.113.7") == "203.0.113.7"

    @override_settings(TRUSTED_PROXIES=2)
    def test_two_proxies_the_second_entry_from_the_right_is_the_client(self):
        assert self._ip("1.1.1.1,203.0.113.7, 10.0.0.9") == "203.0.113.7"

    @override_settings(TRUSTED_PROXIES=2)
    def test_a_header_shorter_than_the_proxy_chain_is_not_trusted(self):
        assert self._ip("203.0.113.7") == "10.0.0.2"
        assert self._ip(None) == "10.0.0.2"

    @override_settings(TRUSTED_PROXIES=1)
    def test_a_malformed_entry_falls_back_to_the_peer_address(self):
        assert self._ip("not-an-address") == "10.0.0.2"
        assert self._ip("2001:DB8::1") == "2001:db8::1"
