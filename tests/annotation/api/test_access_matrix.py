"""Role × endpoint × own/other: every cell is allowed, 401, 403 or 404 as the pages decide.

"ok" means the role got past the access rules (any status but 401, 403 and 404: a 400 for an
empty body counts, since validation comes after access). Another user's object is 404.
"""

from rest_framework.test import APIClient

from annotation.models import Response
from tests.annotation.api.client import reset_throttles, token_client
from tests.annotation.rating_fixtures import make_open_round
from tests.catalog import ensure_catalog
from tests.personas import PersonaTestCase

OK = "ok"
PERSONAS = ("alice", "bob", "rita", "raj", "rhea", "ada", "nora", "anonymous")


def row(author=403, other_author=None, reviewer=403, rater=403, other_rater=None, admin=403, none=403):
    """Expected outcome per persona: alice owns the objects, bob is another author, raj is in the round."""
    return {
        "alice": author,
        "bob": author if other_author is None else other_author,
        "rita": reviewer,
        "raj": rater,
        "rhea": rater if other_rater is None else other_rater,
        "ada": admin,
        "nora": none,
        "anonymous": 401,
    }


class AccessMatrixTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        ensure_catalog()
        cls.round, _ = make_open_round(raters=[cls.raj], k=1, per_domain=1, n_conditions=1)

    def setUp(self):
        reset_throttles()
        self.clients = {name: token_client(getattr(self, name)) for name in PERSONAS if name != "anonymous"}
        self.clients["anonymous"] = APIClient()
        created = self.clients["alice"].post(
            "/api/v1/pairs/",
            {"prompt_text": "p", "domain": "violence", "locale": "en-US", "text": "t", "submit": True},
            format="json",
        )
        self.pair = created.json()["id"]

    def cases(self):
        pair, round, token = self.pair, self.round.pk, self.round.public_id
        corpus = row(author=OK, reviewer=OK, admin=OK)
        admin_only = row(admin=OK)
        rater = row(rater=OK, other_rater=404)
        return [
            ("get", "/api/v1/pairs/", corpus),
            ("post", "/api/v1/pairs/", row(author=OK, reviewer=OK)),
            ("get", f"/api/v1/pairs/{pair}/", corpus),
            ("patch", f"/api/v1/pairs/{pair}/", row(author=OK, other_author=404, reviewer=404)),
            ("post", f"/api/v1/pairs/{pair}/withdraw/", row(author=OK, other_author=404, reviewer=404)),
            ("post", f"/api/v1/pairs/{pair}/review/", row(reviewer=OK)),
            ("get", "/api/v1/review-queue/", row(reviewer=OK)),
            ("get", "/api/v1/pairs/export/?format=csv", corpus),
            ("post", "/api/v1/imports/", admin_only),
            ("get", "/api/v1/splits/", admin_only),
            ("post", "/api/v1/splits/", admin_only),
            ("get", "/api/v1/conditions/", admin_only),
            ("get", "/api/v1/adapters/", admin_only),
            ("get", "/api/v1/training-runs/", admin_only),
            ("post", "/api/v1/training-runs/", admin_only),
            ("get", "/api/v1/generation-runs/", admin_only),
            ("get", "/api/v1/judge-runs/", admin_only),
            ("get", "/api/v1/cycles/", admin_only),
            ("post", "/api/v1/cycles/", admin_only),
            ("get", "/api/v1/rubrics/", admin_only),
            ("get", "/api/v1/rounds/", admin_only),
            ("post", "/api/v1/rounds/", admin_only),
            ("get", f"/api/v1/rounds/{round}/", admin_only),
            ("post", f"/api/v1/rounds/{round}/state/", admin_only),
            ("get", f"/api/v1/rounds/{round}/tidy/", admin_only),
            ("get", f"/api/v1/rounds/{round}/results/", admin_only),
            ("get", f"/api/v1/rating/{token}/", rater),
            ("post", f"/api/v1/rating/{token}/acknowledge/", rater),
            ("post", f"/api/v1/rating/{token}/submit/", rater),
            ("post", f"/api/v1/rating/{token}/skip/", rater),
            ("post", f"/api/v1/rating/{token}/flag/", rater),
            ("get", "/api/v1/schema/", row(author=OK, reviewer=OK, rater=OK, admin=OK, none=OK)),
        ]

    def test_every_cell_of_the_matrix(self):
        wrong = []
        for method, url, expected in self.cases():
            for persona in PERSONAS:
                reset_throttles()
                response = getattr(self.clients[persona], method)(url, {}, format="json")
                got = OK if response.status_code not in (401, 403, 404) else response.status_code
                if response.status_code >= 500 or got != expected[persona]:
                    wrong.append(
                        f"{method.upper()} {url} as {persona}: {response.status_code}, expected {expected[persona]}"
                    )
        self.assertEqual(wrong, [])
        # The refused calls changed nothing: alice's pair is as she left it.
        self.assertEqual(Response.objects.get(pk=self.pair).created_by, self.alice)
