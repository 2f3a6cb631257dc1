"""Judge pages: admins register judges (frozen once they have verdicts), start judge runs and read
verdicts, with model output always escaped and API keys never shown."""

import os
from unittest import mock

import pytest
from django.urls import reverse

from annotation import rubrics
from annotation.forms.judges import JudgeForm
from annotation.models import GenerationRun, Judge, JudgeRun, Prompt, Verdict
from annotation.views import judges as judge_views
from tests.annotation.rating_fixtures import make_conditions, make_outputs, make_prompts
from tests.personas import PersonaTestCase

SECRET = "sk-live-3f9c2a7be0d14e55b1c8aa0f"  # a key's value: no page may ever show it
KEY_VAR = "STUDIO_TEST_JUDGE_KEY"
SCRIPT = "<script>alert(1)</script>"


class JudgeFixtures(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.rubric = rubrics.default_rubric()
        cls.conditions = make_conditions(2)
        cls.prompts = make_prompts(per_domain=1)
        cls.outputs = make_outputs(cls.conditions, cls.prompts)

    @pytest.fixture(autouse=True)
    def _query_bound(self, django_assert_max_num_queries):
        self.max_queries = django_assert_max_num_queries

    def setUp(self):
        self.client.force_login(self.ada)

    def endpoint_data(self, **changes):
        return {
            "name": "Qwen judge",
            "kind": "endpoint",
            "endpoint_url": "http://gpu-host:8000/v1",
            "model": "Qwen/Qwen2.5-7B-Instruct",
            "api_key_env": "",
            "rubric": self.rubric.pk,
            "temperature": 0,
            "max_tokens": 512,
            "max_retries": 2,
            "concurrency": 4,
            "timeout_seconds": 120,
            **changes,
        }

    def make_judge(self, **fields):
        return Judge.objects.create(
            **{
                "name": "Qwen judge",
                "kind": "endpoint",
                "endpoint_url": "http://gpu-host:8000/v1",
                "model": "qwen",
                "rubric": self.rubric,
                **fields,
            }
        )

    def make_run(self, judge, name="run", **fields):
        return JudgeRun.objects.create(
            name=name, judge=judge, scope="conditions", prompt_split="validation", created_by=self.ada, **fields
        )

    def add_verdict(self, judge, response, *, status="ok", raw="Criterion 1 - Refusal: yes", run=None):
        return Verdict.objects.create(
            response=response,
            judge=judge,
            rubric=judge.rubric,
            run=run,
            kind="llm",
            status=status,
            answers={"refusal": "yes", "strategy": ["validation", "grounding"]} if status == "ok" else None,
            raw=raw,
            attempts=1 if status == "ok" else 3,
            errors=[] if status == "ok" else [f"Criterion 1 is missing in {raw}"],
        )


class JudgeAccessTests(JudgeFixtures):
    def pages(self):
        judge = self.make_judge()
        run = self.make_run(judge)
        return [
            ("get", reverse("judge-list")),
            ("get", reverse("judge-new")),
            ("get", reverse("judge-edit", args=[judge.pk])),
            ("post", reverse("judge-new-version", args=[judge.pk])),
            ("get", reverse("judge-run-new")),
            ("get", reverse("judge-run-detail", args=[run.pk])),
        ]

    def test_only_admins_reach_the_judge_pages(self):
        pages = self.pages()
        for user in (self.alice, self.rita, self.raj, self.nora):
            self.client.force_login(user)
            for method, url in pages:
                assert getattr(self.client, method)(url).status_code == 403, (user.username, url)
        self.client.logout()
        for method, url in pages:
            response = getattr(self.client, method)(url)
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
        self.client.force_login(self.ada)
        for method, url in pages:
            assert getattr(self.client, method)(url).status_code == (302 if method == "post" else 200), url

    def test_admins_see_the_judges_link_and_others_do_not(self):
        assert reverse("judge-list").encode() in self.client.get(reverse("home")).content
        self.client.force_login(self.alice)
        assert reverse("judge-list").encode() not in self.client.get(reverse("home")).content


class RegistryTests(JudgeFixtures):
    def test_the_list_explains_judges_when_there_are_none(self):
        Judge.objects.all().delete()
        page = self.client.get(reverse("judge-list"))
        assert b"No judges yet" in page.content and b"No judge runs yet" in page.content

    def test_an_admin_registers_an_endpoint_judge(self):
        response = self.client.post(reverse("judge-new"), self.endpoint_data(api_key_env="JUDGE_API_KEY"))
        assert response.status_code == 302, response.context["form"].errors
        judge = Judge.objects.get(name="Qwen judge")
        assert (judge.version, judge.api_key_env, judge.created_by) == (1, "JUDGE_API_KEY", self.ada)

    def test_a_key_in_place_of_the_variable_name_is_refused_and_not_shown_back(self):
        for value in (SECRET, "judge-key", "my_key"):
            page = self.client.post(reverse("judge-new"), self.endpoint_data(api_key_env=value))
            assert page.status_code == 200
            [error] = page.context["form"].errors["api_key_env"]
            assert "looks like an API key" in error and "name of the environment variable" in error
            assert value not in page.content.decode()
        assert not Judge.objects.filter(name="Qwen judge").exists()

    def test_an_endpoint_judge_needs_an_http_url_and_a_model_and_a_local_judge_a_model(self):
        page = self.client.post(reverse("judge-new"), self.endpoint_data(endpoint_url="gpu-host:8000", model=""))
        errors = page.context["form"].errors
        assert "starting with http:// or https://" in errors["endpoint_url"][0]
        assert "needs the model name" in errors["model"][0]
        page = self.client.post(reverse("judge-new"), self.endpoint_data(kind="transformers", model=""))
        assert "needs the model folder" in page.context["form"].errors["model"][0]
        assert not Judge.objects.filter(name="Qwen judge").exists()

    def test_a_second_judge_with_a_taken_name_is_a_form_error(self):
        self.make_judge()
        page = self.client.post(reverse("judge-new"), self.endpoint_data())
        assert "register its next version" in page.context["form"].errors["name"][0]

    def test_the_api_key_value_appears_on_no_page(self):
        with mock.patch.dict(os.environ, {KEY_VAR: SECRET}):
            self.client.post(reverse("judge-new"), self.endpoint_data(api_key_env=KEY_VAR))
            judge = Judge.objects.get(name="Qwen judge")
            run = self.make_run(judge)
            run.conditions.set(self.conditions)
            self.add_verdict(judge, self.outputs[0], run=run)
            self.add_verdict(judge, self.outputs[1], status="unparseable", raw="no idea", run=run)
            urls = [
                reverse("judge-list"),
                reverse("judge-edit", args=[judge.pk]),
                reverse("judge-run-new"),
                reverse("judge-run-detail", args=[run.pk]),
                reverse("job-status", args=["judging", run.pk]),
            ]
            for url in urls:
                page = self.client.get(url)
                assert page.status_code == 200, url
                assert SECRET not in page.content.decode(), url
            assert KEY_VAR in self.client.get(reverse("judge-list")).content.decode()

    def test_a_judge_without_verdicts_is_edited_in_place(self):
        judge = self.make_judge()
        response = self.client.post(reverse("judge-edit", args=[judge.pk]), self.endpoint_data(model="other"))
        assert response.status_code == 302
        judge.refresh_from_db()
        assert (judge.model, judge.version) == ("other", 1)


class FrozenJudgeTests(JudgeFixtures):
    def setUp(self):
        super().setUp()
        self.judge = self.make_judge(api_key_env="JUDGE_API_KEY", temperature=0.3, max_tokens=300)
        self.add_verdict(self.judge, self.outputs[0])

    def test_the_page_says_why_the_judge_is_frozen_and_offers_the_next_version(self):
        page = self.client.get(reverse("judge-edit", args=[self.judge.pk])).content.decode()
        assert "Frozen:" in page and "this judge has 1" in page
        assert "Register version 2" in page
        assert reverse("judge-new-version", args=[self.judge.pk]) in page
        assert "Frozen" in self.client.get(reverse("judge-list")).content.decode()

    def test_posting_changed_settings_to_a_frozen_judge_changes_none_of_them(self):
        data = self.endpoint_data(name="Renamed", model="other", temperature=1.0, rubric=self.rubric.pk)
        self.client.post(reverse("judge-edit", args=[self.judge.pk]), data)
        self.judge.refresh_from_db()
        assert (self.judge.name, self.judge.model, self.judge.temperature) == ("Qwen judge", "qwen", 0.3)

    def test_how_fast_a_frozen_judge_runs_can_still_change(self):
        data = self.endpoint_data(concurrency=8, timeout_seconds=30)
        assert self.client.post(reverse("judge-edit", args=[self.judge.pk]), data).status_code == 302
        self.judge.refresh_from_db()
        assert (self.judge.concurrency, self.judge.timeout_seconds, self.judge.model) == (8, 30, "qwen")

    def test_a_judge_frozen_after_its_page_was_loaded_is_a_form_error_not_a_500(self):
        fresh = self.make_judge(name="Fresh")
        form = JudgeForm(self.endpoint_data(name="Fresh", model="changed"), instance=fresh)
        assert form.is_valid(), form.errors
        self.add_verdict(Judge.objects.get(pk=fresh.pk), self.outputs[1])
        assert not judge_views._saved(form)
        assert "are frozen" in form.non_field_errors()[0]
        assert Judge.objects.get(pk=fresh.pk).model == "qwen"

    def test_new_version_copies_the_settings_into_version_two(self):
        response = self.client.post(reverse("judge-new-version", args=[self.judge.pk]))
        copy = Judge.objects.get(name="Qwen judge", version=2)
        assert response["Location"] == reverse("judge-edit", args=[copy.pk])
        fields = ["kind", "endpoint_url", "model", "api_key_env", "rubric_id", "temperature", "max_tokens"]
        assert [getattr(copy, f) for f in fields] == [getattr(self.judge, f) for f in fields]
        assert copy.created_by == self.ada and not copy.is_frozen
        page = self.client.get(response["Location"]).content.decode()
        assert "Frozen:" not in page


class JudgeRunStartTests(JudgeFixtures):
    def setUp(self):
        super().setUp()
        self.judge = self.make_judge()
        self.generation_run = GenerationRun.objects.create(name="gen", state="succeeded")

    def start(self, **data):
        return self.client.post(reverse("judge-run-new"), {"name": "judged", "judge": self.judge.pk, **data})

    def test_a_run_without_a_target_is_a_form_error(self):
        page = self.start()
        assert "Choose what to judge" in page.context["form"].non_field_errors()[0]
        assert not JudgeRun.objects.exists()

    def test_a_run_with_two_targets_is_a_form_error_naming_them(self):
        page = self.start(generation_run=self.generation_run.pk, prompt_split="validation")
        errors = page.context["form"].errors
        assert "you chose a generation run and conditions with a split" in errors["__all__"][0]
        assert "Choose at least one condition" in errors["conditions"][0]
        assert not JudgeRun.objects.exists()

    def test_only_succeeded_generation_runs_and_imported_benchmarks_are_offered(self):
        GenerationRun.objects.create(name="still running", state="running")
        Prompt.objects.create(
            text="bench", domain=self.prompts[0].domain, source="benchmark", source_name="XSTest", split="test"
        )
        form = self.client.get(reverse("judge-run-new")).context["form"]
        assert list(form.fields["generation_run"].queryset) == [self.generation_run]
        assert form.fields["benchmark"].choices == [("", "---------"), ("XSTest", "XSTest")]

    def test_a_valid_start_queues_the_run_and_shows_it(self):
        response = self.start(conditions=[c.pk for c in self.conditions], prompt_split="validation")
        run = JudgeRun.objects.get(name="judged")
        assert response.status_code == 302 and response["Location"] == reverse("judge-run-detail", args=[run.pk])
        assert (run.scope, run.prompt_split, run.state) == ("conditions", "validation", "queued")
        assert set(run.conditions.all()) == set(self.conditions)
        page = self.client.get(response["Location"]).content.decode()
        assert "is queued" in page and 'data-status-url="/jobs/judging/' in page

    def test_a_taken_run_name_is_a_form_error(self):
        self.make_run(self.judge, name="judged")
        page = self.start(generation_run=self.generation_run.pk)
        assert page.context["form"].errors["name"] == ["A judge run with this name exists; choose another."]


class JudgeRunDetailTests(JudgeFixtures):
    def setUp(self):
        super().setUp()
        self.judge = self.make_judge()
        self.run = self.make_run(self.judge, progress_detail={"ok": 1, "unparseable": 1, "failed": 2})
        self.run.conditions.set(self.conditions)
        self.url = reverse("judge-run-detail", args=[self.run.pk])

    def test_verdict_raw_text_and_errors_are_escaped(self):
        self.add_verdict(self.judge, self.outputs[0], status="unparseable", raw=SCRIPT)
        page = self.client.get(self.url).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert SCRIPT not in page
        assert '<pre class="untrusted">&lt;script&gt;' in page

    def test_counts_and_answers_by_criterion_key(self):
        ok = self.add_verdict(self.judge, self.outputs[0])
        self.add_verdict(self.judge, self.outputs[1], status="unparseable")
        page = self.client.get(self.url)
        assert page.context["counts"] == {"ok": 1, "unparseable": 1, "failed": 2}
        assert page.context["keys"] == ["refusal", "strategy"]
        assert (ok, ["yes", "validation, grounding"]) in page.context["rows"]
        assert ok.response.public_id in page.content.decode()

    def test_the_unparseable_filter_shows_only_unparseable_verdicts(self):
        ok = self.add_verdict(self.judge, self.outputs[0])
        bad = self.add_verdict(self.judge, self.outputs[1], status="unparseable", raw="rambling")
        page = self.client.get(self.url, {"status": "unparseable"})
        assert [verdict for verdict, _ in page.context["rows"]] == [bad]
        assert ok.response.public_id not in page.content.decode()
        assert "rambling" in page.content.decode()
        everything = self.client.get(self.url, {"status": "nonsense"})
        assert len(everything.context["rows"]) == 2 and everything.context["status"] == ""

    def test_verdicts_are_paginated_fifty_a_page(self):
        more = make_outputs(make_conditions(3), make_prompts(per_domain=10))
        self.run.conditions.add(*{r.condition for r in more})
        Verdict.objects.bulk_create(
            Verdict(response=r, judge=self.judge, rubric=self.rubric, kind="llm", status="ok", answers={}) for r in more
        )
        first = self.client.get(self.url).context["page"]
        assert len(first.object_list) == 50 and first.paginator.count == len(more)
        assert len(self.client.get(self.url, {"page": 2}).context["rows"]) == min(50, len(more) - 50)

    def test_a_deterministic_judge_is_labelled_as_such(self):
        checks = Judge.objects.get(kind="deterministic", name="Deterministic checks")
        run = self.make_run(checks, name="checks")
        page = self.client.get(reverse("judge-run-detail", args=[run.pk])).content.decode()
        assert "Deterministic checks: refusal and references only" in page
        assert "deterministic-checks" in page
        assert "Deterministic checks: refusal" not in self.client.get(self.url).content.decode()


class QueryCountTests(JudgeFixtures):
    def test_the_list_page_does_not_query_per_judge_or_run(self):
        for n in range(6):
            judge = self.make_judge(name=f"judge {n}")
            self.add_verdict(judge, self.outputs[n])
            self.make_run(judge, name=f"run {n}").conditions.set(self.conditions)
            JudgeRun.objects.create(
                name=f"gen run {n}",
                judge=judge,
                scope="generation",
                generation_run=GenerationRun.objects.create(name=f"g{n}"),
            )
        with self.max_queries(6):
            page = self.client.get(reverse("judge-list"))
        assert page.content.decode().count('class="job-progress"') == 12

    def test_the_detail_page_does_not_query_per_verdict(self):
        judge = self.make_judge()
        run = self.make_run(judge)
        run.conditions.set(self.conditions)
        for response in self.outputs:
            self.add_verdict(judge, response, status="ok" if response.pk % 2 else "unparseable")
        with self.max_queries(9):
            page = self.client.get(reverse("judge-run-detail", args=[run.pk]))
        assert len(page.context["rows"]) == len(self.outputs)


class DjangoAdminTests(JudgeFixtures):
    def test_judges_show_their_verdict_count_and_a_frozen_judge_is_read_only(self):
        judge = self.make_judge()
        self.add_verdict(judge, self.outputs[0])
        changelist = self.client.get(reverse("admin:annotation_judge_changelist"))
        assert changelist.status_code == 200
        assert 'class="field-verdict_count">1<' in changelist.content.decode()
        change = self.client.get(reverse("admin:annotation_judge_change", args=[judge.pk]))
        assert 'name="model"' not in change.content.decode() and 'name="concurrency"' in change.content.decode()

    def test_verdicts_are_read_only_and_their_raw_text_escaped(self):
        verdict = self.add_verdict(self.make_judge(), self.outputs[0], status="unparseable", raw=SCRIPT)
        assert self.client.get(reverse("admin:annotation_verdict_changelist")).status_code == 200
        page = self.client.get(reverse("admin:annotation_verdict_change", args=[verdict.pk])).content.decode()
        assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'name="raw"' not in page
        assert self.client.get(reverse("admin:annotation_verdict_add")).status_code == 403
