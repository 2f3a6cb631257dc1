"""Round builder guard rails: k within the raters who can rate each domain, what each condition
brought in, deleting drafts, and rounds flagged when they cannot complete."""

from django.contrib.auth.models import Group
from django.urls import reverse

from annotation import coverage, rubrics
from annotation.models import RaterPreference, RiskDomain, Round
from tests.annotation.rating_fixtures import make_conditions, make_open_round, make_outputs, make_prompts
from tests.personas import PersonaTestCase


class BuilderGuardRailTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.conditions = make_conditions(3)
        # Only the first two conditions have responses; the third was chosen but never generated.
        cls.outputs = make_outputs(cls.conditions[:2], make_prompts(1))

    def setUp(self):
        self.client.force_login(self.ada)

    def form(self, **overrides):
        data = {
            "name": "Validation v1",
            "rater_title": "Validation round",
            "kind": "single",
            "rubric": rubrics.default_rubric().pk,
            "source": "split",
            "conditions": [c.pk for c in self.conditions],
            "prompt_split": "validation",
            "k": 2,
            "raters": [self.raj.pk, self.rhea.pk],
            "lease_minutes": 15,
        }
        data.update(overrides)
        return data

    def test_k_above_the_number_of_raters_is_refused_and_nothing_is_built(self):
        page = self.client.post(reverse("round-new"), self.form(k=3))
        assert page.status_code == 400
        errors = page.context["form"].errors["k"]
        assert any("k = 3, but only 2 raters can rate Suicide and self-harm" in e for e in errors)
        assert not Round.objects.exists()

    def test_opt_outs_count_against_k_per_domain(self):
        preference = RaterPreference.objects.create(user=self.rhea)
        preference.opted_out_domains.add(RiskDomain.objects.get(slug="violence"))
        page = self.client.post(reverse("round-new"), self.form(k=2))
        assert page.status_code == 400
        (error,) = page.context["form"].errors["k"]
        assert "only 1 rater can rate Violence (1 opted out of it)" in error

    def test_a_rater_group_counts_its_members(self):
        group = Group.objects.create(name="panel")
        for user in (self.raj, self.rhea, self.nora):
            user.groups.add(group)
        page = self.client.post(reverse("round-new"), self.form(k=3, raters=[], rater_group=group.pk))
        assert page.status_code == 302

    def test_the_builder_reports_each_condition_and_names_those_with_no_responses(self):
        page = self.client.post(reverse("round-new"), self.form(), follow=True)
        text = page.content.decode()
        missing = self.conditions[2].name
        counts = sorted((c.name, 0 if c.name == missing else 5) for c in self.conditions)
        assert f"Added responses from each condition: {', '.join(f'{n} {k}' for n, k in counts)}." in text
        assert f"Nothing new from {missing}: no (new) responses of this condition match." in text

    def test_a_draft_round_can_be_deleted_but_not_an_opened_one(self):
        self.client.post(reverse("round-new"), self.form())
        draft = Round.objects.get()
        page = self.client.post(reverse("round-delete", args=[draft.pk]), follow=True)
        assert "deleted" in page.content.decode()
        assert not Round.objects.exists()
        self.client.post(reverse("round-new"), self.form(open_now="on"))
        opened = Round.objects.get()
        page = self.client.post(reverse("round-delete", args=[opened.pk]), follow=True)
        assert "Only a draft round that was never opened can be deleted" in page.content.decode()
        assert Round.objects.filter(pk=opened.pk).exists()


class CannotCompleteTests(PersonaTestCase):
    def test_a_round_whose_raters_opted_out_is_flagged_on_the_dashboard_and_the_list(self):
        round, _ = make_open_round(raters=[self.raj, self.rhea], k=2, per_domain=1)
        assert coverage.round_shortfalls(round) == []
        RaterPreference.objects.create(user=self.raj).opted_out_domains.add(RiskDomain.objects.get(slug="weapons"))
        (shortfall,) = coverage.round_shortfalls(round)
        assert str(shortfall) == (
            "k = 2, but only 1 rater can rate Weapons (1 opted out of it): each response needs 2 different raters."
        )
        self.client.force_login(self.ada)
        dashboard = self.client.get(reverse("round-dashboard", args=[round.pk])).content.decode()
        assert "This round cannot complete with the raters it has." in dashboard
        assert "Cannot complete" in self.client.get(reverse("round-list")).content.decode()

    def test_a_closed_round_is_not_flagged(self):
        round, _ = make_open_round(raters=[self.raj], k=2, per_domain=1)
        assert coverage.round_shortfalls(round)
        round.state = Round.State.CLOSED
        assert coverage.round_shortfalls(round) == []
