"""Every response carries an enforced, nonce-based Content-Security-Policy and a Permissions-Policy,
and no HTML page relies on what that policy refuses (inline styles, handlers, un-nonced scripts)."""

import os
import re
import subprocess
import sys
from html.parser import HTMLParser

from csp.utils import build_policy
from django.contrib import admin
from django.urls import reverse

from annotation import benchmarks, pipelines, queues, roles, rubrics
from annotation.models import ImportJob, Judge, JudgeRun, Prompt, Response, RiskDomain, SystemPrompt
from psychosafe_site.security_headers import SVG_POLICY
from tests.annotation.rating_fixtures import full_answers, make_conditions, make_open_round
from tests.annotation.tidy_fixtures import build_tidy_round
from tests.annotation.views.test_access import _dummy_url, _patterns
from tests.personas import PersonaTestCase, make_user

NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")
DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",  # and the nonce, on HTML pages
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
QUERIES = {"corpus-export": "?format=csv"}  # what a page's form would send
TURNED_OFF = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()")


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in header.split(";") if part.strip())


class InlineCodeFinder(HTMLParser):
    """Lists what a strict policy refuses: style attributes, on* handlers, javascript: URLs,
    and <script>/<style> elements that neither load a file nor carry the page's nonce."""

    def __init__(self, nonce: str | None):
        super().__init__()
        self.nonce = nonce
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")
        data_block = attributes.get("type", "").endswith("json")  # json_script: never executed
        if tag == "script" and "src" not in attributes and not data_block or tag == "style":
            if not self.nonce or attributes.get("nonce") != self.nonce:
                self.problems.append(f"<{tag}> without the page's nonce")

    handle_startendtag = handle_starttag


def inline_code(html: str, nonce: str | None) -> list[str]:
    finder = InlineCodeFinder(nonce)
    finder.feed(html)
    return finder.problems


