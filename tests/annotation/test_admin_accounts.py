"""In the user admin, an admin who is not a superuser can grant only what they hold."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from annotation import roles
from tests.personas import PASSWORD, PersonaTestCase, make_user

User = get_user_model()


def _permission(label):
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


class UserAdminTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.root = make_user("root", is_staff=True, is_superuser=True)
        # A permission no studio role holds.
        cls.outside = _permission("sessions.delete_session")
        cls.insiders = Group.objects.create(name="insiders")
        cls.insiders.permissions.add(cls.outside)

    def _form_data(self, user, **changes):
        """The user's change form as the admin page would post it back, with `changes` applied."""
        data = {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "is_active": "on",
            "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
            "user_permissions": [str(pk) for pk in user.user_permissions.values_list("pk", flat=True)],
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "_save": "Save",
        }
        if user.is_staff:
            data["is_staff"] = "on"
        data.update(changes)
        return data

    def _post(self, user, **changes):
        return self.client.post(reverse("admin:auth_user_change", args=[user.pk]), self._form_data(user, **changes))

    def _refreshed(self, user):
        return User.objects.get(pk=user.pk)

    def test_an_admin_cannot_make_anyone_a_superuser(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("admin:auth_user_change", args=[self.raj.pk])).content.decode()
        assert 'name="is_superuser"' not in page
        for user in (self.raj, self.ada):
            response = self._post(user, is_superuser="on")
            assert response.status_code == 302, response.content.decode()[:2000]
            assert not self._refreshed(user).is_superuser

    def test_an_admin_cannot_grant_a_permission_they_lack(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("admin:auth_user_change", args=[self.raj.pk]))
        offered = page.context["adminform"].form.fields["user_permissions"].queryset
        assert self.outside not in offered
        response = self._post(self.raj, user_permissions=[str(self.outside.pk)])
        assert response.status_code == 200  # the form is shown again with an error
        assert not self._refreshed(self.raj).has_perm("sessions.delete_session")

    def test_an_admin_grants_permissions_and_groups_they_hold(self):
        self.client.force_login(self.ada)
        view_prompt = _permission("annotation.view_prompt")
        author = Group.objects.get(name=roles.AUTHOR)
        response = self._post(self.nora, user_permissions=[str(view_prompt.pk)], groups=[str(author.pk)])
        assert response.status_code == 302
        nora = self._refreshed(self.nora)
        assert nora.has_perm("annotation.view_prompt") and roles.AUTHOR in roles.user_roles(nora)

    def test_an_admin_cannot_add_anyone_to_a_group_holding_more_than_they_do(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("admin:auth_user_change", args=[self.raj.pk]))
        assert self.insiders not in page.context["adminform"].form.fields["groups"].queryset
        response = self._post(self.raj, groups=[str(self.insiders.pk)])
        assert response.status_code == 200
        assert not self._refreshed(self.raj).groups.filter(pk=self.insiders.pk).exists()

    def test_an_admin_cannot_change_repassword_or_delete_a_superuser(self):
        self.client.force_login(self.ada)
        assert self._post(self.root, is_active="").status_code == 403
        password_url = reverse("admin:auth_user_password_change", args=[self.root.pk])
        response = self.client.post(password_url, {"password1": "Taken-over-9876", "password2": "Taken-over-9876"})
        assert response.status_code == 403
        delete_url = reverse("admin:auth_user_delete", args=[self.root.pk])
        assert self.client.post(delete_url, {"post": "yes"}).status_code == 403
        response = self.client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "delete_selected", "_selected_action": [str(self.root.pk)], "post": "yes"},
        )
        assert response.status_code == 403
        root = self._refreshed(self.root)
        assert root.is_active and root.check_password(PASSWORD)

    def test_an_admin_cannot_take_over_a_user_who_holds_more(self):
        insider = make_user("insider")
        insider.groups.add(self.insiders)
        self.client.force_login(self.ada)
        assert self._post(insider, first_name="Mallory").status_code == 403

    def test_an_admin_still_manages_ordinary_users(self):
        self.client.force_login(self.ada)
        assert self._post(self.raj, first_name="Raj").status_code == 302
        assert self._refreshed(self.raj).first_name == "Raj"

    def test_a_superuser_can_make_superusers(self):
        self.client.force_login(self.root)
        page = self.client.get(reverse("admin:auth_user_change", args=[self.raj.pk])).content.decode()
        assert 'name="is_superuser"' in page
        assert self._post(self.raj, is_superuser="on").status_code == 302
        assert self._refreshed(self.raj).is_superuser


class GroupAdminTests(PersonaTestCase):
    def test_an_admin_cannot_give_a_group_a_permission_they_lack(self):
        self.client.force_login(self.ada)
        group = Group.objects.get(name=roles.RATER)
        outside = _permission("sessions.delete_session")
        url = reverse("admin:auth_group_change", args=[group.pk])
        assert outside not in self.client.get(url).context["adminform"].form.fields["permissions"].queryset
        response = self.client.post(url, {"name": group.name, "permissions": [str(outside.pk)], "_save": "Save"})
        assert response.status_code == 200
        assert not group.permissions.filter(pk=outside.pk).exists()
