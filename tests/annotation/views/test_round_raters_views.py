"""The dashboard's raters form: add raters and set the rater group on a draft or open round, change k
on a draft (its slots made again), refused on a closed round and to anyone but an admin."""

from django.contrib.auth.models import Group
from django.core import mail
from django.db.models import Count
from django.urls import reverse

from annotation import coverage, roles, rounds
from annotation.models import GoldItem, Notification, NotificationPreference, Round, RoundItem, Slot
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase, make_user


class RoundRatersTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.rosa = make_user("rosa", roles.RATER, email="rosa@example.org")
        cls.ravi = make_user("ravi", roles.RATER, email="ravi@example.org")
        NotificationPreference.objects.create(user=cls.rosa, email_kinds=[Notification.Kind.ROUND_OPENED])
        NotificationPreference.objects.create(user=cls.ravi, email_kinds=[])
        cls.team = Group.objects.create(name="Night shift")

    def setUp(self):
        self.client.force_login(self.ada)

    def post(self, round, **data):
        data.setdefault("rater_group", round.rater_group_id or "")
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(reverse("round-raters", args=[round.pk]), data, follow=True)

    def test_dashboard_lists_raters_with_pseudonyms_and_offers_only_raters_not_yet_in(self):
        round, _ = make_open_round(raters=[self.raj], open_it=False)
        page = self.client.get(reverse("round-dashboard", args=[round.pk]))
        form = page.context["raters_form"]
        assert set(form.fields["raters"].queryset) == {self.rhea, self.rosa, self.ravi}
        assert b"R01" in page.content and b"raj" in page.content
        assert b'id="round-raters"' in page.content and b'name="k"' in page.content

    def test_raters_added_to_a_draft_get_pseudonyms_and_no_notice(self):
        round, _ = make_open_round(raters=[self.raj], open_it=False)
        page = self.post(round, raters=[self.rhea.pk, self.rosa.pk], k=round.k)
        assert "Added 2 raters (rhea, rosa)." in page.content.decode()
        pseudonyms = dict(round.memberships.values_list("rater__username", "pseudonym"))
        assert pseudonyms == {"raj": "R01", "rhea": "R02", "rosa": "R03"}
        assert not Notification.objects.exists() and mail.outbox == []
        assert round.memberships.get(rater=self.rosa).history.count() == 1  # audited like any membership

    def test_raters_added_to_an_open_round_alone_are_told_it_is_open(self):
        round, _ = make_open_round(raters=[self.raj])
        told_at_opening = Notification.objects.filter(kind=Notification.Kind.ROUND_OPENED).count()
        page = self.post(round, raters=[self.rosa.pk, self.ravi.pk])
        assert "told the round is open" in page.content.decode()
        told = Notification.objects.filter(kind=Notification.Kind.ROUND_OPENED)
        assert told.count() == told_at_opening + 2
        assert set(told.filter(recipient__in=[self.rosa, self.ravi]).values_list("recipient__username", flat=True)) == {
            "rosa",
            "ravi",
        }
        assert told.filter(recipient=self.raj).count() == 1
        # E-mail only for whoever chose it: rosa did, ravi did not.
        assert [message.to for message in mail.outbox] == [["rosa@example.org"]]
        assert "k" not in page.context["raters_form"].fields  # an open round keeps its k

    def test_a_new_rater_group_on_an_open_round_tells_its_members(self):
        round, _ = make_open_round(raters=[self.raj])
        self.rosa.groups.add(self.team)
        page = self.post(round, rater_group=self.team.pk)
        assert "Rater group now Night shift." in page.content.decode()
        round.refresh_from_db()
        assert round.rater_group == self.team
        assert Notification.objects.filter(recipient=self.rosa, kind=Notification.Kind.ROUND_OPENED).exists()
        assert round.history.first().rater_group_id == self.team.pk  # audited
        self.post(round, rater_group="")
        round.refresh_from_db()
        assert round.rater_group is None

    def test_the_missing_rater_clears_the_shortfall_and_the_round_opens(self):
        round, _ = make_open_round(raters=[self.raj], k=2, open_it=False)
        assert coverage.round_shortfalls(round)
        self.post(round, raters=[self.rhea.pk], k=2)
        assert coverage.round_shortfalls(round) == []
        rounds.open_round(round=round)

    def test_k_on_a_draft_remakes_its_slots(self):
        round, _ = make_open_round(raters=[self.raj, self.rhea, self.rosa], k=2, open_it=False)
        gold = RoundItem.objects.filter(round=round).first()
        GoldItem.objects.create(response=gold.response, rubric=round.rubric, answers=full_answers())
        gold.gold = GoldItem.objects.get()
        gold.save()
        page = self.post(round, k=3)
        assert "Ratings per response now k = 3 (the slots were made again)." in page.content.decode()
        round.refresh_from_db()
        assert round.k == 3 and round.history.first().k == 3
        per_item = dict(Slot.objects.filter(round=round).values_list("item_id").annotate(n=Count("id")))
        study = round.items.filter(gold__isnull=True)
        assert {per_item[item.pk] for item in study} == {3}
        assert sorted(study.first().slots.values_list("number", "level")) == [(0, 0), (1, 1), (2, 2)]
        assert per_item[gold.pk] == 3 and set(gold.slots.values_list("level", flat=True)) == {0}
        assert set(round.items.values_list("capacity", flat=True)) == {3}

    def test_k_above_the_raters_is_refused_next_to_the_field(self):
        round, _ = make_open_round(raters=[self.raj, self.rhea], k=2, open_it=False)
        page = self.post(round, k=3)
        assert page.status_code == 400
        assert page.context["raters_form"].errors["k"][0].startswith("This round could never complete. k = 3")
        round.refresh_from_db()
        assert round.k == 2 and Slot.objects.filter(round=round).count() == 2 * round.items.count()
        # With a third rater in the same form, k = 3 is fine.
        self.post(round, raters=[self.rosa.pk], k=3)
        round.refresh_from_db()
        assert round.k == 3

    def test_k_of_an_open_round_cannot_change(self):
        round, _ = make_open_round(raters=[self.raj, self.rhea, self.rosa], k=2)
        self.post(round, k=3)
        round.refresh_from_db()
        assert round.k == 2
        with self.assertRaisesMessage(rounds.RoundError, "only while the round is a draft"):
            rounds.change_raters(round=round, k=3)

    def test_a_closed_round_refuses_raters(self):
        round, _ = make_open_round(raters=[self.raj])
        rounds.close_round(round=round)
        page = self.post(round, raters=[self.rosa.pk])
        assert "reopen it before changing its raters" in page.content.decode()
        assert not round.memberships.filter(rater=self.rosa).exists()
        assert "raters_form" not in page.context or page.context["raters_form"] is None

    def test_only_admins_change_raters(self):
        round, _ = make_open_round(raters=[self.raj], open_it=False)
        for user in (self.raj, self.rita, self.nora):
            self.client.force_login(user)
            answer = self.client.post(reverse("round-raters", args=[round.pk]), {"raters": [user.pk]})
            assert answer.status_code == 403
        assert round.memberships.count() == 1
        assert Round.objects.get().state == Round.State.DRAFT
