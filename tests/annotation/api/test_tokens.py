"""Personal API tokens: created with a name and shown once, stored hashed, last use noted, revoked by
their owner on the token page or by an admin; session calls keep CSRF; throttles answer 429."""

from datetime import timedelta

from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from annotation.api import tokens
from annotation.models import ApiToken
from tests.annotation.api.client import reset_throttles, token_client
from tests.personas import PersonaTestCase


class TokenTests(PersonaTestCase):
    def setUp(self):
        reset_throttles()

    def test_secret_is_shown_once_and_only_its_digest_is_stored(self):
        self.client.force_login(self.alice)
        page = self.client.post(reverse("api-tokens"), {"name": "notebook"})
        self.assertEqual(page.status_code, 200)
        secret = page.context["secret"]
        self.assertTrue(secret.startswith("pss_"))
        self.assertContains(page, secret)
        self.assertEqual(page["Cache-Control"], "no-store")
        token = ApiToken.objects.get(user=self.alice)
        self.assertEqual(token.digest, tokens.digest(secret))
        self.assertNotIn(secret, [token.digest, token.prefix, token.name])
        again = self.client.get(reverse("api-tokens"))
        self.assertNotContains(again, secret)
        self.assertContains(again, token.prefix)

    def test_a_token_authenticates_and_notes_its_last_use(self):
        client = token_client(self.alice)
        token = ApiToken.objects.get(user=self.alice)
        self.assertIsNone(token.last_used_at)
        self.assertEqual(client.get("/api/v1/pairs/").status_code, 200)
        token.refresh_from_db()
        self.assertIsNotNone(token.last_used_at)

    def test_last_use_is_written_at_most_once_a_minute(self):
        token, secret = tokens.create_token(user=self.alice, name="t")
        now = timezone.now()
        tokens.authenticate(secret, now=now)
        tokens.authenticate(secret, now=now + timedelta(seconds=30))
        token.refresh_from_db()
        self.assertEqual(token.last_used_at, now)
        tokens.authenticate(secret, now=now + timedelta(seconds=61))
        token.refresh_from_db()
        self.assertEqual(token.last_used_at, now + timedelta(seconds=61))

    def test_names_are_required_and_unique_among_active_tokens(self):
        with self.assertRaises(tokens.TokenError):
            tokens.create_token(user=self.alice, name="  ")
        tokens.create_token(user=self.alice, name="laptop")
        with self.assertRaises(tokens.TokenError):
            tokens.create_token(user=self.alice, name="laptop")
        tokens.create_token(user=self.bob, name="laptop")  # another user's name is no clash

    def test_owner_revokes_on_their_page_and_the_token_then_gets_401(self):
        client = token_client(self.alice, name="laptop")
        token = ApiToken.objects.get(user=self.alice)
        self.client.force_login(self.alice)
        self.client.post(reverse("api-token-revoke", args=[token.pk]))
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        response = client.get("/api/v1/pairs/")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response["Content-Type"], "application/problem+json")
        self.assertIn("Bearer", response["WWW-Authenticate"])

    def test_nobody_revokes_another_users_token_on_the_page(self):
        token_client(self.alice)
        token = ApiToken.objects.get(user=self.alice)
        self.client.force_login(self.bob)
        self.assertEqual(self.client.post(reverse("api-token-revoke", args=[token.pk])).status_code, 404)
        token.refresh_from_db()
        self.assertIsNone(token.revoked_at)

    def test_an_admin_revokes_anyones_token_in_the_admin(self):
        client = token_client(self.alice)
        token = ApiToken.objects.get(user=self.alice)
        self.client.force_login(self.ada)
        changelist = reverse("admin:annotation_apitoken_changelist")
        self.assertContains(self.client.get(changelist), token.prefix)
        self.client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
        token.refresh_from_db()
        self.assertEqual(token.revoked_by, self.ada)
        self.assertEqual(client.get("/api/v1/pairs/").status_code, 401)

    def test_an_unknown_or_malformed_token_is_401_never_a_session(self):
        client = APIClient()
        for header in ("Bearer pss_nope", "Bearer", "Bearer a b", "Bearer \xff"):
            client.credentials(HTTP_AUTHORIZATION=header)
            self.assertEqual(client.get("/api/v1/pairs/").status_code, 401, header)
        self.assertEqual(APIClient().get("/api/v1/pairs/").status_code, 401)

    def test_a_deactivated_user_s_token_stops_working(self):
        client = token_client(self.alice)
        self.alice.is_active = False
        self.alice.save()
        self.assertEqual(client.get("/api/v1/pairs/").status_code, 401)

    def test_session_calls_keep_csrf(self):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(self.alice)
        self.assertEqual(client.get("/api/v1/pairs/").status_code, 200)
        refused = client.post("/api/v1/pairs/", {"text": "x"}, format="json")
        self.assertEqual(refused.status_code, 403)
        self.assertIn("CSRF", refused.json()["detail"])
        self.assertEqual(ApiToken.objects.count(), 0)

    def test_a_token_call_needs_no_csrf_token(self):
        client = token_client(self.alice)
        client.enforce_csrf_checks = True
        response = client.post("/api/v1/pairs/", {"text": ""}, format="json")
        self.assertEqual(response.status_code, 400)  # validated, not refused for CSRF


def _rates(**rates):
    return override_settings(REST_FRAMEWORK={**_rest(), "DEFAULT_THROTTLE_RATES": rates})


def _rest():
    from django.conf import settings

    return settings.REST_FRAMEWORK


class ThrottleTests(PersonaTestCase):
    def setUp(self):
        reset_throttles()

    def test_each_token_has_its_own_budget_then_429_with_retry_after(self):
        with _rates(token="3/min", client="1000/min"):
            self.assertEqual(api_settings.DEFAULT_THROTTLE_RATES["token"], "3/min")
            first, second = token_client(self.alice, "one"), token_client(self.alice, "two")
            for _ in range(3):
                self.assertEqual(first.get("/api/v1/pairs/").status_code, 200)
            refused = first.get("/api/v1/pairs/")
            self.assertEqual(refused.status_code, 429)
            self.assertEqual(refused["Content-Type"], "application/problem+json")
            self.assertGreaterEqual(int(refused["Retry-After"]), 1)
            self.assertEqual(refused.json()["status"], 429)
            self.assertEqual(second.get("/api/v1/pairs/").status_code, 200)

    def test_one_client_address_is_limited_whatever_it_sends_bad_tokens_included(self):
        with _rates(token="1000/min", client="3/min"):
            guesser = APIClient()
            guesser.credentials(HTTP_AUTHORIZATION="Bearer pss_guess")
            for _ in range(3):
                self.assertEqual(guesser.get("/api/v1/pairs/").status_code, 401)
            self.assertEqual(guesser.get("/api/v1/pairs/").status_code, 429)
            self.assertEqual(token_client(self.alice).get("/api/v1/pairs/").status_code, 429)
