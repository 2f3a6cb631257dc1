"""Every page requires login, and every view checks the role before anything else."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotation import roles
from tests.personas import PersonaTestCase

# Views any logged-in user may open (they show only what the user's roles allow).
OPEN_TO_ANY_ROLE = {
    "home",
    "password_change",
    "password_change_done",
    # Everyone has an inbox; each person sees only their own notices.
    "inbox",
    "inbox-unread",
    "inbox-read",
    "inbox-open",
    "notification-settings",
    # Everyone may hold API tokens and read the API reference.
    "api-tokens",
    "api-token-revoke",
    "api-docs",
}
PUBLIC = {"healthz", "login", "logout", "favicon"}


def _patterns(resolver=None, namespace=None):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            yield from _patterns(entry, entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), entry


def _dummy_url(name, pattern):
    kwargs = {
        key: ("1" if converter.__class__.__name__ == "IntConverter" else "x")
        for key, converter in pattern.pattern.converters.items()
    }
    return reverse(name, kwargs=kwargs)


# The JSON API answers 401/403/404 itself rather than redirecting: tests/annotation/api/test_access_matrix.py.
STUDIO_PAGES = [(name, pattern) for name, pattern in _patterns() if name not in PUBLIC and not name.startswith("api:")]


@pytest.mark.parametrize("name, pattern", STUDIO_PAGES, ids=[n for n, _ in STUDIO_PAGES])
def test_every_studio_view_declares_its_roles(name, pattern):
    callback = pattern.callback
    declared = getattr(callback, "studio_roles", None) or getattr(
        getattr(callback, "view_class", None), "studio_roles", None
    )
    assert declared or name in OPEN_TO_ANY_ROLE, f"{name} must use @role_required(...)"


class AccessTests(PersonaTestCase):
    def test_anonymous_users_are_sent_to_login_from_every_page(self):
        for name, pattern in STUDIO_PAGES:
            url = _dummy_url(name, pattern)
            response = self.client.get(url)
            assert response.status_code == 302, name
            assert response["Location"].startswith(reverse("login")), name

    def test_users_without_the_role_get_403_on_every_role_page(self):
        personas = [self.alice, self.rita, self.raj, self.ada, self.nora]
        checked = 0
        for name, pattern in STUDIO_PAGES:
            wanted = set(getattr(pattern.callback, "studio_roles", ()))
            if not wanted:
                continue
            url = _dummy_url(name, pattern)
            for user in personas:
                if roles.user_roles(user) & wanted:
                    continue
                self.client.force_login(user)
                assert self.client.get(url).status_code == 403, (name, user.username)
                checked += 1
        # Nora (no role) is refused everywhere a role is required.
        assert checked >= sum(1 for _, p in STUDIO_PAGES if getattr(p.callback, "studio_roles", ()))

    def test_each_role_reaches_its_landing_section(self):
        expectations = {
            self.alice: "author-home",
            self.rita: "reviewer-home",
            self.raj: "rater-home",
            self.ada: "admin-home",
        }
        for user, section in expectations.items():
            self.client.force_login(user)
            page = self.client.get(reverse("home"))
            assert page.status_code == 200
            assert f'id="{section}"'.encode() in page.content
            others = set(expectations.values()) - {section}
            if user is not self.ada:
                assert not any(f'id="{o}"'.encode() in page.content for o in others - {"admin-home"})

    def test_a_user_without_a_role_is_told_what_to_do(self):
        self.client.force_login(self.nora)
        page = self.client.get(reverse("home"))
        assert b"You don't have a role yet" in page.content

    def test_admin_site_is_for_staff_only(self):
        self.client.force_login(self.alice)
        assert self.client.get("/admin/").status_code == 302
        self.client.force_login(self.ada)
        assert self.client.get("/admin/").status_code == 200