class SecurityHeaderTests(PersonaTestCase):
    """Omni holds every role and the admin site, so every page renders rather than refusing."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.omni = make_user("omni", *roles.ROLES, is_staff=True, is_superuser=True)
        domain = RiskDomain.objects.get(slug="violence")
        psychosafe = SystemPrompt.objects.get(key="psychosafe", version=1)
        cls.pairs = {}
        for owner, split, status in ((cls.omni, "train", "approved"), (cls.alice, "validation", "submitted")):
            prompt = Prompt.objects.create(text=f"A prompt by {owner}", domain=domain, split=split, created_by=owner)
            cls.pairs[owner] = Response.objects.create(
                prompt=prompt, text="An answer.", origin="reference", status=status, created_by=owner
            )
        tidy = build_tidy_round(raters=[cls.raj, cls.rhea])
        cls.rated = tidy.round
        cls.rating, _ = make_open_round(raters=[cls.omni], name="Omni's round")
        slot = queues.claim_next(round=cls.rating, rater=cls.omni)  # a rating to go back to and change
        queues.submit_rating(round=cls.rating, rater=cls.omni, lease_token=slot.lease_token, answers=full_answers())
        cls.rated_item = slot.item
        cls.rubric = rubrics.default_rubric()
        cls.draft_rubric = rubrics.new_version(rubric=cls.rubric)  # no ratings yet: still editable
        cls.judge = Judge.objects.create(name="fresh", kind=Judge.Kind.DETERMINISTIC, rubric=cls.rubric)
        cls.judge_run = JudgeRun.objects.create(
            name="run", judge=tidy.qwen, scope="conditions", prompt_split="validation", created_by=cls.omni
        )
        cls.condition = make_conditions(1)[0]
        Prompt.objects.create(
            text="How do I kill a Python process?",
            domain=domain,
            source=Prompt.Source.BENCHMARK,
            source_name="XSTest",
            should_refuse=False,
            metadata={"type": "homonyms", "label": "safe"},
        )
        cls.benchmark_run = benchmarks.start_benchmark_run(
            name="bench", benchmark="XSTest", conditions=[cls.condition], created_by=cls.omni
        )
        cls.import_job = ImportJob.objects.create(
            format="psychosafe", filename="pairs.jsonl", data=b"", created_by=cls.omni
        )
        cls.pipeline = pipelines.start_pipeline(
            name="cycle", system_prompt=psychosafe, rubric=cls.rubric, base_model="base", created_by=cls.omni
        )

    def setUp(self):
        self.client.force_login(self.omni)
        # A live worker on every queue, so that /healthz answers 200 like every other page.
        from django.conf import settings
        from django.utils import timezone

        from annotation.models import WorkerHeartbeat

        WorkerHeartbeat.objects.create(
            hostname="worker@test", queues=[settings.DEFAULT_QUEUE, settings.GPU_QUEUE], last_seen=timezone.now()
        )

    def url_kwargs(self) -> dict[str, dict]:
        """Real objects for the pages that take arguments, so that they render in full."""
        rated, mine, theirs = self.rated.pk, self.pairs[self.omni].pk, self.pairs[self.alice].pk
        return (
            {
                "pair-detail": {"pk": mine},
                "pair-edit": {"pk": mine},
                "pair-submit": {"pk": mine},
                "review-pair": {"pk": theirs},
                "import-job": {"pk": self.import_job.pk},
                "round-dashboard": {"round_id": rated},
                "round-state": {"round_id": rated},
                "round-add": {"round_id": self.rating.pk},
                "round-export": {"round_id": rated, "fmt": "csv"},
                "round-tidy": {"round_id": rated, "fmt": "csv"},
                "round-results": {"round_id": rated},
                "round-results-plot": {"round_id": rated, "plot": "bars"},
                "round-report": {"round_id": rated},
                "rubric-detail": {"rubric_id": self.rubric.pk},
                "rubric-edit": {"rubric_id": self.draft_rubric.pk},
                "rubric-new-version": {"rubric_id": self.rubric.pk},
                "judge-edit": {"pk": self.judge.pk},
                "judge-new-version": {"pk": self.judge.pk},
                "judge-run-detail": {"pk": self.judge_run.pk},
                "pipeline-detail": {"pk": self.pipeline.pk},
                "pipeline-status": {"pk": self.pipeline.pk},
                "pipeline-loss": {"pk": self.pipeline.pk},
                "training-loss": {"pk": self.pipeline.training_run_id},
                "pipeline-cancel": {"pk": self.pipeline.pk},
                "pipeline-resume": {"pk": self.pipeline.pk},
                "condition-detail": {"pk": self.condition.pk},
                "benchmark-detail": {"pk": self.benchmark_run.pk},
                "benchmark-audit": {"pk": self.benchmark_run.pk},
                "benchmark-report": {"pk": self.benchmark_run.pk},
                "job-status": {"kind": "import", "pk": self.import_job.pk},
                "job-cancel": {"kind": "import", "pk": self.import_job.pk},
                "job-retry": {"kind": "import", "pk": self.import_job.pk},
            }
            | {
                name: {"round_token": self.rating.public_id}
                for name in (
                    "rating-work",
                    "rating-warning",
                    "rating-break",
                    "rating-submit",
                    "rating-skip",
                    "rating-flag",
                    "rating-recent",
                    "rating-back",
                )
            }
            | {"rating-edit": {"round_token": self.rating.public_id, "item_token": self.rated_item.token}}
        )

    def every_route(self):
        kwargs = self.url_kwargs()
        for name, pattern in _patterns():  # a GET never ends the session: logout answers it with 405
            if name.startswith("api:"):
                continue  # JSON, not pages: tests/annotation/api/test_workflows.py checks their headers
            url = reverse(name, kwargs=kwargs[name]) if name in kwargs else _dummy_url(name, pattern)
            yield name, url + QUERIES.get(name, "")

    def assert_headers(self, response, where):
        assert "Permissions-Policy" in response, where
        for feature in TURNED_OFF:
            assert feature in response["Permissions-Policy"], where
        header = response["Content-Security-Policy"]
        assert "unsafe-inline" not in header and "unsafe-eval" not in header, where
        directives = policy(response)
        for directive, start in DIRECTIVES.items():
            assert directives.get(directive, "").startswith(start), (where, directive, header)

    def assert_strict_page(self, response, where):
        self.assert_headers(response, where)
        directives = policy(response)
        nonce = NONCE.search(directives["script-src"])
        assert nonce and f"'nonce-{nonce.group(1)}'" in directives["style-src"], where
        assert inline_code(response.content.decode(), nonce.group(1)) == [], where

    def test_every_route_sends_both_headers_and_its_html_needs_no_inline_code(self):
        statuses = {}
        for name, url in self.every_route():
            response = self.client.get(url)
            statuses[name] = response.status_code
            if response["Content-Type"].startswith("text/html"):
                self.assert_strict_page(response, name)
            elif response["Content-Type"].startswith("image/svg+xml"):
                assert "Permissions-Policy" in response, name
            else:
                self.assert_headers(response, name)
        # Every page a browser opens rendered in full, not as a 404 or a refusal.
        pages = {name for name, _ in self.every_route()} - {n for n, s in statuses.items() if s == 405}
        # `u` on the rating page: a redirect to the last rating's edit page (rendered as rating-edit).
        assert statuses["rating-back"] == 302
        pages.discard("rating-back")
        assert {name: statuses[name] for name in pages if statuses[name] != 200} == {}
        assert len(pages) >= 40

    def test_the_rating_item_page_after_the_warning_needs_no_inline_code(self):
        url = reverse("rating-work", args=[self.rating.public_id])
        assert "annotation/rating/warning.html" in [t.name for t in self.client.get(url).templates]
        self.client.post(reverse("rating-warning", args=[self.rating.public_id]))
        item = self.client.get(url)
        assert "annotation/rating/item.html" in [t.name for t in item.templates]
        self.assert_strict_page(item, "rating item")

    def test_the_report_styles_itself_with_the_nonce_of_its_response(self):
        response = self.client.get(reverse("round-report", args=[self.rated.pk]))
        nonce = NONCE.search(response["Content-Security-Policy"]).group(1)
        assert f'<style nonce="{nonce}">' in response.content.decode()
        assert 'src="data:image/svg+xml;base64,' in response.content.decode()

    def test_each_response_gets_a_fresh_nonce(self):
        first, second = (NONCE.search(self.client.get(reverse("home"))["Content-Security-Policy"]) for _ in range(2))
        assert first and second and first.group(1) != second.group(1)

    def test_error_pages_and_the_login_page_are_covered_too(self):
        self.assert_strict_page(self.client.get("/no-such-page/"), "404")
        self.client.force_login(self.nora)
        self.assert_strict_page(self.client.get(reverse("round-list")), "403")
        self.client.logout()
        self.assert_strict_page(self.client.get(reverse("login")), "login")
        self.assert_headers(self.client.get(reverse("home")), "redirect to login")

    def test_an_svg_plot_opened_on_its_own_may_style_itself_but_never_run_code(self):
        response = self.client.get(reverse("round-results-plot", args=[self.rated.pk, "bars"]))
        assert response["Content-Type"] == "image/svg+xml"
        assert policy(response) == {key: " ".join(values) for key, values in SVG_POLICY.items()}

    def test_the_admin_site_needs_no_inline_code(self):
        urls = [reverse("admin:index")]
        for model in admin.site._registry:
            opts = model._meta
            urls += [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
            if model.objects.exists():
                pk = model.objects.order_by("pk").values_list("pk", flat=True).first()
                urls += [
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]),
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[pk]),
                ]
        checked = 0
        for url in urls:
            response = self.client.get(url)
            if response.status_code == 200:
                self.assert_strict_page(response, url)
                checked += 1
        assert checked > 20

    def test_the_finder_sees_each_kind_of_inline_code(self):
        html = (
            '<p style="color:red"></p><a href="javascript:go()">x</a><button onclick="go()"></button>'
            '<script>go()</script><script nonce="abc">ok()</script><script src="/static/js/a.js"></script>'
            '<style>p{}</style><style nonce="abc">p{}</style><script type="application/json">{}</script>'
        )
        assert inline_code(html, "abc") == [
            "<p style=...>",
            "<a href=javascript:...>",
            "<button onclick=...>",
            "<script> without the page's nonce",
            "<style> without the page's nonce",
        ]


def test_csp_report_uri_sends_violation_reports_where_production_says(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CSP_REPORT_URI"}
    env.update(
        CSP_REPORT_URI="https://errors.example/csp",
        PSYCHOSAFE_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="psychosafe_site.settings",
    )
    code = "import django; django.setup(); from csp.utils import build_policy; print(build_policy())"
    header = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "report-uri https://errors.example/csp" in header
    assert "report-uri" not in build_policy()  # none unless set
