"""In a real browser, each demo role logs in and reaches its landing page; no page loads anything remote."""

import pytest
from django.core.management import call_command

from annotation import seeding

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LANDING = {"author": "My pairs", "reviewer": "Review queue", "rater": "My rating queues", "admin": "Rounds and runs"}


def test_each_demo_role_logs_in_and_reaches_its_landing_page(page, login, live_server):
    call_command("seed_demo", verbosity=0)
    remote = []
    page.on(
        "request", lambda request: remote.append(request.url) if not request.url.startswith(live_server.url) else None
    )
    users = {row["role"]: row for row in seeding.read_seed("demo_users.json")}
    for role, heading in LANDING.items():
        login(users[role]["username"], users[role]["password"])
        assert page.get_by_role("heading", name=heading).is_visible(), role
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/accounts/login/")
    assert remote == []


def test_wrong_password_shows_an_error_and_stays_on_login(page):
    page.goto("/accounts/login/")
    page.fill("#id_username", "nobody")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")


def test_repeated_wrong_passwords_lock_the_login_with_a_message_saying_how_long(page):
    for _ in range(5):
        page.goto("/accounts/login/")
        page.fill("#id_username", "nobody")
        page.fill("#id_password", "wrong")
        page.click("button[type=submit]")
    alert = page.get_by_role("alert").inner_text()
    assert alert.startswith("Too many failed log-ins")
    assert "paused for 15 minutes" in alert and "ask a studio admin" in alert
