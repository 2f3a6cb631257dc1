"""Who is told what: the inbox rows and e-mails that the workflow functions send."""

from datetime import timedelta

from django.core import mail
from django.test import override_settings
from django.utils import timezone

from annotation import jobs, notifications, pairs, rounds, rubrics
from annotation.models import GenerationRun, Notification, NotificationPreference, SystemPrompt, TrainingRun
from tests.annotation.rating_fixtures import make_conditions, make_outputs, make_prompts
from tests.annotation.test_pairs import new_pair
from tests.personas import PersonaTestCase, make_user

Kind = Notification.Kind


def inbox(user):
    return list(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


class PairNoticeTests(PersonaTestCase):
    def test_a_submitted_pair_tells_every_reviewer_but_not_its_author(self):
        second = make_user("ravi", "reviewer")
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        assert inbox(self.rita) == [Kind.PAIR_SUBMITTED] and inbox(second) == [Kind.PAIR_SUBMITTED]
        assert inbox(self.alice) == [] and inbox(self.raj) == []
        notice = Notification.objects.get(recipient=self.rita)
        assert notice.url == f"/review/{pair.pk}/" and "alice" in notice.body

    def test_a_reviewer_who_also_authors_is_not_told_of_their_own_pair(self):
        both = make_user("bea", "author", "reviewer")
        pairs.submit(response=new_pair(both), user=both)
        assert inbox(both) == [] and inbox(self.rita) == [Kind.PAIR_SUBMITTED]

    def test_changes_requested_and_approval_tell_the_author_with_the_comment(self):
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        pairs.request_changes(response=pair, reviewer=self.rita, comment="Add the UK option.")
        changes = Notification.objects.get(recipient=self.alice)
        assert changes.kind == Kind.CHANGES_REQUESTED and "Add the UK option." in changes.body
        assert changes.url == f"/pairs/{pair.pk}/"
        pairs.submit(response=pair, user=self.alice)
        pairs.approve(response=pair, reviewer=self.rita)
        assert inbox(self.alice) == [Kind.PAIR_APPROVED, Kind.CHANGES_REQUESTED]
        # The approval says where the split policy put the pair, as the reviewer's page does (no splits are
        # built here, so it waits).
        approved = Notification.objects.get(recipient=self.alice, kind=Kind.PAIR_APPROVED)
        assert approved.body == "It waits without a split until an admin adds it to train on the Splits page."

    def test_a_refused_transition_tells_nobody(self):
        pair = new_pair(self.alice)
        try:
            pairs.approve(response=pair, reviewer=self.rita)  # still a draft
        except pairs.WorkflowError:
            pass
        assert Notification.objects.count() == 0


class EmailTests(PersonaTestCase):
    def test_only_the_kinds_a_person_ticked_are_emailed_and_only_after_commit(self):
        self.alice.email = "alice@example.org"
        self.alice.save()
        notifications.set_email_kinds(user=self.alice, kinds=[Kind.CHANGES_REQUESTED, Kind.RUN_FAILED])
        # An author cannot choose a run notice: it is not one their role gets.
        assert NotificationPreference.objects.get(user=self.alice).email_kinds == [Kind.CHANGES_REQUESTED]
        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        with self.captureOnCommitCallbacks(execute=True):
            pairs.request_changes(response=pair, reviewer=self.rita, comment="Shorter, please.")
            assert mail.outbox == []  # nothing leaves before the review is committed
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["alice@example.org"] and "asked for changes" in message.subject
        assert "Shorter, please." in message.body and f"/pairs/{pair.pk}/" in message.body
        assert Notification.objects.get(recipient=self.alice).emailed_at is not None
        pairs.submit(response=pair, user=self.alice)
        with self.captureOnCommitCallbacks(execute=True):
            pairs.approve(response=pair, reviewer=self.rita)
        assert len(mail.outbox) == 1  # approvals were not ticked: inbox only

    def test_no_address_means_inbox_only(self):
        notifications.set_email_kinds(user=self.rita, kinds=[Kind.PAIR_SUBMITTED])
        with self.captureOnCommitCallbacks(execute=True):
            pairs.submit(response=new_pair(self.alice), user=self.alice)
        assert mail.outbox == [] and inbox(self.rita) == [Kind.PAIR_SUBMITTED]

    @override_settings(EMAIL_BACKEND="tests.annotation.test_notifications.BrokenBackend")
    def test_a_failing_mail_server_never_undoes_the_action(self):
        self.rita.email = "rita@example.org"
        self.rita.save()
        notifications.set_email_kinds(user=self.rita, kinds=[Kind.PAIR_SUBMITTED])
        pair = new_pair(self.alice)
        with self.captureOnCommitCallbacks(execute=True):
            pairs.submit(response=pair, user=self.alice)
        pair.refresh_from_db()
        assert pair.status == "submitted"
        assert Notification.objects.get(recipient=self.rita).emailed_at is None


class BrokenBackend:
    """An e-mail backend whose server refuses every message (a real failure path, not a mock of Django)."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")


class RoundNoticeTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        conditions = make_conditions(1)
        cls.outputs = make_outputs(conditions, make_prompts(2))

    def new_round(self, **fields):
        round = rounds.create_round(
            name=fields.pop("name", "Round A"),
            rater_title="Week 3 ratings",
            rubric=rubrics.default_rubric(),
            k=1,
            raters=[self.raj],
            **fields,
        )
        rounds.add_responses(round=round, responses=self.outputs)
        return round

    def test_opening_a_round_tells_its_raters_by_the_rater_title_only(self):
        round = self.new_round(name="Secret condition comparison")
        rounds.open_round(round=round)
        notice = Notification.objects.get(recipient=self.raj)
        assert notice.kind == Kind.ROUND_OPENED and notice.url == f"/rate/{round.public_id}/"
        assert "Week 3 ratings" in notice.title and "Secret" not in notice.title + notice.body
        assert inbox(self.rhea) == []

    def test_members_of_the_rater_group_are_told_too(self):
        from django.contrib.auth.models import Group

        group = Group.objects.get(name="rater")
        round = self.new_round(rater_group=group)
        rounds.open_round(round=round)
        assert inbox(self.raj) == [Kind.ROUND_OPENED] and inbox(self.rhea) == [Kind.ROUND_OPENED]

    def test_reopening_a_closed_round_tells_its_raters_each_time_by_their_email_choice(self):
        from django.contrib.auth.models import Group

        for rater in (self.raj, self.rhea):
            rater.email = f"{rater.username}@example.org"
            rater.save()
        notifications.set_email_kinds(user=self.raj, kinds=[Kind.ROUND_OPENED])
        round = self.new_round(name="Secret condition comparison", rater_group=Group.objects.get(name="rater"))
        rounds.open_round(round=round)
        rounds.close_round(round=round)
        with self.captureOnCommitCallbacks(execute=True):
            rounds.reopen_round(round=round)
        for rater in (self.raj, self.rhea):
            notice = Notification.objects.filter(recipient=rater).latest("pk")
            assert notice.kind == Kind.ROUND_OPENED and notice.url == f"/rate/{round.public_id}/"
            assert "open again: Week 3 ratings" in notice.title and "Secret" not in notice.title + notice.body
        # Only raj ticked "round opened" for e-mail; rhea's notice stays in her inbox.
        assert [m.to for m in mail.outbox] == [["raj@example.org"]] and "open again" in mail.outbox[0].subject
        rounds.close_round(round=round)
        rounds.reopen_round(round=round)
        assert inbox(self.raj) == [Kind.ROUND_OPENED] * 3 and inbox(self.rhea) == [Kind.ROUND_OPENED] * 3

    def test_closing_soon_is_sent_once_per_deadline_and_again_when_it_moves(self):
        now = timezone.now()
        round = self.new_round(deadline=now + timedelta(hours=30))
        rounds.open_round(round=round)
        assert notifications.notify_rounds_closing_soon(now=now) == 0  # 30 h away: not yet
        assert notifications.notify_rounds_closing_soon(now=now + timedelta(hours=7)) == 1
        assert notifications.notify_rounds_closing_soon(now=now + timedelta(hours=8)) == 0
        round.deadline = now + timedelta(hours=40)
        round.save()
        assert notifications.notify_rounds_closing_soon(now=now + timedelta(hours=20)) == 1
        closing = Notification.objects.filter(recipient=self.raj, kind=Kind.ROUND_CLOSING)
        assert closing.count() == 2 and "closes on" in closing.first().body

    def test_closed_and_past_rounds_get_no_closing_notice(self):
        now = timezone.now()
        round = self.new_round(deadline=now + timedelta(hours=2))
        assert notifications.notify_rounds_closing_soon(now=now) == 0  # a draft
        rounds.open_round(round=round)
        rounds.close_round(round=round)
        assert notifications.notify_rounds_closing_soon(now=now) == 0
        assert notifications.notify_rounds_closing_soon(now=now + timedelta(hours=3)) == 0


class RunNoticeTests(PersonaTestCase):
    def test_a_finished_and_a_failed_run_tell_the_admin_who_started_them(self):
        generation = GenerationRun.objects.create(name="gen-1", created_by=self.ada)
        jobs.execute(GenerationRun, generation.pk, worker="w", body=lambda job, context: None)
        training = TrainingRun.objects.create(
            name="lora-1",
            base_model="m",
            system_prompt=SystemPrompt.objects.get(key="psychosafe", version=1),
            created_by=self.ada,
        )

        def broken(job, context):
            raise RuntimeError("out of memory")

        jobs.execute(TrainingRun, training.pk, worker="w", body=broken)
        finished, failed = (
            Notification.objects.get(kind=Kind.RUN_FINISHED),
            Notification.objects.get(kind=Kind.RUN_FAILED),
        )
        assert finished.recipient == self.ada and "gen-1" in finished.title
        assert failed.recipient == self.ada and "out of memory" in failed.body and "lora-1" in failed.title
        assert finished.url == "/runs/"

    def test_a_cancelled_run_or_one_nobody_started_tells_nobody(self):
        from annotation.jobs import JobCancelled

        def cancelled(job, context):
            raise JobCancelled

        run = GenerationRun.objects.create(name="gen-2", created_by=self.ada)
        jobs.execute(GenerationRun, run.pk, worker="w", body=cancelled)
        orphan = GenerationRun.objects.create(name="gen-3")
        jobs.execute(GenerationRun, orphan.pk, worker="w", body=lambda job, context: None)
        assert Notification.objects.count() == 0


class InboxTests(PersonaTestCase):
    def test_unread_count_and_mark_read_touch_only_ones_own_notices(self):
        notifications.notify(recipients=[self.alice, self.bob], kind=Kind.PAIR_APPROVED, title="t")
        notifications.notify(recipients=[self.alice], kind=Kind.PAIR_APPROVED, title="u")
        assert notifications.unread_count(self.alice) == 2
        mine = Notification.objects.filter(recipient=self.alice).first()
        bobs = Notification.objects.get(recipient=self.bob)
        assert notifications.mark_read(user=self.alice, notification_ids=[mine.pk, bobs.pk]) == 1
        assert notifications.unread_count(self.alice) == 1 and notifications.unread_count(self.bob) == 1
        assert notifications.mark_read(user=self.alice) == 1

    def test_a_key_makes_a_notice_idempotent(self):
        for _ in range(3):
            notifications.notify(recipients=[self.alice], kind=Kind.ROUND_CLOSING, title="t", key="round-1-x")
        assert Notification.objects.count() == 1
