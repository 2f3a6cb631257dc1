"""The inbox pages: the badge's count, opening and marking notices read, and e-mail settings."""

from django.urls import reverse

from annotation import notifications
from annotation.models import Notification, NotificationPreference
from tests.personas import PersonaTestCase

Kind = Notification.Kind


class InboxPageTests(PersonaTestCase):
    def setUp(self):
        self.client.force_login(self.alice)

    def test_the_badge_count_is_the_users_unread_notices(self):
        notifications.notify(recipients=[self.alice], kind=Kind.PAIR_APPROVED, title="Approved", url="/pairs/1/")
        notifications.notify(recipients=[self.bob], kind=Kind.PAIR_APPROVED, title="Not yours")
        assert self.client.get(reverse("inbox-unread")).json() == {"unread": 1}
        page = self.client.get(reverse("home"))
        assert b'id="inbox-badge"' in page.content and b"js/studio.js" in page.content

    def test_the_inbox_lists_only_ones_own_notices_escaped(self):
        notifications.notify(recipients=[self.alice], kind=Kind.PAIR_APPROVED, title="<b>Approved</b>", body="ok")
        notifications.notify(recipients=[self.bob], kind=Kind.PAIR_APPROVED, title="Bob's")
        page = self.client.get(reverse("inbox")).content.decode()
        assert "&lt;b&gt;Approved&lt;/b&gt;" in page and "Bob&#x27;s" not in page and "1 unread" in page

    def test_opening_a_notice_marks_it_read_and_goes_where_it_points(self):
        (notice,) = notifications.notify(recipients=[self.alice], kind=Kind.PAIR_APPROVED, title="t", url="/corpus/")
        assert self.client.get(reverse("inbox-open", args=[notice.pk])).status_code == 405  # reading needs a POST
        response = self.client.post(reverse("inbox-open", args=[notice.pk]))
        assert response.status_code == 302 and response["Location"] == "/corpus/"
        notice.refresh_from_db()
        assert notice.read_at is not None

    def test_a_notice_never_redirects_off_site_and_others_notices_are_404(self):
        (notice,) = notifications.notify(
            recipients=[self.alice], kind=Kind.PAIR_APPROVED, title="t", url="//evil.example/"
        )
        assert self.client.post(reverse("inbox-open", args=[notice.pk]))["Location"] == reverse("inbox")
        (bobs,) = notifications.notify(recipients=[self.bob], kind=Kind.PAIR_APPROVED, title="t")
        assert self.client.post(reverse("inbox-open", args=[bobs.pk])).status_code == 404

    def test_mark_one_and_mark_all_read(self):
        first, second = (
            notifications.notify(recipients=[self.alice], kind=Kind.PAIR_APPROVED, title=t)[0] for t in "ab"
        )
        self.client.post(reverse("inbox-read"), {"notification": first.pk})
        assert notifications.unread_count(self.alice) == 1
        self.client.post(reverse("inbox-read"))
        assert notifications.unread_count(self.alice) == 0
        assert self.client.get(reverse("inbox-read")).status_code == 405

    def test_settings_offer_the_roles_kinds_and_save_address_and_choices(self):
        page = self.client.get(reverse("notification-settings")).content.decode()
        assert "A reviewer asked for changes to my pair" in page and "A run I started failed" not in page
        response = self.client.post(
            reverse("notification-settings"), {"email": "alice@example.org", "email_kinds": [Kind.PAIR_APPROVED]}
        )
        assert response.status_code == 302
        self.alice.refresh_from_db()
        assert self.alice.email == "alice@example.org"
        assert NotificationPreference.objects.get(user=self.alice).email_kinds == [Kind.PAIR_APPROVED]

    def test_choosing_e_mail_without_an_address_is_refused_on_the_page(self):
        page = self.client.post(reverse("notification-settings"), {"email": "", "email_kinds": [Kind.PAIR_APPROVED]})
        assert page.status_code == 200 and "Give an e-mail address" in page.content.decode()
        assert not NotificationPreference.objects.exists()


class SmallThingsTests(PersonaTestCase):
    def test_favicon_is_served_to_anyone(self):
        response = self.client.get("/favicon.ico")
        assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
        assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO header

    def test_the_authors_status_chips_read_as_human_labels(self):
        from annotation import pairs
        from tests.annotation.test_pairs import new_pair

        pair = new_pair(self.alice)
        pairs.submit(response=pair, user=self.alice)
        pairs.request_changes(response=pair, reviewer=self.rita, comment="More, please.")
        self.client.force_login(self.alice)
        page = self.client.get(reverse("home")).content.decode()
        assert "Changes requested: 1" in page and "changesrequested" not in page


class SkipMessageTests(PersonaTestCase):
    def test_the_skip_message_reads_as_a_sentence(self):
        from annotation.models import Slot
        from tests.annotation.rating_fixtures import make_open_round

        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=1)
        self.client.force_login(self.raj)
        self.client.post(reverse("rating-warning", args=[round.public_id]))
        self.client.get(reverse("rating-work", args=[round.public_id]))
        slot = Slot.objects.get(round=round, holder=self.raj, state="leased")
        page = self.client.post(
            reverse("rating-skip", args=[round.public_id]), {"lease": slot.lease_token, "reason": "unsure"}, follow=True
        )
        assert "Skipped: I can&#x27;t judge this one." in page.content.decode()
