"""Rating through the API: the page's leases, idempotency keys, skip, flag and closed-round rules, and
blindness: no API response a rater can reach names a model, condition or adapter."""

from annotation import rounds
from annotation.models import Flag, Rating, Skip
from tests.annotation.api.client import reset_throttles, token_client
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.annotation.views import test_blindness as page_blindness
from tests.personas import PersonaTestCase


class RatingApiTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj], k=1, per_domain=1, n_conditions=1)

    def setUp(self):
        reset_throttles()
        self.api = token_client(self.raj)
        self.base = f"/api/v1/rating/{self.round.public_id}/"

    def _next(self):
        response = self.api.post(self.base + "next/")
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def test_the_content_warning_comes_first(self):
        self.assertFalse(self.api.get(self.base).json()["warning_acknowledged"])
        self.assertEqual(self.api.post(self.base + "next/").status_code, 409)
        self.assertTrue(self.api.post(self.base + "acknowledge/").json()["warning_acknowledged"])
        self.assertIsNotNone(self._next()["item"])

    def test_submit_is_idempotent_by_lease_and_a_replay_saves_nothing_twice(self):
        self.api.post(self.base + "acknowledge/")
        item = self._next()["item"]
        self.assertEqual(self._next()["item"]["lease"], item["lease"])  # the held item again
        body = {"lease": item["lease"], "answers": full_answers()}
        first = self.api.post(self.base + "submit/", body, format="json")
        replay = self.api.post(self.base + "submit/", body, format="json")
        self.assertEqual((first.json()["saved"], replay.json()["saved"]), (True, False))
        self.assertEqual(Rating.objects.filter(rater=self.raj).count(), 1)

    def test_bad_answers_are_400_and_a_lost_lease_409(self):
        self.api.post(self.base + "acknowledge/")
        item = self._next()["item"]
        bad = self.api.post(
            self.base + "submit/", {"lease": item["lease"], "answers": {"refusal": "maybe"}}, format="json"
        )
        self.assertEqual(bad.status_code, 400)
        lost = self.api.post(self.base + "submit/", {"lease": "not-mine", "answers": full_answers()}, format="json")
        self.assertEqual(lost.status_code, 409)
        self.assertFalse(Rating.objects.exists())

    def test_skip_and_flag_use_the_held_lease(self):
        self.api.post(self.base + "acknowledge/")
        item = self._next()["item"]
        flagged = self.api.post(self.base + "flag/", {"lease": item["lease"], "kind": "harmful"}, format="json")
        self.assertEqual(flagged.status_code, 200, flagged.content)
        self.assertEqual(Flag.objects.get().rater, self.raj)
        self.api.post(self.base + "skip/", {"lease": item["lease"], "reason": "unsure"}, format="json")
        self.assertEqual(Skip.objects.get().rater, self.raj)
        again = self.api.post(self.base + "skip/", {"lease": item["lease"], "reason": "unsure"}, format="json")
        self.assertEqual(again.status_code, 409)

    def test_a_closed_round_is_409_and_a_stranger_gets_404(self):
        self.api.post(self.base + "acknowledge/")
        item = self._next()["item"]
        rounds.close_round(round=self.round)
        closed = self.api.post(
            self.base + "submit/", {"lease": item["lease"], "answers": full_answers()}, format="json"
        )
        self.assertEqual(closed.status_code, 409)
        self.assertEqual(self.api.post(self.base + "next/").status_code, 409)
        self.assertEqual(token_client(self.rhea).get(self.base).status_code, 404)


class ApiBlindnessTests(page_blindness.BlindnessTests):
    """The page crawl's fixtures and secrets, over every API response a rater can reach."""

    def test_no_rater_api_response_unblinds(self):
        reset_throttles()
        seen = []
        for round in (self.round, self.pairwise):
            api = token_client(self.raj, name=f"blind-{round.pk}")
            base = f"/api/v1/rating/{round.public_id}/"
            calls = [("get", base, None), ("post", base + "acknowledge/", None)]
            for _ in range(round.items.count() + 1):
                calls.append(("post", base + "next/", None))
            for method, url, body in calls:
                response = getattr(api, method)(url, body, format="json")
                self.record(seen, url, response)
            item = api.post(base + "next/").json()["item"]
            while item is not None:
                lease = item["lease"]
                for url, body in (
                    (base + "flag/", {"lease": lease, "kind": "harmful"}),
                    (base + "submit/", {"lease": lease, "answers": {"refusal": "perhaps"}}),
                    (base + "submit/", {"lease": "nope", "answers": {}}),
                ):
                    self.record(seen, url, api.post(url, body, format="json"))
                answers = {"preference": "left"} if round.is_pairwise else full_answers()
                done = api.post(base + "submit/", {"lease": lease, "answers": answers}, format="json")
                self.record(seen, base + "submit/", done)
                following = api.post(base + "next/")
                self.record(seen, base + "next/", following)
                item = following.json()["item"]
            for url in ("/api/v1/pairs/", "/api/v1/rounds/", f"/api/v1/rounds/{round.pk}/", "/api/v1/cycles/"):
                response = api.get(url)
                self.assertIn(response.status_code, (403, 404), url)
                self.record(seen, url, response)
        self.assertGreater(len(seen), 20)
        self.assert_blind(seen)


for _name in dir(page_blindness.BlindnessTests):
    if _name.startswith("test_"):
        setattr(ApiBlindnessTests, _name, None)  # the page tests run in their own module
