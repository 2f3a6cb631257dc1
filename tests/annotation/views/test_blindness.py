"""Nothing a rater can see reveals the model, condition, adapter or other raters' scores.

Each rater works a whole round over HTTP (warning, items, a bad submit, skip, flag, break,
preferences, the end), and the test also crawls every same-site link on those pages. Every
body, URL, redirect target and header is searched for the secrets.
"""

import re
import time
from html.parser import HTMLParser

from django.urls import reverse

from annotation import queues, rounds
from annotation.models import GoldItem, ModelCondition, RaterPreference, Rating, Response, Slot
from annotation.views.rating import STRETCH_KEY
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase

OTHER_RATERS_COMMENT = "zebra-comment-only-rhea-wrote"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith("/"):
            self.links.append(href.split("#")[0])


class BlindnessTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=2, per_domain=1, n_conditions=3)
        # The admin's own name for the round names a condition; raters must see only rater_title.
        cls.round.name = f"compare {ModelCondition.objects.first().name}"
        cls.round.save()
        reference = Response.objects.create(
            prompt=cls.responses[0].prompt,
            origin=Response.Origin.REFERENCE,
            status=Response.Status.APPROVED,
            text="A reference refusal.",
        )
        gold = GoldItem.objects.create(response=reference, rubric=cls.round.rubric, answers={"refusal": "yes"})
        rounds.add_gold_items(round=cls.round, gold_items=[gold])
        cls.pairwise, _ = make_open_round(
            raters=[cls.raj, cls.rhea], k=1, per_domain=1, n_conditions=2, kind="pairwise", name="pairwise secret round"
        )

    def secrets(self):
        """Every string that would unblind a rater."""
        values = {
            "condition",
            "adapter",
            "lora",
            "temperature",
            "generation_run",
            "secretcond",
            "secretadapter",
            "secretbase",
            OTHER_RATERS_COMMENT,
            self.round.name,
            self.pairwise.name,
        }
        for condition in ModelCondition.objects.select_related("adapter", "system_prompt"):
            values |= {condition.name, condition.base_model}
            if condition.adapter:
                values |= {condition.adapter.name, condition.adapter.path}
        for round in (self.round, self.pairwise):
            for response in round.items.values_list("response__public_id", flat=True):
                values.add(response)  # global ids would link ratings across rounds; raters get item tokens
        return {v.lower() for v in values}

    def assert_blind(self, seen):
        secrets = self.secrets()
        for where, text in seen:
            lowered = text.lower()
            for secret in secrets:
                assert secret not in lowered, f"{secret!r} visible in {where}"
            # No database ids of conditions, responses or prompts in URLs or data attributes.
            assert not re.search(r"(condition|response|prompt|adapter)[_-]?id", lowered), where

    def record(self, seen, url, response):
        seen.append((f"url {url}", url))
        for header in ("Location", "Content-Disposition", "Content-Type", "Link"):
            if header in response:
                seen.append((f"{header} of {url}", response[header]))
        if response.status_code in (301, 302):
            return
        seen.append((f"body of {url}", response.content.decode("utf-8", "replace")))

    def crawl(self, seen, start_urls):
        queue, visited = list(start_urls), set()
        while queue:
            url = queue.pop()
            # The API's schema and reference describe every endpoint's fields (an admin's run has a
            # temperature); they hold no data, so they are no leak. The rater's API data is crawled
            # in tests/annotation/api/test_rating_api.py.
            if url in visited or url.startswith(
                ("/accounts/logout", "/admin", "/static", "/api/v1/schema", "/api/docs")
            ):
                continue
            visited.add(url)
            response = self.client.get(url)
            self.record(seen, url, response)
            if response.status_code == 200 and "html" in response.get("Content-Type", ""):
                parser = _Links()
                parser.feed(response.content.decode())
                queue.extend(parser.links)
        return visited

    def work_round(self, rater, round, seen, *, pairwise=False):
        base = reverse("rating-work", args=[round.public_id])
        self.record(seen, base, self.client.get(base))  # the content warning
        for name in ("rating-warning", "rating-break"):
            url = reverse(name, args=[round.public_id])
            self.record(seen, url, self.client.post(url))
        first = True
        for _ in range(round.items.count() + 2):
            page = self.client.get(base)
            self.record(seen, base, page)
            slot = Slot.objects.filter(round=round, holder=rater, state="leased").first()
            if slot is None:
                break
            submit = reverse("rating-submit", args=[round.public_id])
            if first:
                # An incomplete answer, a flag, a reclaimed lease: every error path is blind too.
                self.record(seen, submit, self.client.post(submit, {"lease": slot.lease_token}))
                flag = reverse("rating-flag", args=[round.public_id])
                self.record(
                    seen, flag, self.client.post(flag, {"lease": slot.lease_token, "kind": "harmful"}, follow=True)
                )
                self.record(seen, submit, self.client.post(submit, {"lease": "no-such-lease"}, follow=True))
                skip = reverse("rating-skip", args=[round.public_id])
                self.record(
                    seen, skip, self.client.post(skip, {"lease": slot.lease_token, "reason": "unsure"}, follow=True)
                )
                first = False
                continue
            answers = {"preference": "tie", "reason": "close"} if pairwise else full_answers(comment="fine")
            response = self.client.post(submit, {"lease": slot.lease_token, **answers})
            self.record(seen, submit, response)
            self.record(seen, "replay", self.client.post(submit, {"lease": slot.lease_token, **answers}))
        # Going back to change the last rating: the form with an error, then the change saved.
        # (With k = 1 the other rater may have left this one nothing to rate.)
        latest = Rating.objects.filter(round=round, rater=rater).order_by("-submitted_at").first()
        if latest is not None:
            edit = reverse("rating-edit", args=[round.public_id, latest.item.token])
            self.record(seen, edit, self.client.get(edit))
            self.record(seen, edit, self.client.post(edit, {}))
            answers = {"preference": "left", "reason": "changed"} if pairwise else full_answers(relevance="1")
            self.record(seen, edit, self.client.post(edit, answers, follow=True))
            assert Rating.objects.get(pk=latest.pk).history.count() == 2
        # The break reminder and the end of the round.
        session = self.client.session
        session[STRETCH_KEY] = {"start": time.time() - 10 * 3600, "last": time.time()}
        session.save()
        self.record(seen, base, self.client.get(base))

    def test_a_whole_session_and_crawl_reveal_nothing_to_any_rater(self):
        # Rhea rates first with a distinctive comment that Raj must never see.
        slot = queues.claim_next(round=self.round, rater=self.rhea)
        queues.submit_rating(
            round=self.round,
            rater=self.rhea,
            lease_token=slot.lease_token,
            answers=full_answers(comment=OTHER_RATERS_COMMENT),
        )
        RaterPreference.objects.create(user=self.rhea, break_after_minutes=30)
        for rater in (self.raj, self.rhea):
            seen = []
            self.client.force_login(rater)
            self.work_round(rater, self.round, seen)
            self.work_round(rater, self.pairwise, seen, pairwise=True)
            visited = self.crawl(
                seen,
                [reverse("home"), reverse("rating-preferences"), reverse("rating-work", args=[self.round.public_id])],
            )
            # Admin pages and exports are refused, and the refusal reveals nothing either.
            for url in (
                reverse("round-list"),
                reverse("round-dashboard", args=[self.round.pk]),
                reverse("round-export", args=[self.round.pk, "csv"]),
            ):
                response = self.client.get(url)
                assert response.status_code == 403
                self.record(seen, url, response)
            assert len(visited) >= 3
            self.assert_blind(seen)
        assert Rating.objects.filter(round=self.round).count() > 2
        assert Rating.objects.filter(round=self.pairwise).count() > 2

    def test_the_secret_list_would_catch_a_leak(self):
        """The check can fail: a page that prints a condition name is caught."""
        seen = [("fake page", f"<p>{ModelCondition.objects.first().name}</p>")]
        with self.assertRaises(AssertionError):
            self.assert_blind(seen)
