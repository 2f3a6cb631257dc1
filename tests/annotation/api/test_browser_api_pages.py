"""In a real browser: the API token page (create, shown once, revoke) and the API reference page, which
renders the Studio's own schema with the vendored Swagger UI under the Content-Security-Policy."""

import pytest

from annotation import roles
from annotation.models import ApiToken
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_user_creates_a_token_sees_it_once_and_revokes_it(page, login):
    roles.ensure_role_groups()
    make_user("tina", roles.AUTHOR)
    login("tina", PASSWORD)
    page.get_by_role("link", name="API tokens").click()
    page.fill("#id_name", "notebook")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("pss_")
    page.reload()  # a GET: the secret is gone
    assert page.locator("#new-token").count() == 0
    page.get_by_role("button", name="Revoke").click()
    assert "revoked" in page.locator("table").inner_text()
    assert ApiToken.objects.get().revoked_at is not None


def test_the_reference_page_renders_the_schema_under_the_policy(page, login, live_server):
    remote = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(live_server.url) else None)
    roles.ensure_role_groups()
    make_user("adam", roles.ADMIN, is_staff=True)
    login("adam", PASSWORD)
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/pairs/" in paths
    assert "/api/v1/rating/{round_token}/next/" in paths
    assert remote == []
