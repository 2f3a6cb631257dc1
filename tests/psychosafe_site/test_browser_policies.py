"""In a real browser, the pages no other browser test walks through break neither policy: the admin
site with its own scripts and widgets, the results pages with their plots, the report, and a plot
opened on its own. The `page` fixture fails the test on any violation the browser reports."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from annotation import roles
from annotation.models import Prompt
from tests.annotation.tidy_fixtures import build_tidy_round
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _admin_pages(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield reverse(f"{prefix}_changelist")
        if model_admin.has_add_permission(request):
            yield reverse(f"{prefix}_add")


def test_admin_results_and_report_pages_break_no_policy(page, login):
    omni = make_user("omni", *roles.ROLES, is_staff=True, is_superuser=True)
    rated = build_tidy_round(raters=[make_user("raj", roles.RATER), make_user("rhea", roles.RATER)]).round
    prompt = Prompt.objects.order_by("pk").first()
    login("omni", PASSWORD)

    for url in (reverse("round-results", args=[rated.pk]), reverse("results-overview")):
        assert page.goto(url).ok, url
        plots = page.locator("img")
        assert plots.count() > 0, url
        for index in range(plots.count()):
            assert plots.nth(index).evaluate("img => img.complete && img.naturalWidth > 0"), url
    for url in (
        reverse("round-dashboard", args=[rated.pk]),
        reverse("round-report", args=[rated.pk]),
        reverse("round-results-plot", args=[rated.pk, "bars"]),
        reverse("admin:index"),
        reverse("admin:annotation_prompt_change", args=[prompt.pk]),
        reverse("admin:annotation_prompt_history", args=[prompt.pk]),
        *_admin_pages(omni),
    ):
        assert page.goto(url).ok, url
    page.goto(reverse("admin:annotation_prompt_changelist"))
    page.locator("#action-toggle").check()  # actions.js: select all, then the counter updates
    assert "selected" in page.locator(".action-counter").inner_text()
