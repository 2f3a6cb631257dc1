"""Every user, whatever their role, can change their own password from the user menu."""

from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse

from tests.personas import PASSWORD, PersonaTestCase

NEW_PASSWORD = "a-new-and-longer-passphrase-42"


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class PasswordChangeTests(PersonaTestCase):
    def _change(self, old, new):
        data = {"old_password": old, "new_password1": new, "new_password2": new}
        return self.client.post(reverse("password_change"), data)

    def test_every_user_finds_the_page_from_the_user_menu(self):
        for user in (self.alice, self.rita, self.raj, self.ada, self.nora):
            self.client.force_login(user)
            home = self.client.get(reverse("home")).content.decode()
            assert f'href="{reverse("password_change")}"' in home, user.username
            page = self.client.get(reverse("password_change"))
            assert page.status_code == 200
            assert 'name="old_password"' in page.content.decode()

    def test_a_rater_changes_their_password_and_stays_logged_in(self):
        self.client.force_login(self.raj)
        response = self._change(PASSWORD, NEW_PASSWORD)
        assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
        assert "Password changed" in self.client.get(response["Location"]).content.decode()
        assert self.client.get(reverse("home")).status_code == 200
        assert get_user_model().objects.get(pk=self.raj.pk).check_password(NEW_PASSWORD)

    def test_the_current_password_is_required(self):
        self.client.force_login(self.raj)
        response = self._change("not-my-password", NEW_PASSWORD)
        assert response.status_code == 200
        assert "Your old password was entered incorrectly" in response.content.decode()
        assert get_user_model().objects.get(pk=self.raj.pk).check_password(PASSWORD)

    def test_weak_new_passwords_are_refused(self):
        self.client.force_login(self.raj)
        response = self._change(PASSWORD, "password")
        assert response.status_code == 200
        assert "too common" in response.content.decode()

    def test_other_sessions_of_the_user_are_logged_out(self):
        other = self.client_class()
        other.force_login(self.raj)
        self.client.force_login(self.raj)
        self._change(PASSWORD, NEW_PASSWORD)
        response = other.get(reverse("home"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    def test_anonymous_visitors_are_sent_to_login(self):
        response = self.client.get(reverse("password_change"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
